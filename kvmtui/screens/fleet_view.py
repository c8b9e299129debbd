"""What the hosts and guests screens share: the status line, the host banner, the table,
the `:`/`/` prompt and the keys that work everywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from kvmtui.core.fleet import FleetSnapshot
from kvmtui.core.model import Link
from kvmtui.widgets.command_line import PromptLine
from kvmtui.widgets.live_table import LiveTable
from kvmtui.widgets.validators import refusal

if TYPE_CHECKING:
    from kvmtui.app import KvmTuiApp


def sort_bindings(table_columns: list[Any]) -> list[Binding]:
    """Shift+letter sorts by a column, as in k9s; shown in help, not in the footer."""
    return [
        Binding(c.sort_key, f"sort('{c.key}')", f"Sort by {c.label}", show=False)
        for c in table_columns if c.sort_key
    ]


class FleetView(Screen[None]):
    """A screen over the whole fleet; subclasses give the table and their own keys."""

    VIEW_NAME: ClassVar[str] = ""
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("colon", "prompt(':')", ":cmd", key_display=":"),
        Binding("slash", "prompt('/')", "/filter", key_display="/"),
        Binding("escape", "clear", "Clear", show=False),
    ]

    app: KvmTuiApp

    def __init__(self) -> None:
        super().__init__()
        self.table = self.make_table()

    def make_table(self) -> LiveTable[Any]:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield Static(id="banner")
        yield self.table
        yield PromptLine(self.app.complete_command, id="prompt")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(PromptLine).display = False
        self.table.focus()

    def on_screen_resume(self) -> None:
        self.show_snapshot(self.app.fleet.snapshot())

    # ---- refresh ------------------------------------------------------------------------

    def show_snapshot(self, snapshot: FleetSnapshot) -> None:
        self.fill_table(snapshot)
        self.query_one("#status", Static).update(self.status_line(snapshot))
        self._show_banner(snapshot)

    def fill_table(self, snapshot: FleetSnapshot) -> None:
        raise NotImplementedError

    def status_line(self, snapshot: FleetSnapshot) -> Text:
        hosts = snapshot.hosts
        up = sum(1 for h in hosts if h.link is Link.CONNECTED)
        running = sum(1 for g in snapshot.guests if g.state.is_active)
        line = Text()
        line.append(f" kvmtui: {self.VIEW_NAME} ", style="bold reverse")
        total = len(snapshot.guests)
        line.append(f"  hosts {up}/{len(hosts)} up   guests {running}/{total} running")
        if self.app.readonly:
            line.append("   READ-ONLY", style="bold yellow")
        if self.table.filter_text:
            line.append(f"   filter: {self.table.filter_text}", style="bold cyan")
        if self.table.marks:
            line.append(f"   marked: {len(self.table.marks)}", style="bold magenta")
        return line

    def _show_banner(self, snapshot: FleetSnapshot) -> None:
        """Hosts that are not connected, each on a line with the reason: never hidden."""
        lines = Text()
        for host in snapshot.hosts:
            if host.link is Link.CONNECTED:
                continue
            if lines:
                lines.append("\n")
            if host.link is Link.CONNECTING:
                lines.append(f" {host.name}: connecting to {host.uri} ...", style="yellow")
                continue
            retry = f" (retry in {host.retry_in:.0f}s)" if host.retry_in is not None else ""
            lines.append(f" {host.name} lost: {host.reason}{retry}", style="bold red")
        banner = self.query_one("#banner", Static)
        banner.update(lines)
        banner.display = bool(lines)

    # ---- keys ---------------------------------------------------------------------------

    def action_sort(self, column: str) -> None:
        self.table.sort_by(column)

    def action_prompt(self, mode: str) -> None:
        line = self.query_one(PromptLine)
        line.open(mode, self.table.filter_text if mode == "/" else "")

    def action_clear(self) -> None:
        if self.table.filter_text:
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
                self.apply_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        line = self.query_one(PromptLine)
        if event.input is not line:
            return
        text = event.value.strip()
        mode = line.mode
        reason = refusal(event.validation_result)
        self._close_prompt()
        if mode == ":" and text:
            line.remember(text)
            if reason:  # the parser's own words: what is wrong with the line
                self.app.controller.error(reason)
            else:
                self.app.controller.run_command(text)

    def on_prompt_line_cancelled(self, event: PromptLine.Cancelled) -> None:
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
        self.query_one("#status", Static).update(self.status_line(self.app.fleet.snapshot()))
