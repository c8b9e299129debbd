"""Where vCPUs run: one guest's vCPUs and pinning, one host's physical CPUs, and pinning.

These are per-domain calls the bulk stats lack, so they are made only for what is on
screen: a reader is created when a screen opens and read once per tick while it stays
open. A reader keeps its previous sample, so CPU%, wait and steal are differences of two
samples like every other rate (see stats.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import libvirt

from kvmtui.core.cpulist import check_cpus, format_cpulist, from_cpumap, to_cpumap
from kvmtui.core.host import Host
from kvmtui.core.stats import (
    NS_PER_S,
    NodeCpuSample,
    node_cpu_percent,
    node_cpu_sample,
)
from kvmtui.core.words import vcpu_state


@dataclass(frozen=True)
class PinTarget:
    """What is being pinned: one vCPU of a guest, or (vcpu None) its emulator threads."""

    host: str
    uuid: str
    guest: str
    vcpu: int | None
    current: frozenset[int]
    active: bool

    @property
    def title(self) -> str:
        what = "emulator threads" if self.vcpu is None else f"vCPU {self.vcpu}"
        return f"Pin {what} of {self.guest} on {self.host}"


@dataclass(frozen=True)
class HostCpus:
    """A host's physical CPUs as libvirt's pin calls count them (`getCPUMap`)."""

    host: str
    count: int
    online: frozenset[int]


@dataclass(frozen=True)
class VcpuCounters:
    """One vCPU's cumulative times (ns); wait is I/O wait, delay is time spent runnable
    but not running (steal, as the guest would see it)."""

    time_ns: int | None
    wait_ns: int | None
    delay_ns: int | None


@dataclass(frozen=True)
class VcpuInfo:
    number: int
    state: str
    pcpu: int | None
    cpu_time_ns: int | None
    affinity_live: frozenset[int] | None
    affinity_config: frozenset[int]
    cpu_percent: float | None = None
    wait_percent: float | None = None
    steal_percent: float | None = None

    @property
    def affinity(self) -> frozenset[int]:
        """What constrains the vCPU now: the live pinning when running, else the config."""
        return self.affinity_live if self.affinity_live is not None else self.affinity_config


@dataclass(frozen=True)
class GuestPlacement:
    host: str
    uuid: str
    name: str
    active: bool
    cpus: HostCpus
    vcpus: tuple[VcpuInfo, ...]
    emulator_live: frozenset[int] | None
    emulator_config: frozenset[int] | None


@dataclass(frozen=True)
class VcpuRef:
    """A vCPU seen from the host: which guest, which vCPU, where it may run and runs now."""

    guest: str
    uuid: str
    number: int
    state: str
    pcpu: int | None
    affinity: frozenset[int]

    @property
    def label(self) -> str:
        return f"{self.guest}:{self.number}"


@dataclass(frozen=True)
class PcpuInfo:
    cpu: int
    online: bool
    load_percent: float | None
    vcpus: tuple[VcpuRef, ...]

    @property
    def runnable(self) -> int:
        return sum(1 for v in self.vcpus if v.state == "running")

    @property
    def contended(self) -> bool:
        """More than one runnable vCPU sits on this CPU now: they take turns."""
        return self.runnable > 1


@dataclass(frozen=True)
class HostCpuMap:
    host: str
    cpus: HostCpus
    pcpus: tuple[PcpuInfo, ...]
    vcpus: tuple[VcpuRef, ...]
    load_percent: float | None = None

    @property
    def running_vcpus(self) -> int:
        return sum(1 for v in self.vcpus if v.state != "offline")

    @property
    def online_cpus(self) -> int:
        """The CPUs guests can run on (every CPU when libvirt tells none online): what the
        hosts view's pCPU says (`getInfo`), and what the overcommit is reckoned on."""
        return len(self.cpus.online) or self.cpus.count

    @property
    def overcommit(self) -> float:
        """Running vCPUs per online physical CPU: above 1.0 they cannot all run at once."""
        return self.running_vcpus / max(1, self.online_cpus)


# ---- pure arithmetic ------------------------------------------------------------------


def _share(before: int | None, after: int | None, seconds: float) -> float | None:
    """Growth of a ns counter as a percentage of the wall time between two samples."""
    if before is None or after is None or seconds <= 0 or after < before:
        return None
    return 100.0 * (after - before) / (seconds * NS_PER_S)


def vcpu_counters(record: Mapping[str, Any], number: int) -> VcpuCounters:
    """One vCPU's times from a VIR_DOMAIN_STATS_VCPU record (absent fields give None)."""

    def field(name: str) -> int | None:
        value = record.get(f"vcpu.{number}.{name}")
        return int(value) if value is not None else None

    return VcpuCounters(field("time"), field("wait"), field("delay"))


