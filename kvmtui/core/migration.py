"""Live migration as a job the operator watches and steers, not a call that blocks.

A MigrationManager runs `migrate3` for each job on a thread of the source host's own (so the
host keeps being polled), samples `jobStats()` a few times a second into frozen
MigrationProgress records, notices when the guest dirties memory as fast as the link sends
it, and takes the final figures from libvirt's job-completed event. At most `concurrency`
migrations run at once; the rest wait their turn. A failed migration leaves the guest where
it was: the job checks that it still runs on the source and says so.

The app owns one manager; its screens repaint from `add_listener`, never on a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import libvirt

from kvmtui.core.errors import describe
from kvmtui.core.fleet import Fleet
from kvmtui.core.foresight import Foresight
from kvmtui.core.host import DomainEvent, Host, HostError
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.publish import Publisher
from kvmtui.core.words import guest_state

SAMPLE_INTERVAL = 0.3
DEFAULT_CONCURRENCY = 2
#: Consecutive samples with dirty rate >= throughput before we call it not converging.
STALL_SAMPLES = 4
#: How long to wait, after migrate3 returns, for the job-completed event's final figures.
FINAL_EVENT_WAIT = 2.0
#: How long closing waits for aborted migrations to end before it lets go of them.
CLOSE_WAIT = 20.0
PAGE_SIZE = 4096

#: The most a bandwidth may be, MiB/s: 1 TiB/s, far above any link, far below libvirt's limit.
MAX_BANDWIDTH_MIB = 1024 * 1024
#: The most a tolerable downtime may be, ms: QEMU refuses more than 2,000 s.
MAX_DOWNTIME_MS = 2_000_000


@dataclass(frozen=True)
class MigrationFlag:
    """One of virsh migrate's boolean options: the one definition the `:migrate` grammar,
    the migrate dialog's check boxes and migrate3's flag bits are all made from."""

    word: str  # virsh's spelling, `--auto-converge`
    bit: int
    default: bool = False
    #: Says how the guest travels; naming any of these on `:migrate` means "exactly these".
    mode: bool = False


MIGRATION_FLAGS: tuple[MigrationFlag, ...] = (
    MigrationFlag("live", libvirt.VIR_MIGRATE_LIVE, default=True, mode=True),
    MigrationFlag("persistent", libvirt.VIR_MIGRATE_PERSIST_DEST, default=True, mode=True),
    MigrationFlag("undefinesource", libvirt.VIR_MIGRATE_UNDEFINE_SOURCE, default=True, mode=True),
    MigrationFlag("offline", libvirt.VIR_MIGRATE_OFFLINE, mode=True),
    MigrationFlag("p2p", libvirt.VIR_MIGRATE_PEER2PEER),
    MigrationFlag("tunnelled", libvirt.VIR_MIGRATE_TUNNELLED),
    MigrationFlag("auto-converge", libvirt.VIR_MIGRATE_AUTO_CONVERGE),
    MigrationFlag("compressed", libvirt.VIR_MIGRATE_COMPRESSED),
    MigrationFlag("postcopy", libvirt.VIR_MIGRATE_POSTCOPY),
    MigrationFlag("unsafe", libvirt.VIR_MIGRATE_UNSAFE),
)
#: Every flag's word, for the `:migrate` grammar.
FLAG_WORDS: frozenset[str] = frozenset(flag.word for flag in MIGRATION_FLAGS)
DEFAULT_FLAGS: frozenset[str] = frozenset(f.word for f in MIGRATION_FLAGS if f.default)
_MODE_WORDS = frozenset(flag.word for flag in MIGRATION_FLAGS if flag.mode)


@dataclass(frozen=True)
class MigrationOptions:
    """virsh migrate's options: `chosen` holds the flags' words (`"auto-converge" in
    options`). The defaults are what an operator nearly always wants: the guest keeps
    running, is defined on the destination and undefined on the source."""

    chosen: frozenset[str] = DEFAULT_FLAGS
    bandwidth_mib: int = 0  # MiB/s, 0 = no cap
    migrate_uri: str = ""  # empty: tcp://<destination's address> when its URI names one

    def __post_init__(self) -> None:
        unknown = set(self.chosen) - FLAG_WORDS
        if unknown:
            raise ValueError(f"unknown migration option(s): {', '.join(sorted(unknown))}")
        if not 0 <= self.bandwidth_mib <= MAX_BANDWIDTH_MIB:
            raise ValueError(
                f"bandwidth {self.bandwidth_mib} MiB/s is outside 0 (no cap) to {MAX_BANDWIDTH_MIB}"
            )
        object.__setattr__(self, "chosen", frozenset(self.chosen))

    def __contains__(self, word: object) -> bool:
        return word in self.chosen

    @classmethod
    def from_flags(
        cls, given: set[str], bandwidth_mib: int = 0, migrate_uri: str = ""
    ) -> MigrationOptions:
        """Options from virsh-style flag words (`auto-converge`; `auto_converge` too).

        With none of --live/--offline/--persistent/--undefinesource the defaults stand and
        the other flags are added; with any of them, the mode is exactly what was given,
        as in virsh."""
        words = {name.replace("_", "-") for name in given}
        if not words & _MODE_WORDS:
            words |= DEFAULT_FLAGS
        return cls(frozenset(words), bandwidth_mib=bandwidth_mib, migrate_uri=migrate_uri)

    @property
    def flags(self) -> int:
        """migrate3's flag bits."""
        bits = 0
        for flag in MIGRATION_FLAGS:
            if flag.word in self.chosen:
                bits |= flag.bit
        return bits

    def params(self, dest_uri: str) -> dict[str, Any]:
        """migrate3's typed parameters for a destination reached at libvirt URI `dest_uri`."""
        params: dict[str, Any] = {}
        uri = self.migrate_uri or ("" if "tunnelled" in self else default_migrate_uri(dest_uri))
        if uri:
            params[libvirt.VIR_MIGRATE_PARAM_URI] = uri
        if self.bandwidth_mib:
            params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = self.bandwidth_mib
        return params

    def describe(self) -> str:
        """`live persistent undefinesource bandwidth=20MiB/s`: what the screens show."""
        words = [flag.word for flag in MIGRATION_FLAGS if flag.word in self.chosen]
        if self.bandwidth_mib:
            words.append(f"bandwidth={self.bandwidth_mib}MiB/s")
        if self.migrate_uri:
            words.append(f"uri={self.migrate_uri}")
        return " ".join(words)

    def remedies(self) -> tuple[str, ...]:
        """What helps a migration that does not converge, given how it was started."""
        advice = ["raise the bandwidth (s)", "allow more downtime (d)"]
        if "postcopy" in self:
            advice.append("switch to post-copy (p)")
        else:
            advice.append("restart it with post-copy")
        if "auto-converge" not in self:
            advice.append("restart it with auto-converge (throttles the guest's vCPUs)")
        return tuple(advice)


