"""What a host can do for its guests, and above all whether they run accelerated (KVM) or
emulated (QEMU's TCG, many times slower).

Read over libvirt alone, so it works for every host at once from a jump box:
`getCapabilities` (host CPU, arch, NUMA cells, hugepage pools, IOMMU, the domain types each
guest arch offers), `getDomainCapabilities` (the emulator, the host-model CPU guests get,
device assignment) and node figures (free memory per cell, free hugepages, versions).

KVM is usable exactly when libvirt offers a `kvm` domain type for the host's arch: libvirt
probes `/dev/kvm` for that, so it covers the module not loaded, the device missing and no
access to it. Whether guests may nest virtualisation (`kvm_*.nested`) is not readable over
libvirt; what libvirt does show is whether the host CPU and the host-model CPU it hands to
guests carry the `vmx`/`svm` flag, and that is what is reported.

`checks` turns capabilities into the findings of `:validate`, virt-host-validate's idea
over libvirt: what stops a guest on this host from running accelerated.
"""

from __future__ import annotations

import asyncio
import contextlib
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING

import libvirt

from kvmtui.core.errors import HostError, describe
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.numbers import plural, size_kib

if TYPE_CHECKING:  # the host module reads guests' types from here: no cycle at run time
    from kvmtui.core.host import Host

#: The CPU flags of hardware virtualisation: Intel VT-x, AMD-V.
VIRT_FLAGS = ("vmx", "svm")
#: The domain type of an emulated guest: QEMU's TCG.
EMULATED = "qemu"


@dataclass(frozen=True)
class NumaCell:
    id: int
    cpus: int
    memory_kib: int
    free_kib: int | None
    #: (page size KiB, pages in the pool, pages free or None) for each huge page size.
    hugepages: tuple[tuple[int, int, int | None], ...] = ()


@dataclass(frozen=True)
class HostCaps:
    """One host's capabilities as `:caps` shows them; `error` set when they could not be
    read (the host is down), then nothing else is known."""

    host: str
    error: str = ""
    arch: str = ""
    cpu_model: str = ""
    vendor: str = ""
    #: "vmx" or "svm" when the host CPU libvirt reports carries it, else "".
    virt_flag: str = ""
    #: The domain types libvirt offers for the host's arch ("qemu", "kvm", "test" ...).
    domain_types: tuple[str, ...] = ()
    #: vmx/svm in the host-model CPU guests get (None: domain capabilities not readable).
    nested_flag: bool | None = None
    cells: tuple[NumaCell, ...] = ()
    #: "yes"/"no" from the capabilities' <iommu support>, "" when not reported.
    iommu: str = ""
    #: "yes"/"no" from the domain capabilities' <hostdev supported>, "" when not reported.
    hostdev: str = ""
    emulator: str = ""
    machine: str = ""
    hypervisor: str = ""
    hypervisor_version: str = ""
    libvirt_version: str = ""

    @property
    def kvm(self) -> bool:
        """Whether guests here can run accelerated: libvirt offers the `kvm` domain type."""
        return "kvm" in self.domain_types

    @property
    def nested(self) -> str:
        """What libvirt shows about nested virtualisation, in words."""
        flag = self.virt_flag or "vmx/svm"
        if self.nested_flag is None:
            return f"unknown (no domain capabilities); host CPU {_has(self.virt_flag, flag)}"
        if self.nested_flag:
            return f"possible: the host-model CPU guests get carries {flag}"
        return f"no: the host-model CPU guests get lacks {flag}"


def _has(flag: str, name: str) -> str:
    return f"has {flag}" if flag else f"shows no {name}"


def version_text(number: int) -> str:
    """A version as libvirt reports it (major * 1,000,000 + minor * 1,000 + release), as
    virsh shows it: 9000000 is "9.0.0"."""
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def kvm_offered(capabilities: ET.Element) -> bool:
    """Whether the capabilities offer a `kvm` domain type for the host's own arch."""
    return "kvm" in _domain_types(capabilities)


def _domain_types(caps: ET.Element) -> tuple[str, ...]:
    arch = caps.findtext("host/cpu/arch") or ""
    found: list[str] = []
    for guest in caps.findall("guest"):
        for guest_arch in guest.findall("arch"):
            if guest_arch.get("name") != arch:
                continue
            for domain in guest_arch.findall("domain"):
                kind = domain.get("type") or ""
                if kind and kind not in found:
                    found.append(kind)
    return tuple(found)


