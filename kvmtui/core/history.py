"""The last minutes of each guest's and each host's figures, for sparklines.

Kept in memory only, over a window of a fixed length (minutes x 60 / refresh), so a week
of running costs the same memory as ten minutes; a guest or host that leaves the fleet
takes its history with it. Fed by the app from the fleet snapshot at most once per screen
refresh, not once per host tick: each feed looks at every guest of the fleet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kvmtui.core.fleet import FleetSnapshot
from kvmtui.core.model import GuestSnapshot, HostSnapshot


class Series:
    """Named figures of one guest or host, one value per name per tick, for the last
    `length` ticks.

    Kept as change points, not as one ring buffer per name: a point is (tick, *values) and
    holds until the next point, so a guest whose figures stand still costs one tuple however
    long it runs (ten thousand idle guests cost a few megabytes, not forty), and a tick in
    which nothing changed is never written at all. Points older than the window are dropped
    as new ones come, so a busy guest holds at most `length` of them. A value is None where
    there was no figure (a guest not running has no CPU%), so that a screen can say "-"
    rather than a 0 nobody measured."""

    __slots__ = ("fed", "first", "length", "points")

    def __init__(self, length: int) -> None:
        self.length = length
        self.first = 0  # the tick of the first value: the series does not reach back further
        #: (tick, *values): one flat tuple a point, the cheapest to keep by the thousand.
        self.points: list[tuple[Any, ...]] = []
        self.fed: object = None  # the snapshot last recorded (compared by identity)

    def append(self, values: tuple[float | None, ...], tick: int) -> None:
        """Writes the values of `tick`; a second write in the same tick replaces the first."""
        points = self.points
        if not points:
            self.first = tick
        elif points[-1][0] == tick:
            points.pop()
        elif points[-1][1:] == values:
            return  # as before: the last point holds on
        points.append((tick, *values))
        start = tick - self.length + 1
        drop = 0
        while drop + 1 < len(points) and points[drop + 1][0] <= start:
            drop += 1
        if drop:
            del points[:drop]

    def get(self, index: int, tick: int) -> list[float | None]:
        """The values of figure `index` for each tick of the window up to `tick`."""
        points = self.points
        if not points:
            return []
        start = max(self.first, tick - self.length + 1)
        values: list[float | None] = []
        following = 1
        for at in range(start, tick + 1):
            while following < len(points) and points[following][0] <= at:
                following += 1
            values.append(points[following - 1][index + 1])
        return values


#: The figures kept per guest and per host, in the order of their samples.
#: "used" is the memory the guest itself uses (its balloon statistics), None without them.
GUEST_SERIES = ("cpu", "memory", "used", "disk", "net")
HOST_SERIES = ("cpu", "memory")


def _total(first: float | None, second: float | None) -> float | None:
    """Both directions together; no figure only when neither has one."""
    if first is None and second is None:
        return None
    return (first or 0.0) + (second or 0.0)


def _guest_sample(guest: GuestSnapshot) -> tuple[float | None, ...]:
    r = guest.rates
    return (
        r.cpu_percent,
        float(guest.memory_kib * 1024 if guest.state.is_active else 0),
        None if guest.memory_used_kib is None else float(guest.memory_used_kib * 1024),
        _total(r.disk_read_bps, r.disk_write_bps),
        _total(r.net_rx_bps, r.net_tx_bps),
    )


def _host_sample(host: HostSnapshot) -> tuple[float | None, ...]:
    return (host.load.cpu_percent, float(host.load.memory_used_kib * 1024))


class History:
    """Per-guest (by snapshot key) and per-host (by name) series; see the module docstring.

    Change notices come with changes only (an event, or a tick whose figures moved), so
    values are kept per tick of the refresh clock: a notice within a tick updates that tick.
    """

    def __init__(
        self, minutes: float, refresh: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.refresh = refresh
        self.length = max(2, round(minutes * 60 / refresh))
        self._clock = clock
        self._start: float | None = None
        self._tick = 0
        self._fed = False
        self._guests: dict[str, Series] = {}
        self._hosts: dict[str, Series] = {}

    def feed(self, snapshot: FleetSnapshot) -> bool:
        """Records the figures of the current tick; True when that tick is a new one (a
        notice within the same tick, an event say, updates its values instead).

        Only guests and hosts whose snapshot is a new object are looked at: an unchanged
        one is the same frozen snapshot, and its series repeats its last values."""
        now = self._clock()
        if self._start is None:
            self._start = now
        tick = self._tick_at(now)
        new = tick > self._tick or not self._fed
        self._tick = tick
        self._record(self._guests, {g.key: g for g in snapshot.guests}, _guest_sample)
        self._record(self._hosts, {h.name: h for h in snapshot.hosts}, _host_sample)
        self._fed = True
        return new

    def _record(
        self,
        table: dict[str, Series],
        shown: dict[str, Any],
        sample: Callable[[Any], tuple[float | None, ...]],
    ) -> None:
        for gone in table.keys() - shown.keys():
            del table[gone]
        for key, snapshot in shown.items():
            series = table.get(key)
            if series is None:
                series = table[key] = Series(self.length)
            elif series.fed is snapshot:
                continue
            series.fed = snapshot
            series.append(sample(snapshot), self._tick)

    def _tick_at(self, now: float) -> int:
        """Refreshes since the first feed; a tick a little early counts as its own."""
        return 0 if self._start is None else int((now - self._start) / self.refresh + 0.2)

    def guest(self, key: str, series: str) -> list[float | None]:
        """The oldest-first values of one series (cpu, memory, disk, net) of a guest."""
        return self._read(self._guests.get(key), GUEST_SERIES.index(series))

    def host(self, name: str, series: str) -> list[float | None]:
        """The oldest-first values of one series (cpu, memory) of a host."""
        return self._read(self._hosts.get(name), HOST_SERIES.index(series))

    def _read(self, found: Series | None, index: int) -> list[float | None]:
        return found.get(index, self._tick_at(self._clock())) if found else []
