"""What the guests, hosts and jobs screens share: the status line, the host banner, the
table, the `:`/`/` prompt and the keys that work everywhere."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input, Static

from kvmtui.core.commands import listed
from kvmtui.core.fleet import FleetSnapshot
from kvmtui.core.model import GuestSnapshot, GuestState, Link
from kvmtui.core.selectors import SelectorError, state_term
from kvmtui.feed import Published
from kvmtui.widgets.command_line import PromptLine
from kvmtui.widgets.footer import KeysFooter
from kvmtui.widgets.live_table import LiveTable
from kvmtui.widgets.validators import refusal

if TYPE_CHECKING:
    from kvmtui.app import KvmTuiApp
    from kvmtui.views import View


#: Lines of the host banner: as many as its max-height (kvmtui.tcss) shows.
BANNER_LINES = 5


def sort_bindings(view: str, table_columns: list[Any]) -> list[Binding]:
    """Shift+letter sorts by a column, as in k9s; shown in help, not in the footer.
    Their ids are `VIEW.sort_COLUMN`."""
    return [
        Binding(
            c.sort_key,
            f"sort('{c.key}')",
            f"Sort by {c.label}",
            show=False,
            id=f"{view}.sort_{c.key}",
        )
        for c in table_columns
        if c.sort_key
    ]


@dataclass(frozen=True)
class Scope:
    """What a view is limited to (a host, a pool, some guests), shown on its status line as
    a chip (` host: kvm01 ✕Esc`) that Esc clears: the rows shown are those with one of
    `keys` among their `FleetView.scope_keys`. `back` is where Esc then goes when the view was
    reached from another screen (a host's guests go back to the hosts, a guest's snapshots
    to its detail); a scope typed on the `:` line has none."""

    label: str
    keys: frozenset[str]
    back: Callable[[], object] | None = None

    @classmethod
    def host(cls, name: str, back: Callable[[], object] | None = None) -> Scope:
        """A host's guests: the selector term `host:NAME` (core/selectors.py)."""
        return cls(f"host: {name}", frozenset({f"host:{name.lower()}"}), back)

    @classmethod
    def guests(
        cls, guests: Sequence[GuestSnapshot], back: Callable[[], object] | None = None
    ) -> Scope:
        names = [g.ref for g in guests]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        return cls(
            f"guest{'s' if len(names) > 1 else ''}: {shown}", frozenset(g.key for g in guests), back
        )

    @classmethod
    def listed(cls, which: str) -> Scope:
        """`:list` (running guests) or `:list --inactive`, as `virsh list` narrows."""
        return cls(
            f"list: {which}", frozenset(state_term(s) for s in GuestState if listed(which, s))
        )


