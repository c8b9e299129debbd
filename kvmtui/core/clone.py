"""Clone a guest, as `virt-clone` does: a new name, UUID and MAC addresses, its own disks.

A full clone copies each writable disk volume with `storageVolCreateXMLFrom` (libvirt does
the copy on the host, qemu-img for qcow2), while the caller sees progress from the new
volume's allocation. A linked clone creates a qcow2 volume per disk with the source's volume
as its backing store: instant, but the source's disks must never change again (they are
the clone's data). Read-only and shareable disks, CD-ROMs and floppies are shared, as
virt-clone shares them. Only libvirt storage volumes are copied: a disk outside every pool
would need kvmtui to copy files behind libvirt's back, so it is refused with a reason.

A full clone may go to another host (`--host`): each volume is created there in the pool of
the same name and its bytes streamed from the source host to it, both over the hosts' own
libvirt connections (a download stream on one, an upload stream on the other, a few chunks
in between), so nothing passes through a file on the operator's machine. A linked clone
stays with its backing files, on the source's host.

A clone either completes or leaves nothing: every volume made so far is deleted again when
a later copy or the definition fails, and the guest is defined last.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

import libvirt

from kvmtui.core.errors import HostError, describe
from kvmtui.core.host import Host
from kvmtui.core.uri import quoted
from kvmtui.core.words import guest_state

#: Seconds between two looks at a copy's progress (one volume-info call each).
PROGRESS_EVERY = 0.5

#: progress(bytes copied, bytes to copy) over all the disks of one clone.
Progress = Callable[[int, int], None]

#: Bytes per stream chunk between two hosts, and how many wait in between at most.
_CHUNK = 1024 * 1024
_CHUNKS_IN_FLIGHT = 8

_SHARED_DEVICES = {"cdrom", "floppy"}
_SOURCE_ATTRIBUTE = {"file": "file", "block": "dev"}


@dataclass(frozen=True)
class DiskCopy:
    """One disk of the source and the volume the clone gets for it."""

    target: str  # vda
    source: str  # the source volume's path
    source_format: str  # qcow2, raw ...
    pool: str  # where both volumes live
    name: str  # the new volume's name
    capacity: int  # bytes the guest sees
    allocation: int  # bytes the source takes on the host: what a full copy writes


@dataclass(frozen=True)
class ClonePlan:
    """What a clone will make, read from the source before anything is created."""

    source: str
    host: str
    new_name: str
    linked: bool
    disks: tuple[DiskCopy, ...]
    shared: tuple[str, ...]  # targets the clone uses as they are (read-only, CD-ROMs)
    xml: str  # the source's persistent definition
    #: A new UUID and new MACs (a clone, a restore as a new guest); False keeps them (a
    #: restore over the guest itself).
    fresh_identity: bool = True


def check_guest_name(name: str) -> str | None:
    """Why `name` cannot name a new guest, or None. libvirt refuses "/" (a file name on the
    host) and empty names; control characters are refused here, as never meant."""
    if not name.strip():
        return "a guest name may not be empty"
    if "/" in name:
        return "a guest name may not contain '/'"
    bad = next((ch for ch in name if unicodedata.category(ch) == "Cc"), None)
    if bad is not None:
        return f"control character {bad!a} is not allowed in a guest name"
    return None


async def plan_clone(host: Host, uuid: str, new_name: str, *, linked: bool) -> ClonePlan:
    """Reads the source and checks everything that can be checked first: a free name, the
    source's state, that each disk to copy is a storage volume. HostError says why not."""
    reason = check_guest_name(new_name)
    return await host.run(
        lambda conn: _plan(
            conn, conn.lookupByUUIDString(uuid), new_name, linked, host.name, reason
        ),
        what="clone",
    )


def _plan(
    conn: libvirt.virConnect,
    dom: libvirt.virDomain,
    new_name: str,
    linked: bool,
    host: str,
    reason: str | None,
) -> ClonePlan:
    source = dom.name()
    what = f"clone {source} on {host}"
    if reason:
        raise HostError(f"{what}: {reason}")
    with contextlib.suppress(libvirt.libvirtError):
        conn.lookupByName(new_name)
        raise HostError(f"{what}: a guest named {quoted(new_name)} already exists there")
    xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    to_copy: list[tuple[ET.Element, str]] = []
    shared: list[str] = []
    for disk in ET.fromstring(xml).iterfind("devices/disk"):
        element = disk.find("target")
        target = element.get("dev", "?") if element is not None else "?"
        if (
            disk.get("device", "disk") in _SHARED_DEVICES
            or disk.find("readonly") is not None
            or disk.find("shareable") is not None
        ):
            shared.append(target)
        elif disk.find("source") is not None:
            to_copy.append((disk, target))
    state = dom.state()[0]
    if to_copy and state != libvirt.VIR_DOMAIN_SHUTOFF:
        if linked:
            raise HostError(
                f"{what}: it is {guest_state(state).value}; a linked clone's "
                "backing files must never change again: shut it down first (and "
                "keep it so while clones live)"
            )
        if state != libvirt.VIR_DOMAIN_PAUSED:
            raise HostError(
                f"{what}: it is running and its disks would change while they "
                "are copied (virt-clone refuses too): pause it or shut it down first"
            )
    disks = [_disk_copy(conn, disk, target, new_name, linked, what) for disk, target in to_copy]
    return ClonePlan(source, host, new_name, linked, tuple(disks), tuple(shared), xml)


