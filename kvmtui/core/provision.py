"""Creating a guest, virt-install style: check, plan (the XML to preview), then make it.

`plan` reads the host once and refuses what cannot work before anything exists: a name
the host already has, a path that is no volume there, a pool or network that is not there,
more memory than the host has free. The plan holds the exact XML that `provision` defines,
so what the operator confirmed is what libvirt gets. `provision` creates the volumes,
defines and (if asked) starts the guest, and on any failure removes what it made: no
orphan volume, no half-defined guest.

Disks are `type='volume'` disks naming their pool and volume, so the XML is complete
before the volume exists and a migration finds the same pool on the destination. The
serial console is always there: it is how kvmtui reaches a guest without a display.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import libvirt

from kvmtui.core import advice
from kvmtui.core.errors import HostError, describe
from kvmtui.core.host import Host
from kvmtui.core.numbers import size
from kvmtui.core.storage.upload import upload_volume
from kvmtui.core.storage.volumes import VOLUME_FORMATS, create_volume, delete_volume
from kvmtui.core.tags import metadata_element

FIRMWARES = ("bios", "uefi")
VIRT_TYPES = ("kvm", "qemu")
#: Below this no guest boots; a bare number is bytes, so `--memory 512` lands here.
MIN_MEMORY = 16 * 1024 * 1024
#: The buses a new disk may sit on (virt-install's `--disk bus=`), and the prefix of their
#: target device names.
DISK_BUSES = {"virtio": "vd", "sata": "sd", "scsi": "sd", "usb": "sd", "ide": "hd"}
MAX_VCPUS = 4096


@dataclass(frozen=True)
class CloudInit:
    """What a NoCloud seed tells a cloud image at first boot."""

    user: str
    ssh_key: str
    hostname: str


@dataclass(frozen=True)
class GuestRequest:
    """What the operator asked for, as typed (sizes in bytes). One boot source: an
    existing image (`import_path`, with `disk_size` a new qcow2 overlay on it), an install
    ISO (`cdrom`), a kernel, or PXE; `disk_size` alone adds a new blank disk, of
    `disk_format` on `disk_bus`."""

    name: str
    host: str
    vcpus: int
    memory: int
    disk_size: int | None = None
    disk_format: str = "qcow2"
    disk_bus: str = "virtio"
    import_path: str | None = None
    cdrom: str | None = None
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    pxe: bool = False
    network: str | None = None
    bridge: str | None = None
    firmware: str = "bios"
    virt_type: str | None = None
    pool: str | None = None
    cloud_init: CloudInit | None = None
    #: kvmtui's tags for it (core/tags.py), written into its definition's <metadata>.
    tags: tuple[str, ...] = ()

    @property
    def boot_source(self) -> str:
        """ "import", "cdrom", "kernel" or "pxe": what the guest boots from."""
        for kind, given in (
            ("import", self.import_path),
            ("cdrom", self.cdrom),
            ("kernel", self.kernel),
            ("pxe", self.pxe),
        ):
            if given:
                return kind
        return ""

    def problem(self) -> str:
        """The first thing wrong with the request on its own (no host asked), or ""."""
        sources = [
            k
            for k, v in (
                ("--import", self.import_path),
                ("--cdrom", self.cdrom),
                ("--kernel", self.kernel),
                ("--pxe", self.pxe),
            )
            if v
        ]
        checks = (
            (name_problem(self.name), ""),
            (not 1 <= self.vcpus <= MAX_VCPUS, f"vCPUs must be 1 to {MAX_VCPUS}"),
            (self.memory < MIN_MEMORY, "memory must be at least 16 MiB (give a unit: 512M, 2G)"),
            (not sources, "no boot source: give --import, --cdrom, --kernel or --pxe"),
            (len(sources) > 1, f"choose one boot source, not {' and '.join(sources)}"),
            (
                (self.initrd or self.cmdline) and not self.kernel,
                "--initrd and --cmdline need --kernel",
            ),
            (self.network and self.bridge, "choose --network or --bridge, not both"),
            (self.firmware not in FIRMWARES, f"firmware must be {' or '.join(FIRMWARES)}"),
            (
                self.virt_type not in (None, *VIRT_TYPES),
                f"virt type must be {' or '.join(VIRT_TYPES)}",
            ),
            (
                self.cloud_init is not None and not self.import_path,
                "cloud-init needs a cloud image: give --import IMAGE",
            ),
            (
                self.disk_format not in VOLUME_FORMATS,
                f"disk format must be {' or '.join(VOLUME_FORMATS)}",
            ),
            (self.disk_bus not in DISK_BUSES, f"disk bus must be {', '.join(DISK_BUSES)}"),
            (
                self.disk_size and self.import_path and self.disk_format != "qcow2",
                "a new disk on an image (--import) is a qcow2 overlay: leave out format=",
            ),
        )
        for failed, message in checks:
            if failed:
                return str(failed) if isinstance(failed, str) else message
        return ""

    @property
    def disk_volume(self) -> str | None:
        """The new volume's name, when the request makes a disk."""
        suffix = "qcow2" if self.disk_format == "qcow2" else "img"
        return f"{self.name}.{suffix}" if self.disk_size else None

    @property
    def seed_volume(self) -> str | None:
        return f"{self.name}-seed.iso" if self.cloud_init else None


