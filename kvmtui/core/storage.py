"""Storage pools and volumes across the fleet: what `:pools` and `:vols` show, and the
`pool-*` / `vol-*` changes, in virsh's words.

Reading: one call per host on its lane lists every pool, every volume of the active ones
and every guest's disks, so each volume can say which guest uses it (a disk's path, or its
`pool/volume` source) or which volume it backs; a volume nobody uses is flagged, since
that is what an operator looks for before deleting. `StorageService` keeps the last reading
of each host and publishes when it changes; it reads while a view shows storage (an idle
fleet whose storage nobody watches costs nothing), on libvirt's pool events, and again at
once after each change made here.

Changing: every function here is one blocking libvirt sequence on the host's threads,
undoing its own half-done work on failure (a volume created for an upload that then fails is
deleted), so a bad input or a refused call leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import libvirt

from kvmtui.core.commands import CommandError
from kvmtui.core.devices import parse_definition
from kvmtui.core.errors import HostError
from kvmtui.core.fleet import Fleet
from kvmtui.core.host import Host
from kvmtui.core.names import ambiguous, split_ref
from kvmtui.core.resource import ResourceService
from kvmtui.core.uri import quoted
from kvmtui.core.words import did_you_mean

#: libvirt's VIR_STORAGE_POOL_* states, in words.
POOL_STATES = {
    libvirt.VIR_STORAGE_POOL_INACTIVE: "inactive",
    libvirt.VIR_STORAGE_POOL_BUILDING: "building",
    libvirt.VIR_STORAGE_POOL_RUNNING: "running",
    libvirt.VIR_STORAGE_POOL_DEGRADED: "degraded",
    libvirt.VIR_STORAGE_POOL_INACCESSIBLE: "inaccessible",
}

#: Volume formats `vol-create-as --format` takes: what qemu reads and libvirt creates in
#: every file-based pool.
VOLUME_FORMATS = ("qcow2", "raw")

#: Pool types `pool-define-as` builds, with the source each needs.
POOL_TYPES = ("dir", "netfs", "logical")

#: Bytes per `virStreamSend` of an upload: large enough that a remote link is kept busy,
#: small enough that progress moves and a cancel is seen within a moment.
UPLOAD_CHUNK = 4 * 1024 * 1024


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


def _text(root: ET.Element, path: str) -> str:
    return (root.findtext(path) or "").strip()


def _bytes(root: ET.Element, path: str) -> int:
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


def _volume(vol: libvirt.virStorageVol, host: str, pool: str,
            users: dict[str, list[str]]) -> tuple[VolumeSnapshot, str]:
    """The volume and the path of its backing file ("" when it has none)."""
    root = ET.fromstring(vol.XMLDesc(0))
    name, path = _text(root, "name"), _text(root, "target/path")
    fmt = root.find("target/format")
    used = [*users.get(path, []), *users.get(f"{pool}/{name}", [])]
    volume = VolumeSnapshot(
        host=host, pool=pool, name=name, path=path,
        format=fmt.get("type", "") if fmt is not None else "",
        capacity=_bytes(root, "capacity"), allocation=_bytes(root, "allocation"),
        used_by=tuple(sorted(set(used))), backs=())
    return volume, _text(root, "backingStore/path")


def _pool(pool: libvirt.virStoragePool, host: str, volumes: int | None) -> PoolSnapshot:
    state, capacity, allocation, available = pool.info()
    root = ET.fromstring(pool.XMLDesc(0))
    return PoolSnapshot(
        host=host, name=pool.name(), type=root.get("type", ""),
        state=POOL_STATES.get(state, str(state)), autostart=bool(pool.autostart()),
        persistent=bool(pool.isPersistent()), capacity=capacity, allocation=allocation,
        available=available, target=_text(root, "target/path"), volumes=volumes)


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
    return HostStorage(tuple(pools), tuple(
        replace(volume, backs=tuple(sorted(backs.get(volume.path, []))))
        for volume, _backing in found))


# ---- the service the views follow -------------------------------------------------------


class StorageService(ResourceService[HostStorage]):
    """The fleet's pools and volumes as last read, on the resource-service base
    (kvmtui.core.resource): read while a view shows storage, on libvirt's pool events and
    at once after a change made here. Volumes have no events, so a volume made by another
    tool shows on the next pool event or change; `r` on the pools view reads again."""

    EVENTS = frozenset({"pool"})

    def __init__(self, fleet: Fleet) -> None:
        super().__init__(fleet)
        self._uploads: dict[str, Upload] = {}

    async def read_host(self, host: Host) -> HostStorage:
        return await host.run(lambda conn: read_storage(conn, host.name),
                              what=f"storage of {host.name}")

    # ---- what the views read ----------------------------------------------------------

    def pools(self) -> list[PoolSnapshot]:
        return [pool for storage in self.readings() for pool in storage.pools]

    def volumes(self) -> list[VolumeSnapshot]:
        """Every volume as last read, with the progress of uploads into them."""
        uploads = self._uploads
        return [replace(vol, uploading=uploads[vol.key].percent) if vol.key in uploads else vol
                for storage in self.readings() for vol in storage.volumes]

    def uploads(self) -> dict[str, Upload]:
        """Uploads under way, by the key of the volume they fill."""
        return dict(self._uploads)

    async def close(self) -> None:
        await super().close()
        for upload in list(self._uploads.values()):
            upload.cancel()

    # ---- uploads ------------------------------------------------------------------------

    async def upload(self, host: Host, pool: str, name: str, local: Path) -> str:
        """`upload_volume`, followed by the views (progress in the volume's row) and
        cancellable with `Upload.cancel`; a cancelled upload raises CommandError after its
        volume is deleted."""
        key = f"{pool}/{name}@{host.name}"
        if key in self._uploads:
            raise CommandError(f"vol-upload: {name} in {pool} on {host.name} is uploading already")
        upload = Upload()

        def progress(done: int, total: int) -> None:
            first = upload.total is None
            upload.done, upload.total = done, total
            if first:  # the volume now exists: show its row
                self.refresh_soon([host.name])
            self.publish()

        upload.task = asyncio.ensure_future(upload_volume(host, pool, name, local, progress))
        self._uploads[key] = upload
        try:
            return await asyncio.shield(upload.task)
        except asyncio.CancelledError:
            if not upload.task.cancelled():  # we are cancelled, not the upload: stop it too
                upload.cancel()
                await asyncio.wait([upload.task])  # until its volume is deleted
                raise
            raise CommandError(f"vol-upload {name}: cancelled; the partial volume was "
                               "deleted") from None
        finally:
            del self._uploads[key]
            await self.refresh([host.name])


@dataclass
class Upload:
    """An upload under way, as the volumes view shows it."""

    done: int = 0
    total: int | None = None  # None until the volume exists
    task: asyncio.Future[str] | None = None

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 0.0

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()


# ---- finding what a command names -------------------------------------------------------


async def _per_host(fleet: Fleet, host: str | None, what: str,
                    fn: Callable[[libvirt.virConnect], list[str]]) -> dict[str, list[str]]:
    """`fn` on `host` or on every connected host, by host name; hosts that fail are left
    out (a lost host has no pools to offer), unless it is the one named."""
    if host is not None:
        chosen = fleet.host(host)
        if not chosen.connected:
            raise CommandError(f"{what}: host {host} is not connected")
        return {host: await chosen.run(fn, what=what)}
    hosts = [h for h in fleet.hosts if h.connected]
    answers = await asyncio.gather(*(h.run(fn, what=what) for h in hosts),
                                   return_exceptions=True)
    return {h.name: a for h, a in zip(hosts, answers, strict=True) if isinstance(a, list)}


async def find_pool(fleet: Fleet, token: str, host: str | None, what: str) -> Host:
    """The host of the pool `token` names (`NAME`, `NAME@HOST`, or NAME on `host`): one
    clear line when there is no such pool or it is on several hosts."""
    name, host = split_ref(token, host)
    listed = await _per_host(fleet, host, what,
                             lambda conn: [p.name() for p in conn.listAllStoragePools(0)])
    found = sorted(h for h, names in listed.items() if name in names)
    if not found:
        where = f" on host {host}" if host else ""
        hint = did_you_mean(name, {n for names in listed.values() for n in names})
        raise CommandError(f"{what}: no pool {quoted(name)}{where}{hint}")
    if len(found) > 1:
        raise CommandError(f"{what}: {ambiguous('pool', name, found)}")
    return fleet.host(found[0])


@dataclass(frozen=True)
class VolumeRef:
    host: str
    pool: str
    name: str
    path: str


def _matching_volumes(conn: libvirt.virConnect, token: str, pool: str | None) -> list[str]:
    """`pool\\0name\\0path` of the volumes `token` (a name or a path) may mean."""
    pools = [conn.storagePoolLookupByName(pool)] if pool else conn.listAllStoragePools(
        libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE)
    matches = []
    for each in pools:
        if not each.isActive():
            continue
        for vol in each.listAllVolumes(0):
            if token in (vol.name(), vol.path()):
                matches.append(f"{each.name()}\0{vol.name()}\0{vol.path()}")
    return matches


async def find_volume(fleet: Fleet, token: str, pool: str | None, host: str | None,
                      what: str) -> VolumeRef:
    """The volume `token` names (its name, with --pool when several pools hold one, or its
    path; `@HOST` or `host` for the host), else on whichever one connected host holds it."""
    if not token.startswith("/"):
        token, host = split_ref(token, host)
    if pool is not None:
        host = (await find_pool(fleet, pool, host, what)).name

    def match(conn: libvirt.virConnect) -> list[str]:
        return _matching_volumes(conn, token, pool)

    found = [VolumeRef(name, *match.split("\0"))
             for name, matches in (await _per_host(fleet, host, what, match)).items()
             for match in matches]
    if not found:
        where = f" in pool {pool}" if pool else ""
        raise CommandError(f"{what}: no volume {quoted(token)}{where}"
                           f"{f' on host {host}' if host else ''}")
    if len(found) > 1:
        places = ", ".join(sorted(f"{v.pool}@{v.host}" for v in found))
        if len({v.pool for v in found}) == 1:
            raise CommandError(f"{what}: {ambiguous('volume', token, (v.host for v in found))}")
        raise CommandError(f"{what}: volume {quoted(token)} is in several pools ({places}): "
                           "add --pool POOL")
    return found[0]


# ---- pools ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolSource:
    """Where a pool's data comes from, as `pool-define-as` takes it."""

    target: str | None = None  # dir, netfs, logical: the path on the host
    source_host: str | None = None  # netfs: the NFS server
    source_path: str | None = None  # netfs: the export
    source_dev: str | None = None  # logical: the physical volume


def pool_xml(name: str, kind: str, source: PoolSource) -> str:
    """The XML of a new pool, after checking it has what its type needs; every value goes
    through ElementTree, so a hostile string stays a string."""
    if not name or "/" in name or not name.isprintable():
        raise CommandError(f"pool-define-as: {quoted(name)} is not a pool name "
                           "(no '/', no control characters)")
    if kind not in POOL_TYPES:
        raise CommandError(f"pool-define-as: unsupported pool type {quoted(kind)} "
                           f"(use {', '.join(POOL_TYPES)})")
    needs = {"dir": ("target",), "netfs": ("target", "source_host", "source_path"),
             "logical": ("source_dev",)}[kind]
    missing = [field for field in needs if not getattr(source, field)]
    if missing:
        words = ", ".join("--" + field.replace("_", "-") for field in missing)
        raise CommandError(f"pool-define-as: a {kind} pool needs {words}")
    if source.target and not source.target.startswith("/"):
        raise CommandError(f"pool-define-as: --target must be an absolute path, "
                           f"not {quoted(source.target)}")
    root = ET.Element("pool", type=kind)
    ET.SubElement(root, "name").text = name
    src = ET.SubElement(root, "source")
    if source.source_host:
        ET.SubElement(src, "host", name=source.source_host)
    if source.source_path:
        ET.SubElement(src, "dir", path=source.source_path)
    if source.source_dev:
        ET.SubElement(src, "device", path=source.source_dev)
    if kind == "logical":
        ET.SubElement(src, "name").text = name
    target = source.target or (f"/dev/{name}" if kind == "logical" else "")
    ET.SubElement(ET.SubElement(root, "target"), "path").text = target
    return ET.tostring(root, encoding="unicode")


def _define_pool(conn: libvirt.virConnect, xml: str, kind: str, build: bool) -> str:
    """Defines the pool; a directory pool whose path is missing is refused first (unless
    `build` makes it), by starting it once as a transient pool, which is how libvirt
    looks at the host's own file system. A build that fails undefines it again."""
    if kind == "dir" and not build:
        probe = conn.storagePoolCreateXML(xml, 0)
        probe.destroy()
    pool = conn.storagePoolDefineXML(xml, 0)
    if build:
        try:
            pool.build(0)
        except libvirt.libvirtError:
            pool.undefine()
            raise
    return _text(ET.fromstring(pool.XMLDesc(0)), "target/path")


async def define_pool(host: Host, name: str, kind: str, source: PoolSource, *,
                      build: bool = False) -> str:
    xml = pool_xml(name, kind, source)
    target = await host.run(lambda conn: _define_pool(conn, xml, kind, build),
                            what=f"pool-define-as {name} on {host.name}")
    built = " and built" if build else ""
    return f"pool {name} ({kind}, {target}) defined{built} on {host.name}"


#: The pool verbs that are one call on the pool: libvirt's call and the sentence after it.
POOL_ACTIONS: dict[str, tuple[Callable[[libvirt.virStoragePool], object], str]] = {
    "pool-build": (lambda pool: pool.build(0), "built"),
    "pool-start": (lambda pool: pool.create(0), "started"),
    "pool-destroy": (lambda pool: pool.destroy(), "stopped"),
    "pool-refresh": (lambda pool: pool.refresh(0), "refreshed"),
    "pool-undefine": (lambda pool: pool.undefine(), "undefined"),
    "pool-autostart": (lambda pool: pool.setAutostart(1), "marked to start with its host"),
    "pool-autostart --disable": (lambda pool: pool.setAutostart(0),
                                 "no longer starts with its host"),
}


async def pool_action(host: Host, name: str, action: str) -> str:
    call, done = POOL_ACTIONS[action]
    await host.run(lambda conn: call(conn.storagePoolLookupByName(name)),
                   what=f"{action.split()[0]} {name} on {host.name}")
    return f"pool {name} on {host.name}: {done}"


# ---- volumes --------------------------------------------------------------------------


def volume_xml(name: str, capacity: int, fmt: str,
               backing: tuple[str, str] | None = None) -> str:
    """The XML of a new volume; `backing` is (path, format) of the file it overlays."""
    root = ET.Element("volume")
    ET.SubElement(root, "name").text = name
    ET.SubElement(root, "capacity", unit="bytes").text = str(capacity)
    ET.SubElement(root, "allocation", unit="bytes").text = "0"
    ET.SubElement(ET.SubElement(root, "target"), "format", type=fmt)
    if backing is not None:
        store = ET.SubElement(root, "backingStore")
        ET.SubElement(store, "path").text = backing[0]
        ET.SubElement(store, "format", type=backing[1])
    return ET.tostring(root, encoding="unicode")


def _backing(conn: libvirt.virConnect, pool: libvirt.virStoragePool,
             backing: str) -> tuple[str, str]:
    """(path, format) of a backing volume named by path or by name in `pool`."""
    vol = (conn.storageVolLookupByPath(backing) if backing.startswith("/")
           else pool.storageVolLookupByName(backing))
    fmt = ET.fromstring(vol.XMLDesc(0)).find("target/format")
    return vol.path(), fmt.get("type", "raw") if fmt is not None else "raw"


def _check_new_volume(name: str, fmt: str, backing: str | None) -> None:
    if fmt not in VOLUME_FORMATS:
        raise CommandError(f"vol-create-as {name}: unknown format {quoted(fmt)} "
                           f"(use {' or '.join(VOLUME_FORMATS)})")
    if backing is not None and fmt != "qcow2":
        raise CommandError(f"vol-create-as {name}: a backing volume needs --format qcow2")
    if not name or "/" in name or not name.isprintable():
        raise CommandError(f"vol-create-as: {quoted(name)} is not a volume name "
                           "(no '/', no control characters)")


async def create_volume(host: Host, pool: str, name: str, capacity: int, *,
                        fmt: str = "qcow2", backing: str | None = None) -> str:
    """Creates a volume of `capacity` bytes in `pool` and returns its path. `backing` (a
    path, or a volume of the same pool by name) makes it a qcow2 overlay of that file."""
    _check_new_volume(name, fmt, backing)

    def create(conn: libvirt.virConnect) -> str:
        found = conn.storagePoolLookupByName(pool)
        base = _backing(conn, found, backing) if backing is not None else None
        return str(found.createXML(volume_xml(name, capacity, fmt, base), 0).path())

    return await host.run(create, what=f"vol-create-as {name} in {pool} on {host.name}")


async def delete_volume(host: Host, path: str) -> None:
    """Deletes the volume at `path` (its data is gone)."""
    await host.run(lambda conn: conn.storageVolLookupByPath(path).delete(0),
                   what=f"vol-delete {path} on {host.name}")


async def volume_users(fleet: Fleet, volume: VolumeRef) -> list[str]:
    """The guests whose disks, live or at their next start, are the volume: on its own host
    by path or `pool/volume`, and `NAME@HOST` for guests of other connected hosts whose disk
    has the same path, since a pool on shared storage (NFS, a cluster file system) shows the
    same file to every host and deleting it from one breaks the guests of all."""
    def read(conn: libvirt.virConnect) -> list[str]:
        users = disk_users(conn, inactive_too=True)
        return sorted(set(users.get(volume.path, [])))

    own = await fleet.host(volume.host).run(
        lambda conn: disk_users(conn, inactive_too=True),
        what=f"guests of {volume.path} on {volume.host}")
    found = {*own.get(volume.path, []), *own.get(f"{volume.pool}/{volume.name}", [])}
    others = [h for h in fleet.hosts if h.connected and h.name != volume.host]
    answers = await asyncio.gather(*(h.run(read) for h in others), return_exceptions=True)
    for other, names in zip(others, answers, strict=True):
        if isinstance(names, list):  # a host that cannot answer is not asked twice
            found.update(f"{name}@{other.name}" for name in names)
    return sorted(found)


async def resize_volume(host: Host, path: str, capacity: int, *, shrink: bool) -> str:
    flags = libvirt.VIR_STORAGE_VOL_RESIZE_SHRINK if shrink else 0
    await host.run(lambda conn: conn.storageVolLookupByPath(path).resize(capacity, flags),
                   what=f"vol-resize {path} on {host.name}")
    return path


async def clone_volume(host: Host, path: str, new_name: str) -> str:
    """A full copy of the volume at `path`, named `new_name`, in the same pool and format;
    returns the copy's path."""
    def clone(conn: libvirt.virConnect) -> str:
        source = conn.storageVolLookupByPath(path)
        root = ET.fromstring(source.XMLDesc(0))
        fmt = root.find("target/format")
        xml = volume_xml(new_name, _bytes(root, "capacity"),
                         fmt.get("type", "raw") if fmt is not None else "raw")
        return str(source.storagePoolLookupByVolume().createXMLFrom(xml, source, 0).path())

    _check_new_volume(new_name, "raw", None)
    return await host.run_long(clone, what=f"vol-clone {path} on {host.name}")


class UploadCancelled(Exception):
    """The upload was stopped between chunks; its volume is deleted."""


def _send(stream: libvirt.virStream, local: Path, total: int, cancel: threading.Event,
          progress: Callable[[int], None]) -> None:
    done = 0
    with local.open("rb") as source:
        while chunk := source.read(UPLOAD_CHUNK):
            view = memoryview(chunk)
            while view:
                if cancel.is_set():
                    raise UploadCancelled
                sent = stream.send(bytes(view))
                view = view[sent:]
                done += sent
            progress(done)
    if done != total:
        raise OSError(f"{local} changed size during the upload ({done} of {total} bytes)")


def _upload(conn: libvirt.virConnect, pool: str, name: str, local: Path, total: int,
            cancel: threading.Event, progress: Callable[[int], None]) -> str:
    found = conn.storagePoolLookupByName(pool)
    vol = found.createXML(volume_xml(name, total, "raw"), 0)
    try:
        progress(0)
        stream = conn.newStream(0)
        vol.upload(stream, 0, total, 0)
        try:
            _send(stream, local, total, cancel, progress)
            stream.finish()
        except BaseException:
            stream.abort()
            raise
        found.refresh(0)  # libvirt reads the uploaded image's format (qcow2 ...) anew
        return str(vol.path())
    except BaseException:
        vol.delete(0)
        raise


async def upload_volume(host: Host, pool: str, name: str, local: Path,
                        progress: Callable[[int, int], None] | None = None) -> str:
    """Creates volume `name` in `pool` as large as the local file and sends the file into
    it over the host's own libvirt connection (a virStream, in chunks), returning its path.
    `progress(done, total)` runs on the event loop after each chunk. Cancelling the
    awaiting task stops it after the chunk in flight; on any failure the volume is deleted.
    """
    _check_new_volume(name, "raw", None)
    try:
        total = local.stat().st_size
        local.open("rb").close()
    except OSError as error:
        raise CommandError(f"vol-upload {name}: cannot read {local}: "
                           f"{error.strerror or error}") from None
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()  # the caller's, which its listeners expect
    cancel = threading.Event()

    def report(done: int) -> None:
        if progress is not None:
            loop.call_soon_threadsafe(progress, done, total, context=context)

    work = asyncio.ensure_future(host.run_long(
        lambda conn: _upload(conn, pool, name, local, total, cancel, report),
        what=f"vol-upload {name} to {pool} on {host.name}"))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        cancel.set()
        with contextlib.suppress(HostError, asyncio.CancelledError):
            await work  # the thread deletes the volume before it ends: wait for that
        raise


def describe_users(volume: VolumeRef, users: Sequence[str]) -> str:
    """The confirmation's detail for deleting `volume`."""
    used = f"Used by {', '.join(users)}." if users else "No guest uses it."
    return f"{volume.path} on {volume.host}. {used} Its data is lost."
