"""A guest's snapshots, as `virsh snapshot-*` sees them: list, create, revert, delete, current.

Every call goes through the guest's host (`Host.run_on_guest`), so a failure reads as one line
naming the verb, the guest and the host, and quoting libvirt. External (disk-only) snapshots
are listed and created like internal ones; reverting to or deleting them is passed to libvirt
unchanged and libvirt's own refusal is what the operator reads: kvmtui never decides which
image files a snapshot owns, and never deletes one itself (a wrong guess loses data).
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import libvirt

from kvmtui.core.host import Host, HostError
from kvmtui.core.model import GuestSnapshot

# An internal snapshot of a running guest saves its whole memory, and reverting loads it back:
# minutes for a big guest, so these calls get far longer than the usual call timeout.
SNAPSHOT_TIMEOUT = 1800.0


@dataclass(frozen=True)
class Snapshot:
    """One snapshot of one guest, read from libvirt's snapshot XML."""

    host: str
    uuid: str  # the guest's
    guest: str
    name: str
    created: datetime | None
    state: str  # the guest's state when taken: "running", "shutoff", "disk-snapshot"...
    current: bool
    parent: str | None
    description: str
    memory: bool  # the guest's memory was saved too: reverting resumes it where it was
    external: bool  # memory or a disk lives in a file of its own rather than in the image

    @property
    def disk_only(self) -> bool:
        """Only the disks were captured (`--disk-only`): always external."""
        return self.state == "disk-snapshot"

    @property
    def kind(self) -> str:
        """A short word for the table: where the data lives and what it holds."""
        where = "external" if self.external else "internal"
        return f"{where}, {'disk+memory' if self.memory else 'disk only'}"


def parse_snapshot(xml: str, *, host: str, uuid: str, guest: str, current: bool) -> Snapshot:
    """A Snapshot from `virDomainSnapshotGetXMLDesc` output."""
    root = ET.fromstring(xml)
    created = root.findtext("creationTime")
    memory = root.find("memory")
    memory_mode = memory.get("snapshot", "no") if memory is not None else "no"
    disk_modes = {disk.get("snapshot", "") for disk in root.findall("disks/disk")}
    return Snapshot(
        host=host,
        uuid=uuid,
        guest=guest,
        name=root.findtext("name", ""),
        created=datetime.fromtimestamp(int(created), UTC) if created else None,
        state=root.findtext("state", ""),
        current=current,
        parent=root.findtext("parent/name"),
        description=root.findtext("description", ""),
        memory=memory_mode != "no",
        external=memory_mode == "external" or "external" in disk_modes,
    )


def snapshot_xml(name: str | None, description: str = "") -> str:
    """The XML `virsh snapshot-create-as NAME [--description TEXT]` sends: libvirt picks the
    name when none is given; both are escaped, whatever characters they hold."""
    root = ET.Element("domainsnapshot")
    if name:
        ET.SubElement(root, "name").text = name
    if description:
        ET.SubElement(root, "description").text = description
    return ET.tostring(root, encoding="unicode")


def create_flags(disk_only: bool, atomic: bool) -> int:
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY if disk_only else 0
    return flags | (libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC if atomic else 0)


def _ordered(snapshots: Iterable[Snapshot]) -> list[Snapshot]:
    """Oldest first; snapshots taken within the same second keep parents before children."""
    by_name = {s.name: s for s in snapshots}

    def depth(snap: Snapshot) -> int:
        seen: set[str] = set()
        while snap.parent in by_name and snap.name not in seen:
            seen.add(snap.name)
            snap = by_name[snap.parent]
        return len(seen)

    epoch = datetime.fromtimestamp(0, UTC)
    return sorted(by_name.values(), key=lambda s: (s.created or epoch, depth(s), s.name))


# ---- blocking calls (run on the host's threads) ----------------------------------------


def _current(dom: libvirt.virDomain) -> libvirt.virDomainSnapshot | None:
    return dom.snapshotCurrent(0) if dom.hasCurrentSnapshot(0) else None