def _cells(
    caps: ET.Element, free: Sequence[int], free_pages: dict[int, dict[int, int]]
) -> tuple[NumaCell, ...]:
    base_page = min((int(p.get("size") or 0) for p in caps.findall("host/cpu/pages")), default=4)
    cells = []
    for index, cell in enumerate(caps.findall("host/topology/cells/cell")):
        number = int(cell.get("id") or index)
        memory = cell.find("memory")
        cpus = cell.find("cpus")
        huge = tuple(
            (size, int(page.text or 0), free_pages.get(number, {}).get(size))
            for page in cell.findall("pages")
            if (size := int(page.get("size") or 0)) > base_page
        )
        cells.append(
            NumaCell(
                id=number,
                cpus=int(cpus.get("num") or 0) if cpus is not None else 0,
                memory_kib=int(memory.text or 0) if memory is not None else 0,
                free_kib=free[index] // 1024 if index < len(free) else None,
                hugepages=huge,
            )
        )
    return tuple(cells)


def parse(
    host: str,
    caps_xml: str,
    domcaps_xml: str = "",
    free: Sequence[int] = (),
    free_pages: dict[int, dict[int, int]] | None = None,
) -> HostCaps:
    """Capabilities from libvirt's XML and node figures (`free`: bytes free per cell)."""
    caps = ET.fromstring(caps_xml)
    features = {f.get("name") for f in caps.findall("host/cpu/feature")}
    flag = next((f for f in VIRT_FLAGS if f in features), "")
    iommu = caps.find("host/iommu")
    result = HostCaps(
        host=host,
        arch=caps.findtext("host/cpu/arch") or "",
        cpu_model=caps.findtext("host/cpu/model") or "",
        vendor=caps.findtext("host/cpu/vendor") or "",
        virt_flag=flag,
        domain_types=_domain_types(caps),
        cells=_cells(caps, free, free_pages or {}),
        iommu=(iommu.get("support") or "") if iommu is not None else "",
    )
    if not domcaps_xml:
        return result
    dom = ET.fromstring(domcaps_xml)
    model = dom.find("cpu/mode[@name='host-model']")
    nested = None
    if model is not None and model.get("supported") == "yes":
        nested = any(
            f.get("name") in VIRT_FLAGS and f.get("policy") != "disable"
            for f in model.findall("feature")
        )
    hostdev = dom.find("devices/hostdev")
    return replace(
        result,
        nested_flag=nested,
        hostdev=(hostdev.get("supported") or "") if hostdev is not None else "",
        emulator=dom.findtext("path") or "",
        machine=dom.findtext("machine") or "",
    )


def _read_blocking(name: str, conn: libvirt.virConnect) -> HostCaps:
    caps_xml = conn.getCapabilities()
    root = ET.fromstring(caps_xml)
    types = _domain_types(root)
    cell_count = len(root.findall("host/topology/cells/cell"))
    free: list[int] = []
    free_pages: dict[int, dict[int, int]] = {}
    with contextlib.suppress(libvirt.libvirtError):
        free = list(conn.getCellsFreeMemory(0, max(cell_count, 1)))
    sizes = sorted({int(p.get("size") or 0) for p in root.findall("host/cpu/pages")})[1:]
    if sizes and cell_count:
        with contextlib.suppress(libvirt.libvirtError):
            pages = conn.getFreePages(sizes, 0, cell_count)
            free_pages = {
                int(cell): {int(k): int(v) for k, v in counts.items()}
                for cell, counts in pages.items()
            }
    domcaps = ""
    with contextlib.suppress(libvirt.libvirtError):
        virttype = "kvm" if "kvm" in types else None
        domcaps = conn.getDomainCapabilities(
            None, root.findtext("host/cpu/arch"), None, virttype, 0
        )
    return replace(
        parse(name, caps_xml, domcaps, free, free_pages),
        hypervisor=conn.getType(),
        hypervisor_version=version_text(conn.getVersion()),
        libvirt_version=version_text(conn.getLibVersion()),
    )


async def read_caps(host: Host) -> HostCaps:
    """One host's capabilities; a host that cannot answer gives `error`, not an exception,
    so a fleet-wide read shows every host."""
    try:
        return await host.run(
            lambda conn: _read_blocking(host.name, conn), what=f"capabilities of {host.name}"
        )
    except HostError as error:
        return HostCaps(host=host.name, error=describe(error))


async def read_all(hosts: Sequence[Host]) -> list[HostCaps]:
    """Every host's capabilities, read at once."""
    return list(await asyncio.gather(*(read_caps(host) for host in hosts)))


def _cell(cell: NumaCell) -> str:
    free = f", {size_kib(cell.free_kib)} free" if cell.free_kib is not None else ""
    return f"{plural(cell.cpus, 'CPU')}, {size_kib(cell.memory_kib)}{free}"


def _hugepages(caps: HostCaps) -> str:
    pools = []
    for cell in caps.cells:
        for size, count, free in cell.hugepages:
            if count:
                left = f" ({free} free)" if free is not None else ""
                pools.append(f"cell {cell.id}: {count} x {size_kib(size)}{left}")
    sizes = [
        size_kib(size)
        for size in sorted({size for cell in caps.cells for size, _, _ in cell.hugepages})
    ]
    if pools:
        return "; ".join(pools)
    return f"none reserved (sizes {', '.join(sizes)})" if sizes else "none"