def default_migrate_uri(dest_uri: str) -> str:
    """`tcp://HOST` for a destination reached at `qemu+tcp://HOST/system` (or ssh, tls):

    without it libvirt sends the guest to the destination's own hostname, which need not
    resolve from the source. A local URI names no host: libvirt's default stands."""
    try:
        host = urlsplit(dest_uri).hostname
    except ValueError:
        return ""
    if not host:
        return ""
    return f"tcp://[{host}]" if ":" in host else f"tcp://{host}"


# ---- progress ---------------------------------------------------------------------------


def _int(stats: Mapping[str, Any], key: str) -> int | None:
    value = stats.get(key)
    return int(value) if value is not None else None


@dataclass(frozen=True)
class MigrationProgress:
    """One reading of libvirt's job statistics, in bytes, bytes/s and seconds."""

    elapsed: float | None = None
    data_total: int | None = None
    data_processed: int | None = None
    data_remaining: int | None = None
    throughput_bps: float | None = None
    dirty_rate_bps: float | None = None
    iteration: int | None = None
    downtime_ms: int | None = None
    setup_ms: int | None = None
    postcopy_requests: int | None = None

    @classmethod
    def from_stats(cls, stats: Mapping[str, Any]) -> MigrationProgress:
        page = _int(stats, "memory_page_size") or PAGE_SIZE
        dirty_pages = _int(stats, "memory_dirty_rate")
        elapsed = _int(stats, "time_elapsed")
        bps = _int(stats, "memory_bps")
        return cls(
            elapsed=elapsed / 1000 if elapsed is not None else None,
            data_total=_int(stats, "data_total"),
            data_processed=_int(stats, "data_processed"),
            data_remaining=_int(stats, "data_remaining"),
            throughput_bps=float(bps) if bps is not None else None,
            dirty_rate_bps=float(dirty_pages * page) if dirty_pages is not None else None,
            iteration=_int(stats, "memory_iteration"),
            downtime_ms=_int(stats, "downtime"),
            setup_ms=_int(stats, "setup_time"),
            postcopy_requests=_int(stats, "memory_postcopy_requests"),
        )

    @property
    def percent(self) -> float | None:
        """How much of the guest has been sent, by what is left (pages re-sent after being
        dirtied make `processed` run past `total`, `remaining` does not lie)."""
        if not self.data_total or self.data_remaining is None:
            return None
        done = self.data_total - self.data_remaining
        return max(0.0, min(100.0, 100.0 * done / self.data_total))

    @property
    def eta(self) -> float | None:
        return eta_seconds(self.data_remaining, self.throughput_bps, self.dirty_rate_bps)


