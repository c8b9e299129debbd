"""Live backups of guests: full, then incremental against the last checkpoint.

A backup is libvirt's push-mode `virDomainBackupBegin` of every qcow2 disk, with a checkpoint
(a dirty bitmap in each qcow2) made at the same instant, so the next backup copies only the
blocks written since. Each point's files are storage volumes in a pool of the guest's host
(`--to POOL`): kvmtui creates them through libvirt before the backup starts and hands them to
QEMU (`REUSE_EXTERNAL`); an incremental point's volume has the previous point's as its qcow2
backing file, so every point is a readable chain on its own and a restore is one
`storageVolCreateXMLFrom` (qemu-img convert, through the chain) per disk. The guest's
definition is saved beside the data, as a volume of the pool, and in the catalogue.

The catalogue (the points: guest, host, time, kind, size, checkpoint, files, verified) is a
table of kvmtui's one SQLite store, so a jump box remembers its backups across runs.

A point is written to the catalogue only once QEMU said the job succeeded. An aborted or
failed backup deletes its volumes and its new checkpoint (libvirt merges that checkpoint's
bitmap into the previous one, which stays usable), so the chain is as it was. A point whose
checkpoint is gone from the guest (its host restarted it, a restore replaced its disks)
cannot be followed by an incremental: the next backup is a full one, and says so.

libvirt backs up (and makes checkpoints of) running domains only: a shut-off guest is
started paused for its backup (its CPUs never run) and destroyed again, whatever the end, so
its points are made as a running guest's and its checkpoint's bitmap, kept in the qcow2,
serves the next backup, shut off or not.

While it runs a backup is a job of the jobs view beside the migrations: progress and speed
from `jobStats()`, abort with `abortJob()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sqlite3
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

import libvirt

from kvmtui.core.clone import ClonePlan, DiskCopy, check_guest_name, make_guest, name_free
from kvmtui.core.errors import HostError, describe
from kvmtui.core.eventlog import EventLog
from kvmtui.core.fleet import Fleet
from kvmtui.core.host import DomainEvent, Host
from kvmtui.core.host_shell import NOT_FOUND, NoShell, Ran, run_on_host
from kvmtui.core.migration import JobState, elapsed
from kvmtui.core.model import GuestSnapshot, GuestState
from kvmtui.core.numbers import duration, plural, size
from kvmtui.core.publish import Publisher
from kvmtui.core.store import Store, Table
from kvmtui.core.uri import quoted

#: Seconds between two readings of a running backup's job statistics.
SAMPLE_INTERVAL = 0.3
#: Backups at once per host when several guests are backed up together.
DEFAULT_PER_HOST = 2
#: The pool a backup goes to when `--to` does not say.
DEFAULT_POOL = "default"
#: Checkpoints kvmtui makes are named so, and only those are its own to delete.
CHECKPOINT_PREFIX = "kvmtui-"
#: Tenths of a second a failed call waits for the host's connection to be marked lost.
LOST_SETTLE = 20
#: Seconds an aborted backup job left by a lost host may take to end.
END_WAIT = 30
#: Seconds between two looks for stale chains at most (the clock may jump).
STALE_CHECK_MAX = 3600.0
#: The states a guest is backed up in (a shut-off one is started paused for it).
BACKED_UP_STATES = frozenset(
    {GuestState.RUNNING, GuestState.BLOCKED, GuestState.PAUSED, GuestState.SHUTOFF}
)

TABLE = Table(
    "backup_points",
    1,
    (
        "CREATE TABLE IF NOT EXISTS backup_points ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL, guest TEXT NOT NULL,"
        " host TEXT NOT NULL, time REAL NOT NULL, kind TEXT NOT NULL, size INTEGER NOT NULL,"
        " checkpoint TEXT NOT NULL, pool TEXT NOT NULL, files TEXT NOT NULL,"
        " definition TEXT NOT NULL, verified REAL)",
        "CREATE INDEX IF NOT EXISTS backup_points_guest ON backup_points (uuid, host, time)",
    ),
)


@dataclass(frozen=True)
class BackupSettings:
    """The config's backup keys (`backup_pool`, `backup_per_host`, `backup_max_age`)."""

    pool: str = DEFAULT_POOL
    per_host: int = DEFAULT_PER_HOST
    #: A guest whose newest point is older than this is stale: a nightly backup plus slack.
    max_age_hours: float = 26.0


class BackupUnsupported(HostError):
    """The host's hypervisor (or libvirt driver) has no live backups."""


class HostLost(HostError):
    """The guest's host was lost while its backup ran."""


@dataclass(frozen=True)
class _Leftover:
    """What a backup cut off by its host's loss made (its checkpoint, which may not exist,
    and its volumes): nothing can be removed while the host is away, and QEMU may finish
    the job meanwhile, so it is removed once the host is back (`_tidy_soon`): the chain
    keeps no half point and the previous checkpoint stays the one to follow."""

    uuid: str
    checkpoint: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class BackupFile:
    """One disk of a point: its target, the volume holding its data, and the pool its own
    disk lived in (where a restore puts the disk back)."""

    disk: str  # vda
    path: str  # the point's volume
    home_pool: str  # the guest's disk's pool
    capacity: int  # bytes the guest sees

    def as_json(self) -> dict[str, object]:
        return {
            "disk": self.disk,
            "path": self.path,
            "home_pool": self.home_pool,
            "capacity": self.capacity,
        }


@dataclass(frozen=True)
class BackupPoint:
    """One backup of one guest, as the catalogue holds it."""

    id: int
    uuid: str
    guest: str
    host: str
    time: float
    kind: str  # "full" or "incremental"
    size: int  # bytes its volumes take
    checkpoint: str
    pool: str
    files: tuple[BackupFile, ...]
    definition: str
    verified: float | None

    @property
    def key(self) -> str:
        return str(self.id)

    @property
    def name(self) -> str:
        """How the view and `restore` name it: its time, to the second (local time)."""
        return _label(self.time)

    @property
    def ref(self) -> str:
        return f"{self.guest}@{self.host}"


