"""Reading a host's storage: every pool, every volume of its active pools, and which
guest uses each volume (a disk's path, or its `pool/volume` source) or which volume it
backs; a volume nobody uses is flagged, since that is what an operator looks for before
deleting. One blocking call per host, on its threads."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace

import libvirt

from kvmtui.core.devices import parse_definition

#: libvirt's VIR_STORAGE_POOL_* states, in words.
POOL_STATES = {
    libvirt.VIR_STORAGE_POOL_INACTIVE: "inactive",
    libvirt.VIR_STORAGE_POOL_BUILDING: "building",
    libvirt.VIR_STORAGE_POOL_RUNNING: "running",
    libvirt.VIR_STORAGE_POOL_DEGRADED: "degraded",
    libvirt.VIR_STORAGE_POOL_INACCESSIBLE: "inaccessible",
}


@dataclass(frozen=True)
class PoolSnapshot:
    host: str
    name: str
    type: str  # dir, netfs, logical ...
    state: str  # a word of POOL_STATES
    autostart: bool
    persistent: bool
    capacity: int  # bytes; 0 while inactive (libvirt knows nothing then)
    allocation: int
    available: int
    target: str  # the pool's path on the host
    volumes: int | None  # None while inactive

    @property
    def key(self) -> str:
        return f"{self.name}@{self.host}"

    @property
    def active(self) -> bool:
        return self.state == "running"


@dataclass(frozen=True)
class VolumeSnapshot:
    host: str
    pool: str
    name: str
    path: str
    format: str
    capacity: int  # bytes the guest sees
    allocation: int  # bytes taken on the host
    used_by: tuple[str, ...]  # guests whose disks are this volume
    backs: tuple[str, ...]  # volumes (names) whose backing file this is
    uploading: float | None = None  # percent done while kvmtui uploads into it

    @property
    def key(self) -> str:
        return f"{self.pool}/{self.name}@{self.host}"

    @property
    def pool_key(self) -> str:
        return f"{self.pool}@{self.host}"

    @property
    def unused(self) -> bool:
        return not self.used_by and not self.backs


@dataclass(frozen=True)
class HostStorage:
    pools: tuple[PoolSnapshot, ...]
    volumes: tuple[VolumeSnapshot, ...]


# ---- reading (blocking, on a host's threads) -------------------------------------------


def xml_text(root: ET.Element, path: str) -> str:
    return (root.findtext(path) or "").strip()


def xml_bytes(root: ET.Element, path: str) -> int:
    """A size element of pool or volume XML in bytes (libvirt writes `unit='bytes'`)."""
    element = root.find(path)
    if element is None or not (element.text or "").strip():
        return 0
    return int(element.text or "0")


def disk_users(conn: libvirt.virConnect, *, inactive_too: bool = False) -> dict[str, list[str]]:
    """Guest names by the disk source they use: a path, or `pool/volume` for volume disks.
    `inactive_too` also reads the persistent definitions of running guests (a disk added
    with --config is in use from the next start)."""
    users: dict[str, list[str]] = {}
    for dom in conn.listAllDomains(0):
        xmls = [dom.XMLDesc(0)]
        if inactive_too and dom.isActive() and dom.isPersistent():
            xmls.append(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        sources = {disk.source for xml in xmls for disk in parse_definition(xml).disks}
        for source in sources - {""}:
            users.setdefault(source, []).append(dom.name())
    return users


def _volume(
    vol: libvirt.virStorageVol, host: str, pool: str, users: dict[str, list[str]]
) -> tuple[VolumeSnapshot, str]:
    """The volume and the path of its backing file ("" when it has none)."""
    root = ET.fromstring(vol.XMLDesc(0))
    name, path = xml_text(root, "name"), xml_text(root, "target/path")
    fmt = root.find("target/format")
    used = [*users.get(path, []), *users.get(f"{pool}/{name}", [])]
    volume = VolumeSnapshot(
        host=host,
        pool=pool,
        name=name,
        path=path,
        format=fmt.get("type", "") if fmt is not None else "",
        capacity=xml_bytes(root, "capacity"),
        allocation=xml_bytes(root, "allocation"),
        used_by=tuple(sorted(set(used))),
        backs=(),
    )
    return volume, xml_text(root, "backingStore/path")


def _pool(pool: libvirt.virStoragePool, host: str, volumes: int | None) -> PoolSnapshot:
    state, capacity, allocation, available = pool.info()
    root = ET.fromstring(pool.XMLDesc(0))
    return PoolSnapshot(
        host=host,
        name=pool.name(),
        type=root.get("type", ""),
        state=POOL_STATES.get(state, str(state)),
        autostart=bool(pool.autostart()),
        persistent=bool(pool.isPersistent()),
        capacity=capacity,
        allocation=allocation,
        available=available,
        target=xml_text(root, "target/path"),
        volumes=volumes,
    )


def read_storage(conn: libvirt.virConnect, host: str) -> HostStorage:
    """Every pool of the host, every volume of its active pools, and who uses each."""
    users = disk_users(conn)
    pools: list[PoolSnapshot] = []
    found: list[tuple[VolumeSnapshot, str]] = []
    for pool in conn.listAllStoragePools(0):
        volumes = None
        if pool.isActive():
            # A volume deleted between the listing and its XML is simply not shown.
            listed = []
            for vol in pool.listAllVolumes(0):
                try:
                    listed.append(_volume(vol, host, pool.name(), users))
                except libvirt.libvirtError:
                    continue
            found.extend(listed)
            volumes = len(listed)
        pools.append(_pool(pool, host, volumes))
    backs: dict[str, list[str]] = {}
    for volume, backing in found:
        if backing:
            backs.setdefault(backing, []).append(volume.name)
    return HostStorage(
        tuple(pools),
        tuple(
            replace(volume, backs=tuple(sorted(backs.get(volume.path, []))))
            for volume, _backing in found
        ),
    )
