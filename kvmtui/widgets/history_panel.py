"""Sparklines of a guest's or a host's recent figures, each with its latest value in words."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from kvmtui import format as fmt


@dataclass(frozen=True)
class Trace:
    """One sparkline: which series, its title, and how its latest value reads."""

    series: str
    title: str
    render: Callable[[float], str]


GUEST_TRACES = (
    Trace("cpu", "CPU", fmt.share),
    Trace("memory", "Memory", fmt.size),
    Trace("used", "Used inside", fmt.size),
    Trace("disk", "Disk r+w", fmt.speed),
    Trace("net", "Net rx+tx", fmt.speed),
)
HOST_TRACES = GUEST_TRACES[:2]


class HistoryPanel(Vertical):
    """A title line and a sparkline per trace; `show` gives each its values, oldest first."""

    def __init__(self, traces: Sequence[Trace], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.traces = tuple(traces)

    def compose(self) -> ComposeResult:
        for trace in self.traces:
            yield Static(trace.title, id=f"trace-{trace.series}", classes="trace-title")
            yield Sparkline([], id=f"spark-{trace.series}", classes="trace")

    def show(self, values: Callable[[str], list[float | None]], refresh: float) -> None:
        """`values(series)` gives a series, None where there was no figure; `refresh` is
        the seconds between its values. No figure reads "-", as in the tables, and draws as
        the sparkline's floor."""
        for trace in self.traces:
            data = values(trace.series)
            measured = [value for value in data if value is not None]
            latest = data[-1] if data else None
            now = fmt.DASH if latest is None else trace.render(latest)
            peak = trace.render(max(measured)) if measured else fmt.DASH
            span = fmt.duration(len(data) * refresh)
            self.query_one(f"#trace-{trace.series}", Static).update(
                f"{trace.title}: {now} now, {peak} peak over {span}"
            )
            self.query_one(f"#spark-{trace.series}", Sparkline).data = [
                value or 0.0 for value in data
            ]
