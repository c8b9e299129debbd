"""A gate for on-demand reads driven by UI ticks.

UI refreshes arrive whenever any host ticks or any event lands, so a screen that reads
libvirt "each tick" would read several times a second with many hosts, and cancelling a
slow read for a newer one could starve it forever. The gate lets one read run at a time,
about once per refresh interval (80% of it, as ticks jitter), or at once when forced (right
after a pin, say).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class ReadGate:
    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._busy = False
        self._last: float | None = None

    def begin(self, force: bool = False) -> bool:
        """True when a read may start now (the caller must call `end` when it finishes)."""
        now = self._clock()
        if self._busy:
            return False
        if not force and self._last is not None and now - self._last < 0.8 * self.interval:
            return False
        self._busy = True
        self._last = now
        return True

    def end(self) -> None:
        self._busy = False
