"""One host's guest table, kept current by lifecycle events and one bulk stats call per tick.

The tick is the cost every guest pays every refresh, so its work follows what changed, not
the fleet's size: each guest's bulk record is compared with the one of the previous tick, and
a guest whose record (and so every figure) is unchanged keeps its frozen GuestSnapshot; the
host tells its listeners only when some snapshot really differs. Guest facts the bulk call
lacks (persistent, autostart, the virt type; memory and vCPUs on drivers whose records have
the state only) are read on first sight and after events only: a few guests are asked one by
one; many at once (a first table) cost two listing calls for the host and the record's own
figures, and the definitions (an XML document per guest) follow in chunks after the table is
on screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import sys
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

import libvirt

from kvmtui.core.connection import DOMAIN_EVENTS, NETWORK_EVENTS, POOL_EVENTS, Connection, Handlers
from kvmtui.core.domain_xml import TableFacts, table_facts
from kvmtui.core.errors import HostError, describe
from kvmtui.core.model import NO_RATES, GuestRates, GuestSnapshot, GuestState, HostLoad, Link
from kvmtui.core.stats import (
    GuestSample,
    NodeCpuSample,
    cpu_percent,
    guest_rates,
    node_cpu_percent,
    node_cpu_sample,
    node_memory_used_kib,
    sample_from_record,
)
from kvmtui.core.words import guest_state, state_reason

Run = Callable[[Callable[[libvirt.virConnect], Any]], Awaitable[Any]]

#: Seconds between reads of a host's load counters (CPU, memory) while no view shows them:
#: a round trip each, as costly as the bulk stats of a small host, for the history and the
#: migration advice only (the CPU figure spans the time between two reads). Every 10 s
#: they were two calls for every five stats calls at 1,000 hosts. The hosts view and the
#: CPU map ask for every tick.
LOAD_UNSEEN_EVERY = 30.0
#: While the fleet's other hosts still open, a host that is up ticks once every this many
#: refreshes: at 1,000 hosts the ticks of those up (500 a second by 700 up) took the
#: shared pool's threads and the GIL from the opens of the rest, and the hosts came
#: at half the rate.
STARTING_TICKS = 3

#: Per event loop and refresh: the next beat's moment and the future it resolves.
_beats: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[float, float], tuple[float, asyncio.Future[None]]]
] = weakref.WeakKeyDictionary()


def _beat(refresh: float, offset: float = 0.0) -> asyncio.Future[None]:
    """The next multiple of `refresh` (plus `offset`) on the loop's clock, as a future every
    host of that offset awaits.

    Every host ticks on this common beat, whenever it connected, so 200 hosts wake the loop
    and the worker threads in one batch a refresh instead of 200 times at scattered moments
    (each wake-up and thread hand-off costs more than a small host's tick); and one timer
    serves them all, where a timeout per host cost a timer, a cancellation and two
    exceptions per host and tick. Awaited through asyncio.wait, which never cancels it.
    A fleet of more than BEAT_HOSTS hosts spreads them over beats of several offsets (see
    `beat_offset`)."""
    loop = asyncio.get_running_loop()
    due = (math.floor((loop.time() - offset) / refresh) + 1) * refresh + offset
    beats = _beats.setdefault(loop, {})
    known = beats.get((refresh, offset))
    if known is not None and known[0] == due:
        return known[1]
    future: asyncio.Future[None] = loop.create_future()
    loop.call_at(due, _ring, future)
    beats[(refresh, offset)] = (due, future)
    return future


#: Hosts one beat wakes at most. A beat's ticks queue at once on the shared pool, which
#: adds a thread once a call has waited a quarter of a second (core/workers.py): a thousand
#: hosts' ticks on one beat kept eight threads fighting over the GIL every beat (1000x10
#: served: 3.2x the CPU of the bulk calls alone), where a hundred take one thread well
#: under that.
BEAT_HOSTS = 100


def beat_offset(index: int, hosts: int, refresh: float) -> float:
    """The offset of the beat of the fleet's `index`th host of `hosts`: groups of
    BEAT_HOSTS, spread evenly over the refresh (0 for every host of a smaller fleet)."""
    groups = -(-hosts // BEAT_HOSTS)
    return (index // BEAT_HOSTS) * refresh / groups


def _ring(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


STATS_GROUPS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
    | libvirt.VIR_DOMAIN_STATS_BLOCK
)
# NOWAIT: a guest stuck in a long job must not hold up the whole host's figures.
STATS_FLAGS = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT

_EVENT_STATES = {
    libvirt.VIR_DOMAIN_EVENT_STARTED: GuestState.RUNNING,
    libvirt.VIR_DOMAIN_EVENT_RESUMED: GuestState.RUNNING,
    libvirt.VIR_DOMAIN_EVENT_SUSPENDED: GuestState.PAUSED,
    libvirt.VIR_DOMAIN_EVENT_STOPPED: GuestState.SHUTOFF,
    libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED: GuestState.PMSUSPENDED,
    libvirt.VIR_DOMAIN_EVENT_CRASHED: GuestState.CRASHED,
}


#: Guest events passed on as they come, by `DomainEvent.kind`; `params` holds libvirt's
#: arguments: reboot (), watchdog (action,), io-error (path, device, action, reason),
#: block-threshold (device, path, threshold, excess), device-added and device-removed
#: (alias,), agent-lifecycle (state, reason). A metadata change has a handler of its own
#: (`_metadata_event`: the tags are read again): `detail` its type, `params` its URI.
GUEST_EVENTS: dict[str, int] = {
    "reboot": libvirt.VIR_DOMAIN_EVENT_ID_REBOOT,
    "watchdog": libvirt.VIR_DOMAIN_EVENT_ID_WATCHDOG,
    "io-error": libvirt.VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON,
    "block-threshold": libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_THRESHOLD,
    "device-added": libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
    "device-removed": libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
    "agent-lifecycle": libvirt.VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE,
}


@dataclass(frozen=True)
class DomainEvent:
    """A libvirt event, forwarded to whoever listens (migration jobs, services, logs):
    `kind` is "lifecycle", "job-completed" ... for a domain, "pool" or "network" for their
    lifecycle events (`uuid` and `name` are then the pool's or network's), one of
    GUEST_EVENTS, "host-lost" (`params`: why) and "host-back" (a lost host connected again)."""

    host: str
    uuid: str
    name: str
    kind: str
    event: int = 0
    detail: int = 0
    params: Any = None


@dataclass(slots=True)
class _Described:
    """What changes only on lifecycle events, read per guest on first sight and on events.
    Used as a value (replaced, never changed), but not frozen: a first table makes one per
    guest on the worker thread, and a frozen one takes three times as long to make."""

    name: str
    state: GuestState
    max_memory_kib: int
    memory_kib: int
    vcpus: int
    persistent: bool
    autostart: bool
    virt_type: str  # "" and agent None: the definition is still to be read
    agent: bool | None
    tags: tuple[str, ...]
    #: False while memory and vCPUs are unknown (0): the record lacked them and the
    #: definition, which has them too, is still to be read.
    sized: bool = True


@dataclass(frozen=True)
class _Flags:
    """Which guests of a host are transient and which autostart: two listing calls for a
    whole host, where asking each guest costs two calls per guest (a remote host's first
    table of 1,000 guests was thousands of round trips). The transient ones are listed
    rather than the persistent ones: they are few (a persistent guest is the rule), and each
    guest listed is a domain object made, named and freed."""

    transient: frozenset[str]
    autostart: frozenset[str]

    @classmethod
    def read(cls, conn: libvirt.virConnect) -> _Flags:
        def uuids(flag: int) -> frozenset[str]:
            return frozenset(d.UUIDString() for d in conn.listAllDomains(flag))

        return cls(
            uuids(libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT),
            uuids(libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART),
        )


#: New guests in one tick from which on the flags are listed for the host, not asked each.
_LIST_FLAGS_FROM = 8


#: The bulk record's keys that say what `virDomainGetInfo` says (QEMU gives them for every
#: guest, running or not; the test driver only the state).
_INFO_KEYS = ("state.state", "balloon.maximum", "balloon.current", "vcpu.current")


def used_inside_kib(record: dict[str, Any]) -> int | None:
    """The memory the guest uses, by its own balloon statistics in the bulk record: what it
    has (`available`, its MemTotal) less what it could still use without swapping
    (`usable`, its MemAvailable), or less what is free (`unused`) from a guest that gives no
    `usable`. None when the guest gives no such statistics (no balloon driver, no stats
    period): no figure rather than a guess."""
    available = record.get("balloon.available")
    spare = record.get("balloon.usable", record.get("balloon.unused"))
    if available is None or spare is None:
        return None
    return max(0, int(available) - int(spare))


def _read_facts(dom: libvirt.virDomain) -> TableFacts:
    return table_facts(dom.XMLDesc(0))


def _describe(
    dom: libvirt.virDomain,
    flags: _Flags | None = None,
    record: dict[str, Any] | None = None,
    read_xml: bool = True,
    identity: tuple[str, str] | None = None,
) -> _Described:
    """The guest's facts; those of its definition only with `read_xml`, since that is a
    whole XML document per guest: a first table of many guests reads them later. The state,
    memory and vCPUs come from the record where it has them, else from the definition, else
    from `virDomainGetInfo`; a record with the state alone and no `read_xml` leaves memory
    and vCPUs to the definition read later (the test driver's records: one call less per
    guest, and no call at all for a first table). With `flags` the persistent and autostart
    flags cost no call either; `identity` is the (UUID, name) the caller read already."""
    facts = _read_facts(dom) if read_xml else None
    sized = True
    if record is not None and all(key in record for key in _INFO_KEYS):
        state, max_mem, mem, vcpus = (record[key] for key in _INFO_KEYS)
    elif record is not None and "state.state" in record:
        state = record["state.state"]
        if facts is not None:
            size = facts.sizes
            max_mem, mem, vcpus = size.memory_kib, size.current_memory_kib, size.vcpus
        else:
            max_mem = mem = vcpus = 0
            sized = False
    else:
        state, max_mem, mem, vcpus, _cpu = dom.info()
    uuid, name = identity or (dom.UUIDString(), dom.name())
    return _Described(
        name=name,
        state=guest_state(state),
        max_memory_kib=int(max_mem),
        memory_kib=int(mem),
        vcpus=int(vcpus),
        persistent=uuid not in flags.transient if flags else bool(dom.isPersistent()),
        autostart=uuid in flags.autostart if flags else bool(dom.autostart()),
        virt_type=facts.virt_type if facts else "",
        agent=facts.agent if facts else None,
        tags=facts.tags if facts else (),
        sized=sized,
    )


def _definitions(
    _conn: libvirt.virConnect, doms: list[tuple[str, libvirt.virDomain]]
) -> dict[str, TableFacts]:
    """The definitions' facts of each guest, by UUID."""
    found = {}
    for uuid, dom in doms:
        with contextlib.suppress(libvirt.libvirtError):  # gone since: the tick will tell
            found[uuid] = _read_facts(dom)
    return found


#: Guests whose definitions one call reads, so the host's tick runs between such calls.
_DEFINITIONS_CHUNK = 200


def _unsupported(error: libvirt.libvirtError) -> bool:
    """Only VIR_ERR_NO_SUPPORT turns a statistic off: any other failure is transient."""
    return error.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT


@dataclass
class _Poll:
    at: float  # monotonic seconds, taken the moment the bulk call returned
    records: list[tuple[str, str, dict[str, Any], int]]  # uuid, name, record, fingerprint
    fingerprint: int  # of every guest's uuid and record fingerprint, in order
    described: dict[str, _Described]
    unread: dict[str, libvirt.virDomain]  # described without their definition's facts
    node_cpu: dict[str, int] | None
    node_memory: dict[str, int] | None
    load_read: bool = True  # the load counters were asked for on this tick


@dataclass(slots=True)
class _Last:
    """A guest as of the previous tick: a fingerprint of its bulk record (a 64-bit hash of
    its values: a record is thousands of bytes, ten thousand of them add up; taken on the
    worker thread, so the loop, which answers the keys, only compares) and the sample
    read from it; `steady` once two ticks in a row were equal, from when on its rates are
    zero and its snapshot can be kept as it is."""

    fingerprint: int
    sample: GuestSample
    steady: bool = False


class Poller:
    """See the module docstring. `serve()` runs while the connection is up."""

    def __init__(
        self,
        connection: Connection,
        refresh: float,
        run: Run,
        on_change: Callable[[], None],
        on_event: Callable[[DomainEvent], None],
        first_tables: asyncio.Event | None = None,
        load_seen: Callable[[], bool] | None = None,
        offset: float = 0.0,
    ) -> None:
        """`first_tables` is set once the fleet's hosts have brought their first tables:
        until then the definitions a first table left out wait, and the host ticks every
        STARTING_TICKS refreshes, since the other hosts may still be opening. `load_seen()`
        says whether a view shows the host's load; when it does not, the load counters are
        read every `LOAD_UNSEEN_EVERY` seconds instead of every tick. `offset` is its beat's (see
        `beat_offset`)."""
        self.name = connection.name
        self.refresh = refresh
        self._offset = offset
        self._connection = connection
        self._run = run
        self._on_change = on_change
        self._on_event = on_event
        self._first_tables = first_tables
        self._load_seen = load_seen or (lambda: True)
        self._load_read_at = -math.inf  # when the load counters were last read (the worker's)
        self._load_reads = 0  # reads of them since the connection opened
        self.load = HostLoad()
        self.guests: dict[str, GuestSnapshot] = {}
        self._described: dict[str, _Described] = {}
        self._last: dict[str, _Last] = {}
        self._last_at = 0.0
        #: The fingerprint of the last tick that changed no guest, from guests all steady.
        self._settled: int | None = None
        self._node_cpu: NodeCpuSample | None = None
        self._node_cpu_supported = True
        self._node_memory_supported = True
        self._pending_describe: set[str] = set()
        #: Guests whose definition is still to be read, with the domain to read it from.
        self._unread: dict[str, libvirt.virDomain] = {}
        self._reading: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: The last tick's guests' UUIDs, as text by their 16 bytes (see _poll_blocking).
        self._uuid_texts: dict[bytes, str] = {}
        self.ticks = 0

    @property
    def described_all(self) -> bool:
        """Whether every guest's facts are in, the definitions a first table left out too."""
        return not self._unread

    def handlers(self) -> Handlers:
        return [
            (DOMAIN_EVENTS, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._lifecycle_event),
            (DOMAIN_EVENTS, libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED, self._job_completed_event),
            (DOMAIN_EVENTS, libvirt.VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION, self._iteration_event),
            (DOMAIN_EVENTS, libvirt.VIR_DOMAIN_EVENT_ID_TUNABLE, self._tunable_event),
            (DOMAIN_EVENTS, libvirt.VIR_DOMAIN_EVENT_ID_METADATA_CHANGE, self._metadata_event),
            # The rest of a guest's events only go to the listeners (the event timeline):
            # the guest table learns of what they change from the lifecycle event or tick.
            *(
                (DOMAIN_EVENTS, event_id, functools.partial(self._domain_event, kind))
                for kind, event_id in GUEST_EVENTS.items()
            ),
            # Pools and networks are not the poller's, but their services read on these
            # (kvmtui.core.resource): the events of a host come from one place.
            (
                POOL_EVENTS,
                libvirt.VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE,
                functools.partial(self._object_event, "pool"),
            ),
            (
                NETWORK_EVENTS,
                libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE,
                functools.partial(self._object_event, "network"),
            ),
        ]

    async def serve(self) -> str:
        """The first full table comes with the "connected" state; then one tick per refresh
        until the connection is lost, whose reason is returned."""
        self._reset()
        await self._tick()
        self._connection.set_link(Link.CONNECTED, "")
        lost = self._connection.lost
        assert lost is not None  # set as the connection opened
        while True:
            if not lost.done():
                starting = self._first_tables is not None and not self._first_tables.is_set()
                await asyncio.wait(
                    (_beat(self.refresh * (STARTING_TICKS if starting else 1), self._offset), lost),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            if lost.done():
                return self._connection.lost_reason
            try:
                await self._tick()
            except HostError as error:
                why = describe(error)
                if error.timed_out or not self._connection.alive():
                    return why
                self._connection.set_link(Link.CONNECTED, f"stats failed: {why}")
            else:
                self._connection.set_link(Link.CONNECTED, "")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)

    def _reset(self) -> None:
        """A new connection: no previous sample to subtract from, and every statistic is
        tried again (an upgraded daemon may support what the old one did not)."""
        self._last.clear()
        self._settled = None
        # Domains of the old connection are no use: the first tick describes them again.
        self._pending_describe.update(self._unread)
        self._unread.clear()
        self._node_cpu = None
        self._node_cpu_supported = self._node_memory_supported = True
        self._load_read_at = -math.inf
        self._load_reads = 0

    # ---- one tick -----------------------------------------------------------------------

    def _poll_blocking(self, conn: libvirt.virConnect) -> _Poll:
        """Everything one tick needs, in as few calls as the driver allows."""
        raw = conn.getAllDomainStats(STATS_GROUPS, STATS_FLAGS)
        at = time.monotonic()  # the sample's moment: not after later calls or awaits
        records: list[tuple[str, str, dict[str, Any], int]] = []
        described: dict[str, _Described] = {}
        new = []
        prints: list[str | int] = []
        # A UUID as text from libvirt (UUIDString) cost 2 us a guest and tick, a sixth of
        # the idle CPU at 10,000 guests; its 16 bytes cost half, and their text is kept.
        known, uuid_texts = self._uuid_texts, {}
        for dom, record in raw:
            raw_uuid = dom.UUID()
            uuid = known.get(raw_uuid) or sys.intern(str(UUID(bytes=raw_uuid)))
            uuid_texts[raw_uuid] = uuid
            # interned: the services that read the guest later keep the same strings
            name = sys.intern(dom.name())
            fingerprint = hash((name, *record.values()))
            records.append((uuid, name, record, fingerprint))
            prints += (uuid, fingerprint)
            if uuid not in self._described or uuid in self._pending_describe:
                new.append((uuid, name, dom, record))
        self._uuid_texts = uuid_texts
        flags = _Flags.read(conn) if len(new) >= _LIST_FLAGS_FROM else None
        for uuid, name, dom, record in new:
            with contextlib.suppress(libvirt.libvirtError):
                # Many at once (a first table): the definitions come later, off this tick.
                described[uuid] = _describe(
                    dom, flags, record, read_xml=flags is None, identity=(uuid, name)
                )
        unread = (
            {uuid: dom for uuid, _name, dom, _record in new if uuid in described} if flags else {}
        )
        node_cpu = node_memory = None
        if (
            self._load_reads >= 2
            and at - self._load_read_at < LOAD_UNSEEN_EVERY
            and not self._load_seen()
        ):
            # a load figure takes two reads: the first two ticks read, then now and then
            return _Poll(
                at, records, hash(tuple(prints)), described, unread, None, None, load_read=False
            )
        self._load_read_at = at
        self._load_reads += 1
        if self._node_cpu_supported:
            try:
                node_cpu = conn.getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS)
            except libvirt.libvirtError as error:
                self._node_cpu_supported = not _unsupported(error)
        if self._node_memory_supported:
            try:
                node_memory = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)
            except libvirt.libvirtError as error:
                self._node_memory_supported = not _unsupported(error)
        return _Poll(at, records, hash(tuple(prints)), described, unread, node_cpu, node_memory)

    async def _tick(self) -> None:
        poll = await self._run(self._poll_blocking)
        self.ticks += 1
        changed = bool(poll.described)
        self._pending_describe.difference_update(poll.described)
        self._described.update(poll.described)
        for uuid in poll.described.keys() - poll.unread.keys():
            self._unread.pop(uuid, None)
        self._unread.update(poll.unread)
        if self._unread and self._reading is None:
            self._reading = asyncio.get_running_loop().create_task(self._read_definitions())
            self._tasks.add(self._reading)
            self._reading.add_done_callback(self._tasks.discard)
        if poll.fingerprint == self._settled and not poll.described:
            guest_cpu_ns_per_s = 0.0  # every guest as on the ticks before: nothing to redo
        else:
            guests_changed, guest_cpu_ns_per_s = self._read_records(poll)
            changed = changed or guests_changed
        self._last_at = poll.at
        load = self._host_load(poll, guest_cpu_ns_per_s, changed)
        if load != self.load:
            self.load = load
            changed = True
        if changed:
            self._on_change()

    def _read_records(self, poll: _Poll) -> tuple[bool, float]:
        """The guests from the tick's records; whether any snapshot changed, and the guests'
        CPU in ns per second. A host whose every record is as on the tick before, once
        more, is settled: its next tick of the same fingerprint is skipped whole."""
        seen: set[str] = set()
        guest_cpu_ns_per_s = 0.0
        changed = False
        kept = 0
        for uuid, name, record, fingerprint in poll.records:
            seen.add(uuid)
            last = self._last.get(uuid)
            same = last is not None and last.fingerprint == fingerprint
            if same and last is not None and last.steady and uuid not in poll.described:
                kept += 1
                continue  # nothing new: the frozen snapshot stands, and costs nothing
            described = self._described.get(uuid)
            sample = sample_from_record(record, poll.at, described.vcpus if described else 1)
            before = replace(last.sample, at=self._last_at) if last is not None else None
            rates = guest_rates(before, sample)
            if before is not None and rates.cpu_percent is not None:
                guest_cpu_ns_per_s += rates.cpu_percent / 100 * sample.vcpus * 1e9
            self._last[uuid] = _Last(fingerprint, sample, steady=same)
            guest = self._snapshot_guest(uuid, name, record, described, rates)
            if guest != self.guests.get(uuid):
                self.guests[uuid] = guest
                changed = True
        gone = self.guests.keys() - seen
        for uuid in gone:
            self._forget(uuid=uuid, notify=False)
            changed = True
        settled = kept == len(poll.records) and not gone
        self._settled = poll.fingerprint if settled else None
        return changed, guest_cpu_ns_per_s

    def _snapshot_guest(
        self,
        uuid: str,
        name: str,
        record: dict[str, Any],
        described: _Described | None,
        rates: GuestRates,
    ) -> GuestSnapshot:
        if "state.state" in record:
            state = guest_state(int(record["state.state"]))
        else:
            state = described.state if described else GuestState.NOSTATE
        vcpus = int(record.get("vcpu.current", described.vcpus if described else 0))
        memory = int(record.get("balloon.current", described.memory_kib if described else 0))
        return GuestSnapshot(
            host=self.name,
            name=name,
            uuid=uuid,
            state=state,
            reason=state_reason(state, record.get("state.reason")),
            vcpus=vcpus,
            memory_kib=memory,
            max_memory_kib=described.max_memory_kib if described else memory,
            persistent=described.persistent if described else True,
            autostart=described.autostart if described else False,
            virt_type=described.virt_type if described else "",
            agent_channel=described.agent if described else None,
            tags=described.tags if described else (),
            rates=rates if state.is_active else NO_RATES,
            memory_used_kib=used_inside_kib(record) if state.is_active else None,
        )

    def _host_load(self, poll: _Poll, guest_cpu_ns_per_s: float, changed: bool) -> HostLoad:
        """The host's load: from its counters when this tick read them; from its guests
        where the driver has no counters (or they failed); else as it was."""
        cpu = self.load.cpu_percent
        if poll.node_cpu is not None:
            sample = node_cpu_sample(poll.node_cpu)
            cpu = node_cpu_percent(self._node_cpu, sample)
            self._node_cpu = sample
        elif (poll.load_read or not self._node_cpu_supported) and self._connection.info.cpus:
            # Drivers without node counters (test://): the guests' share of the host's CPUs
            # (a guest whose counters stood still added nothing, so it was skipped above).
            cpu = cpu_percent(0, int(guest_cpu_ns_per_s), 1.0, self._connection.info.cpus)
        used, total = self.load.memory_used_kib, self.load.memory_total_kib
        if poll.node_memory is not None:
            used, total = node_memory_used_kib(poll.node_memory)
        elif (poll.load_read or not self._node_memory_supported) and (changed or not total):
            total = self._connection.info.memory_kib
            used = self._guests_memory_kib()
        return HostLoad(cpu_percent=cpu, memory_used_kib=used, memory_total_kib=total)

    def _guests_memory_kib(self) -> int:
        """The host's memory in use as its running guests' sum: where the driver has no
        node memory counters (test://)."""
        return sum(g.memory_kib for g in self.guests.values() if g.state.is_active)

    # ---- events (called on the loop thread by libvirtaio) -------------------------------

    def describe_later(self, uuid: str) -> None:
        """Re-reads one guest's static facts soon, off the loop thread."""
        self._pending_describe.add(uuid)
        task = asyncio.get_running_loop().create_task(self._refresh_one(uuid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_definitions(self) -> None:
        """The definitions' facts a first table left out, a chunk per call."""
        try:
            if self._first_tables is not None:
                await self._first_tables.wait()
            while self._unread:
                chunk = list(self._unread.items())[:_DEFINITIONS_CHUNK]
                try:
                    found = await self._run(functools.partial(_definitions, doms=chunk))
                except HostError:
                    return  # the connection is going; a new one describes afresh
                for uuid, _dom in chunk:
                    self._unread.pop(uuid, None)
                sized = [self._add_definition(uuid, facts) for uuid, facts in found.items()]
                if any(sized) and not self._node_memory_supported:
                    # the guests' memory, which the host's is the sum of, was unknown
                    self.load = replace(self.load, memory_used_kib=self._guests_memory_kib())
                self._on_change()
        finally:
            self._reading = None

    def _add_definition(self, uuid: str, facts: TableFacts) -> bool:
        """Lays a guest's definition on it; True when that gave its memory and vCPUs."""
        described = self._described.get(uuid)
        guest = self.guests.get(uuid)
        if described is None or guest is None:
            return False
        sized = not described.sized
        described = replace(
            described, virt_type=facts.virt_type, agent=facts.agent, tags=facts.tags
        )
        guest = replace(
            guest, virt_type=facts.virt_type, agent_channel=facts.agent, tags=facts.tags
        )
        if sized:
            size = facts.sizes
            described = replace(
                described,
                max_memory_kib=size.memory_kib,
                memory_kib=size.current_memory_kib,
                vcpus=size.vcpus,
                sized=True,
            )
            guest = replace(
                guest,
                max_memory_kib=size.memory_kib,
                memory_kib=size.current_memory_kib,
                vcpus=size.vcpus,
            )
            self._unsettle(uuid)  # its sample's vCPUs, for the CPU share, were unknown
        self._described[uuid] = described
        self.guests[uuid] = guest
        return sized

    async def _refresh_one(self, uuid: str) -> None:
        try:
            described = await self._run(lambda conn: _describe(conn.lookupByUUIDString(uuid)))
        except HostError as error:
            if error.code == libvirt.VIR_ERR_NO_DOMAIN:
                self._forget(uuid)
            return
        self._pending_describe.discard(uuid)
        self._described[uuid] = described
        self._unsettle(uuid)
        guest = self.guests.get(uuid)
        if guest is not None:
            self.guests[uuid] = replace(
                guest,
                name=described.name,
                state=described.state,
                vcpus=described.vcpus,
                memory_kib=described.memory_kib,
                max_memory_kib=described.max_memory_kib,
                persistent=described.persistent,
                autostart=described.autostart,
                virt_type=described.virt_type,
                agent_channel=described.agent,
                tags=described.tags,
            )
            self._on_change()

    def _unsettle(self, uuid: str) -> None:
        """The next tick rebuilds this guest from its record even if the record is as
        before: an event changed the snapshot in between."""
        self._settled = None
        last = self._last.get(uuid)
        if last is not None:
            last.steady = False

    def _forget(self, uuid: str, notify: bool = True) -> None:
        self._settled = None
        if self.guests.pop(uuid, None) is not None:
            self._last.pop(uuid, None)
            self._described.pop(uuid, None)
            self._unread.pop(uuid, None)
            if notify:
                self._on_change()

    def _lifecycle_event(
        self, _conn: Any, dom: libvirt.virDomain, event: int, detail: int, _opaque: Any
    ) -> None:
        uuid, name = dom.UUIDString(), dom.name()
        guest = self.guests.get(uuid)
        if event == libvirt.VIR_DOMAIN_EVENT_UNDEFINED:
            if guest is None or not guest.state.is_active:
                self._forget(uuid)
            else:
                self.guests[uuid] = replace(guest, persistent=False)
                self.describe_later(uuid)
        else:
            state = _EVENT_STATES.get(event, guest.state if guest else GuestState.SHUTOFF)
            if guest is None:
                guest = GuestSnapshot(host=self.name, name=name, uuid=uuid, state=state)
            self.guests[uuid] = replace(guest, state=state)
            self.describe_later(uuid)
        self._unsettle(uuid)
        self._on_change()
        self._on_event(DomainEvent(self.name, uuid, name, "lifecycle", event, detail))

    def _job_completed_event(
        self, _conn: Any, dom: libvirt.virDomain, params: Any, _opaque: Any
    ) -> None:
        self._on_event(
            DomainEvent(
                self.name, dom.UUIDString(), dom.name(), "job-completed", params=dict(params)
            )
        )

    def _iteration_event(
        self, _conn: Any, dom: libvirt.virDomain, iteration: int, _opaque: Any
    ) -> None:
        self._on_event(
            DomainEvent(
                self.name, dom.UUIDString(), dom.name(), "migration-iteration", detail=iteration
            )
        )

    def _object_event(
        self, kind: str, _conn: Any, obj: Any, event: int, detail: int, _opaque: Any
    ) -> None:
        """A pool's or a network's lifecycle event (defined, started, stopped ...)."""
        self._on_event(DomainEvent(self.name, obj.UUIDString(), obj.name(), kind, event, detail))

    def _metadata_event(
        self, _conn: Any, dom: libvirt.virDomain, kind: int, nsuri: str | None, _opaque: Any
    ) -> None:
        """A guest's title, description or metadata element changed (by kvmtui or anyone
        else, `virsh metadata` included): its definition is read again, for its tags."""
        uuid = dom.UUIDString()
        if uuid in self.guests:
            self.describe_later(uuid)
        self._on_event(
            DomainEvent(self.name, uuid, dom.name(), "metadata-change", detail=kind, params=nsuri)
        )

    def _domain_event(self, kind: str, _conn: Any, dom: libvirt.virDomain, *args: Any) -> None:
        """One of GUEST_EVENTS: its arguments (after the domain, before libvirt's opaque
        value) as the event's `params`."""
        self._on_event(DomainEvent(self.name, dom.UUIDString(), dom.name(), kind, params=args[:-1]))

    def _tunable_event(self, _conn: Any, dom: libvirt.virDomain, params: Any, _opaque: Any) -> None:
        self._on_event(
            DomainEvent(self.name, dom.UUIDString(), dom.name(), "tunable", params=dict(params))
        )
