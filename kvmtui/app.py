"""The Textual application: wires the core's fleet to the screens."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.app import App, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.command import Hit, Hits, Provider
from textual.screen import Screen
from textual.widgets import Input

import kvmtui.verbs  # noqa: F401  (registers the `:` verbs)
from kvmtui.controller import Controller
from kvmtui.core import actions
from kvmtui.core.commands import complete
from kvmtui.core.fleet import Fleet
from kvmtui.core.history import History
from kvmtui.core.migration import migrations
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.ssh import SshPrompts
from kvmtui.safety import NeverCrash
from kvmtui.screens import cpumap, migrate
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.console import ConsoleScreen
from kvmtui.screens.detail import GuestDetailScreen
from kvmtui.screens.guests import GuestsScreen
from kvmtui.screens.help import HelpScreen
from kvmtui.screens.hostkey import ask_host_key
from kvmtui.screens.hosts import HostsScreen
from kvmtui.screens.jobs import JobsScreen
from kvmtui.screens.secret import ask_secret

if TYPE_CHECKING:
    from kvmtui.cli import Settings

UI_REFRESH_DELAY = 0.15
#: How far back the sparklines reach; the buffers hold this much and no more.
HISTORY_MINUTES = 10


class GuestActionsProvider(Provider):
    """The command palette (Ctrl+P): every lifecycle action on the selected guest."""

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, KvmTuiApp)
        matcher = self.matcher(query)
        for text, callback, help_text in app.palette_entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=help_text)


class KvmTuiApp(NeverCrash):
    CSS_PATH = "kvmtui.tcss"
    TITLE = "kvmtui"
    COMMANDS = App.COMMANDS | {GuestActionsProvider}
    MODES: ClassVar[dict[str, type[Screen]]] = {
        "guests": GuestsScreen, "hosts": HostsScreen, "jobs": JobsScreen}
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("1", "view('guests')", "Guests"),
        Binding("2", "view('hosts')", "Hosts"),
        Binding("3", "view('jobs')", "Jobs"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.readonly = settings.readonly
        prompts = SshPrompts(partial(ask_host_key, self), partial(ask_secret, self))
        self.fleet = Fleet(settings.hosts, settings.refresh, prompts)
        self.controller = Controller(self)
        self.history = History(HISTORY_MINUTES, settings.refresh)
        self._refresh_timer = None
        if settings.theme:
            self.theme = settings.theme

    async def on_mount(self) -> None:
        self.fleet.add_change_listener(self._fleet_changed)
        self.fleet.add_change_listener(lambda: self.history.feed(self.fleet.snapshot()))
        await self.fleet.start()
        self.switch_mode("guests")

    async def on_unmount(self) -> None:
        await self.fleet.close()

    def on_key(self, event: events.Key) -> None:
        """A printable key that reaches the app while an input line has focus left for the
        old focus just before the line took it (typed hard on the heels of `/` or `:`, or
        pasted with it): it belongs in the line, not on the floor."""
        focused = self.focused
        if (isinstance(focused, Input) and event.is_printable and event.character
                and event.key not in self.screen.active_bindings):
            focused.insert_text_at_cursor(event.character)

    def _fleet_changed(self) -> None:
        if self._refresh_timer is None:
            self._refresh_timer = self.set_timer(UI_REFRESH_DELAY, self._push_snapshot)

    def _push_snapshot(self) -> None:
        self._refresh_timer = None
        try:
            screen = self.screen
        except ScreenStackError:  # shutting down: nothing left to draw on
            return
        show = getattr(screen, "show_snapshot", None)
        if show is not None and screen.is_mounted:  # a screen still composing has no widgets
            show(self.fleet.snapshot())

    # ---- navigation ---------------------------------------------------------------------

    def show_view(self, name: str) -> None:
        while len(self.screen_stack) > 1:  # dismissed, so a worker awaiting a dialog ends
            self.screen.dismiss(None)
        if self.current_mode != name:
            self.switch_mode(name)

    def action_view(self, name: str) -> None:
        self.show_view(name)

    def open_detail(self, guest: GuestSnapshot, tab: str = "info") -> None:
        self.push_screen(GuestDetailScreen(guest, tab))

    # ---- feature entry points (migration, console, CPU placement) -----------------------

    def open_migration(self, guests: list[GuestSnapshot]) -> None:
        """`m` on the guest list: the migration dialog for the selected or marked guests."""
        migrate.open_migration(self, guests)

    def open_console(self, guest: GuestSnapshot, devname: str | None = None,
                     force: bool = False) -> None:
        """`c` on the guest list: the guest's serial console, full screen."""
        self.push_screen(ConsoleScreen(guest, devname, force))

    def open_cpu_map(self, host: str) -> None:
        """`p` on the hosts list: physical CPUs against the guests' vCPUs."""
        cpumap.open_cpu_map(self, host)

    async def action_quit(self) -> None:
        """Quits; migrations still under way are aborted, so that takes a confirmation."""
        running = migrations(self.fleet).running()
        if not running:
            self.exit()
            return
        names = ", ".join(f"{job.guest} ({job.source} -> {job.dest})" for job in running)
        count = f"{len(running)} migration{'s' if len(running) != 1 else ''}"
        self.push_screen(
            ConfirmScreen(f"Quit and abort {count}?",
                          f"Still under way: {names}. Each guest stays on its source host.",
                          "Quit and abort"),
            lambda yes: self.exit() if yes else None)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        title = getattr(self.screen, "VIEW_NAME", "") or type(self.screen).__name__
        self.push_screen(HelpScreen(self.screen, title, self.readonly))

    def complete_command(self, line: str) -> list[str]:
        snapshot = self.fleet.snapshot()
        names = sorted({g.name for g in snapshot.guests} | {g.ref for g in snapshot.guests})
        return complete(line, names, [h.name for h in snapshot.hosts])

    # ---- the command palette ------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Guests", "All guests of all hosts", partial(self.show_view, "guests"))
        yield SystemCommand("Hosts", "The hosts and their state", partial(self.show_view, "hosts"))

    def palette_entries(self) -> list[tuple[str, object, str]]:
        selected = getattr(self.screen, "selected", None)
        guests: list[GuestSnapshot] = selected() if selected else []
        if not guests or self.readonly:
            return []
        target = guests[0].name if len(guests) == 1 else f"{len(guests)} marked guests"
        return [
            (f"{action.label} {target}", partial(self.controller.act, action.verb, guests),
             f"virsh {action.verb}")
            for action in actions.ACTIONS.values()
        ]