class FleetView(Screen[None]):
    """A registry view (`kvmtui.views`): its entry gives the table, the rows and the topics;
    subclasses give their own keys and actions."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("colon", "prompt(':')", ":cmd", key_display=":", id="view.command"),
        Binding("slash", "prompt('/')", "/filter", key_display="/", id="view.filter"),
        Binding("escape", "clear", "Clear scope, filter, marks", show=False, id="view.clear"),
    ]

    app: KvmTuiApp

    def __init__(self, view: View) -> None:
        super().__init__()
        self.view = view
        self.table: LiveTable[Any] = view.make_table()
        self._shown: FleetSnapshot | None = None  # the snapshot the table was filled from
        self._texts: dict[str, Text] = {}  # what the status line and banner show now
        self._typed_filter: str | None = None  # typed in the `/` line, to apply (see below)
        #: What the view is limited to; None: the whole view.
        self.scope: Scope | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield Static(id="banner")
        yield self.table
        yield PromptLine(self.app.complete_command, id="prompt")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one(PromptLine).display = False
        self.table.focus()

    def on_screen_resume(self) -> None:
        """On screen: the services it shows read while it is (kvmtui.core.resource)."""
        for service in self.app.services.watchable(self.view.topics):
            service.watch()
        self.show_snapshot(self.app.fleet.snapshot())

    def on_screen_suspend(self) -> None:
        for service in self.app.services.watchable(self.view.topics):
            service.unwatch()

    def on_published(self, message: Published) -> None:
        """The fleet's own changes come as a new snapshot; a service's (the jobs) leave the
        fleet's snapshot as it was, so its rows are read again."""
        services = [topic for topic in self.view.topics if topic != "fleet"]
        if message.about(*services):
            self.refill()
        elif message.about("fleet") and "fleet" in self.view.topics:
            self.show_snapshot(self.app.fleet.snapshot())
        elif message.about("events"):  # an alert raised or acknowledged: the count
            self._update("#status", self.status_line(self.app.fleet.snapshot()))

    # ---- refresh ------------------------------------------------------------------------

    def show_snapshot(self, snapshot: FleetSnapshot) -> None:
        """Shows what differs from what is shown: nothing at all when nothing changed, so
        an idle fleet costs no work and writes nothing to the terminal."""
        if snapshot is not self._shown:
            self._shown = snapshot
            self.fill_table(snapshot)
        self._update("#status", self.status_line(snapshot))
        self._show_banner(snapshot)

    def refill(self) -> None:
        """Fills the table again from the current snapshot (what it keeps has changed)."""
        self._shown = None
        self.show_snapshot(self.app.fleet.snapshot())

    def _update(self, selector: str, text: Text) -> bool:
        """Updates a Static only when its text differs; True when it did."""
        if self._texts.get(selector) == text:
            return False
        self._texts[selector] = text
        self.query_one(selector, Static).update(text)
        return True

    def fill_table(self, snapshot: FleetSnapshot) -> None:
        self.table.show(self.scoped(self.view.read(self.app.services, snapshot)))

    # ---- scope --------------------------------------------------------------------------

    def scope_keys(self, row: Any) -> Collection[str]:
        """What a scope matches a row by (its host, pool, guest, state); a view that is
        never scoped keeps the default, which no scope names."""
        return ()

    def scoped(self, rows: Sequence[Any]) -> Sequence[Any]:
        """The rows within the scope (all of them when there is none): those with a key
        the scope names."""
        scope = self.scope
        if scope is None:
            return rows
        return [row for row in rows if not scope.keys.isdisjoint(self.scope_keys(row))]

    def set_scope(self, scope: Scope | None) -> None:
        """Limits the view to `scope` (None: the whole view); a view shown for the first
        time fills itself when it mounts."""
        if scope == self.scope:
            return
        self.scope = scope
        if self.is_mounted:
            self.refill()

    def status_line(self, snapshot: FleetSnapshot) -> Text:
        """The fleet's figures, the filter and marks, and why a host's rows of a service
        shown here could not be read (each reason names its host)."""
        line = self._fleet_line(snapshot)
        services = self.app.services.watchable(self.view.topics)
        if any(not service.read_once and service.watched for service in services):
            line.append(f"   reading {self.view.title.lower()} ...", style="yellow")
        for service in services:
            for _host, error in sorted(service.errors.items()):
                line.append(f"   {error}", style="bold red")
        return line

    def _fleet_line(self, snapshot: FleetSnapshot) -> Text:
        hosts = snapshot.hosts
        up = sum(1 for h in hosts if h.link is Link.CONNECTED)
        running = sum(h.guests_running for h in hosts)
        line = Text()
        line.append(f" kvmtui: {self.view.name} ", style="bold reverse")
        if self.scope is not None:
            line.append(" ")
            line.append(f" {self.scope.label} ✕Esc ", style="bold reverse cyan")
        total = sum(h.guests_total for h in hosts)
        line.append(f"  hosts {up}/{len(hosts)} up   guests {running}/{total} running")
        if self.app.readonly:
            line.append("   READ-ONLY", style="bold yellow")
        alerts = self.app.services.events.open_alerts
        if alerts:
            line.append(f"   ALERTS {alerts} (:events, a)", style="bold red")
        if self.table.filter_text:
            line.append(f"   filter: {self.table.filter_text}", style="bold cyan")
        if self.table.marks:
            line.append(f"   marked: {len(self.table.marks)}", style="bold magenta")
        return line

    def _show_banner(self, snapshot: FleetSnapshot) -> None:
        """Hosts that are not connected, each on a line with the reason, the lost first:
        never hidden. Beyond BANNER_LINES hosts, a first line counts them all and the
        first few follow (a narrow terminal wraps a long reason, and the banner's last rows
        are cut): a thousand hosts connecting at start were a thousand lines wrapped at
        every change, most of the start-up's CPU, for five lines on screen."""
        waiting = [host for host in snapshot.hosts if host.link is not Link.CONNECTED]
        waiting.sort(key=lambda host: host.link is Link.CONNECTING)  # stable: lost first
        lines = Text()
        if len(waiting) > BANNER_LINES:
            lost = sum(1 for host in waiting if host.link is Link.LOST)
            lines.append(
                f" {len(waiting)} hosts not connected: {lost} lost, {len(waiting) - lost}"
                " connecting (2, the hosts view, lists each)",
                style="bold red" if lost else "yellow",
            )
        for host in waiting[: BANNER_LINES - 1 if lines else BANNER_LINES]:
            if lines:
                lines.append("\n")
            if host.link is Link.CONNECTING:
                lines.append(f" {host.name}: connecting to {host.uri} ...", style="yellow")
                continue
            retry = (
                f" (retry in {host.retry_in:.0f}s)"
                if host.retry_in is not None
                else " (not retried; c on the hosts view retries)"
            )
            lines.append(f" {host.name} lost: {host.reason}{retry}", style="bold red")
        if self._update("#banner", lines):
            self.query_one("#banner", Static).display = bool(lines)

    # ---- keys ---------------------------------------------------------------------------

    def action_sort(self, column: str) -> None:
        self.table.sort_by(column)

    def action_prompt(self, mode: str) -> None:
        line = self.query_one(PromptLine)
        line.open(mode, self.table.filter_text if mode == "/" else "")

    def action_clear(self) -> None:
        """Esc: the scope first (and back where the view was reached from), then the
        filter, then the marks."""
        if self.scope is not None:
            back = self.scope.back
            self.set_scope(None)
            if back is not None:
                back()
        elif self.table.filter_text:
            self.apply_filter("")
        elif self.table.marks:
            self.table.clear_marks()
            self.show_snapshot(self.app.fleet.snapshot())

    def apply_filter(self, text: str) -> None:
        self.table.set_filter(text)
        self.show_snapshot(self.app.fleet.snapshot())

    def on_input_changed(self, event: Input.Changed) -> None:
        line = self.query_one(PromptLine)
        if event.input is line and line.mode == "/":
            line.border_subtitle = refusal(event.validation_result)
            if not line.border_subtitle:
                # Applied once the keys already queued are in: a name pasted or typed
                # fast is one pass over the rows and one frame, not one per letter.
                if self._typed_filter is None:
                    self.call_later(self._apply_typed_filter)
                self._typed_filter = event.value

    def _apply_typed_filter(self) -> None:
        text, self._typed_filter = self._typed_filter, None
        if text is None:
            return  # applied already (Enter) or dropped (Esc)
        try:
            self.apply_filter(text)
        except SelectorError as error:  # `tag:` half typed: the filter stays
            self.query_one(PromptLine).border_subtitle = str(error)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        line = self.query_one(PromptLine)
        if event.input is not line:
            return
        self._apply_typed_filter()
        text = event.value.strip()
        mode = line.mode
        reason = refusal(event.validation_result)
        refused = str(line.border_subtitle or "")  # the filter as typed was not applied
        self._close_prompt()
        if mode == "/" and refused:
            self.app.controller.operator.error(f"filter: {refused}")
        if mode == ":" and text:
            line.remember(text)
            if reason and self.app.view_alias(text) is None:  # the parser's own words
                self.app.controller.operator.error(reason)
            else:
                self.app.run_line(text)

    def on_prompt_line_cancelled(self, event: PromptLine.Cancelled) -> None:
        self._typed_filter = None
        if event.line.mode == "/":
            self.apply_filter("")
        self._close_prompt()

    def _close_prompt(self) -> None:
        line = self.query_one(PromptLine)
        line.mode = ""  # so clearing the text below is not taken as a new filter
        line.display = False
        line.value = ""
        self.table.focus()

    def on_live_table_marks_changed(self, _event: LiveTable.MarksChanged) -> None:
        self._update("#status", self.status_line(self.app.fleet.snapshot()))
