"""The one shape of every service that reads a kind of resource from each host.

Storage, networks, snapshots and addresses all do the same thing: read something from each
connected host, keep the last reading per host, say per host why a reading failed, publish
when what they hold changed, read again at once after a change made here, and cost nothing
while no view shows them. `ResourceService` is that shape; an instance says only how one
host is read (`read_host`) and what wakes it besides (the libvirt events in `EVENTS`, a
`CADENCE` for what no event announces).

The lifecycle is driven from outside: a view on screen calls `watch()`, and `unwatch()` when
it goes; the first watcher starts the service's one task, the last one leaving stops it.
Nothing starts a loop from a getter, and no screen runs a timer for data. A caller that needs
a reading now (the one-shot command line, a verb about to look a name up) awaits
`refresh()`, which reads whether watched or not.

libvirt sends lifecycle events for domains, pools and networks; a host whose event names
one of `EVENTS` is read again soon (events come in bursts: one reading per burst). What has
no event (a snapshot taken by another tool, an address set inside a guest) is caught by
the `CADENCE`, if the instance has one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from kvmtui.core.errors import HostError, describe
from kvmtui.core.publish import Publisher

if TYPE_CHECKING:
    from kvmtui.core.fleet import Fleet
    from kvmtui.core.host import DomainEvent, Host
    from kvmtui.core.model import GuestSnapshot

R = TypeVar("R")
V = TypeVar("V")

#: Seconds a burst of events (or of changes made here) is gathered before the reading.
SETTLE = 0.2


class ResourceService(Publisher, Generic[R]):
    """Per-host readings of one kind of resource; see the module docstring.

    `R` is what one host's reading is (a tuple of rows, or a small record of several
    kinds of rows); `readings()` gives them in the fleet's order of hosts.
    """

    #: `DomainEvent.kind`s that make the host they come from be read again.
    EVENTS: ClassVar[frozenset[str]] = frozenset()
    #: Seconds between readings of every host while watched, for what no event announces;
    #: None when events and changes made here are all there is.
    CADENCE: ClassVar[float | None] = None
    #: Whether a host is read only once every guest's definition is in (the fleet's first
    #: tables are, then): for readings that cost calls per guest, which must not hold up
    #: the first tables of hosts still connecting.
    AFTER_DEFINITIONS: ClassVar[bool] = False

    def __init__(self, fleet: Fleet, cadence: float | None = None) -> None:
        """`cadence`: this instance's own, instead of the class's `CADENCE`."""
        super().__init__()
        self.fleet = fleet
        self.cadence = cadence if cadence is not None else self.CADENCE
        self._readings: dict[str, R] = {}
        #: Why a connected host's reading failed, by host (the text names the host).
        self.errors: dict[str, str] = {}
        #: Whether every connected host has been read at least once since watched.
        self.read_once = False
        self._watchers = 0
        self._stale: set[str] = set()  # hosts to read at the next wake-up
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connected: frozenset[str] = frozenset()
        #: Readings are numbered as they begin: one that began before the reading now held
        #: (a slow host read overtaken by a read after a change) never replaces it.
        self._begun = itertools.count()
        self._held: dict[str, int] = {}
        #: Readings of every host so far: the cadence, observable.
        self.rounds = 0
        self._round_at = -math.inf  # when the last one began (the loop's clock)
        fleet.add_listener(self._fleet_changed)
        fleet.add_event_listener(self._host_event)
        fleet.add_close_hook(self.close)

    # ---- what an instance says ----------------------------------------------------------

    async def read_host(self, host: Host) -> R:
        """One host's reading (on its threads, through `host.run`); HostError when it
        cannot be read."""
        raise NotImplementedError

    def on_event(self, event: DomainEvent) -> None:
        """An event of one of `EVENTS`: by default its host is read again soon."""
        self.refresh_soon([event.host])

    # ---- what the views and verbs use ---------------------------------------------------

    def readings(self) -> list[R]:
        """The last reading of each host, in the fleet's order of hosts."""
        return [self._readings[h.name] for h in self.fleet.hosts if h.name in self._readings]

    def reading(self, host: str) -> R | None:
        return self._readings.get(host)

    @property
    def watched(self) -> bool:
        return self._watchers > 0

    def watch(self) -> None:
        """A view showing these rows came on screen: every connected host is read now,
        then on events, changes and the cadence until the last watcher leaves. A service
        on a cadence whose last round is younger than it goes on from that round (an
        operator flipping between two views does not cost a round each time)."""
        self._watchers += 1
        if self._watchers > 1:
            return
        self._connected = frozenset(self._connected_names())  # unwatched, not followed
        if self.cadence is None or self._since_round() >= self.cadence:
            self.refresh_soon()
        else:
            self._start()

    def unwatch(self) -> None:
        self._watchers = max(0, self._watchers - 1)
        if not self._watchers:
            self._stop()

    def refresh_soon(self, hosts: Iterable[str] | None = None) -> None:
        """Reads `hosts` (default: every connected one) again shortly, if watched: after a
        change made here, or an event. Unwatched, nothing is read: the next watcher reads
        everything anyway."""
        if not self._watchers:
            return
        self._stale.update(hosts if hosts is not None else self._connected_names())
        self._wake.set()
        self._start()

    async def refresh(self, hosts: Iterable[str] | None = None) -> None:
        """Reads `hosts` (default: every connected one) now, watched or not, and publishes
        what changed."""
        if hosts is None:
            self.rounds += 1
            self._round_at = asyncio.get_running_loop().time()
        names = list(hosts) if hosts is not None else self._connected_names()
        by_name = {h.name: h for h in self.fleet.hosts}
        chosen = [by_name[name] for name in names if name in by_name]
        results = await asyncio.gather(*(self._read(h) for h in chosen))
        changed = any(results) | self._drop_gone()
        if hosts is None:
            self.read_once = True
            changed = True  # "read at least once" is news in itself
        if changed:
            self.publish()

    async def close(self) -> None:
        self._watchers = 0
        self._stop()
        self.fleet.remove_listener(self._fleet_changed)
        self.fleet.remove_event_listener(self._host_event)

    # ---- inside -------------------------------------------------------------------------

    def _connected_names(self) -> tuple[str, ...]:
        """The hosts that can be read now: connected (and their guests described, with
        AFTER_DEFINITIONS)."""
        return self.fleet.readable_hosts(self.AFTER_DEFINITIONS)

    def _since_round(self) -> float:
        return asyncio.get_running_loop().time() - self._round_at

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._serve())

    def reading_begins(self) -> int:
        """The number of a reading that begins now (see `hold`)."""
        return next(self._begun)

    def hold(self, host: str, number: int, reading: R) -> bool:
        """Keeps `reading` of `host` unless a reading that began later is held already;
        whether what is held changed. For an instance that reads part of a host itself."""
        if self._held.get(host, -1) > number:
            return False
        self._held[host] = number
        if self._readings.get(host) == reading:
            return False
        self._readings[host] = reading
        return True

    async def _read(self, host: Host) -> bool:
        """Reads one host; whether what is held changed."""
        number = self.reading_begins()
        try:
            reading = await self.read_host(host)
        except HostError as error:
            changed = self.errors.get(host.name) != describe(error) or host.name in self._readings
            self.errors[host.name] = describe(error)
            self._readings.pop(host.name, None)
            return changed
        changed = self.errors.pop(host.name, None) is not None
        return self.hold(host.name, number, reading) or changed

    def _drop_gone(self) -> bool:
        """Hosts that cannot be read any more take their rows and errors with them."""
        connected = set(self._connected_names())
        gone = [name for name in (*self._readings, *self.errors) if name not in connected]
        for name in gone:
            self._readings.pop(name, None)
            self.errors.pop(name, None)
        return bool(gone)

    async def _serve(self) -> None:
        """The one task, while watched: waits for stale hosts (or the cadence), gathers a
        burst for SETTLE seconds, reads them."""
        while self._watchers:
            due = None if self.cadence is None else max(0.0, self.cadence - self._since_round())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), due)
            if not self._wake.is_set():  # the cadence: everything
                self._stale.update(self._connected_names())
            await asyncio.sleep(SETTLE)
            self._wake.clear()
            stale, self._stale = self._stale, set()
            if stale:
                await self.refresh(stale if stale != set(self._connected_names()) else None)

    def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        self._stale.clear()

    def _fleet_changed(self) -> None:
        """A host that becomes ready while watched is read at once; one that goes takes
        its rows with it. Unwatched and holding nothing, there is nothing to do: the
        fleet's every notice (a thousand hosts connecting) cost each service a pass over
        the hosts."""
        if not (self._watchers or self._readings or self.errors):
            return
        connected = frozenset(self._connected_names())
        if connected == self._connected:
            return
        new = connected - self._connected
        self._connected = connected
        if new:
            self.refresh_soon(new)
        if self._drop_gone():
            self.publish()

    def _host_event(self, event: DomainEvent) -> None:
        if event.kind in self.EVENTS and self._watchers:
            self.on_event(event)


