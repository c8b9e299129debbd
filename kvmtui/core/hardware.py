"""Hardware changes with virsh's names: vCPUs, memory, disks, NICs, CD-ROM media, boot order.

Each change is checked against the definition it will change before libvirt is asked, so
bad input (more vCPUs than the maximum, a disk that is no volume, an unknown target) is one
line naming what is wrong and nothing changes. Where libvirt distinguishes them a change is
live, persistent (`--config`) or both; neither means virsh's "current": live on a running
guest, persistent on a shut-off one. Device XML is built with ElementTree, so a path or
name with quotes or `<` cannot break out of its attribute.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

import libvirt

from kvmtui.core.devices import parse_definition
from kvmtui.core.host import Host
from kvmtui.core.numbers import plural, size_kib
from kvmtui.core.placement import pin_flags
from kvmtui.core.uri import quoted

_MAC_RE = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
#: The NIC kinds `attach-interface` plugs in, and the attribute of <source> that names where.
NIC_KINDS = {"network": "network", "bridge": "bridge"}


@dataclass(frozen=True)
class Where:
    """Which definitions a change goes to, as virsh's --live/--config (neither: current)."""

    live: bool = False
    config: bool = False

    def resolve(self, active: bool) -> tuple[bool, bool]:
        """(live, config) for a guest that is running (`active`) or not."""
        if not self.live and not self.config:
            return active, not active
        return self.live, self.config


def _words(live: bool, config: bool, active: bool) -> str:
    """How a report says where a change went; a persistent-only change to a running guest
    waits for its next start."""
    if live and config:
        return "live and persistent"
    if live:
        return "live"
    return "persistent, takes effect after a restart" if active else "persistent"


def _attr(element: ET.Element, path: str, name: str) -> str:
    """An attribute of a child element, "" when either is missing."""
    found = element.find(path)
    return found.get(name, "") if found is not None else ""


async def _change(
    host: Host,
    uuid: str,
    verb: str,
    where: Where,
    apply: Callable[[libvirt.virDomain, str, int], str],
) -> str:
    """Runs `apply(domain, xml, flags)` on the host's threads and returns the report.

    `xml` is the definition the change is checked against: the persistent one when the
    change goes there (the one a restart keeps), the running one for a live-only change.
    `apply` raises ValueError for bad input before it changes anything, and returns what
    it did.
    """

    def change(dom: libvirt.virDomain) -> str:
        active = bool(dom.isActive())
        live, config = where.resolve(active)
        flags = pin_flags(live, config, active)
        xml = dom.XMLDesc(0 if live and not config else libvirt.VIR_DOMAIN_XML_INACTIVE)
        done = apply(dom, xml, flags)
        return f"{dom.name()} on {host.name}: {done} ({_words(live, config, active)})"

    report = await host.run_on_guest(uuid, change, verb)
    host.poller.describe_later(uuid)
    return report


# ---- vCPUs and memory --------------------------------------------------------------------


async def set_vcpus(
    host: Host, uuid: str, count: int, where: Where, *, maximum: bool = False
) -> str:
    """`setvcpus NAME COUNT [--maximum]`: the vCPUs it has, or (persistent) how many it may."""
    if count < 1:
        raise ValueError("a guest needs at least 1 vCPU")

    def apply(dom: libvirt.virDomain, xml: str, flags: int) -> str:
        definition = parse_definition(xml)
        if maximum:
            if flags & libvirt.VIR_DOMAIN_AFFECT_LIVE:
                raise ValueError("--maximum changes the persistent definition only: add --config")
            dom.setVcpusFlags(
                count, libvirt.VIR_DOMAIN_AFFECT_CONFIG | libvirt.VIR_DOMAIN_VCPU_MAXIMUM
            )
            return f"at most {plural(count, 'vCPU')}"
        if count > definition.vcpus_max:
            raise ValueError(
                f"{plural(count, 'vCPU')} is more than its maximum of "
                f"{definition.vcpus_max} (raise it with --maximum --config)"
            )
        dom.setVcpusFlags(count, flags)
        return plural(count, "vCPU")

    return await _change(host, uuid, "setvcpus", where, apply)


async def set_memory(
    host: Host, uuid: str, kib: int, where: Where, *, maximum: bool = False
) -> str:
    """`setmem` (the balloon's target) or `setmaxmem` (the most it may have), in KiB."""
    verb = "setmaxmem" if maximum else "setmem"
    if kib < 1024:
        raise ValueError(f"{size_kib(kib)} is too little memory for a guest")

    def apply(dom: libvirt.virDomain, xml: str, flags: int) -> str:
        definition = parse_definition(xml)
        if maximum:
            dom.setMemoryFlags(kib, flags | libvirt.VIR_DOMAIN_MEM_MAXIMUM)
            return f"memory maximum {size_kib(kib)}"
        if kib > definition.memory_kib:
            raise ValueError(
                f"{size_kib(kib)} is more than its maximum of "
                f"{size_kib(definition.memory_kib)} (raise it with "
                "setmaxmem first)"
            )
        dom.setMemoryFlags(kib, flags)
        return f"memory {size_kib(kib)}"

    return await _change(host, uuid, verb, where, apply)


