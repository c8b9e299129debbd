"""Block jobs of running guests as jobs of the jobs view: `blockcopy` (move a live disk to
another path or pool, then pivot onto it), `blockpull` (fill an overlay from its backing
chain), `blockcommit` (merge an overlay down into its backing file); `blockresize` is one
call, no job.

Each job is started with libvirt's call and then sampled with `blockJobInfo` (cur / end
bytes) until it ends. A copy (and an active commit) does not end by itself: once the two
sides are in step it is "ready" and mirrors every write until it is pivoted (the guest
switches to the new side) or aborted (it stays on the old). `--pivot` pivots the moment it
is ready; else `p` in the jobs view or `blockjob NAME DISK --pivot` does. After a copy's
pivot the guest's persistent definition is pointed at the new file too, so the move
outlives a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import libvirt

from kvmtui.core.errors import HostError, describe
from kvmtui.core.fleet import Fleet
from kvmtui.core.migration import JobState, elapsed
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.publish import Publisher
from kvmtui.core.uri import quoted

SAMPLE_INTERVAL = 0.3


@dataclass(frozen=True)
class BlockJobSnapshot:
    """A block job as the jobs view shows it (the `Job` shape of core/jobs.py)."""

    id: int
    kind: str  # blockcopy / blockpull / blockcommit
    guest: str
    uuid: str
    host: str
    disk: str
    target: str  # where a copy goes, "" for the others
    state: JobState
    ready: bool  # a copy or active commit in step, waiting for its pivot
    done: int | None
    total: int | None
    throughput_bps: float | None
    message: str
    started: float | None
    finished: float | None

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.id}"

    @property
    def what(self) -> str:
        return self.kind

    @property
    def route(self) -> str:
        return f"{self.host} {self.disk}" + (f" -> {self.target}" if self.target else "")

    @property
    def where(self) -> str:
        return self.host

    @property
    def percent(self) -> float | None:
        if self.state is JobState.SUCCEEDED or self.ready:
            return 100.0
        if not self.total or self.done is None:
            return None
        return max(0.0, min(100.0, 100.0 * self.done / self.total))

    @property
    def label(self) -> str:
        if self.state is JobState.RUNNING and self.ready:
            return "ready: pivot (p) or abort (a)"
        return self.state.value

    @property
    def describe(self) -> str:
        return f"{self.kind} of {self.disk}"

    @property
    def elapsed(self) -> float | None:
        return elapsed(self.started, self.finished)


class _Job:
    def __init__(self, job_id: int, kind: str, guest: GuestSnapshot, disk: str, target: str):
        self.id = job_id
        self.kind = kind
        self.guest = guest.name
        self.uuid = guest.uuid
        self.host = guest.host
        self.disk = disk
        self.target = target
        self.state = JobState.RUNNING
        self.ready = False
        self.done: int | None = None
        self.total: int | None = None
        self.bps: float | None = None
        self.message = ""
        self.started = time.time()
        self.finished: float | None = None
        self.pivot_when_ready = False
        self.pivoted = False
        self.abort_requested = False

    def snapshot(self) -> BlockJobSnapshot:
        return BlockJobSnapshot(
            self.id,
            self.kind,
            self.guest,
            self.uuid,
            self.host,
            self.disk,
            self.target,
            self.state,
            self.ready,
            self.done,
            self.total,
            self.bps,
            self.message,
            self.started,
            self.finished,
        )


def _disk_path(xml: str, disk: str) -> str:
    for element in ET.fromstring(xml).iterfind("devices/disk"):
        target = element.find("target")
        source = element.find("source")
        if target is not None and target.get("dev") == disk and source is not None:
            return source.get("file", "")
    raise HostError(f"no disk {quoted(disk)} (name it by its target, vda, sda ...)")


def _point_definition(conn: libvirt.virConnect, uuid: str, disk: str, path: str) -> None:
    """The persistent definition's `disk` on `path`, as the running guest now is."""
    dom = conn.lookupByUUIDString(uuid)
    if not dom.isPersistent():
        return
    root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    for element in root.iterfind("devices/disk"):
        target = element.find("target")
        source = element.find("source")
        if target is not None and target.get("dev") == disk and source is not None:
            source.set("file", path)
            for backing in element.findall("backingStore"):
                element.remove(backing)
    conn.defineXML(ET.tostring(root, encoding="unicode"))


