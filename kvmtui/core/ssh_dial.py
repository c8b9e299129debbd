"""Dialling an `ssh://` host with asyncssh: jump hops, the host-key policy, the prompts and
the forward of the remote libvirt socket (see core/ssh.py, which loads this module with the
first `ssh://` host, so that fleets without one never import asyncssh)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import asyncssh

from kvmtui.core.ssh import (
    CONNECT_TIMEOUT,
    DEFAULT_KNOWN_HOSTS,
    KEEPALIVE_INTERVAL,
    REMOTE_SOCKET,
    REMOTE_SOCKET_RO,
    HostKeyAnswer,
    HostKeyQuestion,
    HostKeyRejected,
    SshError,
    SshLink,
    SshPrompts,
    SshTarget,
)


class _Client(asyncssh.SSHClient):
    """Records the host key asyncssh could not verify and asks for passwords."""

    def __init__(self, prompts: SshPrompts | None, label: str) -> None:
        self.offered: tuple[str, str, int, asyncssh.SSHKey] | None = None
        self._prompts = prompts
        self._label = label

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.offered = (host, addr, port, key)
        return False  # decided by the operator, outside the handshake (see _Dialer.dial)

    async def password_auth_requested(self) -> str | None:
        if self._prompts is None:
            return None
        return await self._prompts.secret(f"Password for {self._label}")

    async def kbdint_challenge_received(
        self, name: str, instructions: str, lang: str, prompts: Any
    ) -> list[str] | None:
        answers: list[str] = []
        for prompt, _echo in prompts:
            if self._prompts is None:
                return None
            answer = await self._prompts.secret(f"{self._label}: {prompt.strip() or name}")
            if answer is None:
                return None
            answers.append(answer)
        return answers


class _Dialer:
    """Opens SSH connections for one target: jump hops first, each under the key policy."""

    def __init__(self, target: SshTarget, prompts: SshPrompts | None) -> None:
        self.target = target
        self.prompts = prompts
        self.opened: list[asyncssh.SSHClientConnection] = []

    async def connect(self) -> asyncssh.SSHClientConnection:
        target = self.target
        options = await self._resolve(target.host, target.port, target.user)
        tunnel: asyncssh.SSHClientConnection | None = None
        hops = target.jump or (options.tunnel if isinstance(options.tunnel, str) else None)
        for hop in hops.split(",") if hops else []:
            user, _, address = hop.rpartition("@")
            host, _, port = address.partition(":")
            hop_options = await self._resolve(host, int(port) if port else None, user or None)
            tunnel = await self._dial(hop_options, tunnel)
        return await self._dial(options, tunnel)

    async def _resolve(
        self, host: str, port: int | None, user: str | None
    ) -> asyncssh.SSHClientConnectionOptions:
        """The connection options ssh config gives this host (reads files: off the loop)."""
        target = self.target
        kwargs: dict[str, Any] = {
            "config": target.config,
            "host": host,
            "keepalive_interval": KEEPALIVE_INTERVAL,
            "passphrase": self._passphrase,
        }
        if port:
            kwargs["port"] = port
        if user:
            kwargs["username"] = user
        if target.keyfile:
            kwargs["client_keys"] = [target.keyfile]
            kwargs["agent_path"] = None
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                None, lambda: asyncssh.SSHClientConnectionOptions(**kwargs)
            )
        except (OSError, ValueError, asyncssh.Error) as error:
            raise SshError(f"ssh to {host}: {error}") from error

    async def _passphrase(self, filename: str) -> str | None:
        if self.prompts is None:
            return None
        return await self.prompts.secret(f"Passphrase for {filename}")

    def _known_hosts_path(self, options: asyncssh.SSHClientConnectionOptions) -> Path:
        if self.target.known_hosts:
            return Path(self.target.known_hosts)
        configured = options.config.get("UserKnownHostsFile")
        first = configured[0] if isinstance(configured, list | tuple) and configured else None
        return Path(first or DEFAULT_KNOWN_HOSTS).expanduser()

    async def _dial(
        self,
        options: asyncssh.SSHClientConnectionOptions,
        tunnel: asyncssh.SSHClientConnection | None,
    ) -> asyncssh.SSHClientConnection:
        host = options.host
        label = f"{options.username}@{host}" if options.username else host
        known_path = self._known_hosts_path(options)
        known = _read_known_hosts(known_path)
        client = _Client(self.prompts, label)
        try:
            conn = await self._open(options, tunnel, known, client)
        except asyncssh.HostKeyNotVerifiable as error:
            if client.offered is None:
                raise SshError(f"ssh to {label}: {error.reason}") from error
            trusted_key = await self._decide(client.offered, known, known_path)
            conn = await self._open(
                options, tunnel, ([trusted_key], [], []), _Client(self.prompts, label)
            )
        self.opened.append(conn)
        return conn

    async def _open(
        self,
        options: asyncssh.SSHClientConnectionOptions,
        tunnel: asyncssh.SSHClientConnection | None,
        known: Any,
        client: _Client,
    ) -> asyncssh.SSHClientConnection:
        label = f"{options.username}@{options.host}" if options.username else options.host
        try:
            connecting = asyncssh.connect(
                options.host,
                options.port,
                tunnel=tunnel or (),
                known_hosts=known,
                client_factory=lambda: client,
                config=self.target.config,
                options=options,
            )
            return await asyncio.wait_for(connecting, CONNECT_TIMEOUT)
        except asyncssh.HostKeyNotVerifiable:
            raise
        except asyncssh.PermissionDenied as error:
            raise SshError(f"ssh to {label}: permission denied ({error.reason})") from error
        except asyncssh.Error as error:
            raise SshError(f"ssh to {label}: {error.reason}") from error
        except TimeoutError:
            raise SshError(f"ssh to {label}: no answer in {CONNECT_TIMEOUT:g} s") from None
        except OSError as error:
            raise SshError(f"ssh to {label}: {error.strerror or error}") from error

    async def _decide(
        self,
        offered: tuple[str, str, int, asyncssh.SSHKey],
        known: asyncssh.SSHKnownHosts,
        known_path: Path,
    ) -> asyncssh.SSHKey:
        """The key to trust for this connection, or SshError when it must not be trusted."""
        host, addr, port, key = offered
        fingerprint = key.get_fingerprint("sha256")
        listed = known.match(host, addr, port)[0]
        if listed:
            raise HostKeyRejected(
                f"WARNING: the host key of {host} has CHANGED (now {key.get_algorithm()} "
                f"{fingerprint}); it does not match {known_path}. Someone may be "
                "intercepting the connection, or the host was reinstalled. Refusing to "
                f"connect; if the change is expected, remove the old key "
                f"(ssh-keygen -R {host} -f {known_path}) and connect again."
            )
        if self.prompts is None:
            raise HostKeyRejected(f"ssh to {host}: host key {fingerprint} is not in {known_path}")
        question = HostKeyQuestion(host, port, key.get_algorithm(), fingerprint, known_path)
        answer = await self.prompts.host_key(question)
        if answer is HostKeyAnswer.REJECT:
            raise HostKeyRejected(f"host key rejected: {host}")
        if answer is HostKeyAnswer.SAVE:
            _save_known_host(known_path, host, port, key)
        return key


def _read_known_hosts(path: Path) -> asyncssh.SSHKnownHosts:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except OSError as error:
        raise SshError(f"cannot read {path}: {error.strerror or error}") from error
    return asyncssh.import_known_hosts(text)


def _save_known_host(path: Path, host: str, port: int, key: asyncssh.SSHKey) -> None:
    pattern = host if port == 22 else f"[{host}]:{port}"
    algorithm, blob = key.export_public_key("openssh").decode().split()[:2]
    line = f"{pattern} {algorithm} {blob}\n"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line)
    except OSError as error:
        raise SshError(f"cannot save the host key to {path}: {error.strerror or error}") from error


async def open_link(target: SshTarget, readonly: bool, prompts: SshPrompts | None) -> SshLink:
    dialer = _Dialer(target, prompts)
    try:
        conn = await dialer.connect()
        tmpdir = tempfile.mkdtemp(prefix="kvmtui-ssh-")
        try:
            remote = REMOTE_SOCKET_RO if readonly else REMOTE_SOCKET
            listener = await conn.forward_local_path(os.path.join(tmpdir, "libvirt-sock"), remote)
        except BaseException:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
    except BaseException:
        for opened in reversed(dialer.opened):
            opened.close()
        raise
    return SshLink(target, conn, dialer.opened[:-1], tmpdir, listener)
