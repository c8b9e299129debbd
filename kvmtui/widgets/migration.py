"""How a migration reads on screen: its figures in words, a one-line bar, and live graphs.

Shared by the progress screen, the jobs view and `:domjobinfo`, so a figure reads the same
wherever it is shown. Everything here renders a frozen JobSnapshot; nothing reads libvirt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from kvmtui import format as fmt
from kvmtui.core.jobs import Job
from kvmtui.core.migration import JobSnapshot, JobState, MigrationProgress

OUTCOME_STYLE = {
    JobState.SUCCEEDED: "bold green",
    JobState.FAILED: "bold red",
    JobState.ABORTED: "bold yellow",
    JobState.RUNNING: "bold cyan",
    JobState.QUEUED: "yellow",
}

#: Eighths of a cell, lowest first: a sparkline column per reading.
_LEVELS = "▁▂▃▄▅▆▇█"


# ---- words for the figures ------------------------------------------------------------------


def state_text(job: Job) -> Text:
    return Text(job.label, style=OUTCOME_STYLE[job.state])


def clock(seconds: float | None) -> str:
    """`0:07`, `12:40`, `1:02:03`: an elapsed time as narrow as a table column needs."""
    if seconds is None:
        return fmt.DASH
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def bar_text(job: Job, width: int = 10) -> Text:
    """`██████░░░░ 60%`: done by what remains; full once the job succeeded. Block
    characters, not only colour, so it reads on any terminal."""
    percent = job.percent
    if percent is None:
        return Text("░" * width + "    ", style="dim")
    filled = round(width * percent / 100)
    text = Text("█" * filled, style=OUTCOME_STYLE[job.state])
    text.append("░" * (width - filled), style="dim")
    text.append(f" {percent:3.0f}%")
    return text


def figure_rows(job: JobSnapshot) -> list[tuple[str, str | Text]]:
    """The progress screen's label/value lines; the moving figures are in the graphs."""
    p = job.figures or MigrationProgress()
    final = job.final is not None
    elapsed = fmt.duration(p.elapsed if p.elapsed is not None else job.elapsed)
    if not job.state.finished:
        eta = (
            fmt.duration(p.eta)
            if p.eta is not None
            else ("never at this rate" if job.stalled else fmt.DASH)
        )
        elapsed += f", ETA {eta}"
    downtime = f"{p.downtime_ms} ms" if p.downtime_ms is not None else fmt.DASH
    rows: list[tuple[str, str | Text]] = [
        ("State", state_text(job)),
        # Done is by what remains: zero pages are skipped and dirtied pages re-sent, so
        # bytes sent and the guest's size need not add up.
        (
            "Data",
            f"{fmt.percent_done(p)} of {fmt.size(p.data_total)} done, "
            f"{fmt.size(p.data_processed)} sent",
        ),
        ("Elapsed", elapsed),
        (
            "Downtime" if final else "Exp. downtime",
            downtime + (f", setup {p.setup_ms} ms" if p.setup_ms is not None else ""),
        ),
        ("Options", Text(job.describe_options() or fmt.DASH)),
        ("Samples", f"{job.samples}" + (" (final figures from libvirt)" if final else "")),
    ]
    if job.foresight is not None:  # what was foreseen, to set beside the figures above
        rows.append(("Forecast", Text(job.foresight.describe())))
    return rows


# ---- graphs -----------------------------------------------------------------------------------


def columns(history: Sequence[MigrationProgress], width: int) -> list[MigrationProgress]:
    """At most `width` readings spread evenly over the whole history, the latest last: the
    graph always shows the migration from its start, one reading per column."""
    count = len(history)
    if count <= width:
        return list(history)
    return [history[(i + 1) * count // width - 1] for i in range(width)]


def sparkline(values: Sequence[float | None], top: float) -> str:
    """One character per value, scaled to `top`; a blank where there was no figure."""
    line = []
    for value in values:
        if value is None:
            line.append(" ")
        elif top <= 0:
            line.append(_LEVELS[0])
        else:
            level = round(max(0.0, min(1.0, value / top)) * (len(_LEVELS) - 1))
            line.append(_LEVELS[level])
    return "".join(line)


def pass_marks(readings: Sequence[MigrationProgress]) -> str:
    """The memory pass (iteration) number under the column where each pass begins (`|` at
    the right edge, nothing where it would run into the previous number): a converging
    migration shows passes coming ever faster while the remaining data falls."""
    marks = [" "] * len(readings)
    previous: int | None = None
    free_from = 0
    for index, reading in enumerate(readings):
        if reading.iteration is None or reading.iteration == previous:
            continue
        previous = reading.iteration
        if index < free_from:
            continue
        label = str(reading.iteration)
        if index + len(label) > len(marks):
            label = "|"
        marks[index : index + len(label)] = label
        free_from = index + len(label) + 1
    return "".join(marks)


@dataclass(frozen=True)
class _Trace:
    label: str
    figure: Callable[[MigrationProgress], float | None]
    words: Callable[[float | None], str]


#: Top to bottom; throughput and dirty rate share one scale.
_TRACES = (
    _Trace("Throughput", lambda p: p.throughput_bps, fmt.speed),
    _Trace("Dirty rate", lambda p: p.dirty_rate_bps, fmt.speed),
    _Trace("Remaining", lambda p: p.data_remaining, fmt.size),
)
_LABEL_WIDTH = 12
_VALUE_WIDTH = 12


def graph_lines(job: JobSnapshot, width: int) -> Text:
    """Throughput and dirty rate on one scale (the gap between them is how fast the
    migration gains on the guest), remaining data on its own, and the pass marks."""
    graph_width = max(1, width - _LABEL_WIDTH - _VALUE_WIDTH)
    # Readings from before libvirt has sized the guest (its set-up) say nothing remains.
    readings = columns([p for p in job.history if p.data_total], graph_width)
    speeds = [v for p in readings for v in (p.throughput_bps, p.dirty_rate_bps) if v is not None]
    remaining = [p.data_remaining for p in readings if p.data_remaining is not None]
    totals = [p.data_total for p in readings if p.data_total is not None]
    tops = (
        max(speeds, default=0.0),
        max(speeds, default=0.0),
        float(max(remaining + totals, default=0)),
    )
    latest = job.figures
    text = Text(no_wrap=True, overflow="crop")
    for trace, top in zip(_TRACES, tops, strict=True):
        text.append(f"{trace.label:<{_LABEL_WIDTH}}", style="bold")
        text.append(
            f"{sparkline([trace.figure(p) for p in readings], top):<{graph_width}}", style="cyan"
        )
        value = trace.figure(latest) if latest else None
        text.append(f"{trace.words(value):>{_VALUE_WIDTH}}\n")
    text.append(f"{'Pass':<{_LABEL_WIDTH}}", style="bold")
    text.append(pass_marks(readings), style="magenta")
    return text


class MigrationGraphs(Widget):
    """The live graphs of one job, as wide as the screen; `show` gives them a new snapshot."""

    DEFAULT_CSS = """
    MigrationGraphs {
        height: 4;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.job: JobSnapshot | None = None

    def show(self, job: JobSnapshot) -> None:
        self.job = job
        self.refresh()

    def render(self) -> Text:
        if self.job is None:
            return Text()
        return graph_lines(self.job, self.size.width)