def _disk_copy(
    conn: libvirt.virConnect, disk: ET.Element, target: str, new_name: str, linked: bool, what: str
) -> DiskCopy:
    """The volume behind one disk, and the name of its copy (`NEWNAME-vda.qcow2`)."""
    source = disk.find("source")
    assert source is not None
    kind = disk.get("type", "file")
    try:
        if kind == "volume":
            pool = conn.storagePoolLookupByName(source.get("pool", ""))
            vol = pool.storageVolLookupByName(source.get("volume", ""))
        elif kind in _SOURCE_ATTRIBUTE:
            vol = conn.storageVolLookupByPath(source.get(_SOURCE_ATTRIBUTE[kind], ""))
            pool = vol.storagePoolLookupByVolume()
        else:
            raise HostError(
                f"{what}: disk {target} is a {kind} disk; kvmtui clones storage volumes only"
            )
    except libvirt.libvirtError:
        path = source.get("file") or source.get("dev") or source.get("volume") or "?"
        raise HostError(
            f"{what}: disk {target} ({path}) is in no storage pool; kvmtui copies "
            "disks only through libvirt (define a pool for its directory, or "
            "make it read-only to share it)"
        ) from None
    vol_xml = ET.fromstring(vol.XMLDesc(0))
    fmt = vol_xml.find("target/format")
    source_format = fmt.get("type", "raw") if fmt is not None else "raw"
    _type, capacity, allocation = vol.info()
    name = vol.name()
    suffix = ".qcow2" if linked else (name[name.rfind(".") :] if "." in name else "")
    return DiskCopy(
        target,
        vol.path(),
        source_format,
        pool.name(),
        f"{new_name}-{target}{suffix}",
        capacity,
        allocation,
    )


def volume_xml(copy: DiskCopy, linked: bool) -> str:
    """The new volume's definition: a copy in the source's format, or a qcow2 overlay on it."""
    volume = ET.Element("volume")
    ET.SubElement(volume, "name").text = copy.name
    ET.SubElement(volume, "capacity", unit="bytes").text = str(copy.capacity)
    target = ET.SubElement(volume, "target")
    ET.SubElement(target, "format", type="qcow2" if linked else copy.source_format)
    if linked:
        backing = ET.SubElement(volume, "backingStore")
        ET.SubElement(backing, "path").text = copy.source
        ET.SubElement(backing, "format", type=copy.source_format)
    return ET.tostring(volume, encoding="unicode")


def clone_xml(plan: ClonePlan, paths: dict[str, str]) -> str:
    """The source's definition as the clone's: its name, no UUID and no MACs (libvirt makes
    new ones), each copied disk on its new volume, its own NVRAM and serial log files."""
    root = ET.fromstring(plan.xml)
    name = root.find("name")
    assert name is not None
    name.text = plan.new_name
    if plan.fresh_identity:
        for element in root.findall("uuid"):
            root.remove(element)
        for interface in root.iterfind("devices/interface"):
            for mac in interface.findall("mac"):
                interface.remove(mac)
    os_element = root.find("os")
    if os_element is not None and plan.fresh_identity:
        # Two guests on one NVRAM file corrupt each other's firmware settings; without the
        # element libvirt makes the clone its own from the firmware's template.
        for nvram in os_element.findall("nvram"):
            os_element.remove(nvram)
    copies = {copy.target: copy for copy in plan.disks}
    for disk in root.iterfind("devices/disk"):
        target = disk.find("target")
        copy = copies.get(target.get("dev", "") if target is not None else "")
        if copy is not None:
            _point_at(disk, copy, paths[copy.target], plan.linked)
    for device in (*root.iterfind("devices/serial"), *root.iterfind("devices/console")):
        _own_log(device, plan.source, plan.new_name)
    return ET.tostring(root, encoding="unicode")


def _point_at(disk: ET.Element, copy: DiskCopy, path: str, linked: bool) -> None:
    source = disk.find("source")
    assert source is not None
    if disk.get("type") == "volume":
        source.set("pool", copy.pool)
        source.set("volume", copy.name)
    else:
        source.set(_SOURCE_ATTRIBUTE[disk.get("type", "file")], path)
    for backing in disk.findall("backingStore"):
        disk.remove(backing)
    driver = disk.find("driver")
    if driver is not None:
        driver.set("type", "qcow2" if linked else copy.source_format)


