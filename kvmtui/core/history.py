"""The last minutes of each guest's and each host's figures, for sparklines.

Kept in memory only, in ring buffers of a fixed length (minutes x 60 / refresh), so a week
of running costs the same memory as ten minutes; a guest or host that leaves the fleet
takes its history with it. Fed from the fleet snapshot whenever it changes.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kvmtui.core.fleet import FleetSnapshot
from kvmtui.core.model import GuestSnapshot, HostSnapshot


@dataclass
class Series:
    """Named ring buffers of equal length; one value per series per tick.

    A tick in which the figures did not change is not written: the buffer remembers the tick
    it was last written at, and the ticks since then repeat the last values, filled in when
    the next value comes or when the series is read."""

    length: int
    values: dict[str, deque[float]] = field(default_factory=dict)
    tick: int = 0  # the tick of the newest value written

    def append(self, sample: dict[str, float], tick: int) -> None:
        """Writes the values of `tick`; a second write in the same tick replaces the first."""
        missed = min(tick - self.tick - 1, self.length) if self.values else 0
        same = bool(self.values) and tick == self.tick
        for name, value in sample.items():
            values = self.values.setdefault(name, deque(maxlen=self.length))
            if values and missed > 0:
                values.extend([values[-1]] * missed)
            if same and values:
                values[-1] = value
            else:
                values.append(value)
        self.tick = tick

    def get(self, name: str, tick: int) -> list[float]:
        values = list(self.values.get(name, ()))
        missed = min(tick - self.tick, self.length)
        if values and missed > 0:
            values = (values + [values[-1]] * missed)[-self.length:]
        return values


def _guest_sample(guest: GuestSnapshot) -> dict[str, float]:
    r = guest.rates
    return {
        "cpu": r.cpu_percent or 0.0,
        "memory": float(guest.memory_kib * 1024 if guest.state.is_active else 0),
        "disk": (r.disk_read_bps or 0.0) + (r.disk_write_bps or 0.0),
        "net": (r.net_rx_bps or 0.0) + (r.net_tx_bps or 0.0),
    }


def _host_sample(host: HostSnapshot) -> dict[str, float]:
    return {"cpu": host.load.cpu_percent or 0.0,
            "memory": float(host.load.memory_used_kib * 1024)}


class History:
    """Per-guest (by snapshot key) and per-host (by name) series; see the module docstring.

    Change notices come with changes only (an event, or a tick whose figures moved), so
    values are kept per tick of the refresh clock: a notice within a tick updates that tick.
    """

    def __init__(self, minutes: float, refresh: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.refresh = refresh
        self.length = max(2, round(minutes * 60 / refresh))
        self._clock = clock
        self._start: float | None = None
        self._tick = 0
        self._fed = False
        self._guests: dict[str, Series] = {}
        self._hosts: dict[str, Series] = {}
        # The snapshot last recorded, by guest key and by host name.
        self._fed_guests: dict[str, Any] = {}
        self._fed_hosts: dict[str, Any] = {}

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
        self._record(self._guests, self._fed_guests, {g.key: g for g in snapshot.guests},
                     _guest_sample)
        self._record(self._hosts, self._fed_hosts, {h.name: h for h in snapshot.hosts},
                     _host_sample)
        self._fed = True
        return new

    def _record(self, table: dict[str, Series], fed: dict[str, Any], shown: dict[str, Any],
                sample: Callable[[Any], dict[str, float]]) -> None:
        for gone in table.keys() - shown.keys():
            del table[gone]
            fed.pop(gone, None)
        for key, snapshot in shown.items():
            if fed.get(key) is snapshot:
                continue
            fed[key] = snapshot
            table.setdefault(key, Series(self.length)).append(sample(snapshot), self._tick)

    def _tick_at(self, now: float) -> int:
        """Refreshes since the first feed; a tick a little early counts as its own."""
        return 0 if self._start is None else int((now - self._start) / self.refresh + 0.2)

    def guest(self, key: str, series: str) -> list[float]:
        """The oldest-first values of one series (cpu, memory, disk, net) of a guest."""
        found = self._guests.get(key)
        return found.get(series, self._tick_at(self._clock())) if found else []

    def host(self, name: str, series: str) -> list[float]:
        """The oldest-first values of one series (cpu, memory) of a host."""
        found = self._hosts.get(name)
        return found.get(series, self._tick_at(self._clock())) if found else []
