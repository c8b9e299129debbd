"""The controller's Operator in the Textual app: dialogs to ask, notifications to report,
views and screens to show."""

from __future__ import annotations

from typing import TYPE_CHECKING, assert_never

from rich.text import Text

from kvmtui import format as fmt
from kvmtui.controller import Question
from kvmtui.core.commands import lookup_verb
from kvmtui.core.edit import run_editor
from kvmtui.core.results import (
    CapsReport,
    Console,
    CreateWizard,
    Display,
    Editor,
    Forecasts,
    GuestList,
    GuestPage,
    HostGuests,
    JobProgress,
    JobReport,
    Kept,
    Leases,
    Measuring,
    Quit,
    Result,
    SnapshotList,
    VerbHelp,
    View,
)
from kvmtui.handover import handed_over
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.fleet_view import Scope
from kvmtui.screens.text_panel import TextPanel, too_long_for_a_toast, verb_page

if TYPE_CHECKING:
    from kvmtui.app import KvmTuiApp


class TuiOperator:
    def __init__(self, app: KvmTuiApp) -> None:
        self.app = app

    async def confirm(self, question: Question) -> bool:
        confirmed = await self.app.push_screen_wait(
            ConfirmScreen(question.title, question.detail, question.action_label)
        )
        return bool(confirmed)

    async def secret(self, prompt: str) -> str | None:
        """A hidden field in a dialog; Esc answers None."""
        from kvmtui.screens.secret import ask_secret

        return await ask_secret(self.app, prompt)

    def ok(self, message: str) -> None:
        """A short answer is a notification; a long one (a description, a list of moved
        guests) a page that stays until Esc, as a notification is gone before it is read."""
        if too_long_for_a_toast(message):
            self.app.push_screen(TextPanel("", Text(message)))
        else:
            self.app.notify(message, timeout=4)

    def error(self, message: str) -> None:
        self.app.notify(message, severity="error", timeout=8)

    async def show(self, result: Result) -> None:
        """A view, a screen or a page for what a verb shows. The screens opened rarely are
        imported when first opened, as the app's are (kvmtui.app)."""
        app = self.app
        match result:
            case GuestList(which):
                # `virsh list` narrows: running guests, shut-off ones (`--inactive`); `--all`
                # is every guest (no scope).
                app.show_view("guests", None if which == "all" else Scope.listed(which))
            case HostGuests(name):
                app.show_view("guests", Scope.host(name) if name else None)
            case GuestPage(guest, tab):
                app.open_detail(guest, tab)
            case JobReport(guest, progress):
                where = f"{guest.name} on {guest.host}"
                summary = (
                    fmt.migration_summary(progress) if progress is not None else "no job running"
                )
                self.ok(f"{where}: {summary}")
            case JobProgress(job_id):
                from kvmtui.screens import migration_progress

                migration_progress.open_progress(app, job_id)
            case Measuring(_, seconds) as measuring:
                app.notify(measuring.line, timeout=seconds + 2)
            case Forecasts(foresights):
                for seen in foresights:
                    never = seen.forecast is not None and not seen.forecast.converges
                    app.notify(seen.line, severity="warning" if never else "information", timeout=8)
            case VerbHelp(verb):
                # A page on the verb that stays until Esc; alone, the help screen.
                if verb:
                    found = lookup_verb(verb)
                    app.push_screen(TextPanel(f":help {found.name}", verb_page(found)))
                else:
                    app.action_help()
            case SnapshotList(guest):
                app.show_snapshots([guest])
            case Leases(network):
                from kvmtui.screens.networks import LeasesScreen

                app.push_screen(LeasesScreen(network.key))
            case CapsReport(caps, findings):
                from kvmtui.screens.caps import CapsScreen

                app.push_screen(CapsScreen(caps, findings))
            case Console(guest, devname, force):
                app.open_console(guest, devname, force)
            case Display(guest):
                app.open_display(guest, open_now=True)
            case Editor(command):
                await self._edit(list(command))
            case View(name):
                app.show_view(name)
            case CreateWizard():
                from kvmtui.screens.create import CreateScreen

                app.push_screen(CreateScreen())
            case Kept():
                # The view, live, narrowed as asked (the rows found are the one-shot line's).
                app.show_kept(result)
            case Quit():
                await app.action_quit()
            case _:
                assert_never(result)

    async def _edit(self, command: list[str]) -> None:
        """The terminal is handed over to the editor, and comes back however it ends."""
        if self.app.is_headless:  # no terminal to hand over (tests): the editor runs as is
            await run_editor(command)
            return
        with handed_over(self.app, "editor"):
            await run_editor(command)
