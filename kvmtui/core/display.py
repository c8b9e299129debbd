"""Graphical consoles: where a guest's VNC or SPICE display listens, and a way to reach it.

A display listens on its host, usually on the loopback only, so a viewer elsewhere needs a
forward. kvmtui opens one itself, to a port on this machine, by the way it already reaches
the host:

- `ssh://` hosts: a local port forward on kvmtui's own SSH connection (asyncssh);
- `qemu+ssh://` (and libssh) hosts: `ssh -N -L`, with the URI's user, port, key and ssh
  command, as libvirt itself runs ssh for that host;
- `qemu+tcp://` / `qemu+tls://` hosts: a TCP relay of its own when the display listens on an
  address this machine can reach, else `ssh -N -L` to the URI's host;
- local URIs: the display is on this machine already; nothing to forward.

Then, on a desktop (DISPLAY or WAYLAND_DISPLAY set and a viewer installed) kvmtui starts the
viewer on that port; on a jump box it says the two commands to run on the operator's own
machine: `ssh -L` to this machine's forward, and the viewer. Nothing here imports Textual.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import getpass
import ipaddress
import shlex
import shutil
import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from kvmtui.core import ssh
from kvmtui.core.host import Host
from kvmtui.core.programs import cannot_start, how_it_ended
from kvmtui.core.uri import SSH_SCHEME

if TYPE_CHECKING:
    import asyncssh

#: The viewer started when the config names none: virt-viewer's, for both VNC and SPICE.
DEFAULT_VIEWER = "remote-viewer"
#: VNC display numbers count from this port (`:0` is 5900), as virsh vncdisplay prints them.
VNC_BASE_PORT = 5900
#: How long `ssh -N -L` may take to log in and open its port.
OPENSSH_TIMEOUT = 20.0
_LOOPBACK = "127.0.0.1"


class DisplayError(Exception):
    """Why a display cannot be shown or reached; the message names the guest and host."""


@dataclass(frozen=True)
class Display:
    """One `<graphics>` element of a guest's live XML."""

    guest: str
    host: str
    kind: str  # "vnc" or "spice"
    listen: str | None  # the address on the host; None when it listens on a socket
    port: int | None  # None until the guest runs (autoport) or when it has none
    socket: str | None = None  # a unix socket on the host instead of a TCP port

    @property
    def address(self) -> str:
        """`127.0.0.1:5900` (virsh's `vncdisplay` says `127.0.0.1:0` for the same)."""
        if self.socket:
            return f"unix:{self.socket}"
        if self.port is None:
            return "no port (not running)"
        host = self.listen or _LOOPBACK
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    @property
    def summary(self) -> str:
        """One line an operator reads: what, where, on which host."""
        text = f"{self.kind.upper()} display of {self.guest} on {self.host}: {self.address}"
        if self.kind == "vnc" and self.port is not None and self.port >= VNC_BASE_PORT:
            text += f" (display :{self.port - VNC_BASE_PORT})"
        return text


def parse_displays(xml: str, guest: str, host: str) -> tuple[Display, ...]:
    """The VNC and SPICE displays in a domain's XML (live XML: it has the real ports)."""
    root = ET.fromstring(xml)
    found = []
    for graphics in root.findall("devices/graphics"):
        kind = graphics.get("type", "")
        if kind not in ("vnc", "spice"):
            continue
        listen = graphics.find("listen")
        listen_type = listen.get("type") if listen is not None else "address"
        if listen_type == "none":
            continue  # no network listener at all (e.g. only for a local egl-headless)
        if listen_type == "socket" and listen is not None:
            found.append(Display(guest, host, kind, None, None, listen.get("socket")))
            continue
        address = (
            (listen.get("address") if listen is not None else None)
            or graphics.get("listen")
            or _LOOPBACK
        )
        port = _port(graphics.get("port"))
        if port is None and kind == "spice":
            port = _port(graphics.get("tlsPort"))
        found.append(Display(guest, host, kind, address, port))
    return tuple(found)


def _port(text: str | None) -> int | None:
    try:
        port = int(text or "")
    except ValueError:
        return None
    return port if 0 < port < 65536 else None


async def read_displays(host: Host, uuid: str, guest: str) -> tuple[Display, ...]:
    """The guest's displays as its host reports them now."""
    return parse_displays(await host.domain_xml(uuid), guest, host.name)


def one_display(displays: tuple[Display, ...], guest: str, host: str) -> Display:
    """The display to show: the first VNC one, else the first; an error when there is none
    or it has no port yet."""
    if not displays:
        raise DisplayError(
            f"{guest} on {host} has no graphical display (only a serial console, if any: press c)"
        )
    display = next((d for d in displays if d.kind == "vnc"), displays[0])
    if display.port is None and display.socket is None:
        raise DisplayError(
            f"{guest} on {host}: the {display.kind.upper()} display has no "
            "port yet (the guest is not running)"
        )
    return display