def name_problem(name: str) -> str:
    """Why `name` cannot name a guest (libvirt and file names), or ""."""
    if not name.strip():
        return "the guest needs a name"
    if "/" in name or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "a guest name may not hold '/' or control characters"
    if len(name) > 200:
        return "a guest name may have at most 200 characters"
    return ""


@dataclass(frozen=True)
class Plan:
    """A request checked against its host, with the XML `provision` will define."""

    request: GuestRequest
    virt_type: str
    pool: str | None
    #: The existing image a new overlay disk is backed by (its path on the host).
    backing: str | None
    xml: str

    @property
    def creates(self) -> list[str]:
        """What will exist afterwards, in words, for the confirmation."""
        request = self.request
        made = [f"guest {request.name} ({self.virt_type}) on {request.host}"]
        if request.disk_volume and request.disk_size:
            made.append(f"volume {request.disk_volume} in pool {self.pool}")
        if request.seed_volume:
            made.append(f"volume {request.seed_volume} (cloud-init seed) in pool {self.pool}")
        return made


# ---- the XML ---------------------------------------------------------------------------


def domain_xml(
    request: GuestRequest, virt_type: str, pool: str | None, backing: str | None = None
) -> str:
    """The domain definition for `request`; every value is escaped by ElementTree, so a
    hostile name or path stays text. `backing`: the disk is an overlay on that image."""
    dom = ET.Element("domain", type=virt_type)
    ET.SubElement(dom, "name").text = request.name
    if request.tags:
        dom.append(metadata_element(request.tags))
    ET.SubElement(dom, "memory", unit="KiB").text = str(request.memory // 1024)
    ET.SubElement(dom, "vcpu").text = str(request.vcpus)
    os_ = (
        ET.SubElement(dom, "os", firmware="efi")
        if request.firmware == "uefi"
        else ET.SubElement(dom, "os")
    )
    ET.SubElement(os_, "type", arch="x86_64").text = "hvm"
    if request.kernel:
        for tag, value in (
            ("kernel", request.kernel),
            ("initrd", request.initrd),
            ("cmdline", request.cmdline or "console=ttyS0"),
        ):
            if value:
                ET.SubElement(os_, tag).text = value
    boots = {"cdrom": ["cdrom", "hd"], "pxe": ["network", "hd"]}.get(request.boot_source, ["hd"])
    for dev in boots:
        ET.SubElement(os_, "boot", dev=dev)
    features = ET.SubElement(dom, "features")
    ET.SubElement(features, "acpi")
    ET.SubElement(features, "apic")
    devices = ET.SubElement(dom, "devices")
    target = _targets()
    bus = request.disk_bus
    if request.disk_volume:
        _disk(
            devices,
            "disk",
            target(bus),
            bus,
            request.disk_format,
            volume=(pool, request.disk_volume),
        )
    elif request.import_path:
        _disk(devices, "disk", target(bus), bus, None, path=request.import_path)
    if request.cdrom:
        _disk(devices, "cdrom", target("sata"), "sata", "raw", path=request.cdrom)
    if request.seed_volume:
        _disk(devices, "cdrom", target("sata"), "sata", "raw", volume=(pool, request.seed_volume))
    if request.network or request.bridge or request.pxe:
        kind = "bridge" if request.bridge else "network"
        nic = ET.SubElement(devices, "interface", type=kind)
        ET.SubElement(nic, "source", {kind: request.bridge or request.network or "default"})
        ET.SubElement(nic, "model", type="virtio")
    serial = ET.SubElement(devices, "serial", type="pty")
    ET.SubElement(serial, "target", port="0")
    console = ET.SubElement(devices, "console", type="pty")
    ET.SubElement(console, "target", type="serial", port="0")
    ET.indent(dom)
    return ET.tostring(dom, encoding="unicode")


def _targets() -> Callable[[str], str]:
    """Hands out target names in order per prefix (`vda`; `sda`, `sdb` ...), so a disk
    on the SATA bus and the install ISO never share one."""
    taken: dict[str, int] = {}

    def target(bus: str) -> str:
        prefix = DISK_BUSES[bus]
        index = taken[prefix] = taken.get(prefix, -1) + 1
        return prefix + "abcdefghijklmnopqrstuvwxyz"[index]

    return target


def _disk(
    devices: ET.Element,
    device: str,
    target: str,
    bus: str,
    fmt: str | None,
    *,
    path: str | None = None,
    volume: tuple[str | None, str] | None = None,
) -> None:
    disk = ET.SubElement(devices, "disk", type="volume" if volume else "file", device=device)
    if fmt:
        ET.SubElement(disk, "driver", name="qemu", type=fmt)
    if volume is not None:
        ET.SubElement(disk, "source", pool=volume[0] or "", volume=volume[1])
    else:
        ET.SubElement(disk, "source", file=path or "")
    ET.SubElement(disk, "target", dev=target, bus=bus)
    if device == "cdrom":
        ET.SubElement(disk, "readonly")


# ---- the cloud-init seed ---------------------------------------------------------------


def user_data(seed: CloudInit) -> str:
    """#cloud-config for the seed. Strings are written as JSON, which YAML reads as is,
    so a key or a name cannot break out of its field."""
    user = {
        "name": seed.user,
        "ssh_authorized_keys": [seed.ssh_key],
        "sudo": "ALL=(ALL) NOPASSWD:ALL",
        "shell": "/bin/sh",
    }
    return (
        "#cloud-config\n"
        + json.dumps({"hostname": seed.hostname, "users": [user]}, indent=2)
        + "\n"
    )


def seed_iso(seed: CloudInit, instance_id: str) -> bytes:
    """A NoCloud seed: an ISO 9660 volume labelled `cidata` holding user-data and
    meta-data (Rock Ridge and Joliet names, as cloud-init's readers expect)."""
    meta = json.dumps({"instance-id": instance_id, "local-hostname": seed.hostname}) + "\n"
    import pycdlib  # only to make a seed image: not on every start of kvmtui

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident="cidata")
    for name, text in (("user-data", user_data(seed)), ("meta-data", meta)):
        data = text.encode()
        iso.add_fp(
            io.BytesIO(data),
            len(data),
            f"/{name.replace('-', '').upper()}.;1",
            rr_name=name,
            joliet_path=f"/{name}",
        )
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def read_ssh_key(path: Path) -> str:
    """The one public key in a local file (`~/.ssh/id_ed25519.pub`); ValueError when the
    file is missing or holds something else (a private key above all)."""
    try:
        text = path.expanduser().read_text(errors="replace").strip()
    except OSError as error:
        raise ValueError(f"cannot read SSH key {path}: {error.strerror}") from None
    if "PRIVATE KEY" in text:
        raise ValueError(f"{path} is a private key: give the .pub file")
    if len(text.splitlines()) != 1 or not text.split(" ", 1)[0].startswith(
        ("ssh-", "ecdsa-", "sk-")
    ):
        raise ValueError(f"{path} does not hold one SSH public key")
    return text