@dataclass(frozen=True)
class Chain:
    """One guest's points, oldest first: what the backups view shows per guest."""

    uuid: str
    guest: str
    host: str
    points: tuple[BackupPoint, ...]

    @property
    def total(self) -> int:
        return sum(point.size for point in self.points)

    @property
    def newest(self) -> BackupPoint:
        return self.points[-1]


@dataclass(frozen=True)
class BackupRow:
    """One point as the backups view lists it, with what its guest's chain adds up to."""

    point: BackupPoint
    position: int  # 1 for the oldest point of the chain
    points: int  # in the chain
    total: int  # bytes of the whole chain
    newest: bool
    #: The guest's newest point is older than the config's `backup_max_age`.
    stale: bool

    @property
    def key(self) -> str:
        return self.point.key


# ---- jobs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupJobSnapshot:
    """A backup as the jobs view shows it, beside migrations (the same columns)."""

    id: int
    guest: str
    uuid: str
    host: str
    pool: str
    kind: str  # "full" / "incremental"
    state: JobState
    done: int | None
    total: int | None
    throughput_bps: float | None
    message: str
    started: float | None
    finished: float | None

    @property
    def key(self) -> str:
        return f"backup-{self.id}"

    @property
    def what(self) -> str:
        return f"{self.kind} backup"

    @property
    def route(self) -> str:
        return f"{self.host} -> pool {self.pool}"

    @property
    def percent(self) -> float | None:
        if self.state is JobState.SUCCEEDED:
            return 100.0
        if not self.total or self.done is None:
            return None
        return max(0.0, min(100.0, 100.0 * self.done / self.total))

    @property
    def where(self) -> str:
        return self.host

    @property
    def label(self) -> str:
        return self.state.value

    @property
    def describe(self) -> str:
        return f"{self.kind} backup to pool {self.pool}"

    @property
    def elapsed(self) -> float | None:
        return elapsed(self.started, self.finished)


class _Job:
    def __init__(self, job_id: int, guest: GuestSnapshot, pool: str, kind: str) -> None:
        self.id = job_id
        self.guest = guest.name
        self.uuid = guest.uuid
        self.host = guest.host
        self.pool = pool
        self.kind = kind
        self.state = JobState.QUEUED
        self.done: int | None = None
        self.total: int | None = None
        self.bps: float | None = None
        self.message = ""
        self.started: float | None = None
        self.finished: float | None = None
        self.abort_requested = False
        #: QEMU's job exists (backupBegin returned): an abort goes to libvirt from then on.
        self.begun = False

    def unless_aborted(self, what: str) -> None:
        """HostError when an abort was asked for."""
        if self.abort_requested:
            raise HostError(f"{what}: aborted before it began")

    def snapshot(self) -> BackupJobSnapshot:
        return BackupJobSnapshot(
            self.id,
            self.guest,
            self.uuid,
            self.host,
            self.pool,
            self.kind,
            self.state,
            self.done,
            self.total,
            self.bps,
            self.message,
            self.started,
            self.finished,
        )


# ---- reading a guest's disks ------------------------------------------------------------


@dataclass(frozen=True)
class DiskToSave:
    target: str
    path: str
    home_pool: str
    capacity: int


@dataclass(frozen=True)
class BackupPlan:
    """What a backup will do, read from the host before anything is made."""

    disks: tuple[DiskToSave, ...]
    skipped: tuple[str, ...]  # disks that are not qcow2 files: not backed up
    xml: str  # the persistent definition, saved beside the data
    pool_path: str
    checkpoints: frozenset[str]  # the guest's checkpoints now


def _supported(conn: libvirt.virConnect, virttype: str) -> bool:
    try:
        caps = conn.getDomainCapabilities(None, None, None, virttype, 0)
    except libvirt.libvirtError:
        return False
    backup = ET.fromstring(caps).find("features/backup")
    return backup is not None and backup.get("supported") == "yes"


def _read_plan(conn: libvirt.virConnect, uuid: str, pool_name: str, what: str) -> BackupPlan:
    dom = conn.lookupByUUIDString(uuid)
    live = ET.fromstring(dom.XMLDesc(0))
    if not _supported(conn, live.get("type", "kvm")):
        raise BackupUnsupported(
            f"{what}: this host has no live backups (its libvirt driver or QEMU lacks "
            "virDomainBackupBegin)"
        )
    try:
        pool = conn.storagePoolLookupByName(pool_name)
    except libvirt.libvirtError:
        raise HostError(
            f"{what}: no storage pool {quoted(pool_name)} on this host (--to POOL)"
        ) from None
    if not pool.isActive():
        raise HostError(f"{what}: pool {quoted(pool_name)} is not active (pool-start it)")
    path = ET.fromstring(pool.XMLDesc(0)).findtext("target/path") or ""
    disks: list[DiskToSave] = []
    skipped: list[str] = []
    for disk in live.iterfind("devices/disk"):
        target = disk.find("target")
        dev = target.get("dev", "?") if target is not None else "?"
        driver = disk.find("driver")
        source = disk.find("source")
        file = source.get("file", "") if source is not None else ""
        if (
            disk.get("device", "disk") != "disk"
            or disk.get("type", "file") != "file"
            or driver is None
            or driver.get("type") != "qcow2"
            or not file
        ):
            skipped.append(dev)
            continue
        try:
            home = conn.storageVolLookupByPath(file).storagePoolLookupByVolume().name()
        except libvirt.libvirtError:
            home = pool_name
        disks.append(DiskToSave(dev, file, home, int(dom.blockInfo(dev)[0])))
    if not disks:
        raise HostError(f"{what}: it has no qcow2 disk (checkpoints live in qcow2 files)")
    checkpoints = frozenset(c.getName() for c in dom.listAllCheckpoints())
    return BackupPlan(
        tuple(disks),
        tuple(skipped),
        dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE),
        path,
        checkpoints,
    )


def backup_xml(plan: BackupPlan, files: dict[str, str], incremental: str | None) -> str:
    """The `<domainbackup>` of a push-mode backup into the volumes made for it."""
    root = ET.Element("domainbackup")
    if incremental:
        ET.SubElement(root, "incremental").text = incremental
    disks = ET.SubElement(root, "disks")
    for disk in plan.disks:
        element = ET.SubElement(disks, "disk", name=disk.target, type="file")
        ET.SubElement(element, "target", file=files[disk.target])
        ET.SubElement(element, "driver", type="qcow2")
    for target in plan.skipped:
        ET.SubElement(disks, "disk", name=target, backup="no")
    return ET.tostring(root, encoding="unicode")


