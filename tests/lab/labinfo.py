"""A typed view of the lab's contract file, `$KVMTUI_LAB_DIR/lab.json`, written by `scripts/lab up`.

Standard library only, so anything (tests, benchmarks, a REPL) can import it:

    from tests.lab.labinfo import LabInfo
    lab = LabInfo.load()
    lab.virsh("hostb", "list", "--all").stdout
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
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


@dataclass(frozen=True)
class LabInfo:
    state_dir: Path
    domain_type_os_less: str
    ssh_key: Path
    known_hosts: Path
    hosts: Mapping[str, HostInfo]
    guests: Mapping[str, GuestInfo]  # by guest name, across both hosts
    configs: Mapping[str, Path]  # "tcp" / "ssh" -> kvmtui TOML config
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
                )
        return cls(
            state_dir=Path(d["state_dir"]),
            domain_type_os_less=d["domain_type_os_less"],
            ssh_key=Path(d["ssh_key"]),
            known_hosts=Path(d["known_hosts"]),
            hosts=MappingProxyType(hosts),
            guests=MappingProxyType(guests),
            configs=MappingProxyType({k: Path(v) for k, v in d["configs"].items()}),
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