# ---- disks and media ---------------------------------------------------------------------


def _volume(conn: libvirt.virConnect, source: str) -> libvirt.virStorageVol:
    """The storage volume `source` names: a path, or `pool/volume`. A path libvirt does not
    know yet (a file copied in behind its back) is found after one refresh of the pools."""
    pool, _, name = source.partition("/")
    if pool and name and "/" not in name:
        try:
            return conn.storagePoolLookupByName(pool).storageVolLookupByName(name)
        except libvirt.libvirtError:
            pass  # maybe a relative path after all: looked up as one below
    for refreshed in (False, True):
        try:
            return conn.storageVolLookupByPath(source)
        except libvirt.libvirtError:
            if not refreshed:
                _refresh_pools(conn)
    raise ValueError(
        f"no storage volume {quoted(source)} on this host (the file does "
        "not exist, or lies outside every storage pool)"
    )


def _refresh_pools(conn: libvirt.virConnect) -> None:
    for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        try:
            pool.refresh(0)
        except libvirt.libvirtError:
            continue  # a pool that cannot refresh now hides no new volume from the others


def _volume_format(volume: libvirt.virStorageVol) -> str:
    found = ET.fromstring(volume.XMLDesc(0)).find("target/format")
    return found.get("type", "raw") if found is not None else "raw"


def _disk_element(xml: str, target: str) -> ET.Element:
    """The <disk> whose target is `target`, or ValueError listing the targets it has."""
    disks = ET.fromstring(xml).findall("devices/disk")
    for disk in disks:
        if _attr(disk, "target", "dev") == target:
            return disk
    targets = ", ".join(_attr(d, "target", "dev") for d in disks) or "none"
    raise ValueError(f"no disk {quoted(target)} (it has {targets})")


def _xml(element: ET.Element) -> str:
    return ET.tostring(element, encoding="unicode")


async def attach_disk(
    host: Host,
    uuid: str,
    source: str,
    target: str,
    where: Where,
    *,
    driver: str = "qemu",
    subdriver: str | None = None,
    cdrom: bool = False,
    bus: str | None = None,
) -> str:
    """`attach-disk NAME SOURCE TARGET`: a storage volume (by path or `pool/volume`) as a
    disk or CD-ROM; its format is the volume's unless `subdriver` says otherwise."""

    def apply(dom: libvirt.virDomain, xml: str, flags: int) -> str:
        if any(d.target == target for d in parse_definition(xml).disks):
            raise ValueError(f"it already has a disk {quoted(target)}")
        volume = _volume(dom.connect(), source)
        path = volume.path()
        disk = ET.Element("disk", type="file", device="cdrom" if cdrom else "disk")
        ET.SubElement(disk, "driver", name=driver, type=subdriver or _volume_format(volume))
        ET.SubElement(disk, "source", file=path)
        ET.SubElement(disk, "target", {"dev": target, **({"bus": bus} if bus else {})})
        if cdrom:
            ET.SubElement(disk, "readonly")
        dom.attachDeviceFlags(_xml(disk), flags)
        return f"{'CD-ROM' if cdrom else 'disk'} {target} attached ({path})"

    return await _change(host, uuid, "attach-disk", where, apply)


async def detach_disk(host: Host, uuid: str, target: str, where: Where) -> str:
    """`detach-disk NAME TARGET`: the disk leaves the guest; its storage stays."""

    def apply(dom: libvirt.virDomain, xml: str, flags: int) -> str:
        dom.detachDeviceFlags(_xml(_disk_element(xml, target)), flags)
        return f"disk {target} detached"

    return await _change(host, uuid, "detach-disk", where, apply)


async def change_media(
    host: Host,
    uuid: str,
    target: str,
    source: str | None,
    where: Where,
    *,
    mode: str = "",
    force: bool = False,
) -> str:
    """`change-media NAME TARGET [SOURCE] [--eject|--insert|--update]`: a CD-ROM's or
    floppy's medium. No mode: a SOURCE is inserted (replacing any), none ejects."""
    mode = mode or ("update" if source else "eject")
    if mode != "eject" and not source:
        raise ValueError(f"--{mode} needs a SOURCE")

    def apply(dom: libvirt.virDomain, xml: str, flags: int) -> str:
        disk = _disk_element(xml, target)
        if disk.get("device") not in ("cdrom", "floppy"):
            raise ValueError(
                f"{target} is a {disk.get('device', 'disk')}, not a CD-ROM "
                "or floppy: use attach-disk/detach-disk"
            )
        present = disk.find("source")
        if mode == "eject" and present is None:
            raise ValueError(f"there is no medium in {target}")
        if mode == "insert" and present is not None:
            raise ValueError(
                f"there is a medium in {target} already: eject it first, or use --update"
            )
        if present is not None:
            disk.remove(present)
        done = f"medium ejected from {target}"
        if mode != "eject":
            assert source is not None  # checked above, before the call
            path = _volume(dom.connect(), source).path()
            disk.set("type", "file")
            ET.SubElement(disk, "source", file=path)
            done = f"{path} inserted in {target}"
        dom.updateDeviceFlags(
            _xml(disk), flags | (libvirt.VIR_DOMAIN_DEVICE_MODIFY_FORCE if force else 0)
        )
        return done

    return await _change(host, uuid, "change-media", where, apply)


