"""All the hosts the operator watches, as one fleet with one view of every guest."""

from __future__ import annotations

import asyncio
import contextvars
import gc
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from kvmtui.core.connection import OPENS_IN_FLIGHT
from kvmtui.core.events import ensure_libvirt_events
from kvmtui.core.host import DomainEvent, Host, HostError
from kvmtui.core.model import GuestSnapshot, HostSnapshot, HostSpec, Link
from kvmtui.core.poller import beat_offset
from kvmtui.core.publish import Publisher
from kvmtui.core.ssh import SshPrompts

#: Seconds without another host's first table after which the reads that can wait run even
#: if some host has not yet brought its own (a hung host must not hold them back for ever).
#: Counted from the last first table, not from the start: a thousand hosts bring theirs for
#: longer than that, and the reads let loose among their opens (every guest's definition,
#: the events only the timeline follows) took the threads the remaining opens waited for
#: (1,000 hosts: 865 up at 11 s, the last 135 at 35 s).
FIRST_TABLES_WAIT = 10.0


@dataclass(frozen=True)
class FleetSnapshot:
    hosts: tuple[HostSnapshot, ...]
    guests: tuple[GuestSnapshot, ...]
    version: int


class Fleet(Publisher):
    """Starts one watcher per host and publishes when anything changed.

    Hosts tell only of real changes (a tick whose figures are all as before says nothing),
    and change notices are coalesced to one per loop iteration: a burst of fifty lifecycle
    events redraws the table once. The snapshot is built once per change and shared, so
    listeners can tell "nothing new" by identity.
    """

    def __init__(
        self,
        specs: Iterable[HostSpec],
        refresh: float,
        prompts: SshPrompts | None = None,
        opens_in_flight: int = OPENS_IN_FLIGHT,
    ) -> None:
        super().__init__()
        self._event_listeners: list[Callable[[DomainEvent], None]] = []
        self._close_hooks: list[Callable[[], Awaitable[None]]] = []
        #: Open once every host has brought its first table (or failed to): what fills in
        #: a first table later (virt types, then addresses) waits for it, since those
        #: reads, run beside the hosts still loading, took their daemons' and our CPU
        #: (10 hosts x 1,000 guests: the last first table came a second later).
        self._first_tables = asyncio.Event()
        self._first_tables_wait: asyncio.TimerHandle | None = None
        self._settled: set[str] = set()  # hosts whose first table came, or that failed
        self._load_watchers = 0  # views on screen that show the hosts' load
        #: The gate every host opens its connection through (see core/connection.py).
        self.opens = asyncio.Semaphore(opens_in_flight)
        specs = list(specs)
        self._hosts: dict[str, Host] = {
            spec.name: Host(
                spec,
                refresh,
                self._changed,
                self._event,
                prompts,
                first_tables=self._first_tables,
                load_seen=self.host_load_seen,
                opens=self.opens,
                beat_offset=beat_offset(index, len(specs), refresh),
            )
            for index, spec in enumerate(specs)
        }
        self._version = 0
        self._snapshot: FleetSnapshot | None = None
        self._notice_pending = False
        self._frozen: set[str] = set()  # hosts whose first table was frozen (see below)
        self._notifying = False  # a notice is being handed out (see readable_hosts)
        self._readable: dict[bool, tuple[str, ...]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._context: contextvars.Context | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # libvirt's callbacks arrive in whatever context their fd watch was set up in (often a
        # worker thread's empty one); listeners always run in the context that started us.
        self._context = contextvars.copy_context()
        ensure_libvirt_events(self._loop)
        self._wait_for_first_tables()
        for host in self._hosts.values():
            host.start()

    def add_close_hook(self, hook: Callable[[], Awaitable[None]]) -> None:
        """`await hook()` runs before the hosts close: long jobs end while their
        connections still work."""
        self._close_hooks.append(hook)

    async def close(self) -> None:
        hooks, self._close_hooks = self._close_hooks, []
        for hook in hooks:
            await hook()
        if self._first_tables_wait is not None:
            self._first_tables_wait.cancel()
        self._listeners.clear()
        self._event_listeners.clear()
        await asyncio.gather(*(host.close() for host in self._hosts.values()))

    async def first_tables(self) -> None:
        """Returns once every host has brought its first table or failed to (or after
        FIRST_TABLES_WAIT), with the notice that said so published."""
        await self._first_tables.wait()

    @property
    def hosts(self) -> list[Host]:
        return list(self._hosts.values())

    def watch_host_load(self) -> None:
        """A view showing the hosts' load (CPU, memory) came on screen: every host reads its
        load counters every tick until no such view shows (see Poller)."""
        self._load_watchers += 1

    def unwatch_host_load(self) -> None:
        self._load_watchers = max(0, self._load_watchers - 1)

    def host_load_seen(self) -> bool:
        return self._load_watchers > 0

    def host(self, name: str) -> Host:
        try:
            return self._hosts[name]
        except KeyError:
            raise HostError(f"no host named {name!r}") from None

    def snapshot(self) -> FleetSnapshot:
        if self._snapshot is None or self._snapshot.version != self._version:
            guests: list[GuestSnapshot] = []
            for host in self._hosts.values():
                guests.extend(host.guests())
            self._snapshot = FleetSnapshot(
                hosts=tuple(host.snapshot() for host in self._hosts.values()),
                guests=tuple(guests),
                version=self._version,
            )
        return self._snapshot

    def find_guest(self, key: str) -> GuestSnapshot | None:
        """A guest by its snapshot key (`uuid@host`), wherever it is now."""
        uuid, _, host = key.partition("@")
        owner = self._hosts.get(host)
        return owner.guest(uuid) if owner else None

    def add_event_listener(self, listener: Callable[[DomainEvent], None]) -> None:
        self._event_listeners.append(listener)

    def remove_event_listener(self, listener: Callable[[DomainEvent], None]) -> None:
        if listener in self._event_listeners:
            self._event_listeners.remove(listener)

    async def perform(self, guest: GuestSnapshot, verb: str, **options: object) -> str:
        return await self.host(guest.host).perform(guest.uuid, verb, **options)

    def _changed(self) -> None:
        self._version += 1
        if self._notice_pending or self._loop is None:
            return
        self._notice_pending = True
        self._loop.call_soon(self._notify, context=self._context)

    def _notify(self) -> None:
        self._notice_pending = False
        self._notifying = True
        try:
            self._note_first_tables()
            self._freeze_long_lived()
            self.publish()
        finally:
            self._notifying = False
            self._readable.clear()

    def readable_hosts(self, after_definitions: bool) -> tuple[str, ...]:
        """The hosts a service can read now: connected and, with `after_definitions`,
        with every guest described. While a notice is handed out the answer is kept: each
        watched service asks at every notice, and their passes over a thousand hosts were
        a tenth of the loop's time while the hosts connected."""
        known = self._readable.get(after_definitions)
        if known is not None:
            return known
        names = tuple(
            name
            for name, host in self._hosts.items()
            if host.connected and (not after_definitions or host.poller.described_all)
        )
        if self._notifying:
            self._readable[after_definitions] = names
        return names

    def _note_first_tables(self) -> None:
        if self._first_tables.is_set():
            return
        before = len(self._settled)
        self._settled.update(
            name for name, host in self._hosts.items() if host.link in (Link.CONNECTED, Link.LOST)
        )
        if len(self._settled) == len(self._hosts):
            self._first_tables.set()
        elif len(self._settled) > before and self._loop is not None:
            self._wait_for_first_tables()

    def _wait_for_first_tables(self) -> None:
        """(Re)starts the FIRST_TABLES_WAIT countdown."""
        if self._first_tables_wait is not None:
            self._first_tables_wait.cancel()
        assert self._loop is not None
        self._first_tables_wait = self._loop.call_later(FIRST_TABLES_WAIT, self._first_tables.set)

    def _freeze_long_lived(self) -> None:
        """Takes what exists once a host's first table is in (every guest described, its
        virt type included) out of the garbage
        collector's sight (`gc.freeze`): that table is thousands of snapshots, names and
        rows that live as long as the host, and a full collection walking them all paused
        the screen 100-300 ms now and then at 10,000 guests (a keystroke waited for it).
        Frozen objects freed later still go by reference counting. Only a host's first
        connection freezes: what is alive at a later reconnect (a dialog, a failed call's
        traceback) may become cyclic garbage, which frozen would never be freed."""
        if len(self._frozen) == len(self._hosts):
            return  # every host's first table is frozen: nothing left to look for
        up = set(self.readable_hosts(after_definitions=True))
        if not up <= self._frozen:
            gc.freeze()
            self._frozen |= up

    def _event(self, event: DomainEvent) -> None:
        for listener in list(self._event_listeners):
            if self._context is not None:
                self._context.copy().run(listener, event)
            else:
                listener(event)