def checkpoint_xml(plan: BackupPlan, name: str) -> str:
    root = ET.Element("domaincheckpoint")
    ET.SubElement(root, "name").text = name
    disks = ET.SubElement(root, "disks")
    for disk in plan.disks:
        ET.SubElement(disks, "disk", name=disk.target, checkpoint="bitmap")
    for target in plan.skipped:
        ET.SubElement(disks, "disk", name=target, checkpoint="no")
    return ET.tostring(root, encoding="unicode")


def _volume_xml(name: str, capacity: int, backing: str | None) -> str:
    volume = ET.Element("volume")
    ET.SubElement(volume, "name").text = name
    ET.SubElement(volume, "capacity", unit="bytes").text = str(capacity)
    ET.SubElement(ET.SubElement(volume, "target"), "format", type="qcow2")
    if backing:
        store = ET.SubElement(volume, "backingStore")
        ET.SubElement(store, "path").text = backing
        ET.SubElement(store, "format", type="qcow2")
    return ET.tostring(volume, encoding="unicode")


# ---- the service ------------------------------------------------------------------------


class BackupService(Publisher):
    """The catalogue and the backups under way; see the module docstring.

    Publishes when a point is added, removed or verified and on every job sample."""

    def __init__(
        self,
        fleet: Fleet,
        store: Store,
        settings: BackupSettings | None = None,
        *,
        sample_interval: float = SAMPLE_INTERVAL,
        events: EventLog | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings or BackupSettings()
        #: Where a backup goes when `--to` does not say.
        self.pool = self.settings.pool
        #: Seconds after which a guest's newest point is stale (flagged in the view).
        self.max_age = self.settings.max_age_hours * 3600
        self.per_host = self.settings.per_host
        self.fleet = fleet
        self.store = store
        self.sample_interval = sample_interval
        self._points: list[BackupPoint] = []
        self._loaded = False
        self._jobs: dict[int, _Job] = {}
        self._ids = itertools.count(1)
        self._slots: dict[str, asyncio.Semaphore] = {}
        #: Where a stale chain raises its alert (`backup-stale`); None: nowhere (tests).
        self.events = events
        #: The newest points whose staleness is noted (this run, or found in the log).
        self._noted: set[int] = set()
        self._stale_timer: asyncio.TimerHandle | None = None
        self._stale_check: asyncio.Task[None] | None = None
        #: Per host, what backups cut off by its loss made, removed once it is back.
        self._leftovers: dict[str, list[_Leftover]] = defaultdict(list)
        self._tidying: dict[str, asyncio.Task[None]] = {}
        fleet.add_event_listener(self._host_event)

    # ---- the catalogue ------------------------------------------------------------------

    async def load(self) -> None:
        """Reads the catalogue from the store, once (every reader may ask)."""
        if not self._loaded:
            await self.refresh()

    async def refresh(self) -> None:
        """Reads the catalogue again: another kvmtui (the nightly one-shot `backup`) may
        have added points since."""
        self._loaded = True
        await self.store.add_table(TABLE)
        rows = await self.store.read("SELECT * FROM backup_points ORDER BY time, id")
        self._points = [_point(row) for row in rows]
        self.publish()
        await self.note_stale()

    # ---- staleness ----------------------------------------------------------------------

    async def note_stale(self) -> None:
        """Raises the `backup-stale` event (an alert, by the config's `[alerts]`) for each
        chain whose newest point is older than `max_age`, once per newest point: not again
        while no newer point comes, nor at the next start (the log says it was noted). Then
        sets the service's one timer for the moment the next chain goes stale. Run as the
        catalogue is read or changes, and by that timer; the views need not be on screen."""
        if self.events is None:
            return
        now = time.time()
        due: list[float] = []
        for chain in self.chains():
            newest = chain.newest
            stale_at = newest.time + self.max_age
            if stale_at > now:
                due.append(stale_at)
                continue
            if newest.id in self._noted:
                continue
            self._noted.add(newest.id)
            about = f"newest point {newest.name} "
            if await self.events.noted("backup-stale", chain.uuid, chain.host, newest.time, about):
                continue
            detail = (
                f"{about}is {duration(now - newest.time)} old, over backup_max_age "
                f"({self.max_age / 3600:g} h)"
            )
            self.events.note(
                DomainEvent(chain.host, chain.uuid, chain.guest, "backup-stale", params=detail)
            )
        self._set_stale_timer(min(due, default=None))

    def _set_stale_timer(self, when: float | None) -> None:
        if self._stale_timer is not None:
            self._stale_timer.cancel()
            self._stale_timer = None
        if when is None:
            return

        def check() -> None:
            self._stale_timer = None
            if self._stale_check is None or self._stale_check.done():
                self._stale_check = asyncio.ensure_future(self.note_stale())

        delay = min(max(1.0, when - time.time()), STALE_CHECK_MAX)
        self._stale_timer = asyncio.get_running_loop().call_later(delay, check)

    async def close(self) -> None:
        """Stops the staleness timer and what runs in the background (the fleet closes)."""
        self._set_stale_timer(None)
        self.fleet.remove_event_listener(self._host_event)
        for task in [self._stale_check, *self._tidying.values()]:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def points(self) -> list[BackupPoint]:
        return list(self._points)

    def chains(self) -> list[Chain]:
        """Per guest (UUID and host), its points oldest first; guests by name."""
        by_guest: dict[tuple[str, str], list[BackupPoint]] = defaultdict(list)
        for point in self._points:
            by_guest[(point.uuid, point.host)].append(point)
        chains = [
            Chain(uuid, points[-1].guest, host, tuple(points))
            for (uuid, host), points in by_guest.items()
        ]
        return sorted(chains, key=lambda c: (c.guest.lower(), c.host))

    def rows(self, now: float | None = None) -> list[BackupRow]:
        """Every point, each guest's chain together, oldest first: the backups view."""
        now = time.time() if now is None else now
        rows = []
        for chain in self.chains():
            stale = now - chain.newest.time > self.max_age
            count = len(chain.points)
            for position, point in enumerate(chain.points, start=1):
                rows.append(
                    BackupRow(point, position, count, chain.total, position == count, stale)
                )
        return rows

    def chain_of(self, uuid: str, host: str) -> list[BackupPoint]:
        return [p for p in self._points if p.uuid == uuid and p.host == host]

    def find_point(self, guest: str, host: str | None, name: str) -> BackupPoint:
        """The point `name` (as listed, or `latest`) of the guest called `guest`."""
        mine = [p for p in self._points if p.guest == guest and host in (None, p.host)]
        if not mine:
            raise HostError(f"restore: no backup of {quoted(guest)} in the catalogue")
        hosts = {p.host for p in mine}
        if len(hosts) > 1:
            raise HostError(
                f"restore: {quoted(guest)} has backups from {', '.join(sorted(hosts))}: "
                f"say {guest}@HOST"
            )
        if name == "latest":
            return mine[-1]
        for point in mine:
            if point.name == name:
                return point
        names = ", ".join(p.name for p in mine[-5:])
        raise HostError(f"restore: {guest} has no backup {quoted(name)} (newest: {names})")

    async def record(self, point: BackupPoint) -> BackupPoint:
        """Adds a point to the catalogue (its `id` is the store's); the backup's last step."""
        await self.store.write(
            "INSERT INTO backup_points (uuid, guest, host, time, kind, size, checkpoint, pool,"
            " files, definition, verified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                point.uuid,
                point.guest,
                point.host,
                point.time,
                point.kind,
                point.size,
                point.checkpoint,
                point.pool,
                json.dumps([f.as_json() for f in point.files]),
                point.definition,
                point.verified,
            ),
        )
        rows = await self.store.read(
            "SELECT id FROM backup_points WHERE uuid = ? AND host = ? AND time = ?",
            (point.uuid, point.host, point.time),
        )
        saved = replace(point, id=int(rows[-1]["id"]) if rows else -len(self._points) - 1)
        # a refresh meanwhile (another backup of the same run) may have read it already
        self._points = [p for p in self._points if p.id != saved.id] + [saved]
        self.publish()
        await self.note_stale()
        return saved

    async def _drop(self, point: BackupPoint) -> None:
        await self.store.write("DELETE FROM backup_points WHERE id = ?", (point.id,))
        self._points = [p for p in self._points if p.id != point.id]
        self.publish()
        await self.note_stale()

    async def _update(self, point: BackupPoint) -> None:
        await self.store.write(
            "UPDATE backup_points SET kind = ?, size = ?, verified = ? WHERE id = ?",
            (point.kind, point.size, point.verified, point.id),
        )
        self._points = [point if p.id == point.id else p for p in self._points]
        self.publish()

    # ---- jobs ---------------------------------------------------------------------------

    def jobs(self) -> list[BackupJobSnapshot]:
        return [job.snapshot() for job in self._jobs.values()]

    def active_job_for(self, host: str, uuid: str) -> BackupJobSnapshot | None:
        for job in self._jobs.values():
            if job.uuid == uuid and job.host == host and not job.state.finished:
                return job.snapshot()
        return None

    async def abort(self, host: str, uuid: str) -> str:
        """Aborts the guest's backup: its point is discarded, the chain stays as it was."""
        found = self.active_job_for(host, uuid)
        if found is None:
            raise HostError(f"backup abort: no backup of that guest is under way on {host}")
        job = self._jobs[found.id]
        job.abort_requested = True
        if job.state is JobState.QUEUED:
            return f"backup of {job.guest} cancelled before it started"
        if not job.begun:  # still making its volumes: it aborts itself once QEMU's job exists
            return f"backup of {job.guest} on {host}: aborting"
        await self.fleet.host(host).run_on_guest(uuid, lambda dom: dom.abortJob(), "domjobabort")
        return f"backup of {job.guest} on {host}: aborting"

    # ---- backing up ---------------------------------------------------------------------

    async def backup(
        self,
        guest: GuestSnapshot,
        *,
        pool: str = DEFAULT_POOL,
        incremental: bool | None = None,
        quiesce: bool = False,
        keep: int | None = None,
    ) -> str:
        """Backs the guest (running, paused or shut off) up into `pool` and returns the
        sentence saying so: incremental against its last point when that point's
        checkpoint is still there, else full (`incremental` False: full anyway; True:
        incremental or nothing). At most `per_host` run at once per host; the others wait
        in the jobs view. HostError says why not, and leaves nothing."""
        await self.refresh()  # another kvmtui (cron) may have added the last point
        what = f"backup {guest.name} on {guest.host}"
        if guest.state not in BACKED_UP_STATES:
            raise HostError(
                f"{what}: it is {guest.state.value}; kvmtui backs up running, paused and "
                "shut-off guests only"
            )
        if self.active_job_for(guest.host, guest.uuid):
            raise HostError(f"{what}: a backup of it is already under way")
        host = self.fleet.host(guest.host)
        tidying = self._tidy_soon(guest.host)  # a backup cut off earlier: its checkpoint first
        if tidying is not None:
            await asyncio.shield(tidying)
        plan = await host.run(lambda conn: _read_plan(conn, guest.uuid, pool, what), what=what)
        chain = self.chain_of(guest.uuid, guest.host)
        base: BackupPoint | None = None
        reason = ""  # why it is a full one
        if not chain:
            reason = "no earlier backup"
        elif incremental is not False:
            last = chain[-1]
            if last.checkpoint not in plan.checkpoints:
                reason = f"checkpoint {last.checkpoint} of the last backup is gone"
            elif {f.disk for f in last.files} != {d.target for d in plan.disks}:
                reason = "its disks changed since the last backup"
            else:
                base = last
        if incremental and base is None:
            raise HostError(f"{what}: no incremental backup possible ({reason}); back up in full")
        job = _Job(next(self._ids), guest, pool, "incremental" if base else "full")
        self._jobs[job.id] = job
        self.publish()
        slots = self._slots.setdefault(guest.host, asyncio.Semaphore(self.per_host))
        try:
            async with slots:
                if job.abort_requested:
                    self._finish(job, JobState.ABORTED, "cancelled before it started")
                    raise HostError(f"{what}: cancelled before it started")
                point, started = await self._run_started(job, host, plan, base, quiesce, what)
        except BaseException as error:
            if not job.state.finished:
                state = JobState.ABORTED if job.abort_requested else JobState.FAILED
                self._finish(job, state, describe(error))
            raise
        self._finish(job, JobState.SUCCEEDED, f"{point.kind} backup {point.name}")
        said = (
            f"{guest.name} on {guest.host}: {point.kind} backup {point.name} in pool {pool}"
            f" ({size(point.size)})" + (f"; full: {reason}" if reason and base is None else "")
        )
        if started:
            said += f"; {started}"
        elif quiesce:
            said += "; its filesystems were frozen through the guest agent as it began"
        if plan.skipped:
            said += f"; not backed up (not qcow2): {', '.join(plan.skipped)}"
        if keep is not None:
            removed = await self.prune(guest.uuid, guest.host, keep)
            if removed:
                said += f"; {removed}"
        return said

    async def _run_started(
        self,
        job: _Job,
        host: Host,
        plan: BackupPlan,
        base: BackupPoint | None,
        quiesce: bool,
        what: str,
    ) -> tuple[BackupPoint, str]:
        """`_run`, on a guest that runs: a shut-off one is started paused for it (libvirt
        backs up, and makes checkpoints of, running domains only; its CPUs never run) and
        destroyed again however the backup ends, so one mechanism makes every point and the
        checkpoint's bitmap is kept in the qcow2 for the next, incremental, backup. Started
        with AUTODESTROY: should kvmtui's connection go meanwhile, libvirt stops it. What to
        say of that ("" for a running guest) comes back with the point."""

        def start(dom: libvirt.virDomain) -> bool:
            if dom.isActive():
                return False
            dom.createWithFlags(
                libvirt.VIR_DOMAIN_START_PAUSED | libvirt.VIR_DOMAIN_START_AUTODESTROY
            )
            return True

        cold = await host.run(
            lambda conn: start(conn.lookupByUUIDString(job.uuid)),
            what=f"{what}: starting it paused",
        )
        if not cold:
            return await self._run(job, host, plan, base, quiesce, what), ""
        try:
            # a paused guest's agent does not answer; a shut-off one's filesystems are at rest
            point = await self._run(job, host, plan, base, False, what)
        finally:
            stuck = await self._stop_again(host, job.uuid)
        return point, stuck or "it was shut off: started paused for the backup and stopped again"

    @staticmethod
    async def _stop_again(host: Host, uuid: str) -> str:
        """Destroys the guest started paused for its backup; what to say when it would not
        stop ("" when it did, or when the host's loss took it down: AUTODESTROY)."""
        try:
            await host.run_on_guest(uuid, lambda dom: dom.destroy())
        except HostError as error:
            if host.connected:
                return (
                    "it was shut off and started paused for the backup, but would not stop "
                    f"again ({describe(error)}): destroy it"
                )
        return ""

    async def _run(
        self,
        job: _Job,
        host: Host,
        plan: BackupPlan,
        base: BackupPoint | None,
        quiesce: bool,
        what: str,
    ) -> BackupPoint:
        job.state = JobState.RUNNING
        self.publish()
        # A point is named by its second: a second backup of the guest within the same
        # second waits for the next one (its volumes and checkpoint are named so too).
        taken = {point.name for point in self.chain_of(job.uuid, job.host)}
        while _label(time.time()) in taken:
            await asyncio.sleep(0.1)
        job.started = stamp = time.time()
        label = _label(stamp)
        checkpoint = f"{CHECKPOINT_PREFIX}{label}"
        made: list[str] = []
        begun = False
        try:
            files = await self._make_targets(host, plan, base, job, label, made, what)
            definition_volume = await self._save_definition(host, job, plan, label, what)
            made.append(definition_volume)
            xml = backup_xml(plan, files, base.checkpoint if base else None)
            cxml = checkpoint_xml(plan, checkpoint)

            def begin(dom: libvirt.virDomain) -> None:
                if quiesce:
                    try:
                        dom.fsFreeze()
                    except libvirt.libvirtError as error:
                        raise HostError(
                            f"{what}: cannot quiesce: the guest agent does not answer "
                            f"({describe(error)}); back up without --quiesce"
                        ) from error
                try:
                    dom.backupBegin(xml, cxml, libvirt.VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL)
                finally:
                    if quiesce:
                        with contextlib.suppress(libvirt.libvirtError):
                            dom.fsThaw()

            job.unless_aborted(what)  # asked while the volumes were made: QEMU starts nothing
            await host.run_on_guest(job.uuid, begin, "backup-begin")
            begun = job.begun = True
            if job.abort_requested:  # asked while backupBegin ran
                await host.run_on_guest(job.uuid, lambda dom: dom.abortJob(), "domjobabort")
            await self._follow(job, host, what)
            sizes = await host.run(
                lambda conn: sum(
                    int(conn.storageVolLookupByPath(path).info()[2]) for path in files.values()
                ),
                what=what,
            )
        except BaseException as error:  # the job is finished (failed, aborted) by `backup`
            if isinstance(error, HostLost) or not host.connected:
                # nothing can be removed now; QEMU may even finish the job meanwhile
                self._leftovers[host.name].append(_Leftover(job.uuid, checkpoint, tuple(made)))
                left = f"; what it made is removed once {host.name} is back"
            else:
                left = await self._discard(host, job.uuid, checkpoint if begun else None, made)
            if isinstance(error, HostError):
                raise HostError(f"{error}{left}", error.code) from error
            raise
        point = BackupPoint(
            id=0,
            uuid=job.uuid,
            guest=job.guest,
            host=job.host,
            time=stamp,
            kind=job.kind,
            size=sizes,
            checkpoint=checkpoint,
            pool=job.pool,
            files=tuple(
                BackupFile(d.target, files[d.target], d.home_pool, d.capacity) for d in plan.disks
            ),
            definition=plan.xml,
            verified=None,
        )
        return await self.record(point)

    async def _make_targets(
        self,
        host: Host,
        plan: BackupPlan,
        base: BackupPoint | None,
        job: _Job,
        label: str,
        made: list[str],
        what: str,
    ) -> dict[str, str]:
        """A qcow2 volume per disk for QEMU to write into: an incremental point's on top of
        the previous point's volume, so the point reads as a whole disk."""
        backing = {f.disk: f.path for f in base.files} if base else {}
        files: dict[str, str] = {}
        for disk in plan.disks:
            xml = _volume_xml(
                f"{job.guest}-{label}-{disk.target}.qcow2", disk.capacity, backing.get(disk.target)
            )

            def create(conn: libvirt.virConnect, xml: str = xml) -> str:
                return str(conn.storagePoolLookupByName(job.pool).createXML(xml, 0).path())

            path = await host.run(create, what=f"{what}: creating the volume for {disk.target}")
            made.append(path)
            files[disk.target] = path
        return files

    async def _save_definition(
        self, host: Host, job: _Job, plan: BackupPlan, label: str, what: str
    ) -> str:
        """The guest's definition as a volume beside the data (uploaded through libvirt), so
        the pool alone is enough to rebuild the guest."""
        data = plan.xml.encode()
        name = f"{job.guest}-{label}.xml"
        xml = (
            f"<volume><name>{_escape(name)}</name><capacity unit='bytes'>{len(data)}</capacity>"
            "<target><format type='raw'/></target></volume>"
        )

        def save(conn: libvirt.virConnect) -> str:
            vol = conn.storagePoolLookupByName(job.pool).createXML(xml, 0)
            stream = conn.newStream(0)
            try:
                vol.upload(stream, 0, len(data), 0)
                view = memoryview(data)
                while view:
                    view = view[stream.send(view.tobytes()) :]
                stream.finish()
            except BaseException:
                with contextlib.suppress(libvirt.libvirtError):
                    stream.abort()
                with contextlib.suppress(libvirt.libvirtError):
                    vol.delete(0)
                raise
            return str(vol.path())

        return await host.run(save, what=f"{what}: saving its definition")

    async def _follow(self, job: _Job, host: Host, what: str) -> None:
        """Samples the job until it ends; HostError when it did not succeed."""
        last: tuple[float, int] | None = None
        while True:
            try:
                stats = await host.run_on_guest(
                    job.uuid, lambda dom: dom.jobStats(), "domjobinfo", timeout=10
                )
            except HostError as error:
                for _ in range(LOST_SETTLE):  # a dead daemon: its connection is marked lost
                    if not host.connected:
                        raise HostLost(
                            f"{what}: failed: {host.name} was lost mid-backup "
                            f"({describe(error)}); no point is kept"
                        ) from error
                    await asyncio.sleep(0.1)
                raise
            if stats.get("type", 0) == libvirt.VIR_DOMAIN_JOB_NONE:
                break
            done = stats.get("disk_processed")
            job.total = stats.get("disk_total", job.total)
            if done is not None:
                now = time.monotonic()
                if last is not None and now > last[0]:
                    job.bps = max(0.0, (done - last[1]) / (now - last[0]))
                last = (now, done)
                job.done = done
            self.publish()
            await asyncio.sleep(self.sample_interval)
        final = await host.run_on_guest(
            job.uuid,
            lambda dom: dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED),
            "domjobinfo --completed",
        )
        if final.get("success") is False or final.get("type") in (
            libvirt.VIR_DOMAIN_JOB_FAILED,
            libvirt.VIR_DOMAIN_JOB_CANCELLED,
        ):
            reason = final.get("errmsg") or "the job failed"
            verb = "aborted" if job.abort_requested else "failed"
            raise HostError(f"{what}: {verb} ({reason})")
        if final.get("disk_total") is not None:
            job.total = final["disk_total"]
            job.done = final.get("disk_processed", job.total)

    async def _discard(self, host: Host, uuid: str, checkpoint: str | None, made: list[str]) -> str:
        """Removes what a backup that did not succeed made: its checkpoint (libvirt merges
        its bitmap into the previous checkpoint's) and its volumes. "" when all went."""
        left: list[str] = []
        if checkpoint is not None:

            def drop(dom: libvirt.virDomain) -> None:
                dom.checkpointLookupByName(checkpoint).delete(0)

            try:
                await host.run_on_guest(uuid, drop, "checkpoint-delete")
            except HostError as error:
                if error.code != libvirt.VIR_ERR_NO_DOMAIN_CHECKPOINT:
                    left.append(f"checkpoint {checkpoint}")
        left += await self._delete(host, list(reversed(made)))
        return f"; could not remove {', '.join(left)}: remove by hand" if left else ""

    def _tidy_soon(self, host_name: str) -> asyncio.Task[None] | None:
        """Removes, in the background, what backups cut off by the host's loss made (their
        `_Leftover`s), once it is connected; the task doing it (one at a time per host), or
        None when there is nothing to remove."""
        task = self._tidying.get(host_name)
        if task is not None and not task.done():
            return task
        if not self._leftovers.get(host_name) or not self.fleet.host(host_name).connected:
            return None
        task = self._tidying[host_name] = asyncio.ensure_future(self._tidy(host_name))
        return task

    async def _tidy(self, host_name: str) -> None:
        """What `_tidy_soon` does: the backup job QEMU may still run for a leftover (libvirt
        takes it up again as it comes back) is aborted, then its checkpoint and volumes go,
        as after any failed backup; what will not go yet waits for the next time."""
        host = self.fleet.host(host_name)
        leftovers, self._leftovers[host_name] = self._leftovers[host_name], []
        for leftover in leftovers:
            try:
                await host.run_on_guest(leftover.uuid, _end_backup_job, "domjobabort", timeout=60)
            except HostError as error:
                if error.code != libvirt.VIR_ERR_NO_DOMAIN:
                    self._leftovers[host_name].append(leftover)
                    continue
            left = await self._discard(
                host, leftover.uuid, leftover.checkpoint, list(leftover.paths)
            )
            if left:
                self._leftovers[host_name].append(leftover)

    def _host_event(self, event: DomainEvent) -> None:
        if event.kind == "host-back":
            self._tidy_soon(event.host)

    def _finish(self, job: _Job, state: JobState, message: str) -> None:
        job.state = state
        job.message = message
        job.finished = time.time()
        if job.started is None:
            job.started = job.finished
        self.publish()

    # ---- retention ----------------------------------------------------------------------

    async def prune(self, uuid: str, host_name: str, keep: int) -> str:
        """Keeps the newest `keep` points of the guest; the oldest go. When the oldest point
        kept is incremental, the points it stands on are merged into it first (it becomes a
        full point, same volumes), so the chain never breaks. The sentence says what went."""
        if keep < 1:
            raise HostError(f"backup-prune: keep at least 1 point, not {keep}")
        await self.refresh()
        chain = self.chain_of(uuid, host_name)
        if len(chain) <= keep:
            return ""
        gone, kept = chain[:-keep], chain[-keep:]
        host = self.fleet.host(host_name)
        first = kept[0]
        if first.kind == "incremental":
            await self._merge_into(host, first)
            await self._update(replace(first, kind="full", size=await self._size(host, first)))
        for point in gone:
            await self._delete_volumes(host, point)
            await self._drop(point)
        return f"pruned {plural(len(gone), 'older point')} of {first.guest}"

    async def _merge_into(self, host: Host, point: BackupPoint) -> None:
        """Rewrites each of the point's volumes as a whole disk (no backing file), in place:
        copied flat into a scratch volume, then back under its own name, so the points after
        it, whose backing files name it, still find it."""
        for file in point.files:

            def flatten(conn: libvirt.virConnect, file: BackupFile = file) -> None:
                vol = conn.storageVolLookupByPath(file.path)
                pool = vol.storagePoolLookupByVolume()
                name = vol.name()
                scratch = pool.createXMLFrom(
                    _volume_xml(f".kvmtui-merge-{name}", file.capacity, None), vol, 0
                )
                try:
                    vol.delete(0)
                    pool.createXMLFrom(_volume_xml(name, file.capacity, None), scratch, 0)
                finally:
                    scratch.delete(0)

            await host.run_long(flatten, what=f"backup-prune {point.guest}: merging {file.disk}")

    async def _flatten(self, host: Host, file: BackupFile, prefix: str, what: str) -> str:
        """A scratch volume beside the point's file holding the whole disk (its chain read
        through by libvirt's qemu-img convert); its path."""

        def flatten(conn: libvirt.virConnect) -> str:
            vol = conn.storageVolLookupByPath(file.path)
            pool = vol.storagePoolLookupByVolume()
            xml = _volume_xml(f"{prefix}-{vol.name()}", file.capacity, None)
            return str(pool.createXMLFrom(xml, vol, 0).path())

        return await host.run_long(flatten, what=f"{what}: reading {file.path}")

    async def _delete(self, host: Host, paths: list[str]) -> list[str]:
        """Deletes the volumes at `paths`; those that would not go."""
        left = []
        for path in paths:

            def delete(conn: libvirt.virConnect, path: str = path) -> None:
                conn.storageVolLookupByPath(path).delete(0)

            try:
                await host.run(delete)
            except HostError:
                left.append(path)
        return left

    async def _size(self, host: Host, point: BackupPoint) -> int:
        return await host.run(
            lambda conn: sum(
                int(conn.storageVolLookupByPath(f.path).info()[2]) for f in point.files
            )
        )

    async def _delete_volumes(self, host: Host, point: BackupPoint) -> None:
        def delete(conn: libvirt.virConnect) -> None:
            pool = conn.storagePoolLookupByName(point.pool)
            paths = [f.path for f in point.files]
            names = {f"{point.guest}-{point.name}.xml"}
            for vol in pool.listAllVolumes(0):
                if vol.path() in paths or vol.name() in names:
                    vol.delete(0)

        await host.run(delete, what=f"backup-prune {point.guest}: deleting {point.name}")

    # ---- verifying and restoring --------------------------------------------------------

    async def verify(self, point: BackupPoint) -> str:
        """Checks the point twice: `qemu-img check` of each file it reads through (its own
        and those of the points it stands on, down to the full one), where kvmtui can run a
        program on the host (`core/host_shell.py`; libvirt has no API for it), and a read of
        every block through its chain (libvirt's qemu-img convert into a scratch volume,
        which fails on a broken or missing file, then deleted). A complaint of qemu-img's is
        the error, naming the file; the point is then no longer marked verified."""
        host = self.fleet.host(point.host)
        what = f"backup-verify {point.guest} {point.name} on {point.host}"
        checked = await self._check(host, point, what)
        for file in point.files:
            scratch = await self._flatten(host, file, ".kvmtui-verify", what)
            await self._delete(host, [scratch])
        await self._update(replace(point, verified=time.time()))
        return (
            f"{point.guest} backup {point.name}: {checked}; every block of "
            f"{plural(len(point.files), 'disk')} read back through its chain"
        )

    async def _check(self, host: Host, point: BackupPoint, what: str) -> str:
        """`qemu-img check` of every file the point reads through: what to say of it, or
        HostError naming the file and qemu-img's complaint."""
        chain = self.chain_of(point.uuid, point.host)
        under = chain[: chain.index(point) + 1] if point in chain else [point]
        full = max((i for i, p in enumerate(under) if p.kind == "full"), default=0)
        paths = [f.path for p in under[full:] for f in p.files]
        for path in paths:
            try:
                ran = await run_on_host(host, ["qemu-img", "check", "--output=json", "-U", path])
            except NoShell as error:
                return f"qemu-img check skipped: {error}"
            if ran.status == NOT_FOUND:
                return f"qemu-img check skipped: no qemu-img on {host.name}"
            complaint = check_complaint(ran)
            if complaint:
                if point.verified is not None:
                    await self._update(replace(point, verified=None))
                raise HostError(f"{what}: qemu-img check of {path}: {complaint}")
        return f"qemu-img check passed on {plural(len(paths), 'file')}"

    async def restore(
        self,
        point: BackupPoint,
        new_name: str | None,
        *,
        dest: str | None = None,
    ) -> str:
        """Rebuilds the point as the guest `new_name` (a new UUID and MACs), or as the
        original guest over its own disks when `new_name` is None (it must be shut off; its
        old disk volumes are deleted once the new definition is in, and its checkpoints'
        metadata dropped: the next backup is full). Fresh volumes in each disk's own pool;
        every volume made is removed again when a step fails. To another host (`dest`, a new
        guest only), each disk's chain is first made one flat scratch volume beside the
        point, streamed across as a clone's disks are, and the scratch removed."""
        host = self.fleet.host(point.host)
        target = self.fleet.host(dest) if dest else host
        across = target.name != host.name
        if across and new_name is None:
            raise HostError(
                f"restore {point.guest}: over the guest itself only on {host.name}, where "
                "it is backed up; to another host as a new guest (--as NEWNAME)"
            )
        over = new_name is None
        name = point.guest if new_name is None else new_name
        reason = check_guest_name(name)
        if reason:
            raise HostError(f"restore {point.guest}: {reason}")
        suffix = f"-restored-{point.name}" if over else ""
        flat: dict[str, str] = {}
        plan = ClonePlan(
            source=point.guest,
            host=point.host,
            new_name=name,
            linked=False,
            disks=tuple(
                DiskCopy(
                    f.disk,
                    flat.get(f.disk, f.path),
                    "qcow2",
                    f.home_pool,
                    f"{name}-{f.disk}{suffix}.qcow2",
                    f.capacity,
                    f.capacity,
                )
                for f in point.files
            ),
            shared=(),
            xml=point.definition,
            fresh_identity=not over,
        )
        old_paths: list[str] = []
        if over:
            old_paths = await host.run(
                lambda conn: _shut_off_disks(conn, point), what=f"restore {point.guest}"
            )
        else:
            await target.run(
                lambda conn: name_free(conn, name, f"restore {point.guest}"),
                what=f"restore {point.guest}",
            )
        what = f"restore {point.guest} {point.name}"
        if across:
            try:
                for file in point.files:
                    flat[file.disk] = await self._flatten(
                        host, file, f".kvmtui-restore-{name}", f"{what} on {host.name}"
                    )
                plan = replace(
                    plan,
                    disks=tuple(replace(d, source=flat[d.target]) for d in plan.disks),
                )
                await make_guest(host, plan, target, None, what)
            finally:
                await self._delete(host, list(flat.values()))
        else:
            await make_guest(host, plan, target, None, what)
        if not over:
            return f"{point.guest} backup {point.name} restored as {name} on {target.name}"
        left = await self._delete(host, old_paths)

        def forget(dom: libvirt.virDomain) -> None:
            for checkpoint in dom.listAllCheckpoints():
                checkpoint.delete(libvirt.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY)

        with contextlib.suppress(HostError):
            await host.run_on_guest(point.uuid, forget, "checkpoint-delete")
        said = f"{point.guest} on {host.name} restored from backup {point.name}"
        return said + (f"; old disks left: {', '.join(left)}" if left else "")