def vcpu_percentages(
    before: VcpuCounters | None, after: VcpuCounters, seconds: float
) -> tuple[float | None, float | None, float | None]:
    """(CPU%, wait%, steal%) of one vCPU between two samples; 100 % is one whole CPU."""
    if before is None:
        return None, None, None
    return (
        _share(before.time_ns, after.time_ns, seconds),
        _share(before.wait_ns, after.wait_ns, seconds),
        _share(before.delay_ns, after.delay_ns, seconds),
    )


def pin_flags(live: bool, config: bool, active: bool) -> int:
    """libvirt flags for a pin that should apply live and/or persistently.

    When the choice is exactly what AFFECT_CURRENT means for the guest's state (live on a
    running guest, config on a shut-off one) CURRENT is passed, as virsh does: some drivers
    (the test driver among them) accept no other flag.
    """
    if not live and not config:
        raise ValueError("choose live, persistent (config) or both")
    if live and not active:
        raise ValueError("the guest is not running: a live change needs a running guest")
    if (live and not config and active) or (config and not live and not active):
        return libvirt.VIR_DOMAIN_AFFECT_CURRENT
    flags = libvirt.VIR_DOMAIN_AFFECT_LIVE if live else 0
    return flags | (libvirt.VIR_DOMAIN_AFFECT_CONFIG if config else 0)


# ---- blocking reads (run on the host's threads) ---------------------------------------


def _host_cpus(conn: libvirt.virConnect, host: str) -> HostCpus:
    count, online, _ = conn.getCPUMap()
    return HostCpus(host, int(count), from_cpumap(online))


@dataclass(frozen=True)
class _GuestRead:
    name: str
    active: bool
    cpus: HostCpus
    live: list[tuple[int, int, int, int]] | None
    live_pins: list[tuple[bool, ...]] | None
    config_pins: list[tuple[bool, ...]]
    record: dict[str, Any]
    emulator_live: tuple[bool, ...] | None
    emulator_config: tuple[bool, ...] | None


def _optional(call: Any, *args: Any) -> Any:
    """A call some drivers or states lack (emulator pinning, stats): None instead."""
    try:
        return call(*args)
    except libvirt.libvirtError:
        return None