# ---- how to reach a display from here ---------------------------------------------------


class Via(Enum):
    LOCAL = "local"  # the display is on this machine
    SSH_LINK = "ssh-link"  # kvmtui's own SSH connection (ssh:// hosts)
    OPENSSH = "openssh"  # `ssh -N -L` to the host
    RELAY = "relay"  # a TCP relay of kvmtui's own


@dataclass(frozen=True)
class Route:
    """Where a forward must connect to, seen from the host end, and how it gets there."""

    via: Via
    dest_host: str  # the address to connect to, from the host (or from here for RELAY)
    dest_port: int | None
    dest_socket: str | None = None
    ssh_args: tuple[str, ...] = ()  # for OPENSSH: the ssh command and its target

    @property
    def description(self) -> str:
        return {
            Via.LOCAL: "on this machine",
            Via.SSH_LINK: "forwarded through kvmtui's SSH connection",
            Via.OPENSSH: "forwarded by ssh -N -L",
            Via.RELAY: "relayed over TCP by kvmtui",
        }[self.via]


def _is_loopback(address: str) -> bool:
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    return address == "localhost"


def _is_wildcard(address: str) -> bool:
    return address.strip("[]") in ("0.0.0.0", "::")


def route(uri: str, display: Display) -> Route:
    """How kvmtui reaches `display` of a host it connects to by `uri` (pure: no I/O)."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    transport = scheme.partition("+")[2]
    listen = display.listen or _LOOPBACK
    # Seen from the host itself, a wildcard listener answers on its loopback.
    on_host = _LOOPBACK if _is_wildcard(listen) else listen
    if scheme == SSH_SCHEME:
        return Route(Via.SSH_LINK, on_host, display.port, display.socket)
    if display.socket is not None:
        raise DisplayError(
            f"{display.summary}: a display on a unix socket can be forwarded only for ssh:// hosts"
        )
    if not parts.hostname or transport == "unix":
        return Route(Via.LOCAL if _is_loopback(on_host) else Via.RELAY, on_host, display.port)
    if transport in ("ssh", "libssh", "libssh2"):
        return Route(Via.OPENSSH, on_host, display.port, ssh_args=openssh_args(uri))
    if _is_loopback(listen):
        # Only the host itself can reach it: over SSH, as the operator's ssh config allows.
        return Route(Via.OPENSSH, listen, display.port, ssh_args=openssh_args(uri))
    return Route(Via.RELAY, parts.hostname if _is_wildcard(listen) else listen, display.port)


def openssh_args(uri: str) -> tuple[str, ...]:
    """`ssh` and its options and target for a libvirt URI, as libvirt's ssh transport would
    run it: the URI's user, port and the `command`, `keyfile` and `no_verify` parameters."""
    parts = urlsplit(uri)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    args = [query.get("command") or "ssh"]
    if parts.port:
        args += ["-p", str(parts.port)]
    if query.get("keyfile"):
        args += ["-i", query["keyfile"]]
    if query.get("no_verify") == "1":
        args += ["-o", "StrictHostKeyChecking=no"]
    host = parts.hostname or ""
    args.append(f"{parts.username}@{host}" if parts.username else host)
    return tuple(args)


# ---- forwards ----------------------------------------------------------------------------


class Forward(abc.ABC):
    """A port on this machine's loopback that reaches a display; open until closed."""

    def __init__(self, display: Display, route: Route, local_port: int) -> None:
        self.display = display
        self.route = route
        self.local_port = local_port

    @property
    def alive(self) -> bool:
        return True

    @abc.abstractmethod
    async def close(self) -> None: ...


class _Direct(Forward):
    """The display is on this machine: its own port, nothing to close."""

    async def close(self) -> None:
        return None


class _SshLinkForward(Forward):
    def __init__(
        self, display: Display, route: Route, listener: asyncssh.SSHListener, link: ssh.SshLink
    ) -> None:
        super().__init__(display, route, listener.get_port())
        self._listener = listener
        self._link = link

    @property
    def alive(self) -> bool:
        return not self._link.conn.is_closed()

    async def close(self) -> None:
        await ssh.on_ssh_loop(_close_listener(self._listener))


async def _close_listener(listener: asyncssh.SSHListener) -> None:
    listener.close()
    await listener.wait_closed()