# ---- network interfaces ------------------------------------------------------------------


def _check_mac(mac: str) -> str:
    if not _MAC_RE.fullmatch(mac.lower()):
        raise ValueError(f"{quoted(mac)} is not a MAC address (say e.g. 52:54:00:12:34:56)")
    return mac.lower()


async def attach_interface(
    host: Host,
    uuid: str,
    kind: str,
    source: str,
    where: Where,
    *,
    model: str | None = None,
    mac: str | None = None,
) -> str:
    """`attach-interface NAME TYPE SOURCE`: a NIC on a libvirt network or a host bridge."""
    if kind not in NIC_KINDS:
        raise ValueError(f"type must be {' or '.join(NIC_KINDS)}, not {quoted(kind)}")
    address = _check_mac(mac) if mac else None

    def apply(dom: libvirt.virDomain, xml: str, flags: int) -> str:
        if address and any(n.mac == address for n in parse_definition(xml).nics):
            raise ValueError(f"it already has a NIC with MAC {address}")
        if kind == "network":
            try:
                dom.connect().networkLookupByName(source)
            except libvirt.libvirtError:
                raise ValueError(f"no network {quoted(source)} on this host") from None
        nic = ET.Element("interface", type=kind)
        ET.SubElement(nic, "source", {NIC_KINDS[kind]: source})
        if address:
            ET.SubElement(nic, "mac", address=address)
        if model:
            ET.SubElement(nic, "model", type=model)
        dom.attachDeviceFlags(_xml(nic), flags)
        return f"NIC on {kind} {source} attached"

    return await _change(host, uuid, "attach-interface", where, apply)


async def detach_interface(
    host: Host, uuid: str, kind: str, where: Where, *, mac: str | None = None
) -> str:
    """`detach-interface NAME TYPE [--mac MAC]`: the NIC of that type (the one with that MAC
    when it has several)."""
    address = _check_mac(mac) if mac else None

    def apply(dom: libvirt.virDomain, xml: str, flags: int) -> str:
        nics = [
            n
            for n in ET.fromstring(xml).findall("devices/interface")
            if n.get("type") == kind and address in (None, _attr(n, "mac", "address").lower())
        ]
        if not nics:
            raise ValueError(f"no {kind} interface" + (f" with MAC {address}" if address else ""))
        macs = [_attr(n, "mac", "address").lower() for n in nics]
        if len(nics) > 1:
            raise ValueError(
                f"it has {len(nics)} {kind} interfaces ({', '.join(macs)}): say which with --mac"
            )
        dom.detachDeviceFlags(_xml(nics[0]), flags)
        return f"{kind} interface {macs[0]} detached"

    return await _change(host, uuid, "detach-interface", where, apply)


# ---- boot order --------------------------------------------------------------------------


def _boot_device(root: ET.Element, token: str) -> ET.Element:
    """The device a boot-order word names: a disk target (vda), a NIC's MAC, or netN (the
    Nth NIC, from 0, as the devices tab lists them)."""
    disks = root.findall("devices/disk")
    nics = root.findall("devices/interface")
    for disk in disks:
        if _attr(disk, "target", "dev") == token:
            return disk
    for number, nic in enumerate(nics):
        if token.lower() in (_attr(nic, "mac", "address").lower(), f"net{number}"):
            return nic
    names = [_attr(d, "target", "dev") for d in disks]
    names += [f"net{n}" for n in range(len(nics))]
    raise ValueError(f"no device {quoted(token)} to boot from (it has {', '.join(names)})")


async def set_boot_order(host: Host, uuid: str, devices: list[str]) -> str:
    """`boot-order NAME vda,net0`: the devices it boots from, in order, as per-device
    `<boot order>` in its persistent definition (the order a guest boots from is read at
    start, so this always waits for the next one)."""
    if not devices or not all(devices):
        raise ValueError("say which devices, e.g. vda,net0")
    if len(set(devices)) != len(devices):
        raise ValueError("a device is named twice")

    def apply(dom: libvirt.virDomain) -> str:
        root = ET.fromstring(
            dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
        )
        chosen = [_boot_device(root, token) for token in devices]
        for parent in [*root.findall("os"), *root.findall("devices/*")]:
            for boot in parent.findall("boot"):
                parent.remove(boot)  # one order only: per device, or the <os> list
        for order, device in enumerate(chosen, start=1):
            ET.SubElement(device, "boot", order=str(order))
        dom.connect().defineXMLFlags(_xml(root), libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        later = ", takes effect after a restart" if dom.isActive() else ""
        return f"{dom.name()} on {host.name}: boots from {', '.join(devices)} (persistent{later})"

    report = await host.run_on_guest(uuid, apply, "boot-order")
    host.poller.describe_later(uuid)
    return report
