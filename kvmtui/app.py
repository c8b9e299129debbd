"""The Textual application: wires the core's fleet to the screens."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, ClassVar, TypeVar

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.command import Hit, Hits, Provider
from textual.screen import Screen
from textual.widgets import Input

from kvmtui.controller import Controller
from kvmtui.core import actions
from kvmtui.core.commands import complete, verbs_from
from kvmtui.core.display import Forwards
from kvmtui.core.fleet import Fleet
from kvmtui.core.history import History
from kvmtui.core.migration import MigrationManager
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.publish import Publisher
from kvmtui.core.snapshots import SnapshotBook
from kvmtui.core.ssh import HostKeyAnswer, HostKeyQuestion, SshPrompts
from kvmtui.feed import ScreenFeed
from kvmtui.keys import GuardsChanges, words_of
from kvmtui.safety import NeverCrash
from kvmtui.screens.fleet_view import FleetView, Scope
from kvmtui.tui_operator import TuiOperator
from kvmtui.views import ALIASES, SERVICES, VIEWS, View

if TYPE_CHECKING:

    from kvmtui.cli import Settings

verbs_from("kvmtui.verbs")

S = TypeVar("S", bound=Publisher)

UI_REFRESH_DELAY = 0.15
#: How far back the sparklines reach; the buffers hold this much and no more.
HISTORY_MINUTES = 10


class GuestActionsProvider(Provider):
    """The command palette (Ctrl+P): every lifecycle action on the marked or selected guests."""

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, KvmTuiApp)
        matcher = self.matcher(query)
        for text, callback, help_text in app.palette_entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=help_text)


class KvmTuiApp(NeverCrash):
    """Owns the services (the fleet, the migration manager ...) and shows the registry's
    views (`kvmtui.views`); every core change reaches the screens through `ScreenFeed`."""

    CSS_PATH = "kvmtui.tcss"
    TITLE = "kvmtui"
    COMMANDS = App.COMMANDS | {GuestActionsProvider}
    MODES: ClassVar[dict[str, str | Callable[[], Screen]]] = {
        view.name: view.make_screen for view in VIEWS}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        *[Binding(str(digit), f"view('{view.name}')", view.title, id=view.binding_id)
          for digit, view in enumerate(VIEWS[:9], start=1)],  # beyond nine: `:` aliases
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.readonly = settings.readonly
        prompts = SshPrompts(self._ask_host_key, self._ask_secret)
        self.fleet = Fleet(settings.hosts, settings.refresh, prompts)
        #: The core services, made once here with the fleet, by topic (`kvmtui.views`).
        self.services: dict[str, Publisher] = {
            topic: make(self.fleet) for topic, make in SERVICES.items()}
        self.migrations: MigrationManager = self.service(MigrationManager)
        #: Everything the views follow, by the topic names they give in `View.topics`.
        self.publishers: dict[str, Publisher] = {"fleet": self.fleet, **self.services}
        self.controller = Controller(
            self.fleet, TuiOperator(self), readonly=settings.readonly,
            spawn=lambda work: self.run_worker(work, group="changes"),
            migrations=self.migrations, snapshots=self.service(SnapshotBook))
        self.history = History(HISTORY_MINUTES, settings.refresh)
        self.displays = Forwards()  # graphical consoles' forwards, closed on exit
        if settings.theme:
            self.theme = settings.theme
        self.set_keymap(settings.keys)  # checked when read: see kvmtui.keys.clash

    # A screen other than the first view's is imported where it is first opened, not at
    # start-up: importing every feature's screens, and the core modules behind them, took a
    # tenth of the time to a first table (10 hosts x 1,000 guests).

    async def _ask_host_key(self, question: HostKeyQuestion) -> HostKeyAnswer:
        from kvmtui.screens.hostkey import ask_host_key

        return await ask_host_key(self, question)

    async def _ask_secret(self, prompt: str) -> str | None:
        from kvmtui.screens.secret import ask_secret

        return await ask_secret(self, prompt)

    def service(self, kind: type[S]) -> S:
        """The app's one service of class `kind` (the migration manager ...)."""
        return next(s for s in self.services.values() if isinstance(s, kind))

    async def on_mount(self) -> None:
        feed = ScreenFeed(self, self.publishers, UI_REFRESH_DELAY,
                          readers={"fleet": lambda: self.history.feed(self.fleet.snapshot())})
        await self.fleet.start()
        self.switch_mode(VIEWS[0].name)
        self.run_worker(self._show_first_tables(feed), group="feed")

    async def _show_first_tables(self, feed: ScreenFeed) -> None:
        """The last host's first table shows the moment it is in, not up to the feed's
        delay later (measured at 10 hosts x 1,000 guests: 60-100 ms of the start)."""
        await self.fleet.first_tables()
        feed.deliver_now()

    async def on_unmount(self) -> None:
        await self.displays.close()
        await self.fleet.close()

    def on_key(self, event: events.Key) -> None:
        """A printable key that reaches the app while an input line has focus left for the
        old focus just before the line took it (typed hard on the heels of `/` or `:`, or
        pasted with it): it belongs in the line, not on the floor. A key whose change is
        refused (dimmed, see `GuardsChanges`) says why."""
        active = self.screen.active_bindings.get(event.key)
        if (active is not None and not active.enabled
                and isinstance(active.node, GuardsChanges)):
            active.node.refuse(active.binding.action)
            return
        focused = self.focused
        if (isinstance(focused, Input) and event.is_printable and event.character
                and event.key not in self.screen.active_bindings):
            focused.insert_text_at_cursor(event.character)

    # ---- navigation ---------------------------------------------------------------------

    def show_view(self, name: str, scope: Scope | None = None) -> FleetView | None:
        """Shows the registry view `name`, closing whatever was opened on top of it, limited
        to `scope` (None: the whole view, so a digit or `:view` clears any scope). The one
        way every caller shows a view; returns it (None when quitting)."""
        if not self.is_running:
            # Quitting: Textual's shutdown walks the views' stacks, and a view opened now
            # (a key typed ahead of `q`, a dialog's answer) would add one under its feet.
            return None
        while len(self.screen_stack) > 1:  # dismissed, so a worker awaiting a dialog ends
            self.screen.dismiss(None)
        if self.current_mode != name:
            self.switch_mode(name)
        screen = self.screen
        assert isinstance(screen, FleetView)
        screen.set_scope(scope)
        return screen

    def action_view(self, name: str) -> None:
        self.show_view(name)

    def view_alias(self, line: str) -> View | None:
        """The view a `:` line names when it is one of the registry's aliases alone."""
        return ALIASES.get(line.strip().removeprefix(":"))

    def run_line(self, line: str) -> None:
        """A `:` line: a view's alias alone shows that view; anything else is a verb."""
        view = self.view_alias(line)
        if view is not None:
            self.show_view(view.name)
        else:
            self.controller.run_command(line)

    def show_snapshots(self, guests: Sequence[GuestSnapshot],
                       back: Callable[[], object] | None = None) -> None:
        """The snapshots view scoped to `guests` (`t` on the guest list and the detail
        screen, `:snapshot-list`): their snapshots, and `n` takes theirs. Esc clears the
        scope and goes `back` (to the screen the keys were pressed on) when given."""
        self.show_view("snapshots", Scope.guests(guests, back))

    def open_detail(self, guest: GuestSnapshot, tab: str = "info",
                    view: str | None = None) -> None:
        """The guest's detail on `tab`, over the view `view` (shown first) or over what is
        shown now."""
        from kvmtui.screens.detail import GuestDetailScreen

        if view is not None:
            self.show_view(view)
        self.push_screen(GuestDetailScreen(guest, tab))

    # ---- feature entry points (migration, console, CPU placement) -----------------------

    def open_migration(self, guests: list[GuestSnapshot]) -> None:
        """`m` on the guest list: the migration dialog for the selected or marked guests."""
        from kvmtui.screens import migration_progress

        migration_progress.open_migration(self, guests)

    def open_console(self, guest: GuestSnapshot, devname: str | None = None,
                     force: bool = False) -> None:
        """`c` on the guest list: the guest's serial console, full screen."""
        from kvmtui.screens.console import ConsoleScreen

        self.push_screen(ConsoleScreen(guest, devname, force))

    def open_display(self, guest: GuestSnapshot, open_now: bool = False) -> None:
        """`v` on the guest list: the graphical display's address; `:viewer` also opens it."""
        from kvmtui.screens.display import DisplayScreen

        self.push_screen(DisplayScreen(guest, open_now))

    def open_cpu_map(self, host: str) -> None:
        """`p` on the hosts list: physical CPUs against the guests' vCPUs."""
        from kvmtui.screens import cpumap

        cpumap.open_cpu_map(self, host)

    async def action_quit(self) -> None:
        """Quits; migrations still under way are aborted, so that takes a confirmation."""
        running = self.migrations.running()
        if not running:
            self.exit()
            return
        from kvmtui.screens.confirm import ConfirmScreen

        names = ", ".join(f"{job.guest} ({job.source} -> {job.dest})" for job in running)
        count = f"{len(running)} migration{'s' if len(running) != 1 else ''}"
        self.push_screen(
            ConfirmScreen(f"Quit and abort {count}?",
                          f"Still under way: {names}. Each guest stays on its source host.",
                          "Quit and abort"),
            lambda yes: self.exit() if yes else None)

    def action_help(self) -> None:
        from kvmtui.screens.help import HelpScreen

        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        if isinstance(screen, FleetView):
            title = screen.view.title
        else:
            title = getattr(screen, "VIEW_NAME", "") or words_of(type(screen).__name__)
        self.push_screen(HelpScreen(screen, title, not self.controller.may_change(), VIEWS))

    def complete_command(self, line: str) -> list[str]:
        """Verbs, their options, guest and host names, and the views' aliases."""
        snapshot = self.fleet.snapshot()
        names = sorted({g.name for g in snapshot.guests} | {g.ref for g in snapshot.guests})
        found = complete(line, names, [h.name for h in snapshot.hosts])
        word = line.lstrip().removeprefix(":")
        if not word[-1:].isspace() and " " not in word:
            found = sorted({*found, *(alias for alias in ALIASES if alias.startswith(word))})
        return found

    # ---- the command palette ------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for view in VIEWS:
            yield SystemCommand(view.title, view.summary, partial(self.show_view, view.name))

    def palette_entries(self) -> list[tuple[str, Callable[[], object], str]]:
        selected = getattr(self.screen, "selected", None)
        guests: list[GuestSnapshot] = selected() if selected else []
        if not guests or not self.controller.may_change(guests):
            return []
        target = guests[0].name if len(guests) == 1 else f"{len(guests)} marked guests"
        return [
            (f"{action.label} {target}", partial(self.controller.act, action.verb, guests),
             f"virsh {action.verb}")
            for action in actions.ACTIONS.values()
        ]