def _own_log(device: ET.Element, source: str, new_name: str) -> None:
    """A serial log file named after the source is named after the clone; any other is
    dropped, since two guests appending to one log file is never what was meant."""
    for log in device.findall("log"):
        path = log.get("file", "")
        if source and source in path:
            log.set("file", path.replace(source, new_name))
        else:
            device.remove(log)


async def clone_guest(
    host: Host,
    uuid: str,
    new_name: str,
    *,
    linked: bool = False,
    progress: Progress | None = None,
    dest: Host | None = None,
) -> str:
    """Clones the guest `uuid` on `host` to `new_name` on `dest` (default: the same host) and
    returns the sentence that says so.

    Every failure is a HostError naming the step; whatever was made before it is removed."""
    plan = await plan_clone(host, uuid, new_name, linked=linked)
    target = dest if dest is not None else host
    across = target.name != host.name
    what = f"clone {plan.source} on {plan.host}"
    if across:
        if linked:
            raise HostError(
                f"{what}: a linked clone stays on {host.name}, with the volumes "
                f"it is backed by; clone it in full to {target.name}"
            )
        await target.run(
            lambda conn: name_free(conn, new_name, f"{what} to {target.name}"),
            what=f"{what} to {target.name}",
        )
    await make_guest(host, plan, target, progress, what)
    where = f" on {target.name}" if across else ""
    return f"{plan.source} on {plan.host} cloned to {new_name}{where}{_how(plan)}"


async def make_guest(
    host: Host, plan: ClonePlan, target: Host, progress: Progress | None, what: str
) -> None:
    """Copies the plan's disks into new volumes on `target` (streamed across when it is
    another host) and defines the guest there last; on any failure every volume made so
    far is removed again. A restore from a backup uses it as a clone does."""
    across = target.name != host.name
    new_name = plan.new_name
    made: list[str] = []
    try:
        total = sum(copy.allocation for copy in plan.disks)
        paths: dict[str, str] = {}
        for copy in plan.disks:
            done = sum(c.allocation for c in plan.disks if c.target in paths)
            shown = progress and _offset(progress, done, total)
            paths[copy.target] = await (
                _copy_across(host, target, copy, made, what, shown)
                if across
                else _make_volume(host, plan, copy, made, what, shown)
            )
        definition = clone_xml(plan, paths)
        await target.run(
            lambda conn: conn.defineXML(definition),
            what=f"{what}: defining {new_name} on {target.name}",
        )
    except BaseException as error:
        cleanup = await _remove(target, made)
        if cleanup and isinstance(error, HostError):
            raise HostError(f"{error}; {cleanup}", error.code) from error
        raise
    if progress is not None and plan.disks:
        progress(total, total)


def name_free(conn: libvirt.virConnect, name: str, what: str) -> None:
    with contextlib.suppress(libvirt.libvirtError):
        conn.lookupByName(name)
        raise HostError(f"{what}: a guest named {quoted(name)} already exists there")


class _Failed:
    """Put in the chunk queue by a download that failed: the upload must not finish."""


