"""virsh's CPU-list syntax: parsing, the shortest formatting, and every error message."""

from __future__ import annotations

import itertools
import random

import pytest

from kvmtui.core.cpulist import (
    CpuListError,
    check_cpus,
    format_cpulist,
    from_cpumap,
    parse_cpulist,
    to_cpumap,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2", {2}),
        ("0-3", {0, 1, 2, 3}),
        ("0-3,^2", {0, 1, 3}),
        ("0-3,^2,5", {0, 1, 3, 5}),
        ("^2,0-3", {0, 1, 3}),  # exclusions apply after inclusions, wherever written
        (" 1 , 3-4 ", {1, 3, 4}),
        ("r", set(range(8))),
        ("7", {7}),
    ],
)
def test_parse(text, expected):
    assert parse_cpulist(text, 8, "hostb") == frozenset(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9", "CPU 9 does not exist on hostb (it has 8 CPUs: 0-7)"),
        ("6-10", "CPUs 8-10 do not exist on hostb (it has 8 CPUs: 0-7)"),
        ("0,^8", "CPU 8 does not exist on hostb (it has 8 CPUs: 0-7)"),
        ("", "empty CPU list"),
        ("   ", "empty CPU list"),
        ("0-3,^0-3", "empty CPU list"),
        ("3-1", 'bad range "3-1"'),
        ("1,,2", "an empty item between commas"),
        ("x", "'x' is not a CPU number"),
        ("²", "'²' is not a CPU number"),
        ("0-99999999999", "no host has a CPU 99999999999"),
        ("1-", "'' is not a CPU number"),
        ("-1", "'' is not a CPU number"),
    ],
)
def test_errors_say_what_is_wrong(text, message):
    with pytest.raises(CpuListError) as caught:
        parse_cpulist(text, 8, "hostb")
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_error_names_a_single_cpu_host_in_the_singular():
    with pytest.raises(CpuListError, match=r"it has 1 CPU: 0\)"):
        parse_cpulist("1", 1, "tiny")


@pytest.mark.parametrize(
    ("cpus", "text"),
    [
        ({0}, "0"),
        ({0, 1, 2, 3}, "0-3"),
        ({0, 1, 3}, "0-1,3"),
        ({0, 2, 4}, "0,2,4"),
        ({0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11}, "0-11,^7"),  # shorter than 0-6,8-11
        ({10, 11, 12, 14, 15, 16}, "10-16,^13"),
        (set(), ""),
    ],
)
def test_format_is_shortest(cpus, text):
    assert format_cpulist(cpus) == text


def test_round_trip_every_subset_of_a_small_host():
    count = 7
    for size in range(1, count + 1):
        for chosen in itertools.combinations(range(count), size):
            text = format_cpulist(chosen)
            assert parse_cpulist(text, count) == frozenset(chosen), text
            assert len(text) <= len(",".join(map(str, chosen)))


def test_round_trip_random_subsets_of_a_big_host():
    rng = random.Random(6)
    for _ in range(500):
        count = rng.randint(1, 256)
        chosen = {cpu for cpu in range(count) if rng.random() < rng.random()} or {0}
        assert parse_cpulist(format_cpulist(chosen), count) == frozenset(chosen)


def test_cpumap_round_trip_and_width():
    bits = to_cpumap({0, 2}, 4)
    assert bits == (True, False, True, False)
    assert from_cpumap(bits) == {0, 2}


def test_check_cpus_refuses_empty_and_missing():
    with pytest.raises(CpuListError, match="empty CPU list"):
        check_cpus(set(), 2)
    with pytest.raises(CpuListError, match="CPU 2 does not exist on this host"):
        check_cpus({2}, 2)
