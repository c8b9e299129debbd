"""Migration foresight: the pre-copy model's arithmetic, its sentences, and the dirty-rate
reading on a driver that has none (test:///)."""

from __future__ import annotations

import math

import pytest

from kvmtui.core import numbers
from kvmtui.core.foresight import (
    MAX_PASSES,
    MIB,
    DirtyRate,
    Foresight,
    forecast,
    measure_guests,
    sampled_bound,
)
from kvmtui.core.migration import MigrationOptions
from tests.nodes import OFF_UUID, WEB_UUID, connected_fleet, guest, node_specs


def test_an_idle_guest_takes_one_pass_and_a_pause_for_nothing():
    f = forecast(1024 * MIB, 0, 100 * MIB)
    assert (f.converges, f.passes, f.seconds, f.downtime_ms) == (True, 1, 10.24, 0.0)


def test_each_pass_sends_what_the_one_before_let_the_guest_write():
    # 1000 MiB at 100 MiB/s, writing 50 MiB/s, 300 ms tolerated (30 MiB fits in the pause):
    # passes of 10, 5, 2.5, 1.25, 0.625 and 0.3125 s leave 15.625 MiB, sent in 156.25 ms.
    f = forecast(1000 * MIB, 50 * MIB, 100 * MIB, 300)
    assert f.passes == 6
    assert f.downtime_ms == pytest.approx(156.25)
    assert f.seconds == pytest.approx(10 + 5 + 2.5 + 1.25 + 0.625 + 0.3125 + 0.15625)


def test_a_larger_tolerated_downtime_ends_it_sooner():
    strict = forecast(1000 * MIB, 50 * MIB, 100 * MIB, 300)
    loose = forecast(1000 * MIB, 50 * MIB, 100 * MIB, 2000)
    assert loose.passes < strict.passes
    assert loose.downtime_ms is not None and loose.downtime_ms > 300


@pytest.mark.parametrize("dirty", [8, 30, 1000])
def test_a_guest_writing_as_fast_as_the_link_never_converges(dirty: int):
    f = forecast(128 * MIB, dirty * MIB, 8 * MIB)
    assert not f.converges
    assert f.seconds is None and f.downtime_ms is None
    assert f.suggested_mib == math.ceil(1.5 * dirty)  # each pass at most 2/3 of the last


def test_a_rate_too_close_to_the_bandwidth_to_tell_apart_is_not_converging():
    f = forecast(64 * 1024 * MIB, 99.9 * MIB, 100 * MIB)
    assert not f.converges
    assert f.passes == MAX_PASSES


def test_at_the_suggested_bandwidth_it_converges_in_three_single_passes_at_most():
    never = forecast(4096 * MIB, 30 * MIB, 8 * MIB)
    f = forecast(4096 * MIB, 30 * MIB, never.suggested_mib * MIB)
    assert f.converges and f.seconds is not None
    assert f.seconds <= 3 * 4096 / never.suggested_mib


@pytest.mark.parametrize(
    ("measured", "bound"),
    [(0, 2), (6, 14.9), (20, 34.6), (30, 47.5), (500, 565.2)],
)
def test_a_sampled_rate_allows_more_the_fewer_pages_changed(measured: int, bound: float):
    """One changed sampled page is 2 MiB/s; a count of k varies by about sqrt(k)."""
    assert sampled_bound(measured * MIB, 1) / MIB == pytest.approx(bound, abs=0.05)
    assert sampled_bound(measured * MIB, 2) < sampled_bound(measured * MIB, 1)


def test_the_suggestion_covers_what_the_sample_cannot_rule_out():
    sampled = forecast(128 * MIB, 20 * MIB, 8 * MIB, dirty_bound_bps=sampled_bound(20 * MIB, 1))
    assert sampled.suggested_mib == 52  # 1.5 x 34.6, not 1.5 x 20
    assert sampled.describe() == (
        "will not converge at 8 MiB/s: dirties 20.0 MiB/s (up to 34.6 MiB/s as sampled); "
        "use bandwidth >= 52 MiB/s, auto-converge or post-copy"
    )


def test_the_sentences_say_the_time_the_pause_and_the_remedy():
    assert forecast(1000 * MIB, 50 * MIB, 100 * MIB).describe() == (
        "converges in about 20 s, downtime about 156 ms (dirties 50.0 MiB/s, "
        "1000.0 MiB at 100 MiB/s)"
    )
    assert forecast(1024 * MIB, 30 * MIB, 8 * MIB).describe() == (
        "will not converge at 8 MiB/s: dirties 30.0 MiB/s; use bandwidth >= 45 MiB/s, "
        "auto-converge or post-copy"
    )
    ticked = forecast(1024 * MIB, 30 * MIB, 8 * MIB, auto_converge=True, postcopy=True)
    assert "auto-converge is on" in ticked.describe()
    assert "post-copy is allowed" in ticked.describe()
    assert forecast(1000 * MIB, 50 * MIB, 100 * MIB).brief() == "20 s, 156 ms"
    assert forecast(1024 * MIB, 30 * MIB, 8 * MIB).brief() == "never at 8 MiB/s"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0.3, "300 ms"),
        (0.0004, "0 ms"),
        (40.4, "40 s"),
        (150, "2 min 30 s"),
        (120, "2 min"),
        (3900, "1 h 5 min"),
        (7200, "2 h"),
    ],
)
def test_durations_read_as_an_operator_rounds_them(seconds: float, words: str):
    assert numbers.duration(seconds) == words


async def test_the_forecast_follows_the_options_of_the_migration(tmp_path):
    async with connected_fleet(node_specs(tmp_path)) as fleet:
        web = guest(fleet.hosts[0], WEB_UUID)
        rate = DirtyRate(30 * MIB)
        capped = Foresight.of(web, rate, MigrationOptions(bandwidth_mib=8))
        assert capped.line.startswith(f"{web.name}: will not converge at 8 MiB/s")
        uncapped = Foresight.of(web, rate, MigrationOptions())
        assert uncapped.forecast is not None and uncapped.forecast.bandwidth_mib == 110
        assert "no cap: a 1 Gb/s link assumed" in uncapped.describe()
        paused = Foresight.of(web, rate, MigrationOptions(frozenset({"persistent"})))
        assert paused.forecast is None and "not live" in paused.describe()


async def test_a_driver_without_dirty_rates_says_so_in_one_line(tmp_path):
    async with connected_fleet(node_specs(tmp_path)) as fleet:
        host = fleet.hosts[0]
        web, off = guest(host, WEB_UUID), guest(host, OFF_UUID)
        rates = await measure_guests(fleet, [web, off])
        said = Foresight.of(web, rates[web.key], MigrationOptions(bandwidth_mib=8))
        assert said.forecast is None
        assert said.line == (
            "web: dirty rate: not measurable on kvm1 (this function is not supported by the "
            "connection driver: virDomainStartDirtyRateCalc)"
        )
        assert Foresight.of(off, rates[off.key], MigrationOptions()).line == (
            "off: dirty rate: none, it is not running"
        )