# ---- checking against the host ---------------------------------------------------------


@dataclass(frozen=True)
class _HostFacts:
    taken: bool
    virt_types: tuple[str, ...]
    pools: tuple[str, ...]
    pool_volumes: tuple[str, ...]
    missing_paths: tuple[str, ...]
    network_missing: bool


def _offered_types(caps: str) -> tuple[str, ...]:
    """The domain types the host offers for hvm guests, best first (kvm, then qemu)."""
    found = {
        d.get("type", "")
        for guest in ET.fromstring(caps).iter("guest")
        if guest.findtext("os_type") == "hvm"
        for d in guest.iter("domain")
    }
    return tuple(sorted(found, key=lambda t: (t != "kvm", t != "qemu", t)))


def _facts(conn: libvirt.virConnect, request: GuestRequest, pool: str | None) -> _HostFacts:
    try:
        conn.lookupByName(request.name)
        taken = True
    except libvirt.libvirtError:
        taken = False
    pools = tuple(
        p.name() for p in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE)
    )
    chosen = pool or _default_pool(pools)
    volumes: tuple[str, ...] = ()
    if chosen in pools:
        volumes = tuple(conn.storagePoolLookupByName(chosen).listVolumes())
    missing = []
    for path in (request.import_path, request.cdrom):
        if path:
            try:
                conn.storageVolLookupByPath(path)
            except libvirt.libvirtError:
                missing.append(path)
    network_missing = False
    if request.network:
        try:
            conn.networkLookupByName(request.network)
        except libvirt.libvirtError:
            network_missing = True
    return _HostFacts(
        taken,
        _offered_types(conn.getCapabilities()),
        pools,
        volumes,
        tuple(missing),
        network_missing,
    )


def _default_pool(pools: tuple[str, ...]) -> str | None:
    """The pool new volumes go to when none is named: "default", else the only one."""
    if "default" in pools:
        return "default"
    return pools[0] if len(pools) == 1 else None


