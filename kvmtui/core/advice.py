"""Placement advice: which host should take a guest (new, migrated, or evacuated).

A host is ranked by what would hurt the guest there: not enough free memory or a CPU the
guest's model cannot run on rule it out; among the others, fewer running vCPUs per
physical CPU after placing it (the overcommit the CPU map shows, `HostCpuMap.overcommit`)
comes first, then more free memory. Memory and vCPUs come from the fleet snapshot the
tables show (no extra calls); only the CPU check asks libvirt (`compareHypervisorCPU`),
and a driver that cannot answer leaves the CPU "unknown", which rules nothing out.

Guests tagged with the same `anti=NAME` (core/tags.py) are kept apart: a host that runs
one of them is ruled out for another, in the advice, the migrate dialog and evacuation,
whose plan then says that a guest stays for that reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from xml.etree import ElementTree as ET

import libvirt

from kvmtui.core.errors import HostError
from kvmtui.core.fleet import Fleet
from kvmtui.core.host import Host
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.numbers import size
from kvmtui.core.tags import value_of

#: The tag key whose guests sharing a value are kept on different hosts.
ANTI = "anti"


def anti_of(tags: Iterable[str]) -> frozenset[str]:
    """The `anti=NAME` group among a guest's tags, as a set (empty without one)."""
    value = value_of(tags, ANTI)
    return frozenset({value}) if value else frozenset()


#: What compareHypervisorCPU's answer means for the guest.
_CPU_WORDS = {
    libvirt.VIR_CPU_COMPARE_INCOMPATIBLE: "incompatible",
    libvirt.VIR_CPU_COMPARE_IDENTICAL: "compatible",
    libvirt.VIR_CPU_COMPARE_SUPERSET: "compatible",
}


@dataclass(frozen=True)
class HostRoom:
    """What a host has left, as its snapshot says: free memory (bytes), CPUs, and the
    vCPUs of its running guests."""

    host: str
    free_memory: int
    cpus: int
    running_vcpus: int
    #: The `anti=` groups its running guests are in.
    anti: frozenset[str] = frozenset()

    def taking(self, memory: int, vcpus: int, anti: frozenset[str] = frozenset()) -> HostRoom:
        """The room left once a guest of this size runs here (for planning several)."""
        return replace(
            self,
            free_memory=self.free_memory - memory,
            running_vcpus=self.running_vcpus + vcpus,
            anti=self.anti | anti,
        )


@dataclass(frozen=True)
class HostFit:
    """One host for one guest: the figures after placing it, and why it cannot take it."""

    room: HostRoom
    memory: int
    vcpus: int
    cpu: str = "unknown"
    anti: frozenset[str] = frozenset()  # the guest's `anti=` group

    @property
    def host(self) -> str:
        return self.room.host

    @property
    def overcommit(self) -> float:
        """Running vCPUs per CPU once the guest runs here: above 1.0 they take turns."""
        return (self.room.running_vcpus + self.vcpus) / max(1, self.room.cpus)

    @property
    def problem(self) -> str:
        if self.memory > self.room.free_memory:
            return f"only {size(max(self.room.free_memory, 0))} free"
        if self.cpu == "incompatible":
            return "CPU incompatible"
        shared = self.anti & self.room.anti
        if shared:
            return f"runs another {ANTI}={min(shared)} guest"
        return ""

    @property
    def fits(self) -> bool:
        return not self.problem

    def summary(self) -> str:
        """`kvm2  11.5 GiB free  vCPUs 6/8 (0.8x)  CPU compatible`, or why it cannot."""
        figures = (
            f"{size(max(self.room.free_memory, 0))} free, vCPUs "
            f"{self.room.running_vcpus + self.vcpus}/{self.room.cpus} "
            f"({self.overcommit:.1f}x), CPU {self.cpu}"
        )
        return f"{figures}: {self.problem}" if self.problem else figures


def rank(fits: Iterable[HostFit]) -> list[HostFit]:
    """Best first: those that fit, by overcommit after placing, then by free memory."""
    return sorted(
        fits, key=lambda f: (not f.fits, round(f.overcommit, 2), -f.room.free_memory, f.host)
    )


def room(host: Host) -> HostRoom | None:
    """A connected host's room from its snapshot (the hosts table's figures); None when
    it is not connected or has not reported yet."""
    if not host.connected:
        return None
    snapshot = host.snapshot()
    total = snapshot.load.memory_total_kib or snapshot.info.memory_kib
    if not total or not snapshot.info.cpus:
        return None
    active = [g for g in host.guests() if g.state.is_active]
    return HostRoom(
        host.name,
        (total - snapshot.load.memory_used_kib) * 1024,
        snapshot.info.cpus,
        sum(g.vcpus for g in active),
        frozenset().union(*(anti_of(g.tags) for g in active)),
    )


@dataclass(frozen=True)
class CpuWanted:
    """The CPU a guest runs with and what it runs under (domain type, machine, emulator):
    compareHypervisorCPU judges a model against what that hypervisor offers, and a TCG
    guest's model is checked against QEMU's emulation, not the host's KVM."""

    xml: str
    virt_type: str | None
    arch: str | None
    machine: str | None
    emulator: str | None