def eta_seconds(
    remaining: int | None, throughput: float | None, dirty_rate: float | None
) -> float | None:
    """Seconds left: what remains over what the link gains on the guest each second.

    None when unknowable, or when the guest dirties memory as fast as it is sent (then the
    migration never finishes by itself)."""
    if remaining is None or not throughput or throughput <= 0:
        return None
    gain = throughput - (dirty_rate or 0.0)
    if gain <= 0:
        return None
    return remaining / gain


def not_converging(samples: Sequence[MigrationProgress], window: int = STALL_SAMPLES) -> bool:
    """True when the last `window` samples all show a dirty rate at or above throughput."""
    recent = samples[-window:]
    if len(recent) < window:
        return False
    return all(
        s.throughput_bps and s.dirty_rate_bps is not None and s.dirty_rate_bps >= s.throughput_bps
        for s in recent
    )


# ---- jobs -------------------------------------------------------------------------------


class JobState(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.ABORTED)


@dataclass(frozen=True)
class JobSnapshot:
    """What the screens see of a job: frozen, so a redraw never races the sampler."""

    id: int
    guest: str
    uuid: str
    source: str
    dest: str
    options: MigrationOptions
    state: JobState
    latest: MigrationProgress | None
    final: MigrationProgress | None
    #: Every reading so far, oldest first: what the graphs draw.
    history: tuple[MigrationProgress, ...]
    stalled: bool
    postcopy: bool
    #: The tolerable downtime last set on this job (`d`), None while libvirt's default holds.
    max_downtime_ms: int | None
    message: str
    started: float | None
    finished: float | None
    #: What was foreseen before it started (None: nobody asked), beside what happened.
    foresight: Foresight | None = None

    @property
    def key(self) -> str:
        return str(self.id)

    # ---- the jobs view's `Job` shape (core/jobs.py) --------------------------------------

    @property
    def what(self) -> str:
        return "migration"

    @property
    def route(self) -> str:
        return f"{self.source} -> {self.dest}"

    @property
    def where(self) -> str:
        return self.source

    @property
    def percent(self) -> float | None:
        """Full once it succeeded, else by what remains to send."""
        if self.state is JobState.SUCCEEDED:
            return 100.0
        return self.figures.percent if self.figures else None

    @property
    def throughput_bps(self) -> float | None:
        return self.figures.throughput_bps if self.figures else None

    @property
    def label(self) -> str:
        if self.state is JobState.RUNNING and self.postcopy:
            return "running (post-copy)"
        if self.stalled:
            return "running, NOT CONVERGING"
        return self.state.value

    @property
    def describe(self) -> str:
        return self.options.describe()

    @property
    def samples(self) -> int:
        return len(self.history)

    def describe_options(self) -> str:
        """The options as they stand now: the bandwidth and downtime last set, post-copy once
        switched to, not only what the job was started with."""
        words = [self.options.describe()]
        if self.max_downtime_ms is not None:
            words.append(f"max-downtime={self.max_downtime_ms}ms")
        if self.postcopy:
            words.append("(switched to post-copy)")
        return " ".join(word for word in words if word)

    @property
    def figures(self) -> MigrationProgress | None:
        """The final figures once there are any, else the latest reading."""
        return self.final or self.latest

    @property
    def elapsed(self) -> float | None:
        return elapsed(self.started, self.finished)