def _end_backup_job(dom: libvirt.virDomain) -> None:
    """Aborts the guest's backup job, if one runs, and waits (up to `END_WAIT` s) for its
    end: a checkpoint is not deleted under a running job."""
    for _ in range(END_WAIT * 10):
        stats = dom.jobStats()
        if stats.get("type", 0) == libvirt.VIR_DOMAIN_JOB_NONE:
            return
        if stats.get("operation") != libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP:
            raise HostError("another job runs on it")
        with contextlib.suppress(libvirt.libvirtError):  # it may have just ended
            dom.abortJob()
        time.sleep(0.1)
    raise HostError(f"its backup job did not end in {END_WAIT} s")


def check_complaint(ran: Ran) -> str:
    """What `qemu-img check --output=json` found wrong, in a few words ("" when nothing):
    its count of corruptions or errors and its first ERROR line, or why it could not check
    (the file would not open). Leaked clusters waste space only: no complaint."""
    try:
        report = json.loads(ran.out)
    except ValueError:
        report = None
    lines = [line.strip() for line in ran.err.splitlines() if line.strip()]
    if not isinstance(report, dict):
        said = lines[0].removeprefix("qemu-img: ") if lines else f"exit status {ran.status}"
        return said
    corruptions = int(report.get("corruptions", 0))
    errors = int(report.get("check-errors", 0))
    if not corruptions and not errors and ran.status in (0, 3):
        return ""
    found = [plural(corruptions, "corruption")] if corruptions else []
    found += [plural(errors, "check error")] if errors else []
    first = next((line for line in lines if line.startswith("ERROR")), "")
    return ", ".join(found or [f"exit status {ran.status}"]) + (f" ({first})" if first else "")


