"""The jobs view: every migration started here, running or finished, across all hosts."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from kvmtui import format as fmt
from kvmtui.core.migration import JobSnapshot
from kvmtui.screens.fleet_view import FleetView, sort_bindings
from kvmtui.screens.migration_progress import open_progress
from kvmtui.widgets.live_table import Column, LiveTable
from kvmtui.widgets.migration import bar_text, clock, state_text


def _downtime(job: JobSnapshot) -> str:
    figures = job.figures
    if figures is None or figures.downtime_ms is None:
        return fmt.DASH
    return f"{figures.downtime_ms} ms"


def _forecast(job: JobSnapshot) -> Text:
    """What was foreseen, beside Elapsed and Downtime (what happened), so the model can be
    judged: `40 s, 300 ms`, `never at 8 MiB/s`, or `-` (none: skipped, or not measurable)."""
    seen = job.foresight
    if seen is None or seen.forecast is None:
        return Text(fmt.DASH)
    return Text(seen.forecast.brief())


def _outcome(job: JobSnapshot) -> Text:
    return Text(job.message or job.options.describe(), style="dim" if not job.message else "")


JOB_COLUMNS: list[Column[JobSnapshot]] = [
    Column("id", "#", lambda j: str(j.id), lambda j: j.id, "I", numeric=True),
    Column("guest", "Guest", lambda j: j.guest, lambda j: j.guest.lower(), "N"),
    Column(
        "route",
        "From -> to",
        lambda j: f"{j.source} -> {j.dest}",
        lambda j: (j.source, j.dest),
        "H",
    ),
    Column("state", "State", state_text, lambda j: j.state.value, "T"),
    Column("done", "Progress", bar_text, lambda j: j.figures.percent if j.figures else None, "D"),
    Column(
        "speed",
        "Throughput",
        lambda j: fmt.speed(j.figures.throughput_bps if j.figures else None),
        lambda j: j.figures.throughput_bps if j.figures else None,
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
        lambda j: j.figures.downtime_ms if j.figures else None,
        None,
        numeric=True,
    ),
    Column(
        "forecast",
        "Forecast",
        _forecast,
        lambda j: j.foresight.order if j.foresight else None,
        None,
    ),
    Column("outcome", "Outcome", _outcome, lambda j: j.message, None),
]


def job_table() -> LiveTable[JobSnapshot]:
    return LiveTable(
        JOB_COLUMNS,
        lambda j: j.key,
        lambda j: f"{j.guest} {j.source} {j.dest} {j.state.value}",
        sort_column="id",
        id="jobs",
    )


class JobsScreen(FleetView):
    """Repainted by the migration manager's notices: its figures move between fleet ticks."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "progress", "Progress", id="jobs.progress"),
        *sort_bindings("jobs", JOB_COLUMNS),
    ]

    def action_progress(self) -> None:
        job = self.table.current
        if job is not None:
            open_progress(self.app, job.id)

    def on_live_table_row_selected(self, _event: object) -> None:
        self.action_progress()
