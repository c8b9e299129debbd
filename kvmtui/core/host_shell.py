"""A program run on a host's own machine, for what libvirt has no API for (`qemu-img check`
of a backup's files), wherever kvmtui can reach a shell there, the way it already reaches
the host:

- local URIs (`qemu:///system`, `qemu+unix://`) and `qemu+tcp://` / `qemu+tls://` URIs
  naming an address of this machine: run here;
- `ssh://` hosts: on kvmtui's own SSH connection (asyncssh), as the serial console is;
- `qemu+ssh://` (and libssh) hosts: `ssh` with the URI's user, port, key and command, as
  libvirt runs it for that host, in batch mode (it never stops at a prompt);
- anything else (a TCP host elsewhere, libvirt's test driver): `NoShell`, saying so.

What the program prints on its error stream is kept up to `ERR_KEEP` bytes (qemu-img check
prints a line per broken cluster: megabytes on a wrecked image) and the rest drained.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

from kvmtui.core import ssh
from kvmtui.core.display import openssh_args
from kvmtui.core.host import Host
from kvmtui.core.uri import SSH_SCHEME

#: Bytes of a program's error stream kept (the first lines say what is wrong).
ERR_KEEP = 4096
#: Bytes of its output kept (qemu-img's JSON is a few hundred).
OUT_KEEP = 1 << 20
#: Seconds a program may run (a check of a large image reads all its metadata).
TIMEOUT = 1800.0
#: The exit status of a shell that did not find the program.
NOT_FOUND = 127


class NoShell(Exception):
    """kvmtui cannot run a program on that host's machine; the message says so, naming it."""


class Way(Enum):
    HERE = "here"  # the host is this machine
    SSH_LINK = "ssh-link"  # kvmtui's own SSH connection (ssh:// hosts)
    OPENSSH = "openssh"  # `ssh` to the URI's host (qemu+ssh://)
    NONE = "none"


@dataclass(frozen=True)
class Ran:
    """How a program ended: its exit status, its output, the start of its error stream."""

    status: int
    out: str
    err: str


def way(uri: str) -> tuple[Way, str]:
    """How a program reaches the machine of the host at `uri`, and the address to check
    is this machine's for a TCP URI (else ""). Pure: no I/O."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == SSH_SCHEME:
        return Way.SSH_LINK, ""
    driver, _, transport = scheme.partition("+")
    if driver == "test":
        return Way.NONE, ""
    if not parts.hostname or transport == "unix":
        return Way.HERE, ""
    if transport in ("ssh", "libssh", "libssh2"):
        return Way.OPENSSH, ""
    return Way.NONE, parts.hostname


def _is_this_machine(name: str) -> bool:
    """Whether `name` resolves to an address of this machine: one it can bind to."""
    try:
        found = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    for family, kind, _, _, address in found:
        with contextlib.suppress(OSError), socket.socket(family, kind) as probe:
            probe.bind((address[0], 0))
            return True
    return False


async def run_on_host(host: Host, argv: Sequence[str], timeout: float = TIMEOUT) -> Ran:
    """Runs `argv` on the host's machine; NoShell when kvmtui has no way there."""
    how, address = way(host.spec.uri)
    if how is Way.NONE and address:
        loop = asyncio.get_running_loop()
        if await loop.run_in_executor(None, _is_this_machine, address):
            how = Way.HERE
    if how is Way.NONE:
        raise NoShell(f"no shell on {host.name}")
    if how is Way.SSH_LINK:
        link = host.ssh_link
        if link is None:
            raise NoShell(f"no shell on {host.name} (not connected)")
        return await ssh.on_ssh_loop(_over_link(link, shlex.join(argv), timeout))
    if how is Way.OPENSSH:
        *command, target = openssh_args(host.spec.uri)
        argv = [*command, "-o", "BatchMode=yes", target, "--", shlex.join(argv)]
    return await _here(argv, timeout)


async def _here(argv: Sequence[str], timeout: float) -> Ran:
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as error:
        return Ran(NOT_FOUND, "", f"{argv[0]}: {error.strerror or error}")
    assert process.stdout is not None and process.stderr is not None
    try:
        out, err, status = await asyncio.wait_for(
            asyncio.gather(
                _kept(process.stdout.read, OUT_KEEP),
                _kept(process.stderr.read, ERR_KEEP),
                process.wait(),
            ),
            timeout,
        )
    except TimeoutError:
        process.kill()
        await process.wait()
        return Ran(-1, "", f"{argv[0]}: no end in {timeout:g} s")
    return Ran(status, out, err)


async def _over_link(link: ssh.SshLink, command: str, timeout: float) -> Ran:
    """On the SSH loop: the command in a session of the host's own connection."""
    try:
        process = await link.conn.create_process(command, encoding=None)
    except ssh.channel_errors() as error:
        raise NoShell(f"no shell on {link.target.host} ({error})") from error
    try:
        async with asyncio.timeout(timeout):
            out, err, _ = await asyncio.gather(
                _kept(process.stdout.read, OUT_KEEP),
                _kept(process.stderr.read, ERR_KEEP),
                process.wait_closed(),
            )
    except TimeoutError:
        return Ran(-1, "", f"no end in {timeout:g} s")
    except ssh.channel_errors() as error:
        return Ran(-1, "", f"the SSH session broke ({error})")
    finally:
        process.close()
    status = process.exit_status
    return Ran(status if status is not None else -1, out, err)


async def _kept(read: Callable[[int], Awaitable[bytes]], keep: int) -> str:
    """A stream read to its end, its first `keep` bytes kept."""
    kept = b""
    while chunk := await read(65536):
        if len(kept) < keep:
            kept += chunk[: keep - len(kept)]
    return kept.decode(errors="replace")