def _shut_off_disks(conn: libvirt.virConnect, point: BackupPoint) -> list[str]:
    """The disks a restore over the guest will replace; HostError unless it is shut off."""
    try:
        dom = conn.lookupByUUIDString(point.uuid)
    except libvirt.libvirtError:
        return []
    if dom.state()[0] != libvirt.VIR_DOMAIN_SHUTOFF:
        raise HostError(
            f"restore {point.guest}: it is not shut off; shut it down first, or restore "
            "as a new guest (--as NEWNAME)"
        )
    return disk_paths(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), [f.disk for f in point.files])


def disk_paths(xml: str, targets: Sequence[str]) -> list[str]:
    """The files behind the disks `targets` in a domain definition."""
    paths = []
    for disk in ET.fromstring(xml).iterfind("devices/disk"):
        target = disk.find("target")
        source = disk.find("source")
        if (
            target is not None
            and source is not None
            and target.get("dev") in targets
            and source.get("file")
        ):
            paths.append(source.get("file", ""))
    return paths


def _label(when: float) -> str:
    """`20261207-013458`: a point's name, from its time (local)."""
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(when))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _point(row: sqlite3.Row) -> BackupPoint:
    files = tuple(
        BackupFile(str(f["disk"]), str(f["path"]), str(f["home_pool"]), int(f["capacity"]))
        for f in json.loads(row["files"])
    )
    verified = row["verified"]
    return BackupPoint(
        id=int(row["id"]),
        uuid=row["uuid"],
        guest=row["guest"],
        host=row["host"],
        time=float(row["time"]),
        kind=row["kind"],
        size=int(row["size"]),
        checkpoint=row["checkpoint"],
        pool=row["pool"],
        files=files,
        definition=row["definition"],
        verified=float(verified) if verified is not None else None,
    )