class GuestAnnotations(Generic[V]):
    """What a service lays onto the guest rows (addresses, the agent's answer): `apply`
    gives the rows with each guest's value on it. A row whose guest and value did not
    change comes back as the same object (the table redraws only changed rows), and the
    same tuple given again, with nothing new read meanwhile (`outdate`), costs nothing."""

    def __init__(self, lay: Callable[[GuestSnapshot, V], GuestSnapshot]) -> None:
        """`lay(guest, value)`: the row of `guest` with `value` on it."""
        self._lay = lay
        self._version = 0
        self._rows: dict[tuple[str, str], tuple[GuestSnapshot, GuestSnapshot, V]] = {}
        self._last: tuple[tuple[GuestSnapshot, ...], int, tuple[GuestSnapshot, ...]] | None = None

    def outdate(self) -> None:
        """The service read something new: what `apply` made is out of date."""
        self._version += 1

    def apply(
        self, guests: tuple[GuestSnapshot, ...], value: Callable[[GuestSnapshot], V | None]
    ) -> tuple[GuestSnapshot, ...]:
        """`guests` with `value(guest)` laid on each guest that has one."""
        if self._last is not None and self._last[0] is guests and self._last[1] == self._version:
            return self._last[2]
        rows: dict[tuple[str, str], tuple[GuestSnapshot, GuestSnapshot, V]] = {}
        out = []
        known_rows = self._rows
        for guest in guests:
            got = value(guest)
            if got is None:
                out.append(guest)
                continue
            key = (guest.host, guest.uuid)
            known = known_rows.get(key)
            if known is not None and known[0] is guest and (known[2] is got or known[2] == got):
                row = known[1]
            else:
                row = self._lay(guest, got)
            rows[key] = (guest, row, got)
            out.append(row)
        self._rows = rows
        result = tuple(out)
        self._last = (guests, self._version, result)
        return result