def guest_cpu(xml: str) -> CpuWanted | None:
    """The `<cpu>` a guest's definition asks for, to compare with a host's; None when it
    names no model (the hypervisor's default model runs anywhere)."""
    dom = ET.fromstring(xml)
    cpu = dom.find("cpu")
    if cpu is None or cpu.find("model") is None:
        return None
    os_type = dom.find("os/type")
    return CpuWanted(
        ET.tostring(cpu, encoding="unicode"),
        dom.get("type"),
        os_type.get("arch") if os_type is not None else None,
        os_type.get("machine") if os_type is not None else None,
        dom.findtext("devices/emulator"),
    )


async def cpu_verdict(host: Host, cpu: CpuWanted | None) -> str:
    """ "compatible", "incompatible" or "unknown" (the driver cannot compare) for running
    a CPU like `cpu` on `host`; a guest with no model is compatible."""
    if cpu is None:
        return "compatible"
    try:
        answer = await host.run(
            lambda conn: conn.compareHypervisorCPU(
                cpu.emulator, cpu.arch or "x86_64", cpu.machine, cpu.virt_type, cpu.xml, 0
            ),
            what=f"compare CPU on {host.name}",
        )
    except HostError:
        return "unknown"
    return _CPU_WORDS.get(answer, "unknown")


async def advise(
    fleet: Fleet,
    memory: int,
    vcpus: int,
    *,
    cpu: CpuWanted | None = None,
    exclude: Sequence[str] = (),
    anti: frozenset[str] = frozenset(),
) -> list[HostFit]:
    """Every connected, writable host but `exclude`, ranked for a guest of this size (in
    the `anti` group)."""
    hosts = [h for h in fleet.hosts if h.name not in exclude and not h.readonly]
    rooms = [(h, r) for h in hosts if (r := room(h)) is not None]
    verdicts = await asyncio.gather(*(cpu_verdict(h, cpu) for h, _ in rooms))
    return rank(
        HostFit(r, memory, vcpus, verdict, anti)
        for (_, r), verdict in zip(rooms, verdicts, strict=True)
    )


async def advise_for(fleet: Fleet, guest: GuestSnapshot) -> list[HostFit]:
    """The other hosts ranked for an existing guest (the migrate dialog, evacuation)."""
    xml = await fleet.host(guest.host).domain_xml(guest.uuid)
    return await advise(
        fleet,
        guest.memory_kib * 1024,
        guest.vcpus,
        cpu=guest_cpu(xml),
        exclude=[guest.host],
        anti=anti_of(guest.tags),
    )


# ---- evacuation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    guest: GuestSnapshot
    dest: str | None
    why: str  # the chosen host's figures, or why no host can take it


@dataclass(frozen=True)
class Evacuation:
    source: str
    moves: tuple[Move, ...]

    @property
    def placed(self) -> list[Move]:
        return [m for m in self.moves if m.dest is not None]

    def describe(self, separator: str = "\n") -> str:
        """One line per guest for the confirmation (or one line, `; ` apart, for an error)."""
        return separator.join(
            f"{m.guest.name} -> {m.dest}  ({m.why})" if m.dest else f"{m.guest.name} stays: {m.why}"
            for m in self.moves
        )


async def plan_evacuation(fleet: Fleet, source: str) -> Evacuation:
    """Live migrations of every running guest of `source`, each to the best host left
    once the guests placed before it are counted (largest memory first, as bin packing
    does), no two of one `anti=` group on one host. A guest no host can take stays, and
    the plan says why."""
    host = fleet.host(source)
    guests = sorted(
        (g for g in host.guests() if g.state.is_active), key=lambda g: (-g.memory_kib, g.name)
    )
    others = [h for h in fleet.hosts if h.name != source and not h.readonly]
    rooms = {h.name: r for h in others if (r := room(h)) is not None}
    if not rooms:
        raise HostError(f"evacuate {source}: no other connected, writable host to move to")
    xmls = await asyncio.gather(*(host.domain_xml(g.uuid) for g in guests))
    moves = []
    for guest, xml in zip(guests, xmls, strict=True):
        cpu = guest_cpu(xml)
        verdicts = await asyncio.gather(*(cpu_verdict(fleet.host(name), cpu) for name in rooms))
        anti = anti_of(guest.tags)
        ranked = rank(
            HostFit(r, guest.memory_kib * 1024, guest.vcpus, v, anti)
            for r, v in zip(rooms.values(), verdicts, strict=True)
        )
        best = ranked[0]
        if not best.fits:
            moves.append(
                Move(guest, None, f"no host can take it (best: {best.host}, {best.problem})")
            )
            continue
        moves.append(Move(guest, best.host, best.summary()))
        rooms[best.host] = best.room.taking(best.memory, best.vcpus, anti)
    return Evacuation(source, tuple(moves))