def _read_guest(conn: libvirt.virConnect, host: str, uuid: str) -> _GuestRead:
    dom = conn.lookupByUUIDString(uuid)
    active = bool(dom.isActive())
    live = live_pins = emulator_live = None
    record: dict[str, Any] = {}
    if active:
        live, live_pins = dom.vcpus()
        emulator_live = _optional(dom.emulatorPinInfo, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        stats = _optional(conn.domainListGetStats, [dom], libvirt.VIR_DOMAIN_STATS_VCPU)
        record = dict(stats[0][1]) if stats else {}
    return _GuestRead(
        name=dom.name(),
        active=active,
        cpus=_host_cpus(conn, host),
        live=live,
        live_pins=live_pins,
        config_pins=dom.vcpuPinInfo(libvirt.VIR_DOMAIN_AFFECT_CONFIG),
        record=record,
        emulator_live=emulator_live,
        emulator_config=_optional(dom.emulatorPinInfo, libvirt.VIR_DOMAIN_AFFECT_CONFIG),
    )


def _read_host(
    conn: libvirt.virConnect, host: str
) -> tuple[HostCpus, list[VcpuRef], dict[int, NodeCpuSample]]:
    cpus = _host_cpus(conn, host)
    refs: list[VcpuRef] = []
    for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
        try:
            info, pins = dom.vcpus()
            name, uuid = dom.name(), dom.UUIDString()
        except libvirt.libvirtError:
            continue  # the guest stopped between the listing and the call
        refs.extend(
            VcpuRef(
                name, uuid, number, vcpu_state(state), pcpu if pcpu >= 0 else None, from_cpumap(pin)
            )
            for (number, state, _time, pcpu), pin in zip(info, pins, strict=False)
        )
    samples: dict[int, NodeCpuSample] = {}
    for cpu in sorted(cpus.online):
        stats = _optional(conn.getCPUStats, cpu)
        if stats:
            samples[cpu] = node_cpu_sample(stats)
    total = _optional(conn.getCPUStats, libvirt.VIR_NODE_CPU_STATS_ALL_CPUS)
    if total:
        samples[-1] = node_cpu_sample(total)
    return cpus, refs, samples


# ---- readers kept by the screens ------------------------------------------------------


class GuestPlacementReader:
    """One guest's vCPUs, read on demand; keeps the previous sample for the rates."""

    def __init__(self, host: Host, uuid: str) -> None:
        self.host = host
        self.uuid = uuid
        self._before: tuple[float, dict[int, VcpuCounters]] | None = None

    async def read(self) -> GuestPlacement:
        name = self.host.name
        raw = await self.host.run_on_guest(
            self.uuid, lambda dom: _read_guest(dom.connect(), name, self.uuid), "vcpuinfo"
        )
        now = time.monotonic()
        counters: dict[int, VcpuCounters] = {}
        vcpus: list[VcpuInfo] = []
        for number, config_pin in enumerate(raw.config_pins):
            row = raw.live[number] if raw.live and number < len(raw.live) else None
            counters[number] = self._counters(raw.record, number, row)
            before = self._before[1].get(number) if self._before else None
            seconds = now - self._before[0] if self._before else 0.0
            cpu, wait, steal = vcpu_percentages(before, counters[number], seconds)
            live_pin = raw.live_pins[number] if raw.live_pins and row else None
            vcpus.append(
                VcpuInfo(
                    number=number,
                    state=vcpu_state(row[1]) if row else "offline",
                    pcpu=row[3] if row and row[3] >= 0 else None,
                    cpu_time_ns=counters[number].time_ns,
                    affinity_live=from_cpumap(live_pin) if live_pin is not None else None,
                    affinity_config=from_cpumap(config_pin),
                    cpu_percent=cpu,
                    wait_percent=wait,
                    steal_percent=steal,
                )
            )
        self._before = (now, counters) if raw.active else None
        return GuestPlacement(
            host=name,
            uuid=self.uuid,
            name=raw.name,
            active=raw.active,
            cpus=raw.cpus,
            vcpus=tuple(vcpus),
            emulator_live=from_cpumap(raw.emulator_live) if raw.emulator_live else None,
            emulator_config=from_cpumap(raw.emulator_config) if raw.emulator_config else None,
        )

    @staticmethod
    def _counters(
        record: Mapping[str, Any], number: int, row: tuple[int, int, int, int] | None
    ) -> VcpuCounters:
        """The stats record's counters; the test driver has none, so vcpus()' time instead."""
        counters = vcpu_counters(record, number)
        if counters.time_ns is None and row is not None:
            return VcpuCounters(int(row[2]), counters.wait_ns, counters.delay_ns)
        return counters


class HostCpuMapReader:
    """One host's physical CPUs and the vCPUs on each; keeps per-CPU samples for load."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._before: dict[int, NodeCpuSample] = {}

    async def read(self) -> HostCpuMap:
        name = self.host.name
        cpus, refs, samples = await self.host.run(
            lambda conn: _read_host(conn, name), what=f"CPU map of {name}"
        )
        before, self._before = self._before, samples
        pcpus = tuple(
            PcpuInfo(
                cpu,
                cpu in cpus.online,
                node_cpu_percent(before.get(cpu), samples[cpu]) if cpu in samples else None,
                tuple(
                    sorted((r for r in refs if r.pcpu == cpu), key=lambda r: (r.guest, r.number))
                ),
            )
            for cpu in range(cpus.count)
        )
        total = node_cpu_percent(before.get(-1), samples[-1]) if -1 in samples else None
        return HostCpuMap(
            name, cpus, pcpus, tuple(sorted(refs, key=lambda r: (r.guest, r.number))), total
        )


# ---- pinning --------------------------------------------------------------------------


async def host_cpus(host: Host) -> HostCpus:
    """The host's CPUs, to check a CPU list against before pinning."""
    name = host.name
    return await host.run(lambda conn: _host_cpus(conn, name))


def _where(live: bool, config: bool) -> str:
    return " and ".join(w for w, on in (("live", live), ("persistent", config)) if on)


async def pin_vcpu(
    host: Host, uuid: str, vcpu: int, cpus: frozenset[int], *, live: bool, config: bool
) -> str:
    """Pins one vCPU to `cpus` and returns the sentence that reports it."""
    return await _pin(
        host,
        uuid,
        cpus,
        live,
        config,
        "vcpupin",
        f"vCPU {vcpu}",
        lambda dom, cpumap, flags: dom.pinVcpuFlags(vcpu, cpumap, flags),
    )


async def pin_emulator(
    host: Host, uuid: str, cpus: frozenset[int], *, live: bool, config: bool
) -> str:
    """Pins the guest's emulator threads to `cpus` and returns the report."""
    return await _pin(
        host,
        uuid,
        cpus,
        live,
        config,
        "emulatorpin",
        "emulator threads",
        lambda dom, cpumap, flags: dom.pinEmulator(cpumap, flags),
    )


async def _pin(
    host: Host,
    uuid: str,
    cpus: frozenset[int],
    live: bool,
    config: bool,
    verb: str,
    subject: str,
    apply: Callable[[libvirt.virDomain, tuple[bool, ...], int], object],
) -> str:
    """What both pins do around `apply(domain, cpumap, flags)`: check the CPUs against the
    host's, and report what was pinned (`subject`) where."""
    topology = await host_cpus(host)
    chosen = check_cpus(cpus, topology.count, host.name)

    def pin(dom: libvirt.virDomain) -> str:
        apply(dom, to_cpumap(chosen, topology.count), pin_flags(live, config, bool(dom.isActive())))
        return dom.name()

    name = await host.run_on_guest(uuid, pin, f"{verb} {subject} of")
    return (
        f"{name} on {host.name}: {subject} pinned to CPUs {format_cpulist(chosen)}"
        f" ({_where(live, config)})"
    )
