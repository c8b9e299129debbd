"""The last minutes of each guest's and each host's figures, for sparklines.

Kept in memory only, in ring buffers of a fixed length (minutes x 60 / refresh), so a week
of running costs the same memory as ten minutes; a guest or host that leaves the fleet
takes its history with it. Fed once per tick from the fleet snapshot.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from kvmtui.core.fleet import FleetSnapshot
from kvmtui.core.model import GuestSnapshot, HostSnapshot


@dataclass
class Series:
    """Named ring buffers of equal length; one value per series per tick."""

    length: int
    values: dict[str, deque[float]] = field(default_factory=dict)

    def append(self, sample: dict[str, float]) -> None:
        for name, value in sample.items():
            self.values.setdefault(name, deque(maxlen=self.length)).append(value)

    def get(self, name: str) -> list[float]:
        return list(self.values.get(name, ()))


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

    Change notices come on every event as well as every tick, so a sample is taken only
    when most of a refresh interval has passed since the last one.
    """

    def __init__(self, minutes: float, refresh: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.refresh = refresh
        self.length = max(2, round(minutes * 60 / refresh))
        self._clock = clock
        self._last: float | None = None
        self._guests: dict[str, Series] = {}
        self._hosts: dict[str, Series] = {}

    def feed(self, snapshot: FleetSnapshot) -> bool:
        """Records one tick's figures; False when it is too soon after the previous one."""
        now = self._clock()
        if self._last is not None and now - self._last < 0.8 * self.refresh:
            return False
        self._last = now
        self._record(self._guests, {g.key: _guest_sample(g) for g in snapshot.guests})
        self._record(self._hosts, {h.name: _host_sample(h) for h in snapshot.hosts})
        return True

    def _record(self, table: dict[str, Series], samples: dict[str, dict[str, float]]) -> None:
        for gone in set(table) - set(samples):
            del table[gone]
        for key, sample in samples.items():
            table.setdefault(key, Series(self.length)).append(sample)

    def guest(self, key: str, series: str) -> list[float]:
        """The oldest-first values of one series (cpu, memory, disk, net) of a guest."""
        found = self._guests.get(key)
        return found.get(series) if found else []

    def host(self, name: str, series: str) -> list[float]:
        """The oldest-first values of one series (cpu, memory) of a host."""
        found = self._hosts.get(name)
        return found.get(series) if found else []