def _parse(dom: libvirt.virDomain, host: str, snap: libvirt.virDomainSnapshot,
           current: bool) -> Snapshot:
    return parse_snapshot(snap.getXMLDesc(0), host=host, uuid=dom.UUIDString(),
                          guest=dom.name(), current=current)


def _list(dom: libvirt.virDomain, host: str) -> list[Snapshot]:
    taken = dom.listAllSnapshots(0)
    if not taken:
        return []  # the common case, in one call
    found = _current(dom)
    current = found.getName() if found is not None else None
    return _ordered(_parse(dom, host, snap, snap.getName() == current) for snap in taken)


def _read_one(dom: libvirt.virDomain, host: str, snap: libvirt.virDomainSnapshot) -> Snapshot:
    return _parse(dom, host, snap, bool(snap.isCurrent(0)))


def _list_host(conn: libvirt.virConnect, host: str) -> list[Snapshot]:
    found: list[Snapshot] = []
    for dom in conn.listAllDomains(0):
        try:
            found.extend(_list(dom, host))
        except libvirt.libvirtError as error:
            # A guest undefined between the listing and the call has nothing to show.
            if error.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
    return found


# ---- the async API ---------------------------------------------------------------------


async def list_snapshots(host: Host, uuid: str) -> list[Snapshot]:
    """`virsh snapshot-list`: every snapshot of the guest, oldest first."""
    name = host.name
    return await host.run_on_guest(uuid, lambda dom: _list(dom, name), "snapshot-list")


async def host_snapshots(host: Host) -> list[Snapshot]:
    """Every snapshot of every guest on one host, in one trip to its threads: for a
    fleet-wide list (`:snapshots`), each guest's oldest first."""
    name = host.name
    try:
        return await host.run(lambda conn: _list_host(conn, name))
    except libvirt.libvirtError as error:
        raise HostError(f"snapshot-list on {name}: {error.get_error_message()}") from error


async def current_snapshot(host: Host, uuid: str) -> Snapshot | None:
    """`virsh snapshot-current`: the snapshot the guest's state descends from, if any."""
    name = host.name

    def read(dom: libvirt.virDomain) -> Snapshot | None:
        found = _current(dom)
        return _read_one(dom, name, found) if found is not None else None

    return await host.run_on_guest(uuid, read, "snapshot-current")


async def set_current(host: Host, uuid: str, snapshot: str) -> str:
    """`virsh snapshot-current NAME`: marks a snapshot current without reverting to it (as
    virsh does, by redefining the snapshot with its own XML)."""
    def mark(dom: libvirt.virDomain) -> str:
        snap = dom.snapshotLookupByName(snapshot, 0)
        dom.snapshotCreateXML(snap.getXMLDesc(libvirt.VIR_DOMAIN_SNAPSHOT_XML_SECURE),
                              libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE
                              | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT)
        return str(dom.name())

    guest = await host.run_on_guest(uuid, mark, "snapshot-current")
    return f"{guest} on {host.name}: snapshot {snapshot} is now current"


async def create_snapshot(host: Host, uuid: str, name: str | None, *, description: str = "",
                          disk_only: bool = False, atomic: bool = False) -> Snapshot:
    """`virsh snapshot-create-as [NAME] [--description] [--disk-only] [--atomic]`; returns
    the snapshot as libvirt recorded it (with the name it chose when none was given)."""
    host_name = host.name
    xml, flags = snapshot_xml(name, description), create_flags(disk_only, atomic)

    def create(dom: libvirt.virDomain) -> Snapshot:
        return _read_one(dom, host_name, dom.snapshotCreateXML(xml, flags))

    return await host.run_on_guest(uuid, create, "snapshot-create-as", SNAPSHOT_TIMEOUT)


def created_sentence(snap: Snapshot) -> str:
    """How a created snapshot is reported."""
    return f"{snap.guest} on {snap.host}: snapshot {snap.name} created ({snap.kind})"


