"""One host's libvirt connection: opening it, keeping it alive, and reopening it when lost.

The connection's calls run in the host's lane of the shared worker pool (core/workers.py),
so a host that hangs holds up nobody else; the lane is closed with the connection when the
host is lost. A lost connection (close callback, keepalive, failed call) is retried with a
growing delay, and the reason stays visible meanwhile. What runs while the connection is up
(the poller's ticks) is handed in as `serve`.

A fleet opens its hosts through one gate (`opens`, an asyncio.Semaphore of OPENS_IN_FLIGHT):
a thousand hosts started at once queued a thousand opens on the shared pool's few threads,
and OPEN_TIMEOUT, counted from the queueing, ran out for most of them before their open
began; each then dropped, backed off and queued again (1,000 hosts of one jump box: 37 s to
every host up, over a thousand needless reconnects). Behind the gate a host waits its turn
as "connecting" and its timeout counts from its own open; a host refused for a real reason
frees its place at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Sequence
from operator import methodcaller
from typing import Any

import libvirt

from kvmtui.core import ssh
from kvmtui.core.capabilities import kvm_offered, version_text
from kvmtui.core.errors import HostError, describe
from kvmtui.core.model import HostInfo, HostSpec, Link
from kvmtui.core.session import Session, SessionRetired
from kvmtui.core.words import close_reason
from kvmtui.core.workers import WORKERS, Lane

OPEN_TIMEOUT = 20.0
#: Hosts of a fleet opening their connection at once: twice the shared pool's threads, so
#: an open waits at most about one other for a thread.
OPENS_IN_FLIGHT = 16
KEEPALIVE_INTERVAL = 3
KEEPALIVE_COUNT = 3
RETRY_FIRST = 1.0
RETRY_MAX = 30.0

#: (libvirt domain event id, handler) pairs registered on every new connection.
#: libvirt's register and deregister calls of one family of events, by connection method.
EventFamily = tuple[str, str]
DOMAIN_EVENTS: EventFamily = ("domainEventRegisterAny", "domainEventDeregisterAny")
POOL_EVENTS: EventFamily = ("storagePoolEventRegisterAny", "storagePoolEventDeregisterAny")
NETWORK_EVENTS: EventFamily = ("networkEventRegisterAny", "networkEventDeregisterAny")
#: (family, event id, handler): registered on every new connection.
Handlers = Sequence[tuple[EventFamily, int, Callable[..., None]]]


def _read_host_info(conn: libvirt.virConnect) -> HostInfo:
    model, memory_mib, cpus = conn.getInfo()[:3]
    cpu_model = model
    kvm = None
    with contextlib.suppress(libvirt.libvirtError, ET.ParseError):
        caps = ET.fromstring(conn.getCapabilities())
        kvm = kvm_offered(caps)
        found = caps.findtext("host/cpu/model")
        if found:
            cpu_model = f"{found} ({model})"
    return HostInfo(
        hostname=conn.getHostname(),
        hypervisor=conn.getType(),
        hypervisor_version=version_text(conn.getVersion()),
        libvirt_version=version_text(conn.getLibVersion()),
        cpu_model=cpu_model,
        cpus=int(cpus),
        memory_kib=int(memory_mib) * 1024,
        kvm=kvm,
    )


class Connection:
    """A host's connection kept open; see the module docstring."""

    def __init__(
        self,
        spec: HostSpec,
        on_change: Callable[[], None],
        prompts: ssh.SshPrompts | None = None,
        on_lost: Callable[[str], None] = lambda _reason: None,
        opens: asyncio.Semaphore | None = None,
        on_back: Callable[[], None] = lambda: None,
    ) -> None:
        """`opens` is the fleet's gate for opening connections (see the module docstring);
        None opens at once."""
        self.spec = spec
        self._opens = opens
        self.name = spec.name
        self._prompts = prompts
        self._on_change = on_change
        #: Told each time the link is lost, with why: whoever holds something of the old
        #: connection (a console stream libvirt never closes) must let go of it.
        self._on_lost = on_lost
        #: Told when the link is up again after a loss (the event timeline's "back").
        self._on_back = on_back
        self._was_lost = False
        self.handlers: Handlers = ()  # the poller's, registered on every new connection
        self.ssh_link: ssh.SshLink | None = None  # set while an ssh:// host is connected
        self._session: Session | None = None
        self.executor: Lane | None = None
        self.link = Link.CONNECTING
        self.reason = ""
        self.retry_at: float | None = None
        self.info = HostInfo()
        #: Done when the open connection is lost (libvirt's close callback); one per connection.
        self.lost: asyncio.Future[None] | None = None
        self._lost_reason = ""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, serve: Callable[[], Awaitable[str]]) -> None:
        """Connects, awaits `serve()` (which returns why the host was lost), and again."""
        self._task = asyncio.create_task(self._run(serve), name=f"host-{self.name}")

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
        """Skips the remaining back-off delay of a lost host, or retries one whose host key
        was refused (the only way such a host is tried again)."""
        self._wake.set()

    def session(self) -> Session:
        """The open connection, for a call that must hold it from elsewhere (a migration
        carries its destination's); HostError, naming the host, when there is none."""
        if self._session is None or self.link is Link.LOST:
            raise HostError(
                f"host {self.name} is not connected" + (f" ({self.reason})" if self.reason else "")
            )
        return self._session

    def set_link(self, link: Link, reason: str) -> None:
        if (link, reason) == (self.link, self.reason):
            return
        self.link = link
        self.reason = reason
        self._on_change()
        if link is Link.CONNECTED and self._was_lost:
            self._was_lost = False
            self._on_back()

    def alive(self) -> bool:
        try:
            with self.session().use() as conn:
                return bool(conn.isAlive())
        except (HostError, SessionRetired, libvirt.libvirtError):
            return False

    # ---- the watcher --------------------------------------------------------------------

    async def _run(self, serve: Callable[[], Awaitable[str]]) -> None:
        delay = RETRY_FIRST
        while True:
            self.set_link(Link.CONNECTING, "")
            # A refused host key stays refused: asking again at every back-off would nag
            # the operator for ever, so that host waits for reconnect_now() instead.
            retry: float | None = delay
            try:
                await self._connect()
                delay = RETRY_FIRST
                reason = await serve()
            except asyncio.CancelledError:
                raise
            except ssh.HostKeyRejected as error:
                reason, retry = str(error), None
            except Exception as error:
                reason = describe(error)
            await self._drop_connection()
            self.retry_at = None if retry is None else time.monotonic() + retry
            self.set_link(Link.LOST, reason)
            self._was_lost = True
            self._on_lost(reason)
            self._wake.clear()
            await self._back_off(retry)
            self.retry_at = None
            delay = min(delay * 2, RETRY_MAX)

    async def _back_off(self, delay: float | None) -> None:
        """Waits `delay` (or until reconnect_now; for ever when None), telling listeners each
        second so the countdown on screen moves: the only repaint a lost host causes."""
        if delay is None:
            await self._wake.wait()
            return
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(1.0, left))
            if self._wake.is_set():
                return
            self._on_change()

    async def _connect(self) -> None:
        self.executor = WORKERS.lane(self.name)
        loop = asyncio.get_running_loop()
        self.lost = loop.create_future()
        uri = self.spec.uri
        if ssh.is_ssh_uri(uri):
            self.ssh_link = await ssh.open_link(uri, self.spec.readonly, self._prompts)
            uri = self.ssh_link.libvirt_uri
        # Opening and every set-up step are RPCs on a remote URI: none runs on the loop.
        # The SSH link above is not gated: it may wait on the operator (a host key prompt).
        async with self._opens or contextlib.nullcontext():
            self._session = await asyncio.wait_for(
                loop.run_in_executor(self.executor, self._open, uri), OPEN_TIMEOUT
            )
            self.info = await asyncio.wait_for(
                loop.run_in_executor(self.executor, self._with_session, _read_host_info),
                OPEN_TIMEOUT,
            )

    def _with_session(self, fn: Callable[[libvirt.virConnect], Any]) -> Any:
        with self.session().use() as conn:
            return fn(conn)

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
        for (register, deregister), event_id, handler in self.handlers:
            # A driver without a family of events (or an old daemon) costs that family only.
            with contextlib.suppress(libvirt.libvirtError):
                callback_id = getattr(conn, register)(None, event_id, handler, None)
                session.on_close(methodcaller(deregister, callback_id))
        return session

    async def _drop_connection(self) -> None:
        session, executor = self._session, self.executor
        self._session, self.executor = None, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        if session is not None:
            # Closing an idle session is an RPC a dead host may never answer: give it a
            # thread nobody waits on for long. A busy one closes when its last call returns.
            closer = threading.Thread(
                target=session.retire, daemon=True, name=f"libvirt-close-{self.name}"
            )
            closer.start()
            await asyncio.get_running_loop().run_in_executor(None, closer.join, 5.0)
        await self._close_ssh()

    async def _close_ssh(self) -> None:
        link, self.ssh_link = self.ssh_link, None
        if link is not None:
            await link.close()

    def _closed(self, _conn: libvirt.virConnect, reason: int, _opaque: Any) -> None:
        """libvirt's close callback, on whichever thread saw the connection go."""
        self._lost_reason = close_reason(reason)
        lost = self.lost
        if lost is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            lost.get_loop().call_soon_threadsafe(_settle_lost, lost)

    @property
    def lost_reason(self) -> str:
        return self._lost_reason


def _settle_lost(lost: asyncio.Future[None]) -> None:
    if not lost.done():
        lost.set_result(None)