class _RelayForward(Forward):
    def __init__(self, display: Display, route: Route, server: asyncio.Server) -> None:
        super().__init__(display, route, server.sockets[0].getsockname()[1])
        self._server = server

    @property
    def alive(self) -> bool:
        return self._server.is_serving()

    async def close(self) -> None:
        self._server.close()
        await self._server.wait_closed()


class _OpenSshForward(Forward):
    def __init__(
        self, display: Display, route: Route, local_port: int, process: asyncio.subprocess.Process
    ) -> None:
        super().__init__(display, route, local_port)
        self._process = process

    @property
    def alive(self) -> bool:
        return self._process.returncode is None

    async def close(self) -> None:
        if self._process.returncode is None:
            self._process.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._process.wait(), 5)
        if self._process.returncode is None:
            self._process.kill()
            await self._process.wait()


async def open_forward(uri: str, link: ssh.SshLink | None, display: Display) -> Forward:
    """A local port reaching `display` of the host at `uri` (`link`: its SSH connection, for
    ssh:// hosts); raises DisplayError saying why not."""
    where = route(uri, display)
    if where.via is Via.LOCAL:
        assert display.port is not None  # a local display is never on a socket
        return _Direct(display, where, display.port)
    if where.via is Via.SSH_LINK:
        if link is None:
            raise DisplayError(f"{display.summary}: {display.host} is not connected")
        return await ssh.on_ssh_loop(_ssh_link_forward(display, where, link))
    if where.via is Via.RELAY:
        return await _relay_forward(display, where)
    return await _openssh_forward(display, where)


async def _ssh_link_forward(display: Display, where: Route, link: ssh.SshLink) -> Forward:
    try:
        if where.dest_socket is not None:
            listener = await link.conn.forward_local_port_to_path(_LOOPBACK, 0, where.dest_socket)
        else:
            assert where.dest_port is not None
            listener = await link.conn.forward_local_port(
                _LOOPBACK, 0, where.dest_host, where.dest_port
            )
    except ssh.channel_errors() as error:
        raise DisplayError(f"{display.summary}: cannot forward it: {error}") from error
    return _SshLinkForward(display, where, listener, link)


async def _relay_forward(display: Display, where: Route) -> Forward:
    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            far_reader, far_writer = await asyncio.open_connection(where.dest_host, where.dest_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, far_writer), _pipe(far_reader, writer))

    server = await asyncio.start_server(relay, _LOOPBACK, 0)
    return _RelayForward(display, where, server)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


def _free_port() -> int:
    """A port free on the loopback now, for `ssh -L` (which cannot report one it picked)."""
    with socket.socket() as probe:
        probe.bind((_LOOPBACK, 0))
        return probe.getsockname()[1]


