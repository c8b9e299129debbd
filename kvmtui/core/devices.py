"""A guest's devices as its XML defines them, and what differs between now and next start.

libvirt keeps two definitions of a running persistent guest: the live one it runs, and the
persistent (inactive) one it will start from next time. A change made with `--config`, or a
`virsh edit` of a running guest, lands only in the second, so an operator needs to see
which settings "take effect after a restart": memory, vCPUs, disks, NICs and boot order are
compared here. Parsing is pure; sizes come from the storage volumes when libvirt can read
them (a path outside every pool has none).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, replace

import libvirt

from kvmtui.core.domain_xml import Sizes, sizes
from kvmtui.core.host import Host
from kvmtui.core.numbers import size_kib


@dataclass(frozen=True)
class Disk:
    target: str  # the guest's name for it: vda, sda...
    bus: str  # virtio, sata, scsi, ide...
    device: str  # disk, cdrom, floppy, lun
    kind: str  # where the data is: file, block, volume, network
    source: str  # a path, "pool/volume", "protocol:name"; "" when empty (an ejected CD)
    format: str  # the image format the driver reads: qcow2, raw...
    readonly: bool
    boot_order: int | None = None
    capacity: int | None = None  # bytes, when its storage volume is readable
    allocation: int | None = None  # bytes on the host, same condition

    def describe(self) -> str:
        """One phrase for a diff line: what it is and where its data lives."""
        flags = ", read-only" if self.readonly else ""
        return f"{self.source or 'empty'} ({self.bus} {self.device}{flags})"


@dataclass(frozen=True)
class Nic:
    mac: str
    kind: str  # network, bridge, direct, user...
    source: str  # the network, bridge or host device it is plugged into
    model: str  # virtio, e1000...
    target: str  # the host-side device (vnet0) of a running guest
    boot_order: int | None = None

    def describe(self) -> str:
        plugged = " ".join(part for part in (self.kind, self.source) if part)
        return f"{plugged} ({self.model or 'default model'})"


@dataclass(frozen=True)
class Definition(Sizes):
    """What one domain XML says about the guest's hardware."""

    disks: tuple[Disk, ...]
    nics: tuple[Nic, ...]
    boot_devices: tuple[str, ...]  # <os><boot dev=.../>: hd, cdrom, network, fd

    @property
    def boot_order(self) -> tuple[str, ...]:
        """What the guest boots from, in order: per-device `<boot order>` when any device
        has one (disks by target, NICs by MAC), else the `<os>` boot list."""
        ordered = sorted(
            [(d.boot_order, d.target) for d in self.disks if d.boot_order]
            + [(n.boot_order, n.mac) for n in self.nics if n.boot_order]
        )
        return tuple(label for _order, label in ordered) or self.boot_devices


@dataclass(frozen=True)
class Difference:
    """A setting whose persistent value (next start) is not the live one; "" means absent."""

    setting: str
    live: str
    persistent: str


@dataclass(frozen=True)
class GuestDevices:
    host: str
    uuid: str
    guest: str
    active: bool
    live: Definition  # for a shut-off guest, the definition it will start with
    persistent: Definition | None  # only for a running persistent guest
    differences: tuple[Difference, ...]


# ---- parsing (pure) --------------------------------------------------------------------


def _boot_order(element: ET.Element) -> int | None:
    boot = element.find("boot")
    if boot is None:
        return None
    return int(boot.get("order", "0")) or None


def _disk_source(disk: ET.Element) -> tuple[str, str | None, str | None]:
    """(what to show, pool, volume) of a disk's <source>."""
    source = disk.find("source")
    if source is None:
        return "", None, None
    pool, volume = source.get("pool"), source.get("volume")
    if pool and volume:
        return f"{pool}/{volume}", pool, volume
    if source.get("protocol"):
        return f"{source.get('protocol')}:{source.get('name', '')}", None, None
    return source.get("file") or source.get("dev") or source.get("dir") or "", None, None


def _disk(disk: ET.Element) -> Disk:
    target = disk.find("target")
    shown, _pool, _volume = _disk_source(disk)
    driver = disk.find("driver")
    return Disk(
        target=target.get("dev", "") if target is not None else "",
        bus=target.get("bus", "") if target is not None else "",
        device=disk.get("device", "disk"),
        kind=disk.get("type", ""),
        source=shown,
        format=driver.get("type", "") if driver is not None else "",
        readonly=disk.find("readonly") is not None,
        boot_order=_boot_order(disk),
    )


