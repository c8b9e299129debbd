"""One libvirt host: its connection, its own threads, its events and its live figures.

Every blocking libvirt call runs in this host's own small thread pool, so a host that hangs
holds up nobody else; the pool is thrown away with the connection when the host is lost.
Lifecycle events update the guest table the moment libvirt sends them; the bulk stats call
runs once per tick; a lost connection (close callback, keepalive, failed call) is retried
with a growing delay, and the reason stays visible meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import libvirt

from kvmtui.core import actions, ssh
from kvmtui.core.model import (
    GuestRates,
    GuestSnapshot,
    GuestState,
    HostInfo,
    HostLoad,
    HostSnapshot,
    HostSpec,
    Link,
)
from kvmtui.core.session import Session, SessionRetired
from kvmtui.core.stats import (
    GuestSample,
    NodeCpuSample,
    cpu_percent,
    guest_rates,
    guest_state,
    node_cpu_percent,
    node_cpu_sample,
    node_memory_used_kib,
    sample_from_record,
)

T = TypeVar("T")

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

CALL_TIMEOUT = 30.0
OPEN_TIMEOUT = 20.0
KEEPALIVE_INTERVAL = 3
KEEPALIVE_COUNT = 3
RETRY_FIRST = 1.0
RETRY_MAX = 30.0

_CLOSE_REASONS = {
    libvirt.VIR_CONNECT_CLOSE_REASON_ERROR: "connection error",
    libvirt.VIR_CONNECT_CLOSE_REASON_EOF: "the daemon closed the connection",
    libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE: "no answer to keepalive",
    libvirt.VIR_CONNECT_CLOSE_REASON_CLIENT: "closed",
}

_EVENT_STATES = {
    libvirt.VIR_DOMAIN_EVENT_STARTED: GuestState.RUNNING,
    libvirt.VIR_DOMAIN_EVENT_RESUMED: GuestState.RUNNING,
    libvirt.VIR_DOMAIN_EVENT_SUSPENDED: GuestState.PAUSED,
    libvirt.VIR_DOMAIN_EVENT_STOPPED: GuestState.SHUTOFF,
    libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED: GuestState.PMSUSPENDED,
    libvirt.VIR_DOMAIN_EVENT_CRASHED: GuestState.CRASHED,
}


class HostError(Exception):
    """An action failed; the message names the host and the guest and quotes libvirt.

    Every failure of a call on a host (libvirt's errors, timeouts, a lost connection, a bug
    in the called function) leaves the core as this one type, so the UI needs one `except`.
    `code` keeps libvirt's error code (e.g. VIR_ERR_NO_DOMAIN) for callers that act on it;
    the original exception stays in `__cause__`."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code

    @property
    def timed_out(self) -> bool:
        return isinstance(self.__cause__, TimeoutError)


@dataclass(frozen=True)
class DomainEvent:
    """A libvirt domain event, forwarded to whoever listens (migration jobs, logs)."""

    host: str
    uuid: str
    name: str
    kind: str
    event: int = 0
    detail: int = 0
    params: Any = None


def _version(number: int) -> str:
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def _describe_error(error: BaseException) -> str:
    """The reason in libvirt's own words; a HostError is described by what it wraps."""
    if isinstance(error, HostError) and error.__cause__ is not None:
        return _describe_error(error.__cause__)
    if isinstance(error, libvirt.libvirtError):
        return error.get_error_message() or str(error)
    if isinstance(error, TimeoutError):
        return "no answer (timed out)"
    return str(error) or type(error).__name__


def _read_host_info(conn: libvirt.virConnect) -> HostInfo:
    model, memory_mib, cpus = conn.getInfo()[:3]
    cpu_model = model
    with contextlib.suppress(libvirt.libvirtError, ET.ParseError):
        found = ET.fromstring(conn.getCapabilities()).findtext("host/cpu/model")
        if found:
            cpu_model = f"{found} ({model})"
    return HostInfo(
        hostname=conn.getHostname(),
        hypervisor=conn.getType(),
        hypervisor_version=_version(conn.getVersion()),
        libvirt_version=_version(conn.getLibVersion()),
        cpu_model=cpu_model,
        cpus=int(cpus),
        memory_kib=int(memory_mib) * 1024,
    )


@dataclass(frozen=True)
class _Described:
    """What changes only on lifecycle events, read per guest on first sight and on events."""

    name: str
    state: GuestState
    reason: int
    max_memory_kib: int
    memory_kib: int
    vcpus: int
    persistent: bool
    autostart: bool


