"""One libvirt host as the rest of kvmtui sees it: the front-end over its connection
(core/connection.py: open, keepalive, reconnect) and its poller (core/poller.py: the guest
table, ticks and bulk stats), through which every action and every libvirt call goes.

Blocking libvirt calls run in the host's lane of the shared worker pool (core/workers.py),
so a host that hangs holds up nobody else, yet 200 hosts do not cost 200 threads.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import libvirt

from kvmtui.core import actions, ssh
from kvmtui.core.connection import Connection
from kvmtui.core.errors import HostError, describe
from kvmtui.core.model import GuestSnapshot, HostSnapshot, HostSpec, Link
from kvmtui.core.poller import STATS_FLAGS, STATS_GROUPS, DomainEvent, Poller
from kvmtui.core.session import Session, SessionRetired
from kvmtui.core.workers import Lane

__all__ = ["STATS_FLAGS", "STATS_GROUPS", "DomainEvent", "Host", "HostError"]

T = TypeVar("T")

CALL_TIMEOUT = 30.0


class Host:
    """A libvirt host kept connected, watched and measured; see the module docstring."""

    def __init__(
        self,
        spec: HostSpec,
        refresh: float,
        on_change: Callable[[], None],
        on_event: Callable[[DomainEvent], None],
        prompts: ssh.SshPrompts | None = None,
        first_tables: asyncio.Event | None = None,
        load_seen: Callable[[], bool] | None = None,
        opens: asyncio.Semaphore | None = None,
        beat_offset: float = 0.0,
    ) -> None:
        """`first_tables` is set once the fleet's first tables are in and `load_seen()`
        says whether a view shows the host's load (see Poller); `opens` is the fleet's gate
        for opening connections (see core/connection.py); `beat_offset` its beat's (see
        Poller)."""
        self.spec = spec
        self.name = spec.name
        self.refresh = refresh
        self._on_change = on_change
        self._snapshot: HostSnapshot | None = None
        self._connection = Connection(
            spec,
            self._changed,
            prompts,
            on_lost=lambda reason: on_event(
                DomainEvent(self.name, "", "", "host-lost", params=reason)
            ),
            opens=opens,
            on_back=lambda: on_event(DomainEvent(self.name, "", "", "host-back")),
        )
        self.poller = Poller(
            self._connection,
            refresh,
            self.run,
            self._changed,
            on_event,
            first_tables,
            load_seen,
            beat_offset,
        )
        self._connection.handlers = self.poller.handlers()

    # ---- lifecycle of the watcher -------------------------------------------------------

    def start(self) -> None:
        self._connection.start(self.poller.serve)

    async def close(self) -> None:
        await self._connection.close()
        await self.poller.close()

    def reconnect_now(self) -> None:
        """Skips the remaining back-off delay of a lost host, or retries one whose host key
        was refused (the only way such a host is tried again)."""
        self._connection.reconnect_now()

    @property
    def ssh_link(self) -> ssh.SshLink | None:
        """The SSH link of an ssh:// host while it is connected."""
        return self._connection.ssh_link

    @property
    def link(self) -> Link:
        return self._connection.link

    @property
    def connected(self) -> bool:
        return self._connection.link is Link.CONNECTED

    @property
    def settled(self) -> bool:
        """Its connection attempt has ended and, when it is up, every guest's facts are in,
        the definitions a first table leaves for later too (a table shows before them, with
        memory and vCPUs still 0 on drivers whose records lack them): what an answer
        printed once, rather than kept current, waits for."""
        if self.link is Link.CONNECTING:
            return False
        return not self.connected or self.poller.described_all

    @property
    def readonly(self) -> bool:
        return self.spec.readonly

    @property
    def _executor(self) -> Lane | None:
        return self._connection.executor

    @property
    def _guests(self) -> dict[str, GuestSnapshot]:
        return self.poller.guests

    # ---- what the screens read ----------------------------------------------------------

    def _changed(self) -> None:
        self._snapshot = None
        self._on_change()

    def snapshot(self) -> HostSnapshot:
        """Built once per change and then shared: equal until the host changes."""
        if self._snapshot is None:
            connection = self._connection
            running = sum(1 for g in self._guests.values() if g.state.is_active)
            retry_in = None
            if connection.retry_at is not None:
                retry_in = max(0.0, connection.retry_at - time.monotonic())
            self._snapshot = HostSnapshot(
                name=self.name,
                uri=self.spec.uri,
                link=connection.link,
                readonly=self.spec.readonly,
                reason=connection.reason,
                info=connection.info,
                load=self.poller.load,
                guests_running=running,
                guests_total=len(self._guests),
                retry_in=retry_in,
            )
        return self._snapshot

    def guests(self) -> list[GuestSnapshot]:
        return list(self._guests.values())

    def guest(self, uuid: str) -> GuestSnapshot | None:
        return self._guests.get(uuid)

    # ---- running libvirt calls ----------------------------------------------------------

    def session(self) -> Session:
        """The open connection, for a call that must hold it from elsewhere (a migration
        carries its destination's); HostError, naming the host, when there is none."""
        return self._connection.session()

    async def run(
        self, fn: Callable[[libvirt.virConnect], T], timeout: float = CALL_TIMEOUT, what: str = ""
    ) -> T:
        """Runs `fn(connection)` on this host's threads: the only way the core calls libvirt.
        Any failure, a timeout included, becomes a HostError starting with `what` (else the
        host's name): the core boundary of the never-crash contract."""
        try:
            call = self._holding(self.session(), fn)
            assert self._executor is not None
            return await self._executor.call(call, timeout)
        except HostError:
            raise
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
        except HostError:
            raise
        except Exception as error:
            raise self._host_error(error, what) from error

    def _host_error(self, error: Exception, what: str) -> HostError:
        """`error` as the HostError that reports it."""
        code = error.get_error_code() if isinstance(error, libvirt.libvirtError) else None
        return HostError(f"{what or f'host {self.name}'}: {describe(error)}", code)

    def _holding(self, session: Session, fn: Callable[[libvirt.virConnect], T]) -> Callable[[], T]:
        """`fn` bound to the session, which stays open until `fn` returns."""

        def call() -> T:
            try:
                with session.use() as conn:
                    return fn(conn)
            except SessionRetired as retired:
                raise HostError(str(retired)) from None

        return call

    async def run_on_guest(
        self,
        uuid: str,
        fn: Callable[[libvirt.virDomain], T],
        what: str = "",
        timeout: float = CALL_TIMEOUT,
        *,
        long: bool = False,
    ) -> T:
        """Runs `fn(domain)`; failures become a HostError naming the guest and the host.
        `long` runs it as `run_long` does (a snapshot's memory save), with no timeout."""
        label = self._label(uuid)
        what = f"{what} {label}" if what else label

        def call(conn: libvirt.virConnect) -> T:
            return fn(conn.lookupByUUIDString(uuid))

        return await (self.run_long(call, what) if long else self.run(call, timeout, what))

    def _label(self, uuid: str) -> str:
        guest = self._guests.get(uuid)
        return f"{guest.name if guest else uuid} on {self.name}"

    # ---- actions ------------------------------------------------------------------------

    async def perform(self, uuid: str, verb: str, **options: Any) -> str:
        """Runs one lifecycle action and returns the sentence that reports its success."""
        action = actions.ACTIONS[verb]
        await self.run_on_guest(uuid, lambda dom: action.run(dom, **options), verb)
        self.poller.describe_later(uuid)
        return f"{self._label(uuid)}: {action.done(options)}"

    async def domain_xml(self, uuid: str) -> str:
        return await self.run_on_guest(uuid, lambda dom: dom.XMLDesc(0), "dumpxml")

    async def dominfo(self, uuid: str) -> list[tuple[str, str]]:
        """The fields `virsh dominfo` prints, in its order."""
        return await self.run_on_guest(uuid, actions.dominfo, "dominfo")


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