def _nic(nic: ET.Element) -> Nic:
    kind = nic.get("type", "")
    source = nic.find("source")
    attribute = {"network": "network", "bridge": "bridge"}.get(kind, "dev")
    mac, model, target = nic.find("mac"), nic.find("model"), nic.find("target")
    return Nic(
        mac=(mac.get("address", "") if mac is not None else "").lower(),
        kind=kind,
        source=source.get(attribute, "") if source is not None else "",
        model=model.get("type", "") if model is not None else "",
        target=target.get("dev", "") if target is not None else "",
        boot_order=_boot_order(nic),
    )


def parse_definition(xml: str) -> Definition:
    """A Definition from `virDomainGetXMLDesc` output (live or inactive)."""
    return _definition(ET.fromstring(xml))


def _definition(root: ET.Element) -> Definition:
    size = sizes(root)
    return Definition(
        size.memory_kib,
        size.current_memory_kib,
        size.vcpus_max,
        size.vcpus,
        disks=tuple(_disk(d) for d in root.findall("devices/disk")),
        nics=tuple(_nic(n) for n in root.findall("devices/interface")),
        boot_devices=tuple(b.get("dev", "") for b in root.findall("os/boot")),
    )


def _keyed_differences(
    kind: str, live: dict[str, str], persistent: dict[str, str]
) -> list[Difference]:
    """Devices matched by key (a disk's target, a NIC's MAC): added, removed or changed."""
    return [
        Difference(f"{kind} {key}", live.get(key, ""), persistent.get(key, ""))
        for key in [*live, *(k for k in persistent if k not in live)]
        if live.get(key) != persistent.get(key)
    ]


def differences(live: Definition, persistent: Definition) -> tuple[Difference, ...]:
    """The settings that will change at the guest's next start, in a fixed order."""
    scalar: list[tuple[str, Callable[[Definition], str]]] = [
        ("memory (maximum)", lambda d: size_kib(d.memory_kib)),
        ("memory", lambda d: size_kib(d.current_memory_kib)),
        ("vCPUs (maximum)", lambda d: str(d.vcpus_max)),
        ("vCPUs", lambda d: str(d.vcpus)),
        ("boot order", lambda d: ", ".join(d.boot_order)),
    ]
    found = [
        Difference(name, value(live), value(persistent))
        for name, value in scalar
        if value(live) != value(persistent)
    ]
    found += _keyed_differences(
        "disk",
        {d.target: d.describe() for d in live.disks},
        {d.target: d.describe() for d in persistent.disks},
    )
    found += _keyed_differences(
        "NIC",
        {n.mac: n.describe() for n in live.nics},
        {n.mac: n.describe() for n in persistent.nics},
    )
    return tuple(found)


# ---- blocking reads (run on the host's threads) ----------------------------------------


def _volume_info(conn: libvirt.virConnect, disk: ET.Element) -> tuple[int, int] | None:
    """(capacity, allocation) in bytes of the storage volume behind a disk, if libvirt knows
    one: a pool's volume, or a path inside some pool."""
    shown, pool, volume = _disk_source(disk)
    try:
        if pool and volume:
            found = conn.storagePoolLookupByName(pool).storageVolLookupByName(volume)
        elif disk.get("type") in ("file", "block") and shown:
            found = conn.storageVolLookupByPath(shown)
        else:
            return None
        _type, capacity, allocation = found.info()
    except libvirt.libvirtError:
        return None  # not in any pool, or the pool is inactive: the size stays unknown
    return int(capacity), int(allocation)


def _with_sizes(conn: libvirt.virConnect, xml: str) -> Definition:
    root = ET.fromstring(xml)
    definition, elements = _definition(root), root.findall("devices/disk")
    disks: list[Disk] = []
    for disk, element in zip(definition.disks, elements, strict=True):
        info = _volume_info(conn, element)
        disks.append(replace(disk, capacity=info[0], allocation=info[1]) if info else disk)
    return replace(definition, disks=tuple(disks))


def _read(dom: libvirt.virDomain, host: str) -> GuestDevices:
    conn = dom.connect()
    active = bool(dom.isActive())
    live = _with_sizes(conn, dom.XMLDesc(0))
    persistent = None
    if active and dom.isPersistent():
        persistent = _with_sizes(conn, dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return GuestDevices(
        host,
        dom.UUIDString(),
        dom.name(),
        active,
        live,
        persistent,
        differences(live, persistent) if persistent else (),
    )


async def guest_devices(host: Host, uuid: str) -> GuestDevices:
    """A guest's disks, NICs and boot order, and what differs at its next start."""
    name = host.name
    return await host.run_on_guest(uuid, lambda dom: _read(dom, name), "devices")
