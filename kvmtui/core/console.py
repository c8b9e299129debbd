"""A guest's serial console as a byte session: read, write, resize, close.

Two transports behind one shape:
- over an `ssh://` host, `virsh console` runs on the host in a remote PTY on kvmtui's own
  SSH connection (the same one that carries libvirt), so nothing is needed on the jump box;
- on any other URI, libvirt's console stream (`virDomainOpenConsole`), nonblocking, driven by
  stream callbacks that libvirtaio delivers on the app's loop.

Either way the session watches the guest's lifecycle events and ends with a sentence saying
why (the guest stopped, moved to another host, the console closed), so the screen can tell
the operator and offer to reattach.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import shlex
from typing import TYPE_CHECKING, Any

import libvirt

from kvmtui.core.errors import describe
from kvmtui.core.fleet import Fleet
from kvmtui.core.host import DomainEvent, Host, HostError
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.ssh import (
    SshLink,
    SshTarget,
    channel_errors,
    is_ssh_uri,
    on_ssh_loop,
    ssh_loop,
)

if TYPE_CHECKING:
    import asyncssh

READ_SIZE = 65536
CLOSE_GRACE = 1.0
#: virsh prints this, then puts the remote PTY in raw mode with TCSAFLUSH, which throws away
#: whatever was typed before: keys wait until it has been seen (and a moment more).
VIRSH_READY = b"Escape character is"
RAW_GRACE = 0.2
#: Keys are let through after this long anyway (a remote virsh speaking another language).
HOLD_AT_MOST = 5.0
_STREAM_EVENTS = (
    libvirt.VIR_STREAM_EVENT_READABLE
    | libvirt.VIR_STREAM_EVENT_ERROR
    | libvirt.VIR_STREAM_EVENT_HANGUP
)


class ConsoleError(Exception):
    """The console could not be opened; the message names the guest and the host."""


class ConsoleSession(abc.ABC):
    """Bytes from the guest through `read()` (None once ended, see `ended`); `write` sends
    keys, `resize` tells the far side the terminal's size."""

    def __init__(self, fleet: Fleet, guest: GuestSnapshot) -> None:
        self.guest = guest
        self.ended: str | None = None
        self._fleet = fleet
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._released: asyncio.Task[None] | None = None
        fleet.add_event_listener(self._lifecycle)

    async def read(self) -> bytes | None:
        """What came since the last read, in one piece: a guest printing fast sends many
        small chunks, and each read is a terminal feed and a redraw request."""
        if self.ended is not None and self._queue.empty():
            return None
        data = await self._queue.get()
        while data is not None and not self._queue.empty():
            more = self._queue.get_nowait()
            if more is None:
                self._queue.put_nowait(None)  # the end, for the next read
                break
            data += more
        return data

    @abc.abstractmethod
    def write(self, data: bytes) -> None:
        """Sends keys to the guest."""

    @abc.abstractmethod
    def resize(self, cols: int, rows: int) -> None:
        """Tells the far side the terminal's new size."""

    async def close(self) -> None:
        self._end("detached")
        if self._released is not None:
            await self._released

    @abc.abstractmethod
    async def _release(self) -> None:
        """Lets go of the transport (runs once, when the session ends)."""

    def _push(self, data: bytes) -> None:
        if self.ended is None and data:
            self._queue.put_nowait(data)

    def _end(self, reason: str) -> None:
        """Ends the session once, with the first reason given."""
        if self.ended is not None:
            return
        self.ended = reason
        self._fleet.remove_event_listener(self._lifecycle)
        self._queue.put_nowait(None)
        self._released = asyncio.get_running_loop().create_task(self._release())

    def _closed(self) -> None:
        """The far side hung up: a stopping guest does that just before its lifecycle event
        arrives, so wait a moment for the event to give the real reason."""
        reason = f"console of {self.guest.name} on {self.guest.host} closed"
        asyncio.get_running_loop().call_later(CLOSE_GRACE, self._end, reason)

    def _lifecycle(self, event: DomainEvent) -> None:
        guest = self.guest
        if event.kind == "host-lost" and event.host == guest.host:
            self._end(f"console of {guest.name} ended: host {guest.host} lost ({event.params})")
            return
        if event.kind != "lifecycle" or event.uuid != guest.uuid or event.host != guest.host:
            return
        if event.event == libvirt.VIR_DOMAIN_EVENT_STOPPED:
            if event.detail == libvirt.VIR_DOMAIN_EVENT_STOPPED_MIGRATED:
                self._end(f"{guest.name} moved away from {guest.host} (migrated)")
            else:
                self._end(f"{guest.name} stopped on {guest.host}")
        elif event.event == libvirt.VIR_DOMAIN_EVENT_CRASHED:
            self._end(f"{guest.name} crashed on {guest.host}")
        elif event.event == libvirt.VIR_DOMAIN_EVENT_UNDEFINED:
            self._end(f"{guest.name} was undefined on {guest.host}")