async def _openssh_forward(display: Display, where: Route) -> Forward:
    command, *target = where.ssh_args
    what = f"cannot forward the display of {display.guest} on {display.host}"
    if not shutil.which(command):
        raise DisplayError(f"{what}: no {command!r} here")
    local_port = _free_port()
    forwarding = f"{_LOOPBACK}:{local_port}:{where.dest_host}:{where.dest_port}"
    process = await asyncio.create_subprocess_exec(
        command,
        "-N",
        "-o",
        "BatchMode=yes",
        "-o",
        "ExitOnForwardFailure=yes",
        "-L",
        forwarding,
        *target,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    forward = _OpenSshForward(display, where, local_port, process)
    said = f"ssh -L {forwarding} {target[-1]}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + OPENSSH_TIMEOUT
    while loop.time() < deadline:
        if process.returncode is not None:
            stderr = await process.stderr.read() if process.stderr else b""
            lines = stderr.decode(errors="replace").strip().splitlines()
            reason = lines[-1] if lines else f"exit status {process.returncode}"
            raise DisplayError(f"{what}: {said}: {reason}")
        try:
            _reader, writer = await asyncio.open_connection(_LOOPBACK, local_port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return forward
    await forward.close()
    raise DisplayError(f"{what}: {said} did not open its port in {OPENSSH_TIMEOUT:.0f} s")


class Forwards:
    """The forwards kvmtui holds open, one per display, reused while alive and all closed
    when kvmtui exits (a viewer, or the operator's own `ssh -L`, may use them meanwhile)."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str, str], Forward] = {}
        self._lock = asyncio.Lock()

    async def open(self, host: Host, uuid: str, display: Display) -> Forward:
        key = (host.name, uuid, display.kind)
        async with self._lock:
            forward = self._open.get(key)
            if forward is not None and forward.alive and forward.display == display:
                return forward
            if forward is not None:
                del self._open[key]
                await forward.close()
            forward = self._open[key] = await open_forward(host.spec.uri, host.ssh_link, display)
            return forward

    async def close(self) -> None:
        forwards, self._open = list(self._open.values()), {}
        for forward in forwards:
            with contextlib.suppress(Exception):
                await forward.close()


# ---- viewers and the operator's own machine --------------------------------------------


def viewer_url(kind: str, host: str, port: int) -> str:
    return f"{kind}://{host}:{port}"


def on_desktop(environ: Mapping[str, str]) -> bool:
    """A graphical session is here to show a viewer window."""
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def viewer_command(template: str | None, kind: str, port: int) -> list[str]:
    """The viewer's argv for a display forwarded to `port` here. The config's `viewer` may
    use `{url}`, `{host}` and `{port}`; without any, the URL is appended."""
    words = shlex.split(template or DEFAULT_VIEWER)
    values = {"url": viewer_url(kind, _LOOPBACK, port), "host": _LOOPBACK, "port": str(port)}
    if not any("{" in word for word in words):
        return [*words, values["url"]]
    return [word.format(**values) for word in words]


def find_viewer(template: str | None) -> str | None:
    """The viewer's program if it is installed here, else None."""
    words = shlex.split(template or DEFAULT_VIEWER)
    return shutil.which(words[0]) if words else None


async def start_viewer(argv: list[str], display: Display) -> asyncio.subprocess.Process:
    """Starts the viewer detached from kvmtui's terminal (its own session, no stdio)."""
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as error:
        raise DisplayError(
            f"{cannot_start('viewer', argv[0], error)}; {display.guest} on {display.host}"
        ) from error


async def viewer_failure(opened: Opened) -> str | None:
    """Once the viewer started by `open_display` has ended: how it failed, naming it and the
    guest, or None when it exited with status 0 (closed by the operator). It has no terminal
    for its own words, and may fail at once (a bad option, no such display) or much later."""
    assert opened.process is not None and opened.viewer is not None
    status = await opened.process.wait()
    if status == 0:
        return None
    display = opened.forward.display
    return f"{how_it_ended('viewer', opened.viewer[0], status)}; {display.guest} on {display.host}"


def this_machine(environ: Mapping[str, str]) -> tuple[str, int | None]:
    """How the operator reaches this machine: the address and port their SSH session came
    in on (SSH_CONNECTION), else the host name, with the local user."""
    user = environ.get("USER") or getpass.getuser()
    fields = environ.get("SSH_CONNECTION", "").split()
    if len(fields) == 4:
        address, port = fields[2], int(fields[3])
        if ":" in address:
            address = f"[{address}]"
        return f"{user}@{address}", None if port == 22 else port
    return f"{user}@{socket.gethostname()}", None


def operator_commands(forward: Forward, environ: Mapping[str, str]) -> tuple[str, str]:
    """The two commands to run on the operator's own machine: an `ssh -L` to this machine's
    forward, and the viewer on the operator's side of it."""
    display = forward.display
    local = display.port if display.port and display.port >= 1024 else forward.local_port
    target, port = this_machine(environ)
    ssh_words = ["ssh", "-N", "-L", f"{local}:{_LOOPBACK}:{forward.local_port}"]
    if port is not None:
        ssh_words += ["-p", str(port)]
    ssh_words.append(target)
    return (
        shlex.join(ssh_words),
        shlex.join(["remote-viewer", viewer_url(display.kind, "localhost", local)]),
    )


@dataclass(frozen=True)
class Opened:
    """What `open_display` did: a viewer started here, or the commands for the operator's
    own machine (no graphical session here, or no viewer installed)."""

    forward: Forward
    viewer: tuple[str, ...] | None = None  # the viewer's argv, when one was started
    process: asyncio.subprocess.Process | None = field(default=None, compare=False)
    commands: tuple[str, str] | None = None  # `ssh -L ...`, `remote-viewer ...`
    why_commands: str = ""


async def open_display(
    forwards: Forwards,
    host: Host,
    uuid: str,
    display: Display,
    viewer: str | None,
    environ: Mapping[str, str],
) -> Opened:
    """Forwards the display to a local port, then starts the viewer where a desktop is, or
    else says what to run on the operator's machine."""
    forward = await forwards.open(host, uuid, display)
    if not on_desktop(environ):
        why = "no graphical session here (DISPLAY and WAYLAND_DISPLAY are unset)"
    elif find_viewer(viewer) is None:
        why = f"no viewer here ({shlex.split(viewer or DEFAULT_VIEWER)[0]} not found)"
    else:
        argv = viewer_command(viewer, display.kind, forward.local_port)
        process = await start_viewer(argv, display)
        return Opened(forward, viewer=tuple(argv), process=process)
    return Opened(forward, commands=operator_commands(forward, environ), why_commands=why)
