"""Hosts reached over kvmtui's own SSH connection (asyncssh), ready for a jump box.

`ssh://[user@]host[:port][/system][?options]` (or `ssh://alias` from `~/.ssh/config`) opens
one asyncssh connection per host and forwards the remote libvirt socket to a unix socket in
a private temporary directory, so libvirt itself connects to `qemu+unix:///system?socket=...`
and nothing but Python is needed on the jump box. The same connection later carries the
serial console (`virsh console` in a remote PTY).

`~/.ssh/config` (Hostname, User, Port, IdentityFile, UserKnownHostsFile, ProxyJump), the
ssh-agent and the default identity files are honoured as OpenSSH would. Query options, for
setups without a config file (the lab's tests use them):

- `keyfile=PATH`: the identity file to use (only that one),
- `known_hosts=PATH`: the known_hosts file to check and save to,
- `ssh_config=PATH`: an ssh config file instead of `~/.ssh/config`,
- `jump=[user@]host[:port][,...]`: jump hosts, as OpenSSH's ProxyJump.

Every hop, jump hosts included, goes through the same host-key policy: a known key passes;
an unknown one is shown to the operator (SHA256 fingerprint) to accept once, accept and save,
or reject; a changed one is refused. A refused key raises HostKeyRejected, which tells the
caller not to retry on its own. Passwords and passphrases are asked through the UI's
callback and only handed to asyncssh, never logged or kept.

All SSH traffic runs on an event loop of its own, in one background thread: libvirt calls
block their thread while waiting for the daemon's answer, and that answer travels through the
forward, so the forward must keep running whatever thread a libvirt call blocks (the app's
loop included). Only the operator's prompts cross back to the caller's loop.

asyncssh itself (with the crypto libraries it probes for) takes a fifth of kvmtui's start-up,
so it is loaded with the first `ssh://` host: the dialling lives in core/ssh_dial.py.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import os
import shutil
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from kvmtui.core.uri import SSH_SCHEME

if TYPE_CHECKING:
    import asyncssh

CONNECT_TIMEOUT = 20.0
KEEPALIVE_INTERVAL = 15
REMOTE_SOCKET = "/var/run/libvirt/libvirt-sock"
REMOTE_SOCKET_RO = "/var/run/libvirt/libvirt-sock-ro"
DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")
_QUERY_KEYS = frozenset({"keyfile", "known_hosts", "ssh_config", "jump"})


class SshError(Exception):
    """The SSH side of a host failed; the message names the host and says what to do."""


class HostKeyRejected(SshError):
    """The host's key is not trusted: the operator rejected it, it changed, or nobody can be
    asked. Trying again cannot change that, so a host stops retrying until the operator asks
    for a reconnection (and then the question is asked afresh)."""


class HostKeyAnswer(Enum):
    REJECT = "reject"
    ONCE = "once"
    SAVE = "save"


@dataclass(frozen=True)
class HostKeyQuestion:
    """An unknown host key, as the operator must see it before trusting it."""

    host: str
    port: int
    key_type: str
    fingerprint: str
    known_hosts: Path


@dataclass(frozen=True)
class SshPrompts:
    """What the UI provides to ask the operator; the core never draws anything itself.

    Both are coroutine functions (each call is run as a task on the UI's loop).
    `secret(prompt)` returns the typed text, or None when the operator cancelled.
    """

    host_key: Callable[[HostKeyQuestion], Coroutine[Any, Any, HostKeyAnswer]]
    secret: Callable[[str], Coroutine[Any, Any, str | None]]


T = TypeVar("T")

_ssh_loop: asyncio.AbstractEventLoop | None = None
_ssh_loop_lock = threading.Lock()


def ssh_loop() -> asyncio.AbstractEventLoop:
    """The event loop every SSH connection lives on, started on first use."""
    global _ssh_loop
    with _ssh_loop_lock:
        if _ssh_loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="kvmtui-ssh", daemon=True).start()
            _ssh_loop = loop
        return _ssh_loop


async def on_ssh_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Runs `coro` on the SSH loop and awaits it from the caller's loop (cancellable)."""
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, ssh_loop()))


