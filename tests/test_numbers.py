"""One way to spell a figure out (kvmtui.core.numbers, and kvmtui.format on top of it)."""

from __future__ import annotations

import pytest

from kvmtui import format as fmt
from kvmtui.core import numbers


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (977 * 1024, "977.0 KiB"),
        (512 * 2**20, "512.0 MiB"),
        (2 * 2**30, "2.0 GiB"),
        (1536 * 2**20, "1.5 GiB"),
        (3 * 2**40, "3.0 TiB"),
        (5 * 2**60, "5.0 EiB"),
        (2**70, "1024.0 EiB"),
    ],
)
def test_sizes_read_in_binary_units_with_one_decimal(value: int, words: str) -> None:
    assert numbers.size(value) == words


def test_memory_in_kib_rates_and_no_figure() -> None:
    assert numbers.size_kib(2 * 1024**2) == fmt.size_kib(2 * 1024**2) == "2.0 GiB"
    assert numbers.speed(0) == fmt.speed(0) == "0 B/s"
    assert fmt.speed(8 * 2**20) == "8.0 MiB/s"
    assert fmt.size(None) == fmt.size_kib(None) == fmt.speed(None) == "-"
    assert fmt.compact(2 * 2**30) == "2.0G"  # a narrow table column's form of the same
    assert (fmt.share(12.345), fmt.share(None)) == ("12.3%", "-")


@pytest.mark.parametrize(
    ("count", "word", "many", "words"),
    [
        (0, "guest", "", "0 guests"),
        (1, "guest", "", "1 guest"),
        (2, "vCPU", "", "2 vCPUs"),
        (1, "vCPU", "", "1 vCPU"),
        (3, "entry", "entries", "3 entries"),
    ],
)
def test_plural_says_the_count_with_its_noun(count: int, word: str, many: str, words: str) -> None:
    assert numbers.plural(count, word, many) == fmt.plural(count, word, many) == words