def elapsed(started: float | None, finished: float | None) -> float | None:
    """Seconds a job has run (to now while it runs); None before it started. Every kind
    of job (migrations, backups, block jobs) answers the jobs view's Elapsed with this."""
    if started is None:
        return None
    return (finished or time.time()) - started


class MigrationJob:
    """One guest's migration, from queued to its outcome. Owned by the manager."""

    def __init__(
        self,
        job_id: int,
        guest: GuestSnapshot,
        dest: str,
        options: MigrationOptions,
        foresight: Foresight | None = None,
    ) -> None:
        self.id = job_id
        self.foresight = foresight
        self.guest = guest.name
        self.uuid = guest.uuid
        self.source = guest.host
        self.dest = dest
        self.options = options
        self.state = JobState.QUEUED
        self.samples: list[MigrationProgress] = []
        self.final: MigrationProgress | None = None
        self.postcopy = False
        self.max_downtime_ms: int | None = None
        self.abort_requested = False
        self.message = ""
        self.started: float | None = None
        self.finished: float | None = None
        self.final_event = asyncio.Event()
        self.done = asyncio.Event()

    @property
    def label(self) -> str:
        return f"{self.guest} {self.source} -> {self.dest}"

    def snapshot(self) -> JobSnapshot:
        return JobSnapshot(
            id=self.id,
            guest=self.guest,
            uuid=self.uuid,
            source=self.source,
            dest=self.dest,
            options=self.options,
            state=self.state,
            latest=self.samples[-1] if self.samples else None,
            final=self.final,
            history=tuple(self.samples),
            stalled=self.state is JobState.RUNNING
            and not self.postcopy
            and not_converging(self.samples),
            postcopy=self.postcopy,
            max_downtime_ms=self.max_downtime_ms,
            message=self.message,
            started=self.started,
            finished=self.finished,
            foresight=self.foresight,
        )


def _check_range(what: str, value: int, low: int, high: int, unit: str) -> None:
    """Refuses a figure libvirt would take and then misbehave on (or overflow with)."""
    if not low <= value <= high:
        raise ValueError(f"{what} must be {low} to {high} {unit}, not {value}")