def _bridged(prompts: SshPrompts | None) -> SshPrompts | None:
    """The same prompts, callable from the SSH loop: they run on the caller's (UI) loop, in
    the caller's context (a UI finds its app through context variables)."""
    if prompts is None:
        return None
    home = asyncio.get_running_loop()
    context = contextvars.copy_context()

    async def at_home(coro: Coroutine[Any, Any, T]) -> T:
        answer: concurrent.futures.Future[T] = concurrent.futures.Future()

        def settle(task: asyncio.Task[T]) -> None:
            if task.cancelled():
                answer.cancel()
            elif task.exception() is not None:
                answer.set_exception(task.exception())
            else:
                answer.set_result(task.result())

        def start() -> None:
            home.create_task(coro, context=context.copy()).add_done_callback(settle)

        home.call_soon_threadsafe(start)
        return await asyncio.wrap_future(answer)

    async def host_key(question: HostKeyQuestion) -> HostKeyAnswer:
        return await at_home(prompts.host_key(question))

    async def secret(prompt: str) -> str | None:
        return await at_home(prompts.secret(prompt))

    return SshPrompts(host_key, secret)


def channel_errors() -> tuple[type[Exception], ...]:
    """What a call on an open SSH connection may raise, for an `except` clause: asyncssh's
    errors and the OS's (asyncssh is loaded by then, with the connection)."""
    import asyncssh

    return (asyncssh.Error, OSError)


def is_ssh_uri(uri: str) -> bool:
    return uri.partition("://")[0].lower() == SSH_SCHEME


@dataclass(frozen=True)
class SshTarget:
    """An `ssh://` URI taken apart; values the URI leaves out come from the ssh config."""

    host: str
    user: str | None = None
    port: int | None = None
    keyfile: str | None = None
    known_hosts: str | None = None
    ssh_config: str | None = None
    jump: str | None = None

    @classmethod
    def parse(cls, uri: str) -> SshTarget:
        parts = urlsplit(uri)
        if parts.path not in ("", "/", "/system"):
            raise SshError(f"{uri}: only the system instance (/system) is served over ssh://")
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(query) - _QUERY_KEYS)
        if unknown:
            raise SshError(
                f"{uri}: unknown option {unknown[0]!r} (known: {', '.join(sorted(_QUERY_KEYS))})"
            )
        values = {key: query[key][-1] for key in query}
        return cls(
            host=parts.hostname or "",
            user=parts.username,
            port=parts.port,
            keyfile=values.get("keyfile"),
            known_hosts=values.get("known_hosts"),
            ssh_config=values.get("ssh_config"),
            jump=values.get("jump"),
        )

    @property
    def config(self) -> Any:
        """asyncssh's `config=`: our file, or `()` for `~/.ssh/config`."""
        return [self.ssh_config] if self.ssh_config else ()

    def handover_args(self) -> list[str]:
        """OpenSSH arguments that reach the same host, for handing the terminal over."""
        args = ["-t"]
        if self.port:
            args += ["-p", str(self.port)]
        if self.keyfile:
            args += ["-i", self.keyfile, "-o", "IdentitiesOnly=yes"]
        if self.known_hosts:
            args += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        if self.ssh_config:
            args += ["-F", self.ssh_config]
        if self.jump:
            args += ["-J", self.jump]
        return [*args, f"{self.user}@{self.host}" if self.user else self.host]


class SshLink:
    """A host's SSH connection and its forwarded libvirt socket, closed together."""

    def __init__(
        self,
        target: SshTarget,
        conn: asyncssh.SSHClientConnection,
        hops: list[asyncssh.SSHClientConnection],
        tmpdir: str,
        listener: asyncssh.SSHListener,
    ) -> None:
        self.target = target
        self.conn = conn
        self._hops = hops
        self._tmpdir = tmpdir
        self._listener = listener
        self.socket_path = os.path.join(tmpdir, "libvirt-sock")

    @property
    def libvirt_uri(self) -> str:
        return f"qemu+unix:///system?socket={self.socket_path}"

    async def close(self) -> None:
        await on_ssh_loop(self._close())

    async def _close(self) -> None:
        self._listener.close()
        for conn in [self.conn, *reversed(self._hops)]:
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 5.0)
        shutil.rmtree(self._tmpdir, ignore_errors=True)


async def open_link(uri: str, readonly: bool, prompts: SshPrompts | None) -> SshLink:
    """Connects to an `ssh://` host and forwards its libvirt socket; raises SshError."""
    from kvmtui.core import ssh_dial  # asyncssh: loaded by the first ssh:// host only

    target = SshTarget.parse(uri)
    return await on_ssh_loop(ssh_dial.open_link(target, readonly, _bridged(prompts)))