_DESCRIBE_CALLS = 4  # info, state, isPersistent, autostart


def _describe(dom: libvirt.virDomain) -> _Described:
    state, max_mem, mem, vcpus, _cpu = dom.info()
    reason = dom.state()[1]
    return _Described(
        name=dom.name(),
        state=guest_state(state),
        reason=reason,
        max_memory_kib=int(max_mem),
        memory_kib=int(mem),
        vcpus=int(vcpus),
        persistent=bool(dom.isPersistent()),
        autostart=bool(dom.autostart()),
    )


@dataclass
class _Poll:
    records: list[tuple[str, str, dict[str, Any]]]
    described: dict[str, _Described]
    node_cpu: dict[str, int] | None
    node_memory: dict[str, int] | None


class Host:
    """A libvirt host kept connected, watched and measured; see the module docstring."""

    def __init__(
        self,
        spec: HostSpec,
        refresh: float,
        on_change: Callable[[], None],
        on_event: Callable[[DomainEvent], None],
        prompts: ssh.SshPrompts | None = None,
    ) -> None:
        self.spec = spec
        self._prompts = prompts
        self.ssh_link: ssh.SshLink | None = None  # set while an ssh:// host is connected
        self.name = spec.name
        self.refresh = refresh
        self._on_change = on_change
        self._on_event = on_event
        self._session: Session | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._link = Link.CONNECTING
        self._reason = ""
        self._retry_at: float | None = None
        self._info = HostInfo()
        self._load = HostLoad()
        self._guests: dict[str, GuestSnapshot] = {}
        self._described: dict[str, _Described] = {}
        self._samples: dict[str, GuestSample] = {}
        self._node_cpu: NodeCpuSample | None = None
        self._node_cpu_supported = True
        self._node_memory_supported = True
        self._lost = asyncio.Event()
        self._lost_reason = ""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pending_describe: set[str] = set()
        # Counted for benchmarks/fleet.py: the promise is one bulk stats call per tick.
        self.ticks = 0
        self.stats_calls = 0
        self.libvirt_calls = 0

    # ---- lifecycle of the watcher -------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"host-{self.name}")

    async def close(self) -> None:
        task = self._task
        if task is not None:
            # Python 3.11's wait_for can swallow a cancellation that lands just as its
            # timeout fires; the watcher would then tick on and close() never return (seen
            # in CI as a hung test). Cancel until it has really stopped.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
        await self._drop_connection()

    def reconnect_now(self) -> None:
        """Skips the remaining back-off delay of a lost host."""
        self._wake.set()

    @property
    def connected(self) -> bool:
        return self._link is Link.CONNECTED

    @property
    def readonly(self) -> bool:
        return self.spec.readonly

    # ---- what the screens read ----------------------------------------------------------

    def snapshot(self) -> HostSnapshot:
        running = sum(1 for g in self._guests.values() if g.state.is_active)
        retry_in = None
        if self._retry_at is not None:
            retry_in = max(0.0, self._retry_at - time.monotonic())
        return HostSnapshot(
            name=self.name,
            uri=self.spec.uri,
            link=self._link,
            readonly=self.spec.readonly,
            reason=self._reason,
            info=self._info,
            load=self._load,
            guests_running=running,
            guests_total=len(self._guests),
            retry_in=retry_in,
        )

    def guests(self) -> list[GuestSnapshot]:
        return list(self._guests.values())

    def guest(self, uuid: str) -> GuestSnapshot | None:
        return self._guests.get(uuid)

    # ---- running libvirt calls ----------------------------------------------------------

    def session(self) -> Session:
        """The open connection, for a call that must hold it from elsewhere (a migration
        carries its destination's); HostError, naming the host, when there is none."""
        if self._session is None or self._link is Link.LOST:
            raise HostError(f"host {self.name} is not connected"
                            + (f" ({self._reason})" if self._reason else ""))
        return self._session

    async def run(self, fn: Callable[[libvirt.virConnect], T], timeout: float = CALL_TIMEOUT,
                  what: str = "") -> T:
        """Runs `fn(connection)` on this host's threads: the only way the core calls libvirt.
        Any failure, a timeout included, becomes a HostError starting with `what` (else the
        host's name): the core boundary of the never-crash contract."""
        try:
            call = self._holding(self.session(), fn)
            assert self._executor is not None
            loop = asyncio.get_running_loop()
            return await asyncio.wait_for(loop.run_in_executor(self._executor, call), timeout)
        except Exception as error:
            raise self._host_error(error, what) from error

    async def run_long(self, fn: Callable[[libvirt.virConnect], T], what: str = "") -> T:
        """Runs a call that may take minutes (a migration) on a thread of its own, so the
        host's pool keeps serving the tick and other actions meanwhile. Failures as `run`."""
        try:
            call = self._holding(self.session(), fn)
            loop = asyncio.get_running_loop()
            future: asyncio.Future[T] = loop.create_future()

            def work() -> None:
                try:
                    result = call()
                except BaseException as error:  # handed to the awaiting coroutine
                    loop.call_soon_threadsafe(_settle, future, None, error)
                else:
                    loop.call_soon_threadsafe(_settle, future, result, None)

            threading.Thread(target=work, name=f"libvirt-long-{self.name}", daemon=True).start()
            return await future
        except Exception as error:
            raise self._host_error(error, what) from error

    def _host_error(self, error: Exception, what: str) -> HostError:
        """`error` as the HostError that reports it; one that already is passes unchanged."""
        if isinstance(error, HostError):
            return error
        code = error.get_error_code() if isinstance(error, libvirt.libvirtError) else None
        return HostError(f"{what or f'host {self.name}'}: {_describe_error(error)}", code)

    def _holding(self, session: Session, fn: Callable[[libvirt.virConnect], T]) -> Callable[[], T]:
        """`fn` bound to the session, which stays open until `fn` returns."""
        def call() -> T:
            try:
                with session.use() as conn:
                    return fn(conn)
            except SessionRetired as retired:
                raise HostError(str(retired)) from None
        return call

    async def run_on_guest(self, uuid: str, fn: Callable[[libvirt.virDomain], T],
                           what: str = "", timeout: float = CALL_TIMEOUT) -> T:
        """Runs `fn(domain)`; failures become a HostError naming the guest and the host."""
        label = self._label(uuid)
        return await self.run(lambda conn: fn(conn.lookupByUUIDString(uuid)), timeout,
                              f"{what} {label}" if what else label)

    def _label(self, uuid: str) -> str:
        guest = self._guests.get(uuid)
        return f"{guest.name if guest else uuid} on {self.name}"

    # ---- actions ------------------------------------------------------------------------

    async def perform(self, uuid: str, verb: str, **options: Any) -> str:
        """Runs one lifecycle action and returns the sentence that reports its success."""
        action = actions.ACTIONS[verb]
        if self.spec.readonly:
            raise HostError(f"{verb} {self._label(uuid)}: host {self.name} is read-only")
        await self.run_on_guest(uuid, lambda dom: action.run(dom, **options), verb)
        self._describe_later(uuid)
        return f"{self._label(uuid)}: {action.done(options)}"

    async def domain_xml(self, uuid: str) -> str:
        return await self.run_on_guest(uuid, lambda dom: dom.XMLDesc(0), "dumpxml")

    async def dominfo(self, uuid: str) -> list[tuple[str, str]]:
        """The fields `virsh dominfo` prints, in its order."""
        return await self.run_on_guest(uuid, actions.dominfo, "dominfo")

    # ---- the watcher --------------------------------------------------------------------

    async def _run(self) -> None:
        delay = RETRY_FIRST
        while True:
            self._set_link(Link.CONNECTING, "")
            try:
                await self._connect()
                delay = RETRY_FIRST
                reason = await self._poll_until_lost()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                reason = _describe_error(error)
            await self._drop_connection()
            self._retry_at = time.monotonic() + delay
            self._set_link(Link.LOST, reason)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._retry_at = None
            delay = min(delay * 2, RETRY_MAX)

    def _set_link(self, link: Link, reason: str) -> None:
        self._link = link
        self._reason = reason
        self._on_change()

    async def _connect(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=3, thread_name_prefix=f"libvirt-{self.name}")
        self._lost = asyncio.Event()
        loop = asyncio.get_running_loop()
        uri = self.spec.uri
        if ssh.is_ssh_uri(uri):
            self.ssh_link = await ssh.open_link(uri, self.spec.readonly, self._prompts)
            uri = self.ssh_link.libvirt_uri
        # Opening and every set-up step are RPCs on a remote URI: none runs on the loop.
        self._session = await asyncio.wait_for(
            loop.run_in_executor(self._executor, self._open, uri), OPEN_TIMEOUT)
        self._info = await self.run(_read_host_info)
        await self._tick()  # the first full table comes with the "connected" state
        self._set_link(Link.CONNECTED, "")

    def _open(self, uri: str) -> Session:
        opener = libvirt.openReadOnly if self.spec.readonly else libvirt.open
        conn = opener(uri)
        session = Session(conn, self.name)
        with contextlib.suppress(libvirt.libvirtError):
            conn.setKeepAlive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT)
        try:
            conn.registerCloseCallback(self._closed, None)
        except libvirt.libvirtError:
            session.retire()
            raise
        session.on_close(lambda c: c.unregisterCloseCallback())
        handlers: list[tuple[int, Callable[..., None]]] = [
            (libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._lifecycle_event),
            (libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED, self._job_completed_event),
            (libvirt.VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION, self._iteration_event),
            (libvirt.VIR_DOMAIN_EVENT_ID_TUNABLE, self._tunable_event),
        ]
        for event_id, handler in handlers:
            with contextlib.suppress(libvirt.libvirtError):
                callback_id = conn.domainEventRegisterAny(None, event_id, handler, None)
                session.on_close(lambda c, i=callback_id: c.domainEventDeregisterAny(i))
        return session

    async def _drop_connection(self) -> None:
        session, executor = self._session, self._executor
        self._session, self._executor = None, None
        self._node_cpu = None
        self._samples.clear()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        if session is not None:
            # Closing an idle session is an RPC a dead host may never answer: give it a
            # thread nobody waits on for long. A busy one closes when its last call returns.
            closer = threading.Thread(target=session.retire, daemon=True,
                                      name=f"libvirt-close-{self.name}")
            closer.start()
            await asyncio.get_running_loop().run_in_executor(None, closer.join, 5.0)
        await self._close_ssh()

    async def _close_ssh(self) -> None:
        link, self.ssh_link = self.ssh_link, None
        if link is not None:
            await link.close()

    def _closed(self, _conn: libvirt.virConnect, reason: int, _opaque: Any) -> None:
        self._lost_reason = _CLOSE_REASONS.get(reason, f"closed (reason {reason})")
        self._lost.set()

    async def _poll_until_lost(self) -> str:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self.refresh)
            if self._lost.is_set():
                return self._lost_reason
            try:
                await self._tick()
            except HostError as error:
                if error.timed_out or not self._alive():
                    return _describe_error(error)
                self._reason = f"stats failed: {_describe_error(error)}"
                self._on_change()

    def _alive(self) -> bool:
        try:
            with self.session().use() as conn:
                return bool(conn.isAlive())
        except (HostError, SessionRetired, libvirt.libvirtError):
            return False

    # ---- one tick -----------------------------------------------------------------------

    def _poll_blocking(self, conn: libvirt.virConnect) -> _Poll:
        """Everything one tick needs, in as few calls as the driver allows."""
        raw = conn.getAllDomainStats(STATS_GROUPS, STATS_FLAGS)
        self.stats_calls += 1
        self.libvirt_calls += 1
        records: list[tuple[str, str, dict[str, Any]]] = []
        described: dict[str, _Described] = {}
        for dom, record in raw:
            uuid = dom.UUIDString()
            records.append((uuid, dom.name(), record))
            if uuid not in self._described or uuid in self._pending_describe:
                with contextlib.suppress(libvirt.libvirtError):
                    described[uuid] = _describe(dom)
                self.libvirt_calls += _DESCRIBE_CALLS
        node_cpu = node_memory = None
        if self._node_cpu_supported:
            self.libvirt_calls += 1
            try:
                node_cpu = conn.getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS)
            except libvirt.libvirtError:
                self._node_cpu_supported = False
        if self._node_memory_supported:
            self.libvirt_calls += 1
            try:
                node_memory = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)
            except libvirt.libvirtError:
                self._node_memory_supported = False
        return _Poll(records, described, node_cpu, node_memory)

    async def _tick(self) -> None:
        poll = await self.run(self._poll_blocking)
        self.ticks += 1
        now = time.monotonic()
        self._pending_describe.difference_update(poll.described)
        self._described.update(poll.described)
        seen: set[str] = set()
        guest_cpu_ns_per_s = 0.0
        for uuid, name, record in poll.records:
            seen.add(uuid)
            described = self._described.get(uuid)
            vcpus = described.vcpus if described else 1
            sample = sample_from_record(record, now, vcpus)
            previous = self._samples.get(uuid)
            rates = guest_rates(previous, sample)
            if previous and rates.cpu_percent is not None:
                guest_cpu_ns_per_s += rates.cpu_percent / 100 * sample.vcpus * 1e9
            self._samples[uuid] = sample
            self._guests[uuid] = self._snapshot_guest(uuid, name, record, described, rates)
        for gone in set(self._guests) - seen:
            del self._guests[gone]
            self._samples.pop(gone, None)
            self._described.pop(gone, None)
        self._load = self._host_load(poll, guest_cpu_ns_per_s)
        self._on_change()

    def _snapshot_guest(self, uuid: str, name: str, record: dict[str, Any],
                        described: _Described | None, rates: GuestRates) -> GuestSnapshot:
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
            vcpus=vcpus,
            memory_kib=memory,
            max_memory_kib=described.max_memory_kib if described else memory,
            persistent=described.persistent if described else True,
            autostart=described.autostart if described else False,
            rates=rates if state.is_active else GuestRates(),
        )

    def _host_load(self, poll: _Poll, guest_cpu_ns_per_s: float) -> HostLoad:
        cpu = None
        if poll.node_cpu is not None:
            sample = node_cpu_sample(poll.node_cpu)
            cpu = node_cpu_percent(self._node_cpu, sample)
            self._node_cpu = sample
        elif self._info.cpus:
            # Drivers without node counters (test://): the guests' share of the host's CPUs.
            cpu = cpu_percent(0, int(guest_cpu_ns_per_s), 1.0, self._info.cpus)
        if poll.node_memory is not None:
            used, total = node_memory_used_kib(poll.node_memory)
        else:
            total = self._info.memory_kib
            used = sum(g.memory_kib for g in self._guests.values() if g.state.is_active)
        return HostLoad(cpu_percent=cpu, memory_used_kib=used, memory_total_kib=total)

    # ---- events (called on the loop thread by libvirtaio) -------------------------------

    def _describe_later(self, uuid: str) -> None:
        """Re-reads one guest's static facts soon, off the loop thread."""
        self._pending_describe.add(uuid)
        asyncio.get_running_loop().create_task(self._refresh_one(uuid))

    async def _refresh_one(self, uuid: str) -> None:
        try:
            described = await self.run(lambda conn: _describe(conn.lookupByUUIDString(uuid)))
        except HostError as error:
            if error.code == libvirt.VIR_ERR_NO_DOMAIN:
                self._forget(uuid)
            return
        self._pending_describe.discard(uuid)
        self._described[uuid] = described
        guest = self._guests.get(uuid)
        if guest is not None:
            self._guests[uuid] = replace(
                guest, name=described.name, state=described.state, vcpus=described.vcpus,
                memory_kib=described.memory_kib, max_memory_kib=described.max_memory_kib,
                persistent=described.persistent, autostart=described.autostart)
            self._on_change()

    def _forget(self, uuid: str) -> None:
        if self._guests.pop(uuid, None) is not None:
            self._samples.pop(uuid, None)
            self._described.pop(uuid, None)
            self._on_change()

    def _lifecycle_event(self, _conn: Any, dom: libvirt.virDomain, event: int, detail: int,
                         _opaque: Any) -> None:
        uuid, name = dom.UUIDString(), dom.name()
        guest = self._guests.get(uuid)
        if event == libvirt.VIR_DOMAIN_EVENT_UNDEFINED:
            if guest is None or not guest.state.is_active:
                self._forget(uuid)
            else:
                self._guests[uuid] = replace(guest, persistent=False)
                self._describe_later(uuid)
        else:
            state = _EVENT_STATES.get(event, guest.state if guest else GuestState.SHUTOFF)
            if guest is None:
                guest = GuestSnapshot(host=self.name, name=name, uuid=uuid, state=state)
            self._guests[uuid] = replace(guest, state=state)
            self._describe_later(uuid)
        self._on_change()
        self._on_event(DomainEvent(self.name, uuid, name, "lifecycle", event, detail))

    def _job_completed_event(self, _conn: Any, dom: libvirt.virDomain, params: Any,
                             _opaque: Any) -> None:
        self._on_event(DomainEvent(self.name, dom.UUIDString(), dom.name(), "job-completed",
                                   params=dict(params)))

    def _iteration_event(self, _conn: Any, dom: libvirt.virDomain, iteration: int,
                         _opaque: Any) -> None:
        self._on_event(DomainEvent(self.name, dom.UUIDString(), dom.name(),
                                   "migration-iteration", detail=iteration))

    def _tunable_event(self, _conn: Any, dom: libvirt.virDomain, params: Any,
                       _opaque: Any) -> None:
        self._on_event(DomainEvent(self.name, dom.UUIDString(), dom.name(), "tunable",
                                   params=dict(params)))


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
