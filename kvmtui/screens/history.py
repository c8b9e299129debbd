"""The views of what kvmtui kept: the event timeline (`:events`) and the audit trail
(`:audit`), newest first, following new rows as they come.

Both narrow with the `/` filter: every word must be in a row's words (`host:kvm01`,
`guest:web1@`, `type:lifecycle`, `crashed`, `user:alice`), and `:events --since 2h`
limits the view to a time (a chip on the status line that Esc clears). An event that a
rule of `[alerts]` made an alert is drawn in bold red until `a` acknowledges it; the
count of those still open is on every view's status line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from rich.text import Text
from textual.binding import Binding, BindingType

from kvmtui import format as fmt
from kvmtui.core.audit import AuditEntry
from kvmtui.core.eventlog import TimelineEvent
from kvmtui.core.fleet import FleetSnapshot
from kvmtui.core.results import Kept
from kvmtui.screens.fleet_view import FleetView, Scope, sort_bindings
from kvmtui.widgets.live_table import Column, LiveTable

R = TypeVar("R")

#: How an open alert reads: bold red, with `!` in its first column (not colour alone).
ALERT_STYLE = "bold red"


def _cell(text: Callable[[TimelineEvent], str]) -> Callable[[TimelineEvent], str | Text]:
    """A column of the timeline, in bold red while its row is an open alert."""

    def render(event: TimelineEvent) -> str | Text:
        value = text(event)
        return Text(value, style=ALERT_STYLE) if event.alerting else value

    return render


def _flag(event: TimelineEvent) -> str | Text:
    if not event.alert:
        return ""
    return Text("!", style=ALERT_STYLE) if not event.acked else "✓"


EVENT_COLUMNS: list[Column[TimelineEvent]] = [
    Column("alert", "!", _flag, lambda e: e.alerting, "A"),
    Column("time", "Time", _cell(lambda e: fmt.moment(e.at)), lambda e: e.at, "T"),
    Column("host", "Host", _cell(lambda e: e.host), lambda e: e.host, "H", max_width=20),
    Column(
        "guest", "Guest", _cell(lambda e: e.guest or fmt.DASH), lambda e: e.guest, "N", max_width=24
    ),
    Column("what", "Event", _cell(lambda e: e.what), lambda e: e.what, "E"),
    Column("detail", "Detail", _cell(lambda e: e.detail), lambda e: e.detail, None),
]


def event_table() -> LiveTable[TimelineEvent]:
    table = LiveTable(
        EVENT_COLUMNS, lambda e: e.key, lambda e: e.words, markable=True, sort_column="time",
        id="events",
    )  # fmt: skip
    table.sort_reverse = True  # newest first
    return table


def _outcome(entry: AuditEntry) -> Text:
    return Text(entry.message, style="" if entry.ok else "red")


AUDIT_COLUMNS: list[Column[AuditEntry]] = [
    Column("time", "Time", lambda a: fmt.moment(a.at), lambda a: a.at, "T"),
    Column("user", "User", lambda a: a.user, lambda a: a.user, "U"),
    Column("via", "Via", lambda a: a.via, lambda a: a.via, None),
    Column(
        "guests",
        "Guests",
        lambda a: a.guests or a.hosts or fmt.DASH,
        lambda a: a.guests,
        "N",
        max_width=30,
    ),
    Column("command", "Command", lambda a: a.args, lambda a: a.args, "C", max_width=40),
    Column("ok", "Outcome", _outcome, lambda a: (a.ok, a.message), "O"),
]


def audit_table() -> LiveTable[AuditEntry]:
    table = LiveTable(
        AUDIT_COLUMNS, lambda a: a.key, lambda a: a.words, sort_column="time", id="audit"
    )
    table.sort_reverse = True
    return table


class KeptView(FleetView):
    """What both views share: newest first, following new rows while the cursor is on
    the newest, and a time limit (`since`) beside the `/` filter."""

    #: Rows at or after this moment (epoch seconds) only; None: all kept.
    since: float | None = None
    #: What `:events`/`:audit` asked of the view before it was first mounted.
    _asked: Kept | None = None

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        asked, self._asked = self._asked, None
        if asked is not None:
            self.show_kept(asked)

    def show_kept(self, kept: Kept) -> None:
        """Narrowed as `:events`/`:audit` asked: their filter words on the `/` line, and
        their time as the scope."""
        if not self.is_mounted:  # shown for the first time: once it has its parts
            self._asked = kept
            return
        self.since = kept.since
        scope = Scope(f"since {kept.since_text}", frozenset()) if kept.since else None
        self.set_scope(scope)
        self.apply_filter(" ".join(kept.words))

    def set_scope(self, scope: Scope | None) -> None:
        if scope is None:
            self.since = None
        super().set_scope(scope)

    def scoped(self, rows: Sequence[Any]) -> Sequence[Any]:
        since = self.since
        return rows if since is None else [row for row in rows if row.at >= since]

    def fill_table(self, snapshot: FleetSnapshot) -> None:
        following = self.table.cursor_row == 0
        super().fill_table(snapshot)
        if following:
            self.table.action_first()

    def status_line(self, snapshot: FleetSnapshot) -> Text:
        line = super().status_line(snapshot)
        problem = self.app.services.store.problem
        if problem:
            line.append(f"   {problem}", style="bold yellow")
        return line


class EventsScreen(KeptView):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "acknowledge", "Acknowledge", id="timeline.acknowledge"),
        *sort_bindings("timeline", EVENT_COLUMNS),
    ]

    def action_acknowledge(self) -> None:
        """The marked alerts, else the one under the cursor: acknowledged, so they leave
        the status line's count (they stay in the timeline, ticked)."""
        rows = self.table.marked_rows() or [r for r in [self.table.current] if r is not None]
        done = self.app.services.events.acknowledge(rows)
        self.table.clear_marks()
        if not done:
            self.app.controller.operator.error("acknowledge: no open alert selected")


class AuditScreen(KeptView):
    BINDINGS: ClassVar[list[BindingType]] = [*sort_bindings("changes", AUDIT_COLUMNS)]
