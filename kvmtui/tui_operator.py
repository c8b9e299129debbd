"""The controller's Operator in the Textual app: dialogs to ask, notifications to report,
views and screens to show."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text

from kvmtui import format as fmt
from kvmtui.controller import Question
from kvmtui.core.capabilities import Check, HostCaps
from kvmtui.core.commands import lookup_verb
from kvmtui.core.edit import run_editor
from kvmtui.core.migration import MigrationProgress
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.networks import NetworkSnapshot
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

    def ok(self, message: str) -> None:
        """A short answer is a notification; a long one (a description, a list of moved
        guests) a page that stays until Esc, as a notification is gone before it is read."""
        if too_long_for_a_toast(message):
            self.app.push_screen(TextPanel("", Text(message)))
        else:
            self.app.notify(message, timeout=4)

    def error(self, message: str) -> None:
        self.app.notify(message, severity="error", timeout=8)

    async def show_list(self, which: str) -> None:
        """The guest list scoped as `virsh list` narrows: running guests, shut-off ones
        (`--inactive`); `--all` every guest (no scope)."""
        self.app.show_view("guests", None if which == "all" else Scope.listed(which))

    async def show_host(self, name: str) -> None:
        """`:host NAME`: the guest list scoped to that host; `:host` alone: all of them."""
        self.app.show_view("guests", Scope.host(name) if name else None)

    async def show_guest(self, guest: GuestSnapshot, tab: str) -> None:
        self.app.open_detail(guest, tab)

    async def show_job(self, guest: GuestSnapshot, progress: MigrationProgress | None) -> None:
        where = f"{guest.name} on {guest.host}"
        self.ok(
            f"{where}: {fmt.migration_summary(progress)}"
            if progress is not None
            else f"{where}: no job running"
        )

    async def show_help(self, verb: str) -> None:
        """`:help VERB` opens a page on the verb (usage, summary, arguments, options) that
        stays until Esc; `:help` alone opens the help screen."""
        if verb:
            found = lookup_verb(verb)
            self.app.push_screen(TextPanel(f":help {found.name}", verb_page(found)))
        else:
            self.app.action_help()

    async def show_snapshots(self, guest: GuestSnapshot) -> None:
        self.app.show_snapshots([guest])

    def show_view(self, name: str) -> None:
        self.app.show_view(name)

    def open_console(self, guest: GuestSnapshot, devname: str | None, force: bool) -> None:
        self.app.open_console(guest, devname, force)

    def open_display(self, guest: GuestSnapshot) -> None:
        self.app.open_display(guest, open_now=True)

    async def run_editor(self, command: list[str]) -> None:
        """The terminal is handed over to the editor, and comes back however it ends."""
        if self.app.is_headless:  # no terminal to hand over (tests): the editor runs as is
            await run_editor(command)
            return
        with handed_over(self.app, "editor"):
            await run_editor(command)

    # The screens below are imported when first opened, as the app's are (kvmtui.app).

    def open_create(self) -> None:
        from kvmtui.screens.create import CreateScreen

        self.app.push_screen(CreateScreen())

    async def follow_job(self, job_id: int) -> None:
        from kvmtui.screens import migration_progress

        migration_progress.open_progress(self.app, job_id)

    async def quit(self) -> None:
        await self.app.action_quit()

    async def show_network(self, network: NetworkSnapshot) -> None:
        from kvmtui.screens.networks import LeasesScreen

        self.app.push_screen(LeasesScreen(network.key))

    async def show_caps(self, caps: Sequence[HostCaps], findings: Sequence[Check]) -> None:
        from kvmtui.screens.caps import CapsScreen

        self.app.push_screen(CapsScreen(caps, findings))