def virsh_console_args(guest: str, devname: str | None, force: bool) -> list[str]:
    args = ["console", guest]
    if devname:
        args.append(devname)
    return [*args, "--force"] if force else args


class SshConsole(ConsoleSession):
    """`virsh console` in a PTY on the host, through the host's SSH connection.

    The process lives on the SSH loop (see core/ssh.py); bytes cross to the session's loop.
    """

    def __init__(
        self, fleet: Fleet, guest: GuestSnapshot, process: asyncssh.SSHClientProcess[bytes]
    ) -> None:
        super().__init__(fleet, guest)
        self._process = process
        self._home = asyncio.get_running_loop()
        self._held: list[bytes] | None = []  # keys typed before virsh owns the PTY
        self._seen = b""
        self._home.call_later(HOLD_AT_MOST, self._let_keys_through)
        self._reader = asyncio.run_coroutine_threadsafe(self._pump(), ssh_loop())

    @classmethod
    async def open(
        cls,
        fleet: Fleet,
        guest: GuestSnapshot,
        link: SshLink,
        devname: str | None,
        force: bool,
        size: tuple[int, int],
    ) -> SshConsole:
        command = shlex.join(
            ["virsh", "-c", "qemu:///system", *virsh_console_args(guest.name, devname, force)]
        )
        try:
            process = await on_ssh_loop(_start_process(link, command, size))
        except channel_errors() as error:
            raise ConsoleError(f"console {guest.name} on {guest.host}: {error}") from error
        return cls(fleet, guest, process)

    async def _pump(self) -> None:
        """Runs on the SSH loop: the remote PTY's output, chunk by chunk, until it ends."""
        try:
            while data := await self._process.stdout.read(READ_SIZE):
                self._home.call_soon_threadsafe(self._push, data)
        except channel_errors() as error:
            reason = f"console of {self.guest.name} on {self.guest.host} failed: {error}"
            self._home.call_soon_threadsafe(self._end, reason)
        self._home.call_soon_threadsafe(self._closed)

    def write(self, data: bytes) -> None:
        if self._held is not None:
            self._held.append(data)
        elif self.ended is None:
            ssh_loop().call_soon_threadsafe(self._process.stdin.write, data)

    def _push(self, data: bytes) -> None:
        super()._push(data)
        if self._held is not None:
            self._seen = (self._seen + data)[-256:]
            if VIRSH_READY in self._seen:
                self._home.call_later(RAW_GRACE, self._let_keys_through)

    def _let_keys_through(self) -> None:
        held, self._held = self._held, None
        for data in held or ():
            self.write(data)

    def resize(self, cols: int, rows: int) -> None:
        if self.ended is None:
            ssh_loop().call_soon_threadsafe(self._set_size, cols, rows)

    def _set_size(self, cols: int, rows: int) -> None:
        with contextlib.suppress(*channel_errors()):
            self._process.change_terminal_size(cols, rows)

    async def _release(self) -> None:
        ssh_loop().call_soon_threadsafe(self._process.close)
        self._reader.cancel()


async def _start_process(
    link: SshLink, command: str, size: tuple[int, int]
) -> asyncssh.SSHClientProcess[bytes]:
    return await link.conn.create_process(command, term_type="xterm", term_size=size, encoding=None)