async def plan(host: Host, request: GuestRequest) -> Plan:
    """Checks `request` against `host` and returns the plan; HostError (one line, starting
    `create NAME:`) for the first thing that stops it. Creates nothing."""
    where = f"create {request.name}"
    if problem := request.problem():
        raise HostError(f"{where}: {problem}")
    facts = await host.run(
        lambda conn: _facts(conn, request, request.pool), what=f"{where} on {host.name}"
    )
    pool = request.pool or _default_pool(facts.pools)
    needs_pool = bool(request.disk_volume or request.seed_volume)
    space = advice.room(host)
    checks = (
        (facts.taken, f"{host.name} already has a guest named {request.name}"),
        (
            request.import_path in facts.missing_paths,
            f"no volume {request.import_path} on {host.name} (images must be in a storage pool)",
        ),
        (
            request.cdrom in facts.missing_paths,
            f"no ISO {request.cdrom} on {host.name} (it must be a volume of a storage pool)",
        ),
        (facts.network_missing, f"{host.name} has no network {request.network}"),
        (
            needs_pool and request.pool and request.pool not in facts.pools,
            f"{host.name} has no active pool {request.pool}",
        ),
        (
            needs_pool and pool is None,
            f"say which pool of {host.name} gets the disk (--pool: "
            f"{', '.join(facts.pools) or 'it has none active'})",
        ),
        (
            request.virt_type and request.virt_type not in facts.virt_types,
            f"{host.name} offers no {request.virt_type} guests "
            f"(it offers {', '.join(facts.virt_types) or 'none'})",
        ),
        (
            space is not None and request.memory > space.free_memory,
            f"{size(request.memory)} is more memory than {host.name} has free "
            f"({size(max(space.free_memory, 0))})"
            if space
            else "",
        ),
    )
    for failed, message in checks:
        if failed:
            raise HostError(f"{where}: {message}")
    taken = [v for v in (request.disk_volume, request.seed_volume) if v and v in facts.pool_volumes]
    if taken:
        raise HostError(f"{where}: pool {pool} already has a volume {taken[0]}")
    virt_type = request.virt_type or (facts.virt_types[0] if facts.virt_types else "qemu")
    backing = request.import_path if request.disk_volume else None
    return Plan(
        request,
        virt_type,
        pool if needs_pool else None,
        backing,
        domain_xml(request, virt_type, pool, backing),
    )


# ---- making it -------------------------------------------------------------------------


async def provision(host: Host, plan: Plan, *, start: bool) -> tuple[str, str]:
    """Creates the volumes, defines (and starts) the guest; (uuid, the sentence that
    reports it). On failure, removes what it created and raises one HostError."""
    request = plan.request
    created: list[str] = []
    uuid = ""
    try:
        if request.disk_volume and request.disk_size and plan.pool:
            created.append(
                await create_volume(
                    host,
                    plan.pool,
                    request.disk_volume,
                    request.disk_size,
                    fmt=request.disk_format,
                    backing=plan.backing,
                )
            )
        if request.cloud_init and request.seed_volume and plan.pool:
            with tempfile.TemporaryDirectory(prefix="kvmtui-seed-") as scratch:
                local = Path(scratch) / "seed.iso"
                local.write_bytes(seed_iso(request.cloud_init, request.name))
                created.append(await upload_volume(host, plan.pool, request.seed_volume, local))
        uuid = await host.run(
            lambda conn: conn.defineXML(plan.xml).UUIDString(),
            what=f"create {request.name}: define on {host.name}",
        )
        if start:
            await host.run(
                lambda conn: conn.lookupByUUIDString(uuid).create(),
                what=f"create {request.name}: start on {host.name}",
            )
    except Exception as error:
        left = await _undo(host, uuid, created)
        message = (
            str(error)
            if isinstance(error, HostError)
            else f"create {request.name} on {host.name}: {describe(error)}"
        )
        if left:
            message += f"; could not remove {', '.join(left)}"
        raise HostError(message) from error
    made = ", ".join(plan.creates[1:])
    return uuid, (
        f"{request.name} created on {host.name}"
        + (f" with {made}" if made else "")
        + (", started" if start else "")
    )


async def _undo(host: Host, uuid: str, volumes: list[str]) -> list[str]:
    """Removes a guest defined and the volumes made; what could not be removed."""
    left: list[str] = []
    if uuid:

        def undefine(conn: libvirt.virConnect) -> None:
            dom = conn.lookupByUUIDString(uuid)
            if dom.isActive():
                dom.destroy()
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)

        try:
            await host.run(undefine)
        except HostError:
            left.append(f"guest {uuid}")
    for path in reversed(volumes):
        try:
            await delete_volume(host, path)
        except HostError:
            left.append(path)
    return left
