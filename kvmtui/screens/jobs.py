"""The jobs view: every job started here (migrations, backups), running or finished, across
all hosts, in one table: each kind's snapshot answers the one `Job` shape (core/jobs.py)."""

from __future__ import annotations

from functools import partial
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from kvmtui import format as fmt
from kvmtui.controller import Question
from kvmtui.core.blockjobs import BlockJobSnapshot
from kvmtui.core.jobs import Job
from kvmtui.core.migration import JobSnapshot
from kvmtui.screens.fleet_view import FleetView, sort_bindings
from kvmtui.screens.migration_progress import open_progress
from kvmtui.widgets.live_table import Column, LiveTable
from kvmtui.widgets.migration import bar_text, clock, state_text


def _downtime(job: Job) -> str:
    figures = job.figures if isinstance(job, JobSnapshot) else None
    if figures is None or figures.downtime_ms is None:
        return fmt.DASH
    return f"{figures.downtime_ms} ms"


def _forecast(job: Job) -> Text:
    """What was foreseen of a migration, beside Elapsed and Downtime (what happened), so the
    model can be judged: `40 s, 300 ms`, `never at 8 MiB/s`, or `-` (none: skipped, not
    measurable, or not a migration)."""
    seen = job.foresight if isinstance(job, JobSnapshot) else None
    if seen is None or seen.forecast is None:
        return Text(fmt.DASH)
    return Text(seen.forecast.brief())


def _outcome(job: Job) -> Text:
    return Text(job.message or job.describe, style="dim" if not job.message else "")


def _started(job: Job) -> float:
    elapsed = job.elapsed
    return -elapsed if elapsed is not None else 0.0


JOB_COLUMNS: list[Column[Job]] = [
    Column("id", "#", lambda j: j.key, _started, "I"),
    Column("kind", "Job", lambda j: j.what, lambda j: j.what, "K"),
    Column("guest", "Guest", lambda j: j.guest, lambda j: j.guest.lower(), "N"),
    Column("route", "From -> to", lambda j: j.route, lambda j: j.route, "H"),
    Column("state", "State", state_text, lambda j: j.state.value, "T"),
    Column("done", "Progress", bar_text, lambda j: j.percent, "D"),
    Column(
        "speed",
        "Throughput",
        lambda j: fmt.speed(j.throughput_bps),
        lambda j: j.throughput_bps,
        "R",
        numeric=True,
    ),
    Column(
        "elapsed", "Elapsed", lambda j: clock(j.elapsed), lambda j: j.elapsed, "E", numeric=True
    ),
    Column(
        "downtime",
        "Downtime",
        _downtime,
        lambda j: j.figures.downtime_ms if isinstance(j, JobSnapshot) and j.figures else None,
        None,
        numeric=True,
    ),
    Column(
        "forecast",
        "Forecast",
        _forecast,
        lambda j: j.foresight.order if isinstance(j, JobSnapshot) and j.foresight else None,
        None,
    ),
    Column("outcome", "Outcome", _outcome, lambda j: j.message, None),
]


def job_table() -> LiveTable[Job]:
    return LiveTable(
        JOB_COLUMNS,
        lambda j: j.key,
        lambda j: f"{j.what} {j.guest} {j.route} {j.state.value}",
        sort_column="id",
        id="jobs",
    )


class JobsScreen(FleetView):
    """Repainted by the jobs' own notices: their figures move between fleet ticks."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "progress", "Progress", id="jobs.progress"),
        Binding("a", "abort", "Abort", id="jobs.abort"),
        Binding("p", "pivot", "Pivot", id="jobs.pivot"),
        *sort_bindings("jobs", JOB_COLUMNS),
    ]

    def action_progress(self) -> None:
        """A migration's progress screen (graphs, steering); a backup's figures are all in
        its row."""
        job = self.table.current
        if isinstance(job, JobSnapshot):
            open_progress(self.app, job.id)

    def on_live_table_row_selected(self, _event: object) -> None:
        self.action_progress()

    async def action_abort(self) -> None:
        """Aborts the job under the cursor, asked first: libvirt's abortJob, whatever the
        kind (a migration leaves the guest where it was, a backup leaves no point)."""
        job = self.table.current
        if job is None or job.state.finished:
            return
        services = self.app.services
        if isinstance(job, JobSnapshot):
            abort = partial(services.migrations.abort, job.where, job.uuid)
            after = f"the guest stays running on {job.where}."
        elif isinstance(job, BlockJobSnapshot):
            abort = partial(services.blockjobs.abort, job.where, job.uuid, job.disk)
            after = f"{job.disk} stays as it was."
        else:
            abort = partial(services.backups.abort, job.where, job.uuid)
            after = "no point is kept; the backup chain stays as it was."
        await self.app.controller.change(
            "domjobabort",
            abort,
            hosts=[job.where],
            question=Question(
                f"Abort the {job.what} of {job.guest}?", f"{job.route}: {after}", "Abort"
            ),
        )

    async def action_pivot(self) -> None:
        """Switches the guest to the copy (or the committed base) under the cursor: at once
        when in step, else as soon as it is."""
        job = self.table.current
        if not isinstance(job, BlockJobSnapshot) or job.state.finished:
            return
        await self.app.controller.change(
            "blockjob",
            partial(self.app.services.blockjobs.pivot, job.where, job.uuid, job.disk),
            hosts=[job.where],
        )