class MigrationManager(Publisher):
    """Every migration started from this kvmtui, running or finished; see the module doc.

    Publishes on every change of a job: queued, started, each progress sample, finished."""

    def __init__(
        self,
        fleet: Fleet,
        concurrency: int = DEFAULT_CONCURRENCY,
        sample_interval: float = SAMPLE_INTERVAL,
    ) -> None:
        super().__init__()
        self.fleet = fleet
        self.sample_interval = sample_interval
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._jobs: dict[int, MigrationJob] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        fleet.add_event_listener(self._on_event)
        fleet.add_close_hook(self.close)

    # ---- what the screens and verbs read ------------------------------------------------

    def jobs(self) -> list[JobSnapshot]:
        return [job.snapshot() for job in self._jobs.values()]

    def job(self, job_id: int) -> JobSnapshot:
        return self._jobs[job_id].snapshot()

    def active_job_for(self, host: str, uuid: str) -> JobSnapshot | None:
        """The running or queued job of the guest `uuid` on source `host`, if we started one."""
        for job in self._jobs.values():
            if job.uuid == uuid and job.source == host and not job.state.finished:
                return job.snapshot()
        return None

    def running(self) -> list[JobSnapshot]:
        """Jobs queued or under way: what quitting would abort."""
        return [job.snapshot() for job in self._jobs.values() if not job.state.finished]

    async def close(self) -> None:
        """Aborts every job still under way and waits for each to end.

        A migration outlives no kvmtui: libvirt would otherwise be left driving a job whose
        client, and whose destination connection, are gone."""
        for job in self._jobs.values():
            if not job.state.finished:
                with contextlib.suppress(HostError):
                    await self.abort(job.source, job.uuid)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=CLOSE_WAIT)

    async def wait(self, job_id: int) -> JobSnapshot:
        job = self._jobs[job_id]
        await job.done.wait()
        return job.snapshot()

    # ---- starting -----------------------------------------------------------------------

    def destinations(self, sources: Sequence[str]) -> list[str]:
        """Connected, writable hosts a guest on `sources` may go to: never its own host."""
        return [
            host.name
            for host in self.fleet.hosts
            if host.connected and not host.readonly and host.name not in sources
        ]

    def start(
        self,
        guest: GuestSnapshot,
        dest: str,
        options: MigrationOptions,
        foresight: Foresight | None = None,
    ) -> JobSnapshot:
        """Queues a migration and returns at once; it runs when a slot is free. `foresight`
        is kept with the job, so what happens can be set beside it."""
        if dest == guest.host:
            raise HostError(f"migrate {guest.name}: it is already on {dest}")
        self.fleet.host(dest)  # an unknown host fails here, by name
        if self.active_job_for(guest.host, guest.uuid):
            raise HostError(f"migrate {guest.ref}: a migration of it is already under way")
        job = MigrationJob(next(self._ids), guest, dest, options, foresight)
        self._jobs[job.id] = job
        task = asyncio.get_running_loop().create_task(self._run(job), name=f"migrate-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.publish()
        return job.snapshot()

    # ---- steering a running job ---------------------------------------------------------

    async def abort(self, host: str, uuid: str) -> str:
        job = self._active(host, uuid)
        if job is not None and job.state is JobState.QUEUED:
            job.abort_requested = True
            self._finish(job, JobState.ABORTED, "aborted before it started")
            return f"migration of {job.guest} cancelled before it started"
        if job is not None:
            job.abort_requested = True
        await self.fleet.host(host).run_on_guest(uuid, lambda dom: dom.abortJob(), "domjobabort")
        return f"{self._name(host, uuid)} on {host}: job aborted"

    async def set_speed(self, host: str, uuid: str, mib_per_s: int) -> str:
        """Caps the running migration's bandwidth; our own job's options follow it."""
        _check_range("bandwidth", mib_per_s, 1, MAX_BANDWIDTH_MIB, "MiB/s")
        await self.fleet.host(host).run_on_guest(
            uuid, lambda dom: dom.migrateSetMaxSpeed(mib_per_s, 0), "migrate-setspeed"
        )
        job = self._active(host, uuid)
        if job is not None:
            job.options = replace(job.options, bandwidth_mib=mib_per_s)
            self.publish()
        return f"{self._name(host, uuid)} on {host}: migration bandwidth {mib_per_s} MiB/s"

    async def set_max_downtime(self, host: str, uuid: str, ms: int) -> str:
        _check_range("downtime", ms, 1, MAX_DOWNTIME_MS, "ms")
        await self.fleet.host(host).run_on_guest(
            uuid, lambda dom: dom.migrateSetMaxDowntime(ms, 0), "migrate-setmaxdowntime"
        )
        job = self._active(host, uuid)
        if job is not None:
            job.max_downtime_ms = ms
            self.publish()
        return f"{self._name(host, uuid)} on {host}: maximum downtime {ms} ms"

    async def start_postcopy(self, host: str, uuid: str) -> str:
        await self.fleet.host(host).run_on_guest(
            uuid, lambda dom: dom.migrateStartPostCopy(0), "migrate-postcopy"
        )
        job = self._active(host, uuid)
        if job is not None:
            job.postcopy = True
            self.publish()
        return f"{self._name(host, uuid)} on {host}: switching to post-copy"

    async def job_info(self, host: str, uuid: str) -> MigrationProgress | None:
        """The guest's running job as libvirt reports it (None when it has none)."""
        stats = await self.fleet.host(host).run_on_guest(
            uuid, lambda dom: dom.jobStats(), "domjobinfo"
        )
        if stats.get("type", 0) == libvirt.VIR_DOMAIN_JOB_NONE:
            return None
        return MigrationProgress.from_stats(stats)

    def _active(self, host: str, uuid: str) -> MigrationJob | None:
        found = self.active_job_for(host, uuid)
        return self._jobs[found.id] if found else None

    def _name(self, host: str, uuid: str) -> str:
        guest = self.fleet.host(host).guest(uuid)
        return guest.name if guest else uuid

    # ---- running ------------------------------------------------------------------------

    async def _run(self, job: MigrationJob) -> None:
        async with self._slots:
            if job.state.finished:  # aborted while it waited
                return
            job.state = JobState.RUNNING
            job.started = time.time()
            self.publish()
            try:
                await self._migrate(job)
            except Exception as error:
                await self._failed(job, error)
            else:
                await self._succeeded(job)

    async def _migrate(self, job: MigrationJob) -> None:
        source = self.fleet.host(job.source)
        dest = self.fleet.host(job.dest)
        # The destination's connection is held for the whole call: were it closed under a
        # running migrate3 (destination lost mid-way), libvirt would use freed memory.
        dest_session = dest.session()  # HostError, naming the host, when it is not connected
        params = job.options.params(dest.spec.uri)
        flags = job.options.flags
        stop = asyncio.Event()
        sampler = asyncio.get_running_loop().create_task(self._sample(job, source, stop))
        try:
            # The destination's domain migrate3 returns is dropped: no libvirt object leaves
            # the core, and the fleet's own watcher reports the guest on its new host.
            def migrate(conn: libvirt.virConnect) -> None:
                with dest_session.use() as dest_conn:
                    conn.lookupByUUIDString(job.uuid).migrate3(dest_conn, params, flags)

            await source.run_long(migrate)
        finally:
            # A flag, not cancel(): Python 3.11's wait_for can swallow a cancellation that
            # lands as its call completes, and the sampler would then never end.
            stop.set()
            await sampler

    async def _sample(self, job: MigrationJob, source: Host, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            # A steady cadence: a reading the daemon was slow to give (it shares the guest's
            # job lock with the tick's stats) does not push the next one back.
            due = loop.time() + self.sample_interval
            with contextlib.suppress(HostError):
                stats = await source.run_on_guest(
                    job.uuid, lambda dom: dom.jobStats(), "domjobinfo", timeout=5
                )
                if stats.get("type", 0) != libvirt.VIR_DOMAIN_JOB_NONE and "data_total" in stats:
                    self._add_sample(job, MigrationProgress.from_stats(stats))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, due - loop.time()))

    def _add_sample(self, job: MigrationJob, sample: MigrationProgress) -> None:
        if job.samples and sample.data_processed is not None:
            # libvirt's counters only grow; a late, stale reading must not move them back.
            last = job.samples[-1].data_processed
            if last is not None and sample.data_processed < last:
                return
        job.samples.append(sample)
        self.publish()

    async def _succeeded(self, job: MigrationJob) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(job.final_event.wait(), FINAL_EVENT_WAIT)
        where = f"now running on {job.dest}" if "live" in job.options else f"now on {job.dest}"
        if "undefinesource" in job.options:
            where += f", undefined on {job.source}"
        self._finish(job, JobState.SUCCEEDED, f"{job.guest} migrated: {where}")

    async def _failed(self, job: MigrationJob, error: BaseException) -> None:
        reason = describe(error)
        after = await self._source_state(job)
        state = JobState.ABORTED if job.abort_requested else JobState.FAILED
        verb = "aborted" if state is JobState.ABORTED else "failed"
        self._finish(
            job, state, f"migration {verb} ({job.source} -> {job.dest}): {reason}; {after}"
        )

    async def _source_state(self, job: MigrationJob) -> str:
        """Where the guest stands on the source after a failure, checked, not assumed."""
        try:
            state, _reason = await self.fleet.host(job.source).run_on_guest(
                job.uuid, lambda dom: dom.state(), "check"
            )
        except HostError as error:
            return f"could not check the guest on {job.source}: {error}"
        if state == libvirt.VIR_DOMAIN_RUNNING:
            return f"{job.guest} is still running on {job.source}"
        return f"WARNING: {job.guest} is {guest_state(state).value} on {job.source}"

    def _finish(self, job: MigrationJob, state: JobState, message: str) -> None:
        if job.state.finished:
            return
        job.state = state
        job.message = message
        job.finished = time.time()
        if job.started is None:
            job.started = job.finished
        job.done.set()
        self.publish()

    def _on_event(self, event: DomainEvent) -> None:
        if event.kind != "job-completed":
            return
        for job in self._jobs.values():
            if (
                job.uuid == event.uuid
                and event.host in (job.source, job.dest)
                and job.state is JobState.RUNNING
                and job.final is None
            ):
                job.final = _merge(
                    job.samples[-1] if job.samples else None,
                    MigrationProgress.from_stats(event.params or {}),
                )
                job.final_event.set()
                self.publish()


def _merge(latest: MigrationProgress | None, final: MigrationProgress) -> MigrationProgress:
    """The event's figures, with the last reading filling what the event leaves out."""
    if latest is None:
        return final
    given = {
        f.name: getattr(final, f.name) for f in fields(final) if getattr(final, f.name) is not None
    }
    return replace(latest, **given)