class BlockJobs(Publisher):
    """Every block job started here; publishes on each start, sample and end."""

    def __init__(self, fleet: Fleet, sample_interval: float = SAMPLE_INTERVAL) -> None:
        super().__init__()
        self.fleet = fleet
        self.sample_interval = sample_interval
        self._jobs: dict[int, _Job] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    def jobs(self) -> list[BlockJobSnapshot]:
        return [job.snapshot() for job in self._jobs.values()]

    def _active(self, host: str, uuid: str, disk: str | None = None) -> _Job | None:
        for job in self._jobs.values():
            if (
                job.uuid == uuid
                and job.host == host
                and disk in (None, job.disk)
                and not job.state.finished
            ):
                return job
        return None

    # ---- starting -----------------------------------------------------------------------

    async def copy(
        self,
        guest: GuestSnapshot,
        disk: str,
        *,
        dest: str | None = None,
        pool: str | None = None,
        pivot: bool = False,
    ) -> BlockJobSnapshot:
        """Starts copying the running guest's `disk` to the file `dest`, or to a new qcow2
        volume in `pool`; with `pivot`, the guest switches to the copy once it is in step."""
        what = f"blockcopy {guest.name} {disk} on {guest.host}"
        host = self.fleet.host(guest.host)

        def start(conn: libvirt.virConnect) -> str:
            dom = conn.lookupByUUIDString(guest.uuid)
            source = _disk_path(dom.XMLDesc(0), disk)
            capacity = int(dom.blockInfo(disk)[0])
            # A persistent guest's copy is allowed as a job that a restart forgets (the
            # definition is pointed at the copy after the pivot instead).
            flags = libvirt.VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB
            target = dest
            if pool is not None:
                name = f"{guest.name}-{disk}-{time.strftime('%Y%m%d-%H%M%S')}.qcow2"
                volume = (
                    f"<volume><name>{name}</name><capacity unit='bytes'>{capacity}</capacity>"
                    "<target><format type='qcow2'/></target></volume>"
                )
                target = conn.storagePoolLookupByName(pool).createXML(volume, 0).path()
                flags |= libvirt.VIR_DOMAIN_BLOCK_COPY_REUSE_EXT
            elif target is None:
                raise HostError(f"{what}: say where to: --dest PATH or --pool POOL")
            elif target == source:
                raise HostError(f"{what}: it is already on {target}")
            else:
                with contextlib.suppress(libvirt.libvirtError):
                    conn.storageVolLookupByPath(target)
                    flags |= libvirt.VIR_DOMAIN_BLOCK_COPY_REUSE_EXT
            xml = f"<disk type='file'><source file='{_attr(target)}'/><driver type='qcow2'/></disk>"
            try:
                dom.blockCopy(disk, xml, None, flags)
            except libvirt.libvirtError:
                if pool is not None:
                    with contextlib.suppress(libvirt.libvirtError):
                        conn.storageVolLookupByPath(target).delete(0)
                raise
            return str(target)

        target = await host.run(start, what=what)
        job = self._start("blockcopy", guest, disk, target)
        job.pivot_when_ready = pivot
        return job.snapshot()

    async def pull(self, guest: GuestSnapshot, disk: str) -> BlockJobSnapshot:
        """Fills the disk's top image from its backing chain, which it then no longer needs."""
        await self.fleet.host(guest.host).run_on_guest(
            guest.uuid, lambda dom: dom.blockPull(disk, 0, 0), "blockpull"
        )
        return self._start("blockpull", guest, disk, "").snapshot()

    async def commit(
        self, guest: GuestSnapshot, disk: str, *, active: bool = False, pivot: bool = False
    ) -> BlockJobSnapshot:
        """Merges the disk's top overlay (`active`: the one the guest writes to) into its
        backing file; an active commit is then pivoted like a copy."""
        flags = libvirt.VIR_DOMAIN_BLOCK_COMMIT_ACTIVE if active else 0
        await self.fleet.host(guest.host).run_on_guest(
            guest.uuid,
            lambda dom: dom.blockCommit(disk, None, None, 0, flags),
            "blockcommit",
        )
        job = self._start("blockcommit", guest, disk, "")
        job.pivot_when_ready = pivot
        return job.snapshot()

    async def resize(self, guest: GuestSnapshot, disk: str, size: int) -> str:
        """Grows (or shrinks) the disk the guest sees to `size` bytes, at once."""
        await self.fleet.host(guest.host).run_on_guest(
            guest.uuid,
            lambda dom: dom.blockResize(disk, size, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES),
            "blockresize",
        )
        return f"{guest.name} on {guest.host}: {disk} resized to {size} bytes"

    def _start(self, kind: str, guest: GuestSnapshot, disk: str, target: str) -> _Job:
        job = _Job(next(self._ids), kind, guest, disk, target)
        self._jobs[job.id] = job
        task = asyncio.get_running_loop().create_task(self._follow(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.publish()
        return job

    async def wait(self, key: str) -> BlockJobSnapshot:
        """The job once it has ended (or is ready for its pivot)."""
        job = next(j for j in self._jobs.values() if j.snapshot().key == key)
        while not job.state.finished and not (job.ready and not job.pivot_when_ready):
            await asyncio.sleep(self.sample_interval)
        return job.snapshot()

    # ---- steering -----------------------------------------------------------------------

    async def pivot(self, host: str, uuid: str, disk: str | None = None) -> str:
        job = self._active(host, uuid, disk)
        if job is None:
            raise HostError("blockjob --pivot: no copy or active commit of that disk runs here")
        if not job.ready:
            job.pivot_when_ready = True
            return f"{job.guest} {job.disk}: pivots as soon as the copy is in step"
        await self._pivot(job)
        return f"{job.guest} on {job.host}: {job.disk} pivoted" + (
            f" to {job.target}" if job.target else ""
        )

    async def _pivot(self, job: _Job) -> None:
        host = self.fleet.host(job.host)
        await host.run_on_guest(
            job.uuid,
            lambda dom: dom.blockJobAbort(job.disk, libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT),
            "blockjob --pivot",
        )
        job.pivoted = True
        if job.kind == "blockcopy":
            await host.run(
                lambda conn: _point_definition(conn, job.uuid, job.disk, job.target),
                what=f"blockcopy {job.guest}: updating its definition",
            )

    async def abort(self, host: str, uuid: str, disk: str | None = None) -> str:
        """Ends the job without pivoting: a copy's guest stays on its old disk."""
        job = self._active(host, uuid, disk)
        if job is None:
            raise HostError("blockjob --abort: no block job of that guest runs here")
        job.abort_requested = True
        await self.fleet.host(host).run_on_guest(
            uuid, lambda dom: dom.blockJobAbort(job.disk, 0), "blockjob --abort"
        )
        return f"{job.kind} of {job.guest} {job.disk} on {host}: aborted"

    # ---- following ----------------------------------------------------------------------

    async def _follow(self, job: _Job) -> None:
        host = self.fleet.host(job.host)
        last: tuple[float, int] | None = None
        try:
            while True:
                info = await host.run_on_guest(
                    job.uuid, lambda dom: dom.blockJobInfo(job.disk, 0), "blockjob --info"
                )
                if not info:
                    break
                cur, end = int(info.get("cur", 0)), int(info.get("end", 0))
                now = time.monotonic()
                if last is not None and now > last[0]:
                    job.bps = max(0.0, (cur - last[1]) / (now - last[0]))
                last = (now, cur)
                job.done, job.total = cur, end
                job.ready = end > 0 and cur == end and _mirrors(info)
                if job.ready and job.pivot_when_ready and not job.pivoted:
                    await self._pivot_soon(job)
                self.publish()
                await asyncio.sleep(self.sample_interval)
        except Exception as error:
            self._end(job, JobState.FAILED, describe(error))
            return
        if job.abort_requested and not job.pivoted:
            self._end(job, JobState.ABORTED, f"{job.kind} aborted: {job.disk} stays as it was")
        elif job.kind == "blockcopy":
            self._end(job, JobState.SUCCEEDED, f"{job.disk} now on {job.target}")
        else:
            self._end(job, JobState.SUCCEEDED, f"{job.kind} of {job.disk} done")

    async def _pivot_soon(self, job: _Job) -> None:
        """Pivots; "not ready" (QEMU's event not in yet) waits for the next sample."""
        try:
            await self._pivot(job)
        except HostError as error:
            if "not ready" not in str(error):
                raise

    def _end(self, job: _Job, state: JobState, message: str) -> None:
        job.state = state
        job.message = message
        job.finished = time.time()
        self.publish()


def _mirrors(info: dict[str, int]) -> bool:
    """A copy or active commit, the kinds that wait for a pivot once in step."""
    return info.get("type") in (
        libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_COPY,
        libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT,
    )


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace("'", "&apos;").replace("<", "&lt;")