class StreamConsole(ConsoleSession):
    """libvirt's console stream, nonblocking; callbacks arrive on the loop thread."""

    def __init__(
        self, fleet: Fleet, guest: GuestSnapshot, host: Host, stream: libvirt.virStream
    ) -> None:
        super().__init__(fleet, guest)
        self._host = host
        self._stream: libvirt.virStream | None = stream
        self._pending = b""
        stream.eventAddCallback(_STREAM_EVENTS, self._on_stream, None)

    @classmethod
    async def open(
        cls, fleet: Fleet, guest: GuestSnapshot, host: Host, devname: str | None, force: bool
    ) -> StreamConsole:
        flags = libvirt.VIR_DOMAIN_CONSOLE_FORCE if force else 0

        def attach(conn: libvirt.virConnect) -> libvirt.virStream:
            stream = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
            conn.lookupByUUIDString(guest.uuid).openConsole(devname, stream, flags)
            return stream

        try:
            stream = await host.run(attach)
        except HostError as error:
            raise ConsoleError(f"console {guest.name}: {error}") from error
        return cls(fleet, guest, host, stream)

    def _on_stream(self, stream: libvirt.virStream, events: int, _opaque: Any) -> None:
        try:
            if events & libvirt.VIR_STREAM_EVENT_READABLE:
                self._drain(stream)
            if events & libvirt.VIR_STREAM_EVENT_WRITABLE:
                self._flush()
        except libvirt.libvirtError as error:
            message = describe(error)
            self._end(f"console of {self.guest.name} on {self.guest.host} failed: {message}")
        if events & (libvirt.VIR_STREAM_EVENT_ERROR | libvirt.VIR_STREAM_EVENT_HANGUP):
            self._closed()

    def _drain(self, stream: libvirt.virStream) -> None:
        while self.ended is None:
            data = stream.recv(READ_SIZE)
            if data == -2:
                return
            if not data:
                self._closed()
                return
            self._push(data)

    def write(self, data: bytes) -> None:
        if self.ended is None:
            self._pending += data
            try:
                self._flush()
            except libvirt.libvirtError as error:
                message = describe(error)
                self._end(f"console of {self.guest.name} on {self.guest.host} failed: {message}")

    def resize(self, cols: int, rows: int) -> None:
        """A libvirt console stream has no size: the guest's serial line has none either."""

    def _flush(self) -> None:
        stream = self._stream
        while self._pending and stream is not None:
            sent = stream.send(self._pending)
            if sent == -2:
                break
            self._pending = self._pending[sent:]
        if stream is not None:  # wake on writable only while something waits to go out
            mask = _STREAM_EVENTS | (libvirt.VIR_STREAM_EVENT_WRITABLE if self._pending else 0)
            stream.eventUpdateCallback(mask)

    async def _release(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        with contextlib.suppress(libvirt.libvirtError):
            stream.eventRemoveCallback()
        with contextlib.suppress(HostError):
            await self._host.run(lambda _conn: stream.abort(), timeout=5.0)


async def open_console(
    fleet: Fleet,
    guest: GuestSnapshot,
    devname: str | None = None,
    force: bool = False,
    size: tuple[int, int] = (80, 24),
) -> ConsoleSession:
    """Attaches to `guest`'s console on its current host; ConsoleError says why it cannot."""
    where = f"{guest.name} on {guest.host}"
    try:
        host = fleet.host(guest.host)
    except HostError as error:
        raise ConsoleError(f"console {guest.name}: {error}") from error
    current = host.guest(guest.uuid)
    if current is None:
        raise ConsoleError(f"console {where}: the guest is no longer there")
    if not current.state.is_active:
        raise ConsoleError(f"console {where}: the guest is not running ({current.state.value})")
    if not host.connected:
        raise ConsoleError(f"console {where}: host {host.name} is not connected")
    if host.ssh_link is not None:
        return await SshConsole.open(fleet, current, host.ssh_link, devname, force, size)
    return await StreamConsole.open(fleet, current, host, devname, force)


def handover_command(fleet: Fleet, guest: GuestSnapshot, devname: str | None) -> list[str]:
    """The command that gives the operator the same console in the real terminal."""
    host = fleet.host(guest.host)
    console = virsh_console_args(guest.name, devname, force=True)
    if is_ssh_uri(host.spec.uri):
        target = SshTarget.parse(host.spec.uri)
        remote = shlex.join(["virsh", "-c", "qemu:///system", *console])
        return ["ssh", *target.handover_args(), remote]
    return ["virsh", "-c", host.spec.uri, *console]