async def revert_snapshot(host: Host, uuid: str, snapshot: str, *, running: bool = False,
                          paused: bool = False, force: bool = False) -> str:
    """`virsh snapshot-revert NAME [--running|--paused] [--force]`: the guest returns to the
    snapshot's state (and memory, when it has one); whatever changed since is lost."""
    if running and paused:
        raise ValueError("choose --running or --paused, not both")
    flags = ((libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING if running else 0)
             | (libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED if paused else 0)
             | (libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_FORCE if force else 0))

    def revert(dom: libvirt.virDomain) -> str:
        dom.revertToSnapshot(dom.snapshotLookupByName(snapshot, 0), flags)
        return str(dom.name())

    guest = await host.run_on_guest(uuid, revert, "snapshot-revert", SNAPSHOT_TIMEOUT)
    return f"{guest} on {host.name}: reverted to snapshot {snapshot}"


async def delete_snapshot(host: Host, uuid: str, snapshot: str, *,
                          children: bool = False) -> str:
    """`virsh snapshot-delete NAME [--children]`: libvirt merges or drops the snapshot's data
    as its driver knows how, or refuses; kvmtui removes no file itself."""
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN if children else 0

    def delete(dom: libvirt.virDomain) -> tuple[str, int]:
        snap = dom.snapshotLookupByName(snapshot, 0)
        descendants = snap.numChildren(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS)
        snap.delete(flags)
        return str(dom.name()), int(descendants) if children else 0

    guest, gone = await host.run_on_guest(uuid, delete, "snapshot-delete", SNAPSHOT_TIMEOUT)
    also = f" and {gone} below it" if gone else ""
    return f"{guest} on {host.name}: snapshot {snapshot}{also} deleted"


# ---- several guests at once ------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotOutcome:
    """What became of one guest in a bulk snapshot: the snapshot, or the error line."""

    guest: GuestSnapshot
    snapshot: Snapshot | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.snapshot is not None


@dataclass(frozen=True)
class BulkSnapshot:
    name: str
    outcomes: tuple[SnapshotOutcome, ...]

    @property
    def failed(self) -> tuple[SnapshotOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.ok)

    @property
    def summary(self) -> str:
        """One line: how many guests on how many hosts got the snapshot, and the first
        failures (each already names its guest and host)."""
        done = [o for o in self.outcomes if o.ok]
        hosts = len({o.guest.host for o in done})
        line = (f"snapshot {self.name}: {len(done)} of {len(self.outcomes)} guests"
                f" on {hosts} host{'s' if hosts != 1 else ''}")
        if self.failed:
            line += f"; failed: {self.failed[0].error}"
            if len(self.failed) > 1:
                line += f" (and {len(self.failed) - 1} more)"
        return line


async def snapshot_guests(hosts: Sequence[Host], guests: Sequence[GuestSnapshot], name: str, *,
                          description: str = "", disk_only: bool = False,
                          atomic: bool = False) -> BulkSnapshot:
    """Takes the snapshot `name` of every guest ("pre-patch" before risky work): hosts work
    in parallel, each host's guests one after another (snapshots are heavy on its disks).
    One guest failing does not stop the others; the outcomes come in the order given."""
    if not name:
        raise ValueError("a bulk snapshot needs a name, the same for every guest")
    by_name = {host.name: host for host in hosts}

    async def one(guest: GuestSnapshot) -> SnapshotOutcome:
        host = by_name.get(guest.host)
        if host is None:
            return SnapshotOutcome(guest, None, f"{guest.name}: no host named {guest.host}")
        try:
            snap = await create_snapshot(host, guest.uuid, name, description=description,
                                         disk_only=disk_only, atomic=atomic)
        except HostError as error:
            return SnapshotOutcome(guest, None, str(error))
        return SnapshotOutcome(guest, snap)

    async def per_host(batch: list[GuestSnapshot]) -> list[SnapshotOutcome]:
        return [await one(guest) for guest in batch]

    batches: dict[str, list[GuestSnapshot]] = {}
    for guest in guests:
        batches.setdefault(guest.host, []).append(guest)
    results = await asyncio.gather(*(per_host(batch) for batch in batches.values()))
    outcome = {o.guest.key: o for batch in results for o in batch}
    return BulkSnapshot(name, tuple(outcome[g.key] for g in guests))
