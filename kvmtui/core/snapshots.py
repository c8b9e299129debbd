"""A guest's snapshots, as `virsh snapshot-*` sees them: list, create, revert, delete, current.

Every call goes through the guest's host (`Host.run_on_guest`), so a failure reads as one line
naming the verb, the guest and the host, and quoting libvirt. External (disk-only) snapshots
are listed and created like internal ones; reverting to or deleting them is passed to libvirt
unchanged and libvirt's own refusal is what the operator reads: kvmtui never decides which
image files a snapshot owns, and never deletes one itself (a wrong guess loses data).

`SnapshotBook` is the service the `:snapshots` view follows and every snapshot change made
here goes through: libvirt sends no event when a snapshot is taken or dropped, so the book
reads them again after its own changes, while the view shows them and on a slow cadence,
and it keeps the calls under way with their progress (a running guest's memory takes
minutes to save under TCG).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TypeVar

import libvirt

from kvmtui.core.errors import describe
from kvmtui.core.fleet import Fleet
from kvmtui.core.host import DomainEvent, Host, HostError
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.resource import ResourceService
from kvmtui.core.uri import quoted
from kvmtui.core.words import did_you_mean

T = TypeVar("T")

#: Told how far a long snapshot call is: (bytes done, bytes in all), from libvirt's job.
Progress = Callable[[int, int], None]

#: How often a long snapshot call's job figures are read while it runs.
PROGRESS_EVERY = 1.0


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
    def guest_key(self) -> str:
        """The key of the guest it belongs to (`GuestSnapshot.key`)."""
        return f"{self.uuid}@{self.host}"

    @property
    def key(self) -> str:
        """Unique across the fleet: a snapshot name is unique within its guest only."""
        return f"{self.guest_key}/{self.name}"

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


def check_name(name: str) -> str:
    """`name` if it can name a snapshot, else ValueError with the reason in a few words:
    libvirt takes almost anything, but a control character or a slash (a file name on some
    drivers) in a name is a paste gone wrong, not a name anyone can type again."""
    if not name.strip():
        raise ValueError("a snapshot name cannot be empty")
    bad = next((ch for ch in name if unicodedata.category(ch) == "Cc" or ch == "/"), None)
    if bad is not None:
        raise ValueError(f"a snapshot name cannot hold {bad!a}")
    return name


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
    """virsh's `--disk-only` and `--atomic` as libvirt's flags."""
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


def _parse(
    dom: libvirt.virDomain, host: str, snap: libvirt.virDomainSnapshot, current: bool
) -> Snapshot:
    return parse_snapshot(
        snap.getXMLDesc(0), host=host, uuid=dom.UUIDString(), guest=dom.name(), current=current
    )


def _list(dom: libvirt.virDomain, host: str) -> list[Snapshot]:
    taken = dom.listAllSnapshots(0)
    if not taken:
        return []  # the common case, in one call
    found = _current(dom)
    current = found.getName() if found is not None else None
    return _ordered(_parse(dom, host, snap, snap.getName() == current) for snap in taken)


def _read_one(dom: libvirt.virDomain, host: str, snap: libvirt.virDomainSnapshot) -> Snapshot:
    return _parse(dom, host, snap, bool(snap.isCurrent(0)))


def _job_figures(dom: libvirt.virDomain) -> tuple[int, int] | None:
    """(done, total) bytes of the guest's job, when one with figures runs: saving or loading
    its memory reports them like a migration to a file."""
    stats = dom.jobStats(0)
    if stats.get("type", libvirt.VIR_DOMAIN_JOB_NONE) == libvirt.VIR_DOMAIN_JOB_NONE:
        return None
    total = stats.get("memory_total") or stats.get("data_total")
    done = stats.get("memory_processed") or stats.get("data_processed") or 0
    return (int(done), int(total)) if total else None


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


async def _long_call(
    host: Host,
    uuid: str,
    fn: Callable[[libvirt.virDomain], T],
    what: str,
    progress: Progress | None,
) -> T:
    """`fn` on a thread of its own (saving or loading a guest's memory takes minutes, and
    must not hold the host's lane from its ticks), with the guest's job figures read every
    PROGRESS_EVERY seconds and handed to `progress` meanwhile. A driver that keeps no job
    figures (test:///) simply reports none."""
    call = asyncio.ensure_future(host.run_on_guest(uuid, fn, what, long=True))
    while progress is not None and not call.done():
        await asyncio.wait([call], timeout=PROGRESS_EVERY)
        if call.done():
            break
        with contextlib.suppress(HostError):
            figures = await host.run_on_guest(uuid, _job_figures, "domjobinfo")
            if figures is not None and not call.done():
                progress(*figures)
    return await call


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
        dom.snapshotCreateXML(
            snap.getXMLDesc(libvirt.VIR_DOMAIN_SNAPSHOT_XML_SECURE),
            libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE
            | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT,
        )
        return str(dom.name())

    guest = await host.run_on_guest(uuid, mark, "snapshot-current")
    return f"{guest} on {host.name}: snapshot {snapshot} is now current"


async def create_snapshot(
    host: Host,
    uuid: str,
    name: str | None,
    *,
    description: str = "",
    disk_only: bool = False,
    atomic: bool = False,
    progress: Progress | None = None,
) -> Snapshot:
    """`virsh snapshot-create-as [NAME] [--description] [--disk-only] [--atomic]`; returns
    the snapshot as libvirt recorded it (with the name it chose when none was given)."""
    host_name = host.name
    xml = snapshot_xml(check_name(name) if name is not None else None, description)
    flags = create_flags(disk_only, atomic)

    def create(dom: libvirt.virDomain) -> Snapshot:
        return _read_one(dom, host_name, dom.snapshotCreateXML(xml, flags))

    return await _long_call(host, uuid, create, "snapshot-create-as", progress)


def created_sentence(snap: Snapshot) -> str:
    """How a created snapshot is reported."""
    return f"{snap.guest} on {snap.host}: snapshot {snap.name} created ({snap.kind})"


async def revert_snapshot(
    host: Host,
    uuid: str,
    snapshot: str,
    *,
    running: bool = False,
    paused: bool = False,
    force: bool = False,
    progress: Progress | None = None,
) -> str:
    """`virsh snapshot-revert NAME [--running|--paused] [--force]`: the guest returns to the
    snapshot's state (and memory, when it has one); whatever changed since is lost."""
    if running and paused:
        raise ValueError("choose --running or --paused, not both")
    flags = (
        (libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING if running else 0)
        | (libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED if paused else 0)
        | (libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_FORCE if force else 0)
    )

    def revert(dom: libvirt.virDomain) -> str:
        dom.revertToSnapshot(dom.snapshotLookupByName(snapshot, 0), flags)
        return str(dom.name())

    guest = await _long_call(host, uuid, revert, "snapshot-revert", progress)
    return f"{guest} on {host.name}: reverted to snapshot {snapshot}"


async def delete_snapshot(host: Host, uuid: str, snapshot: str, *, children: bool = False) -> str:
    """`virsh snapshot-delete NAME [--children]`: libvirt merges or drops the snapshot's data
    as its driver knows how, or refuses; kvmtui removes no file itself."""
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN if children else 0

    def delete(dom: libvirt.virDomain) -> tuple[str, int]:
        snap = dom.snapshotLookupByName(snapshot, 0)
        descendants = snap.numChildren(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS)
        snap.delete(flags)
        return str(dom.name()), int(descendants) if children else 0

    # Merging an internal snapshot's data away rewrites the image: long, without figures.
    guest, gone = await _long_call(host, uuid, delete, "snapshot-delete", None)
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
        line = (
            f"snapshot {self.name}: {len(done)} of {len(self.outcomes)} guests"
            f" on {hosts} host{'s' if hosts != 1 else ''}"
        )
        if self.failed:
            line += f"; failed: {self.failed[0].error}"
            if len(self.failed) > 1:
                line += f" (and {len(self.failed) - 1} more)"
        return line


@dataclass(frozen=True)
class SnapshotJob:
    """A snapshot call under way on one guest, with libvirt's figures once it has some."""

    id: int
    guest: str  # as the operator names it: `name@host`
    what: str  # "taking pre-patch", "reverting to pre-patch" ...
    #: When it began (time.monotonic()): QEMU's internal snapshots (savevm) report no
    #: figures, so how long it has run is what the operator has to go on.
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    total: int = 0

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def percent(self) -> float | None:
        return 100.0 * self.done / self.total if self.total else None


#: The lifecycle events after which a host's snapshots are read again.
_DEFINITIONS = frozenset({libvirt.VIR_DOMAIN_EVENT_DEFINED, libvirt.VIR_DOMAIN_EVENT_UNDEFINED})


def _with_guest(
    held: Sequence[Snapshot], guest_key: str, snaps: Sequence[Snapshot]
) -> tuple[Snapshot, ...]:
    """A host's rows with one guest's replaced by `snaps`, where that guest's rows were
    (at the end when it had none)."""
    rows: list[Snapshot] = []
    placed = False
    for snap in held:
        if snap.guest_key != guest_key:
            rows.append(snap)
        elif not placed:
            rows.extend(snaps)
            placed = True
    if not placed:
        rows.extend(snaps)
    return tuple(rows)


class SnapshotBook(ResourceService[tuple[Snapshot, ...]]):
    """The fleet's snapshots and the snapshot calls under way; see the module docstring.

    On the resource-service base (kvmtui.core.resource): read while the view shows them,
    when a guest is defined or undefined, and every `CADENCE` seconds for snapshots taken
    by another tool (libvirt tells of none). Every change goes through here (called by
    the controller's `change`, never on its own): the guest's rows are read again when it
    ends, whichever way it ends, so the view shows what libvirt has rather than what was
    asked for.
    """

    EVENTS = frozenset({"lifecycle"})
    CADENCE = 30.0

    def __init__(self, fleet: Fleet) -> None:
        super().__init__(fleet)
        self._jobs: dict[int, SnapshotJob] = {}
        self._ids = itertools.count(1)

    async def read_host(self, host: Host) -> tuple[Snapshot, ...]:
        return tuple(await host_snapshots(host))

    def on_event(self, event: DomainEvent) -> None:
        """Only a guest defined or undefined changes the snapshots there are (a guest
        undefined takes its own with it)."""
        if event.event in _DEFINITIONS:
            super().on_event(event)

    # ---- what the view reads ------------------------------------------------------------

    def rows(self) -> list[Snapshot]:
        """Every snapshot known, each guest's oldest first."""
        return [snap for snaps in self.readings() for snap in snaps]

    def jobs(self) -> list[SnapshotJob]:
        """The calls under way, oldest first."""
        return list(self._jobs.values())

    async def _reread(self, guest: GuestSnapshot) -> None:
        """One guest's rows after a change to them, laid into its host's reading; a failed
        read leaves the change done and says so in `errors`."""
        number = self.reading_begins()
        try:
            snaps = await list_snapshots(self.fleet.host(guest.host), guest.uuid)
        except HostError as error:
            if error.code != libvirt.VIR_ERR_NO_DOMAIN:
                self.errors[guest.host] = describe(error)
                self.publish()
                return
            snaps = []
        if self.hold(
            guest.host, number, _with_guest(self.reading(guest.host) or (), guest.key, snaps)
        ):
            self.publish()

    async def lookup(self, what: str, guest: GuestSnapshot, name: str) -> Snapshot:
        """The guest's snapshot `name` as libvirt has it now, read before a question is
        asked about it; HostError naming the snapshots it does have otherwise."""
        snaps = await list_snapshots(self.fleet.host(guest.host), guest.uuid)
        found = next((s for s in snaps if s.name == name), None)
        if found is None:
            names = [s.name for s in snaps]
            has = f"it has {', '.join(names[-5:])}" if names else "it has none"
            raise HostError(
                f"{what} {guest.name} on {guest.host}: no snapshot {quoted(name)}"
                f"{did_you_mean(name, names)} ({has})"
            )
        return found

    # ---- changes ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _job(self, guest: GuestSnapshot, what: str) -> AsyncIterator[Progress]:
        """Shows the call as under way while it runs, its figures as they come, and reads
        the guest's rows again at the end."""
        job = SnapshotJob(next(self._ids), guest.ref, what)
        self._jobs[job.id] = job

        def progress(done: int, total: int) -> None:
            if job.id in self._jobs:
                self._jobs[job.id] = replace(self._jobs[job.id], done=done, total=total)
                self.publish()

        self.publish()
        try:
            yield progress
        finally:
            del self._jobs[job.id]
            await self._reread(guest)

    async def _run(
        self, guest: GuestSnapshot, what: str, call: Callable[[Host, Progress], Awaitable[T]]
    ) -> T:
        host = self.fleet.host(guest.host)
        async with self._job(guest, what) as progress:
            return await call(host, progress)

    async def create(
        self,
        guest: GuestSnapshot,
        name: str | None,
        *,
        description: str = "",
        disk_only: bool = False,
        atomic: bool = False,
    ) -> Snapshot:
        """`create_snapshot`, shown under way."""
        return await self._run(
            guest,
            f"taking {name or 'a snapshot'}",
            lambda host, p: create_snapshot(
                host,
                guest.uuid,
                name,
                description=description,
                disk_only=disk_only,
                atomic=atomic,
                progress=p,
            ),
        )

    async def revert(
        self,
        guest: GuestSnapshot,
        name: str,
        *,
        running: bool = False,
        paused: bool = False,
        force: bool = False,
    ) -> str:
        """`revert_snapshot`, shown under way."""
        return await self._run(
            guest,
            f"reverting to {name}",
            lambda host, p: revert_snapshot(
                host, guest.uuid, name, running=running, paused=paused, force=force, progress=p
            ),
        )

    async def delete(self, guest: GuestSnapshot, name: str, *, children: bool = False) -> str:
        """`delete_snapshot`, shown under way."""
        return await self._run(
            guest,
            f"deleting {name}",
            lambda host, _p: delete_snapshot(host, guest.uuid, name, children=children),
        )

    async def set_current(self, guest: GuestSnapshot, name: str) -> str:
        """`set_current`, the rows read again."""
        return await self._run(
            guest, f"marking {name} current", lambda host, _p: set_current(host, guest.uuid, name)
        )

    async def snapshot_guests(
        self,
        guests: Sequence[GuestSnapshot],
        name: str,
        *,
        description: str = "",
        disk_only: bool = False,
        atomic: bool = False,
    ) -> BulkSnapshot:
        """Takes the snapshot `name` of every guest ("pre-patch" before risky work): hosts
        work in parallel, each host's guests one after another (snapshots are heavy on its
        disks). One guest failing does not stop the others; outcomes come in the order
        given."""
        check_name(name)

        async def one(guest: GuestSnapshot) -> SnapshotOutcome:
            try:
                snap = await self.create(
                    guest, name, description=description, disk_only=disk_only, atomic=atomic
                )
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
