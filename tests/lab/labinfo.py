"""A typed view of the lab's contract file, `$KVMTUI_LAB_DIR/lab.json`, written by `scripts/lab up`.

Standard library only, so anything (tests, benchmarks, a REPL) can import it:

    from tests.lab.labinfo import LabInfo
    lab = LabInfo.load()
    lab.virsh("hostb", "list", "--all").stdout
"""

from __future__ import annotations

import json
import os
import pty
import re
import secrets
import select
import subprocess
import termios
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LAB_SCRIPT = REPO / "scripts" / "lab"
DEFAULT_STATE_DIR = Path("/var/tmp/kvmtui-lab")
READY_LINE = "kvmtui-lab guest ready"


def state_dir() -> Path:
    return Path(os.environ.get("KVMTUI_LAB_DIR") or DEFAULT_STATE_DIR)


def run_lab(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run `scripts/lab ARGS...` (output captured); never raises on a non-zero exit."""
    return subprocess.run([str(LAB_SCRIPT), *args], capture_output=True, text=True, timeout=timeout)


class LabCommandError(RuntimeError):
    pass


def _checked(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    cp = run_lab(*args, timeout=timeout)
    if cp.returncode != 0:
        raise LabCommandError(
            f"scripts/lab {' '.join(args)} failed ({cp.returncode}):\n{cp.stderr[-3000:]}"
        )
    return cp


@dataclass(frozen=True)
class HostInfo:
    name: str  # "hosta" / "hostb"
    address: str  # 10.213.0.1 / 10.213.0.2
    uri_tcp: str
    uri_ssh: str
    ssh_port: int
    migrate_uri: str  # tcp://ADDRESS, for VIR_MIGRATE_PARAM_URI
    host_uuid: str
    hostname: str
    network: NetworkInfo | None = None


@dataclass(frozen=True)
class GuestInfo:
    name: str
    host: str  # its home host
    kind: str  # "os-less" or "linux"
    running: bool  # its initial state
    vcpus: int
    memory_kib: int
    busy: bool = False
    vnc: bool = False  # a VNC display on the host's loopback
    domain_type: str = "qemu"
    serial_log: Path | None = None
    max_vcpus: int = 0  # above vcpus when a live setvcpus can add some
    disk: Path | None = None  # linux guests: qcow2 system disk in the shared pool
    disk_mount: str | None = None  # where the guest's init mounts that disk
    mac: str | None = None  # linux guests: the NIC on the host's NAT network


@dataclass(frozen=True)
class NetworkInfo:
    """A host's libvirt NAT network with DHCP (same name on both hosts, own subnet)."""

    name: str
    bridge: str
    subnet: str  # e.g. 192.168.213.0/24
    gateway: str
    dhcp_start: str
    dhcp_end: str


@dataclass(frozen=True)
class LabInfo:
    state_dir: Path
    domain_type_os_less: str
    ssh_key: Path
    known_hosts: Path
    hosts: Mapping[str, HostInfo]
    guests: Mapping[str, GuestInfo]  # by guest name, across both hosts
    configs: Mapping[str, Path]  # "tcp" / "ssh" -> kvmtui TOML config
    pool_name: str  # a directory storage pool, same name and path on both hosts
    pool_path: Path
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def load(cls, path: Path | str | None = None) -> LabInfo:
        path = Path(path) if path else state_dir() / "lab.json"
        d = json.loads(path.read_text())
        hosts = {
            name: HostInfo(
                name=name,
                address=h["address"],
                uri_tcp=h["uri_tcp"],
                uri_ssh=h["uri_ssh"],
                ssh_port=int(h["ssh_port"]),
                migrate_uri=h["migrate_uri"],
                host_uuid=h["host_uuid"],
                hostname=h.get("hostname", ""),
                network=NetworkInfo(**h["network"]) if h.get("network") else None,
            )
            for name, h in d["hosts"].items()
        }
        guests = {}
        for host, gs in d["guests"].items():
            for name, g in gs.items():
                guests[name] = GuestInfo(
                    name=name,
                    host=host,
                    kind=g["kind"],
                    running=bool(g["running"]),
                    vcpus=int(g["vcpus"]),
                    memory_kib=int(g["memory_kib"]),
                    busy=bool(g.get("busy", False)),
                    vnc=bool(g.get("vnc", False)),
                    domain_type=g.get("domain_type", "qemu"),
                    serial_log=Path(g["serial_log"]) if g.get("serial_log") else None,
                    max_vcpus=int(g.get("max_vcpus", g["vcpus"])),
                    disk=Path(g["disk"]) if g.get("disk") else None,
                    disk_mount=g.get("disk_mount"),
                    mac=g.get("mac"),
                )
        return cls(
            state_dir=Path(d["state_dir"]),
            domain_type_os_less=d["domain_type_os_less"],
            ssh_key=Path(d["ssh_key"]),
            known_hosts=Path(d["known_hosts"]),
            hosts=MappingProxyType(hosts),
            guests=MappingProxyType(guests),
            configs=MappingProxyType({k: Path(v) for k, v in d["configs"].items()}),
            pool_name=d.get("pool", {}).get("name", ""),
            pool_path=Path(d.get("pool", {}).get("path", "")),
            raw=MappingProxyType(d),
        )

    # --- queries -------------------------------------------------------------------
    def host(self, name: str) -> HostInfo:
        """`hosta`, `hostb`, or just `a` / `b`."""
        return self.hosts[name if name in self.hosts else f"host{name}"]

    def guests_on(self, host: str) -> list[GuestInfo]:
        h = self.host(host).name
        return [g for g in self.guests.values() if g.host == h]

    def virsh(self, host: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """`virsh -c <host's qemu+tcp URI> ARGS...`; output captured, never raises on failure."""
        return subprocess.run(
            ["virsh", "-q", "-c", self.host(host).uri_tcp, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def where(self, guest: str) -> str | None:
        """The host a guest is defined on now (it may have migrated), or None."""
        for host in self.hosts:
            if self.virsh(host, "domstate", guest).returncode == 0:
                return host
        return None

    def guest_shell(self, guest: str, command: str, timeout: float = 30) -> str:
        """Run a shell command in a running linux guest over its serial console (`virsh
        console --force` in a PTY, as an operator would) and return what it printed.
        Raises TimeoutError when no answer comes, RuntimeError when the guest runs nowhere.

            lab.guest_shell("linux-a1", "echo data > /mnt/disk/f && sync")
        """
        tag = secrets.token_hex(4)
        # The markers are built by the guest's shell (printf), so the echoed command line,
        # which contains '%s', never matches them.
        line = f"printf '%s\\n' B{tag}; {command}; printf '%s:%s\\n' E{tag} $?\r"
        out = self.guest_console(guest, [(line, rf"\bB{tag}\r?\n(.*?)E{tag}:(\d+)")], timeout)
        m = re.search(rf"\bB{tag}\r?\n(.*?)E{tag}:(\d+)", out, re.S)
        assert m is not None
        return m.group(1).replace("\r\n", "\n")

    def guest_console(
        self, guest: str, exchanges: list[tuple[str, str]], timeout: float = 30
    ) -> str:
        """Types on a running linux guest's serial console (`virsh console --force` in a
        PTY) one text after another, each once the previous one's pattern (a regex, over
        what came since that text was typed) has come; returns all the console printed.
        For a dialog with the guest: a login, a password prompt. Raises TimeoutError when a
        pattern does not come, RuntimeError when the guest runs nowhere.

            lab.guest_console("linux-a1", [("login kvmtui\\r", "Password: "), ("pw\\r", "~ ")])
        """
        host = self.where(guest)
        if host is None:
            raise RuntimeError(f"{guest} is defined on no lab host")
        pid, fd = pty.fork()
        if pid == 0:  # the child: virsh owns the PTY, as in a terminal
            os.execvp(
                "virsh", ["virsh", "-c", self.host(host).uri_tcp, "console", guest, "--force"]
            )
        out = b""
        try:
            deadline = time.monotonic() + timeout
            # virsh flushes what was typed before it put the PTY in raw mode: wait for it
            while termios.tcgetattr(fd)[3] & termios.ICANON:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{guest}'s console did not open in {timeout:.0f}s")
                time.sleep(0.05)
            for text, pattern in exchanges:
                os.write(fd, text.encode())
                since = len(out)
                while not re.search(pattern.encode(), out[since:], re.S):
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"no {pattern!r} from {guest}'s console in {timeout:.0f}s:\n"
                            f"{out[-2000:].decode(errors='replace')}"
                        )
                    ready, _, _ = select.select([fd], [], [], 0.2)
                    if ready:
                        try:
                            out += os.read(fd, 65536)
                        except OSError:
                            break
            return out.decode(errors="replace")
        finally:
            os.write(fd, b"\x1d")  # Ctrl+], virsh detaches
            try:
                os.close(fd)
            finally:
                for _ in range(50):
                    if os.waitpid(pid, os.WNOHANG) != (0, 0):
                        break
                    time.sleep(0.05)
                else:
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)

    @contextmanager
    def dirtying(self, guest: str, block_mib: int = 3, ring_mib: int = 30) -> Iterator[None]:
        """The linux guest writes fresh data to its memory until the block ends: what a
        migration's dirty-rate forecast is tested (and shown) on, with no change to the
        guest image. A busybox loop on the serial console writes `block_mib` blocks into a
        file on its tmpfs (/tmp) ten times a second at most, cycling over a ring of
        `ring_mib` (within /tmp's 46 MiB), so a second's writes land on pages not written
        the second before; the blocks alternate between two random sources, so every write
        changes its pages (QEMU's page sampling compares hashes; a zero page would cost a
        migration almost nothing). Under TCG that measures 12 to 32 MiB/s."""
        mib = 1024 * 1024
        slots = ring_mib // block_mib
        self.guest_shell(
            guest,
            f"head -c {block_mib * mib} /dev/urandom > /tmp/a; "
            f"head -c {block_mib * mib} /dev/urandom > /tmp/b; "
            f"(i=0; while :; do if [ $(( i / {slots} % 2 )) = 0 ]; then f=/tmp/a; "
            "else f=/tmp/b; fi; "
            f"dd if=$f of=/tmp/dirt bs=1M count={block_mib} seek=$(( i % {slots} * {block_mib} )) "
            "conv=notrunc 2>/dev/null; i=$((i+1)); sleep 0.1; done) "
            "</dev/null >/dev/null 2>&1 & echo $! > /tmp/dirt.pid",
        )
        try:
            yield
        finally:
            self.guest_shell(guest, "kill $(cat /tmp/dirt.pid); rm -f /tmp/dirt* /tmp/a /tmp/b")

    # --- lifecycle (all through scripts/lab, so there is one implementation) -----------
    def stop_host(self, name: str) -> None:
        """Kill that host's libvirtd only; its guests' QEMU, sshd and network stay."""
        _checked("stop-host", self.host(name).name)

    def start_host(self, name: str) -> None:
        """Start that host's libvirtd again and wait until it answers."""
        _checked("start-host", self.host(name).name)

    def reset_guests(self, wait: bool = True) -> None:
        """Every lab guest back on its home host in its initial state (migrated ones come
        back live; stopped hosts are started). With wait, also waits for the Linux guests'
        ready line."""
        _checked("reset", *([] if wait else ["--no-wait"]))
