"""The in-memory history: bounded, one sample per tick, forgetting what left the fleet."""

from __future__ import annotations

import dataclasses

from kvmtui.core.fleet import FleetSnapshot
from kvmtui.core.history import History
from kvmtui.core.model import (
    GuestRates,
    GuestSnapshot,
    GuestState,
    HostLoad,
    HostSnapshot,
    Link,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _snapshot(cpu: float, guests: int = 1) -> FleetSnapshot:
    guest_list = tuple(
        GuestSnapshot(
            "h1",
            f"g{i}",
            f"u{i}",
            GuestState.RUNNING,
            memory_kib=1024,
            rates=GuestRates(
                cpu_percent=cpu,
                disk_read_bps=10.0,
                disk_write_bps=5.0,
                net_rx_bps=None,
                net_tx_bps=3.0,
            ),
        )
        for i in range(guests)
    )
    host = HostSnapshot(
        "h1",
        "test:///default",
        Link.CONNECTED,
        False,
        load=HostLoad(cpu_percent=cpu / 2, memory_used_kib=2048),
    )
    return FleetSnapshot((host,), guest_list, 0)


def test_length_follows_minutes_and_refresh():
    assert History(minutes=10, refresh=2.0).length == 300
    assert History(minutes=1, refresh=0.5).length == 120


def test_buffers_are_bounded_and_keep_the_newest():
    clock = Clock()
    history = History(minutes=0.1, refresh=1.0, clock=clock)  # 6 samples
    for tick in range(20):
        clock.now = float(tick)
        assert history.feed(_snapshot(float(tick)))
    assert history.guest("u0@h1", "cpu") == [14.0, 15.0, 16.0, 17.0, 18.0, 19.0]
    assert history.host("h1", "cpu") == [7.0, 7.5, 8.0, 8.5, 9.0, 9.5]


def test_series_add_up_both_directions_and_memory_is_bytes():
    history = History(minutes=1, refresh=1.0, clock=Clock())
    history.feed(_snapshot(50.0))
    assert history.guest("u0@h1", "disk") == [15.0]
    assert history.guest("u0@h1", "net") == [3.0]
    assert history.guest("u0@h1", "memory") == [1024.0 * 1024]
    assert history.host("h1", "memory") == [2048.0 * 1024]


def test_no_figure_stays_no_figure():
    """A guest with no CPU figure yet (or not running) has None, not a 0 nobody measured."""
    history = History(minutes=1, refresh=1.0, clock=Clock())
    snapshot = _snapshot(0.0)
    quiet = dataclasses.replace(snapshot.guests[0], rates=GuestRates())
    history.feed(dataclasses.replace(snapshot, guests=(quiet,)))
    assert [history.guest("u0@h1", s) for s in ("cpu", "disk", "net")] == [[None]] * 3


def test_change_notices_between_ticks_update_that_tick():
    clock = Clock()
    history = History(minutes=1, refresh=1.0, clock=clock)
    assert history.feed(_snapshot(1.0))
    clock.now = 0.3  # a lifecycle event, not a tick: the tick's figure is the newer one
    assert not history.feed(_snapshot(2.0))
    clock.now = 1.0
    assert history.feed(_snapshot(3.0))
    assert history.guest("u0@h1", "cpu") == [2.0, 3.0]


def test_quiet_ticks_repeat_the_last_values_without_being_fed():
    clock = Clock()
    history = History(minutes=0.1, refresh=1.0, clock=clock)  # 6 samples
    steady = _snapshot(4.0)
    history.feed(steady)
    clock.now = 3.0  # three refreshes with nothing new: no notice, no feed
    assert history.guest("u0@h1", "cpu") == [4.0, 4.0, 4.0, 4.0]
    clock.now = 4.0
    history.feed(steady)  # the same frozen snapshots: nothing to record
    clock.now = 5.0
    history.feed(_snapshot(7.0))
    assert history.guest("u0@h1", "cpu") == [4.0, 4.0, 4.0, 4.0, 4.0, 7.0]
    assert history.host("h1", "cpu") == [2.0, 2.0, 2.0, 2.0, 2.0, 3.5]
    clock.now = 100.0  # long quiet: the window is all the last value
    assert history.guest("u0@h1", "cpu") == [7.0] * 6


def test_guests_that_leave_take_their_history_with_them():
    clock = Clock()
    history = History(minutes=1, refresh=1.0, clock=clock)
    history.feed(_snapshot(1.0, guests=3))
    clock.now = 1.0
    history.feed(_snapshot(1.0, guests=1))
    assert history.guest("u0@h1", "cpu") == [1.0, 1.0]
    assert history.guest("u2@h1", "cpu") == []
    assert history.guest("nobody", "cpu") == []


def test_memory_follows_change_not_time():
    """A guest whose figures stand still holds one point however long it runs; a busy one
    at most a window's worth (10,000 idle guests must not cost a ring buffer each)."""
    clock = Clock()
    history = History(minutes=0.1, refresh=1.0, clock=clock)  # 6 samples
    for tick in range(50):
        clock.now = float(tick)
        history.feed(_snapshot(1.0 if tick < 25 else float(tick), guests=1))
    busy = history._guests["u0@h1"]
    assert len(busy.points) <= 6
    assert history.guest("u0@h1", "cpu") == [44.0, 45.0, 46.0, 47.0, 48.0, 49.0]
    steady = History(minutes=0.1, refresh=1.0, clock=clock)
    for tick in range(50):
        clock.now = float(tick)
        steady.feed(_snapshot(1.0))  # new snapshots, the same figures
    assert len(steady._guests["u0@h1"].points) == 1
    assert steady.guest("u0@h1", "cpu") == [1.0] * 6