async def _copy_across(
    source: Host, dest: Host, copy: DiskCopy, made: list[str], what: str, progress: Progress | None
) -> str:
    """A new volume on `dest`, in the pool of the source's name, with the source volume's
    bytes streamed into it from `source`; its path is in `made` from its creation on."""
    xml = volume_xml(copy, linked=False)
    step = f"{what}: copying {copy.target} to {copy.name} on {dest.name}"

    def create(conn: libvirt.virConnect) -> str:
        return str(conn.storagePoolLookupByName(copy.pool).createXML(xml, 0).path())

    path = await dest.run(create, what=step)
    made.append(path)
    chunks: queue.Queue[bytes | _Failed | None] = queue.Queue(maxsize=_CHUNKS_IN_FLIGHT)
    stop = threading.Event()  # the upload failed: the download gives up too
    loop = asyncio.get_running_loop()

    def hand_on(item: bytes | _Failed | None) -> bool:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                chunks.put(item, timeout=0.5)
                return True
        return False

    def download(conn: libvirt.virConnect) -> None:
        stream = conn.newStream(0)
        try:
            conn.storageVolLookupByPath(copy.source).download(stream, 0, 0, 0)
            while data := stream.recv(_CHUNK):
                if not isinstance(data, bytes) or not hand_on(data):
                    raise HostError(f"{step}: the copy stopped")
            stream.finish()
        except BaseException:
            with contextlib.suppress(libvirt.libvirtError):
                stream.abort()
            hand_on(_Failed())
            raise
        hand_on(None)

    def upload(conn: libvirt.virConnect) -> None:
        stream = conn.newStream(0)
        sent = 0
        try:
            conn.storageVolLookupByPath(path).upload(stream, 0, 0, 0)
            while (data := chunks.get()) is not None:
                if isinstance(data, _Failed):
                    raise HostError(f"{step}: reading {copy.source} on {source.name} failed")
                view = memoryview(data)
                while view:
                    view = view[stream.send(view.tobytes()) :]
                sent += len(data)
                if progress is not None:
                    loop.call_soon_threadsafe(progress, min(sent, copy.allocation), copy.allocation)
            stream.finish()
        except BaseException:
            stop.set()
            with contextlib.suppress(libvirt.libvirtError):
                stream.abort()
            raise

    results = await asyncio.gather(
        source.run_long(download, what=step),
        dest.run_long(upload, what=step),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        # The download's own error says why; the upload's "reading failed" only echoes it.
        raise failures[0]
    return path


def _offset(progress: Progress, done: int, total: int) -> Progress:
    """One disk's progress as part of the whole clone's."""
    return lambda copied, _of: progress(done + copied, total)


async def _make_volume(
    host: Host,
    plan: ClonePlan,
    copy: DiskCopy,
    made: list[str],
    what: str,
    progress: Progress | None,
) -> str:
    """Creates the clone's volume for one disk, recording its path in `made` as soon as
    libvirt has it, so that a failure later (or in this very copy) can remove it."""
    xml = volume_xml(copy, plan.linked)

    def create(conn: libvirt.virConnect) -> str:
        pool = conn.storagePoolLookupByName(copy.pool)
        if plan.linked:
            return str(pool.createXML(xml, 0).path())
        source = conn.storageVolLookupByPath(copy.source)
        return str(pool.createXMLFrom(xml, source, 0).path())

    step = f"{what}: {'creating' if plan.linked else 'copying'} {copy.target} to {copy.name}"
    task = asyncio.ensure_future(host.run_long(create, what=step))
    watch = (
        asyncio.ensure_future(_watch_copy(host, copy, progress)) if progress is not None else None
    )
    try:
        await asyncio.wait({task})
    except BaseException:
        # Cancelled while libvirt copies on its own thread: the volume appears when the copy
        # ends, and is ours to remove then.
        with contextlib.suppress(BaseException):
            made.append(await asyncio.shield(task))
        raise
    finally:
        if watch is not None:
            watch.cancel()
    # A create that fails leaves nothing: libvirt refuses a name clash before it starts and
    # deletes a volume whose copy failed half-way.
    path = task.result()
    made.append(path)
    return path


async def _watch_copy(host: Host, copy: DiskCopy, progress: Progress) -> None:
    """Tells `progress` how far the copy is, every PROGRESS_EVERY seconds until cancelled.

    One read of the new volume at a time, each on a thread of its own, never on the host's
    lane: libvirt 9.0 (Debian 12) answers the info of a volume it is still building only in
    the copy's first moments, then holds it until the copy ends (seen on a local and a FUSE
    pool). On the lane such a read held a slot for the whole copy, timed out after
    CALL_TIMEOUT, and the next one took the other slot and stalled the host's ticks. While
    a read waits, the last figure is told again, so the caller can show the copy going on."""
    done = 0
    read: asyncio.Future[int] | None = None
    try:
        while True:
            if read is None:
                await asyncio.sleep(PROGRESS_EVERY)
                read = asyncio.ensure_future(_allocation(host, copy))
            await asyncio.wait({read}, timeout=PROGRESS_EVERY)
            if read.done():
                done = max(done, min(read.result(), copy.allocation))
                read = None
            progress(done, copy.allocation)
    finally:
        if read is not None:
            read.cancel()


async def _allocation(host: Host, copy: DiskCopy) -> int:
    """Bytes the copy holds so far; 0 while libvirt does not list it yet."""

    def read(conn: libvirt.virConnect) -> int:
        return int(
            conn.storagePoolLookupByName(copy.pool).storageVolLookupByName(copy.name).info()[2]
        )

    try:
        return await host.run_long(read)
    except HostError:
        return 0


async def _remove(host: Host, made: list[str]) -> str:
    """Deletes the volumes a failed clone made; "" when all went, else what is left."""
    left = []
    for path in reversed(made):

        def delete(conn: libvirt.virConnect, path: str = path) -> None:
            conn.storageVolLookupByPath(path).delete(0)

        try:
            await host.run(delete)
        except HostError as error:
            left.append(f"{path} ({describe(error)})")
    return f"could not remove {', '.join(left)}: remove by hand" if left else ""


def _how(plan: ClonePlan) -> str:
    if not plan.disks:
        return " (no disks to copy)"
    kind = "linked" if plan.linked else "full copy"
    return f" ({kind}: {', '.join(f'{c.target} -> {c.name}' for c in plan.disks)})"