def _assignment(caps: HostCaps) -> str:
    if caps.hostdev == "yes" and caps.iommu != "yes":
        return "libvirt offers it, but without an IOMMU no PCI device can be assigned"
    return caps.hostdev or "not reported"


def facts(caps: HostCaps) -> list[tuple[str, str]]:
    """What `:caps` shows of a host, as (label, value) lines: the screen and the one-shot
    command line print the same."""
    if caps.error:
        return [("Error", caps.error)]
    kvm = (
        "yes: guests can run accelerated"
        if caps.kvm
        else "NO: no kvm domain type offered, guests cannot run accelerated"
    )
    rows = [
        ("CPU", f"{caps.cpu_model or '-'} ({caps.vendor or 'unknown vendor'}, {caps.arch})"),
        ("Virt flag", caps.virt_flag or "none shown (no vmx/svm in the host CPU)"),
        ("KVM", kvm),
        ("Domain types", ", ".join(caps.domain_types) or "none"),
        ("Nested", caps.nested),
        *((f"NUMA cell {cell.id}", _cell(cell)) for cell in caps.cells),
        ("Hugepages", _hugepages(caps)),
        ("IOMMU", caps.iommu or "not reported"),
        ("Device assign.", _assignment(caps)),
    ]
    if caps.emulator:
        rows.append(("Emulator", f"{caps.emulator} ({caps.machine})"))
    rows.append(
        ("Versions", f"libvirt {caps.libvirt_version}, {caps.hypervisor} {caps.hypervisor_version}")
    )
    return rows


class Level(Enum):
    """A finding's weight, in words (virt-host-validate's)."""

    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    host: str
    what: str
    level: Level
    detail: str


def checks(caps: HostCaps, guests: Sequence[GuestSnapshot] = ()) -> list[Check]:
    """What stops a guest on this host from running accelerated, and what limits it.

    FAIL: no guest here can use KVM. WARN: guests that could use KVM but are defined as
    TCG, and what is missing for device assignment and nesting. PASS: the rest, so a
    clean host says so rather than saying nothing.
    """

    def check(what: str, level: Level, detail: str) -> Check:
        return Check(caps.host, what, level, detail)

    if caps.error:
        return [check("connection", Level.FAIL, f"not readable: {caps.error}")]
    found = [
        check(
            "connection",
            Level.PASS,
            f"libvirt {caps.libvirt_version}, {caps.hypervisor} {caps.hypervisor_version}",
        )
    ]
    offered = ", ".join(caps.domain_types) or "none"
    if caps.kvm:
        found.append(check("KVM", Level.PASS, f"kvm domain type offered ({offered})"))
    else:
        hint = (
            f"the CPU has {caps.virt_flag}, so /dev/kvm is missing or not accessible "
            "(kvm_intel/kvm_amd not loaded?)"
            if caps.virt_flag
            else "the CPU shows no vmx/svm: enable VT-x/AMD-V in the firmware, or the host "
            "is a guest without nested virtualisation"
        )
        found.append(
            check(
                "KVM",
                Level.FAIL,
                f"no kvm domain type for {caps.arch or 'the host arch'} "
                f"(offered: {offered}): guests cannot run accelerated; {hint}",
            )
        )
    flag_level = Level.PASS if caps.virt_flag or caps.kvm else Level.FAIL
    found.append(
        check(
            "CPU flag",
            flag_level,
            f"host CPU {_has(caps.virt_flag, 'vmx/svm')}"
            + (
                ""
                if caps.virt_flag or not caps.kvm
                else " (KVM works regardless: the host is itself a guest)"
            ),
        )
    )
    emulated = [g.name for g in guests if g.host == caps.host and g.virt_type == EMULATED]
    if emulated and caps.kvm:
        names = ", ".join(emulated[:6]) + (" ..." if len(emulated) > 6 else "")
        found.append(
            check(
                "TCG guests",
                Level.WARN,
                f"{len(emulated)} defined with type qemu (emulated) though KVM is usable: {names}",
            )
        )
    elif caps.kvm:
        found.append(check("TCG guests", Level.PASS, "none defined as emulated"))
    found.append(check("nested", Level.PASS if caps.nested_flag else Level.WARN, caps.nested))
    iommu_ok = caps.iommu == "yes"
    found.append(
        check(
            "IOMMU",
            Level.PASS if iommu_ok else Level.WARN,
            "enabled: PCI devices can be assigned"
            if iommu_ok
            else f"{caps.iommu or 'not reported'}: no PCI device assignment "
            "(enable intel_iommu/amd_iommu)",
        )
    )
    return found
