"""The Textual application: wires the core's fleet to the screens."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from textual import events
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Input

from kvmtui.controller import Controller
from kvmtui.core.commands import VERBS, Verb, complete, verbs_from
from kvmtui.core.display import Forwards
from kvmtui.core.fleet import Fleet
from kvmtui.core.history import History
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.results import Kept
from kvmtui.core.selectors import fleet_terms
from kvmtui.core.services import Services
from kvmtui.core.ssh import HostKeyAnswer, HostKeyQuestion, SshPrompts
from kvmtui.core.store import Store
from kvmtui.feed import ScreenFeed
from kvmtui.keys import key_map
from kvmtui.safety import NeverCrash
from kvmtui.screens.fleet_view import FleetView, Scope
from kvmtui.tui_operator import TuiOperator
from kvmtui.views import ALIASES, VIEW_DIGITS, VIEWS, View
from kvmtui.widgets.command_line import PromptLine
from kvmtui.widgets.guards import GuardsChanges
from kvmtui.widgets.key_words import words_of

if TYPE_CHECKING:
    from kvmtui.config import Settings

verbs_from("kvmtui.verbs")

UI_REFRESH_DELAY = 0.15
#: How far back the sparklines reach; the buffers hold this much and no more.
HISTORY_MINUTES = 10


class PaletteProvider(Provider):
    """The command palette (Ctrl+P): see `KvmTuiApp.palette_entries`. Empty, it lists
    them all; typing narrows them."""

    def _entries(self) -> list[PaletteEntry]:
        app = self.app
        assert isinstance(app, KvmTuiApp)
        return app.palette_entries(self.screen)

    async def discover(self) -> Hits:
        for entry in self._entries():
            yield DiscoveryHit(entry.text, entry.run, help=entry.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for entry in self._entries():
            score = matcher.match(entry.text)
            if score > 0:
                yield Hit(score, matcher.highlight(entry.text), entry.run, help=entry.help)


class PaletteEntry(NamedTuple):
    text: str
    run: Callable[[], object]
    help: str | None = None  # under the text: a verb's or a view's summary


#: Bindings that are no action of a view: moving, focusing, copying, the palette itself.
_NOT_ACTIONS = frozenset(
    {
        "focus_next",
        "focus_previous",
        "copy_text",
        "minimize",
        "maximize",
        "command_palette",
        "help_quit",
        "cursor_up",
        "cursor_down",
        "page_up",
        "page_down",
        "page_left",
        "page_right",
        "first",
        "last",
        "scroll_left",
        "scroll_right",
        "select_cursor",
        "view",
    }
)


class _MadeWhenAwaited:
    """An awaitable that makes its coroutine only once awaited: a worker cancelled before
    it starts (the app quitting) leaves no coroutine that was never awaited."""

    def __init__(self, make: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        self._make = make

    def __await__(self) -> Generator[Any, None, Any]:
        return self._make().__await__()


class KvmTuiApp(NeverCrash):
    """Owns the services (the fleet, the migration manager ...) and shows the registry's
    views (`kvmtui.views`); every core change reaches the screens through `ScreenFeed`."""

    CSS_PATH = "kvmtui.tcss"
    TITLE = "kvmtui"
    #: Only kvmtui's own entries: Textual's (Keys, Maximize, Screenshot, Theme ...) are
    #: no part of a fleet's work, and drowned the guests' actions.
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = {PaletteProvider}
    MODES: ClassVar[dict[str, str | Callable[[], Screen]]] = {
        view.name: view.make_screen for view in VIEWS
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        *[
            Binding(str(digit), f"view('{view.name}')", view.title, id=view.binding_id)
            for digit, view in zip(VIEW_DIGITS, VIEWS, strict=False)
        ],  # beyond nine: `:` aliases
        Binding("q", "quit", "Quit", id="app.quit"),
        # Ctrl+C ends a terminal program (virsh, top, k9s): here it is `q`, with the same
        # question when a migration would be aborted, in place of Textual's hint (whose
        # markup kvmtui's plain notifications would print raw). Where text is being edited
        # the input's own Ctrl+C (copy) comes first.
        Binding("ctrl+c", "quit", "Quit", show=False, system=True, id="app.interrupt"),
    ]

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.readonly = settings.readonly
        prompts = SshPrompts(self._ask_host_key, self._ask_secret)
        self.fleet = Fleet(settings.hosts, settings.refresh, prompts)
        #: The fleet's services, made once here, for the views, the controller and screens.
        config = settings.config
        self.services = Services(
            self.fleet,
            Store(settings.history_path),
            retention=config.history.retention(),
            alert_rules=config.alerts.alert_rules(),
            backups=config.backups(),
            disk_threshold=config.disk_threshold,
        )
        self.controller = Controller(
            self.services,
            TuiOperator(self),
            readonly=settings.readonly,
            spawn=self._spawn_change,
        )
        self.history = History(HISTORY_MINUTES, settings.refresh)
        self.displays = Forwards()  # graphical consoles' forwards, closed on exit
        if settings.theme:
            self.theme = settings.theme
        self.set_keymap(settings.keys)  # checked as the UI starts: kvmtui.keys.check_keymap

    # A screen other than the first view's is imported where it is first opened, not at
    # start-up: importing every feature's screens, and the core modules behind them, took a
    # tenth of the time to a first table (10 hosts x 1,000 guests).

    async def _ask_host_key(self, question: HostKeyQuestion) -> HostKeyAnswer:
        from kvmtui.screens.hostkey import ask_host_key

        return await ask_host_key(self, question)

    async def _ask_secret(self, prompt: str) -> str | None:
        from kvmtui.screens.secret import ask_secret

        return await ask_secret(self, prompt)

    async def on_mount(self) -> None:
        feed = ScreenFeed(
            self,
            self.services.publishers(),
            UI_REFRESH_DELAY,
            readers={"fleet": lambda: self.history.feed(self.fleet.snapshot())},
        )
        await self.services.open()
        if self.services.store.problem:
            self.notify(self.services.store.problem, severity="warning", markup=False)
        await self.fleet.start()
        self.run_worker(self.services.backups.load(), group="store")
        self.services.thresholds.watch()  # a disk filling matters in every view
        self.switch_mode(VIEWS[0].name)
        self.run_worker(self._show_first_tables(feed), group="feed")

    async def _show_first_tables(self, feed: ScreenFeed) -> None:
        """The last host's first table shows the moment it is in, not up to the feed's
        delay later (measured at 10 hosts x 1,000 guests: 60-100 ms of the start)."""
        await self.fleet.first_tables()
        feed.deliver_now()

    async def on_unmount(self) -> None:
        await self.displays.close()
        await self.fleet.close()  # and, by its close hooks, the database

    def on_key(self, event: events.Key) -> None:
        """A printable key that reaches the app while an input line has focus left for the
        old focus just before the line took it (typed hard on the heels of `/` or `:`, or
        pasted with it): it belongs in the line, not on the floor. A key whose change is
        refused (dimmed, see `GuardsChanges`) says why."""
        active = self.screen.active_bindings.get(event.key)
        if active is not None and not active.enabled and isinstance(active.node, GuardsChanges):
            active.node.refuse(active.binding.action)
            return
        focused = self.focused
        if (
            isinstance(focused, Input)
            and event.is_printable
            and event.character
            and event.key not in self.screen.active_bindings
        ):
            focused.insert_text_at_cursor(event.character)

    # ---- navigation ---------------------------------------------------------------------

    def show_view(self, name: str, scope: Scope | None = None) -> FleetView | None:
        """Shows the registry view `name`, closing whatever was opened on top of it, limited
        to `scope` (None: the whole view, so a digit or `:view` clears any scope). The one
        way every caller shows a view; returns it (None when quitting)."""
        if not self.is_running or self.return_code is not None:
            # Quitting: Textual's shutdown walks the views' stacks, and a view opened now
            # (a key typed ahead of `q` or Ctrl+C, a dialog's answer) would add one under
            # its feet.
            return None
        self._close_pushed()
        if self.current_mode != name:
            self.switch_mode(name)
            self._close_pushed()  # what was opened on it while another view was shown
        screen = self.screen
        assert isinstance(screen, FleetView)
        screen.set_scope(scope)
        return screen

    def _spawn_change(self, make: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Runs a change in a worker; its work is made as the worker starts."""
        self.run_worker(_MadeWhenAwaited(make), group="changes")

    def _close_pushed(self) -> None:
        """Closes every screen over the current view's, each dismissed so that a worker
        awaiting a dialog ends."""
        while len(self.screen_stack) > 1:
            self.screen.dismiss(None)

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

    def show_snapshots(
        self, guests: Sequence[GuestSnapshot], back: Callable[[], object] | None = None
    ) -> None:
        """The snapshots view scoped to `guests` (`t` on the guest list and the detail
        screen, `:snapshot-list`): their snapshots, and `n` takes theirs. Esc clears the
        scope and goes `back` (to the screen the keys were pressed on) when given."""
        self.show_view("snapshots", Scope.guests(guests, back))

    def show_kept(self, kept: Kept) -> None:
        """The events or audit view, narrowed as `:events`/`:audit` asked."""
        from kvmtui.screens.history import KeptView

        screen = self.show_view(kept.view)
        if isinstance(screen, KeptView):
            screen.show_kept(kept)

    def open_detail(self, guest: GuestSnapshot, tab: str = "info", view: str | None = None) -> None:
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

    def open_console(
        self, guest: GuestSnapshot, devname: str | None = None, force: bool = False
    ) -> None:
        """`c` on the guest list: the guest's serial console, full screen."""
        from kvmtui.screens.console import ConsoleScreen

        self.push_screen(ConsoleScreen(guest, devname, force))

    def open_display(self, guest: GuestSnapshot, open_now: bool = False) -> None:
        """`v` on the guest list: the graphical display's address; `:viewer` also opens it."""
        from kvmtui.screens.display import DisplayScreen

        self.push_screen(DisplayScreen(guest, open_now))

    def open_cpu_map(self, host: str) -> None:
        """`k` on the hosts list: physical CPUs against the guests' vCPUs."""
        from kvmtui.screens import cpumap

        cpumap.open_cpu_map(self, host)

    async def action_quit(self) -> None:
        """Quits; migrations still under way are aborted, so that takes a confirmation."""
        running = self.services.migrations.running()
        if not running:
            self.exit()
            return
        from kvmtui.screens.confirm import ConfirmScreen

        names = ", ".join(f"{job.guest} ({job.source} -> {job.dest})" for job in running)
        count = f"{len(running)} migration{'s' if len(running) != 1 else ''}"
        self.push_screen(
            ConfirmScreen(
                f"Quit and abort {count}?",
                f"Still under way: {names}. Each guest stays on its source host.",
                "Quit and abort",
            ),
            lambda yes: self.exit() if yes else None,
        )

    def action_help(self) -> None:
        from kvmtui.screens.help import HelpScreen

        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        if isinstance(screen, FleetView):
            title = screen.view.title
        else:
            title = getattr(screen, "VIEW_NAME", "") or words_of(type(screen).__name__)
        self.push_screen(
            HelpScreen(screen, title, not self.controller.may_change(), VIEWS, key_map())
        )

    def complete_command(self, line: str) -> list[str]:
        """Verbs, their options, guest and host names and selector terms, and the views'
        aliases."""
        snapshot = self.fleet.snapshot()
        names = sorted(
            {g.name for g in snapshot.guests}
            | {g.ref for g in snapshot.guests}
            | fleet_terms(snapshot.guests)  # selectors: tag:web, tier=web, host:kvm01 ...
        )
        found = complete(line, names, [h.name for h in snapshot.hosts])
        word = line.lstrip().removeprefix(":")
        if not word[-1:].isspace() and " " not in word:
            found = sorted({*found, *(alias for alias in ALIASES if alias.startswith(word))})
        return found

    # ---- the command palette ------------------------------------------------------------

    def palette_entries(self, screen: Screen) -> list[PaletteEntry]:
        """The palette's entries over `screen`: its actions with their keys, each run as
        its key runs it (the same action method: the same refusals and questions); the
        views; and the `:` verbs (read-only: those that change nothing)."""
        entries = self._action_entries(screen)
        view_keys = self._keys_by_id(screen)
        for view in VIEWS:
            key = view_keys.get(view.binding_id)
            entries.append(
                PaletteEntry(
                    f"{view.title} view" + (f" ({key})" if key else ""),
                    partial(self.show_view, view.name),
                    view.summary,
                )
            )
        may_change = self.controller.may_change()
        entries += [
            PaletteEntry(f":{verb.name}", partial(self._palette_verb, screen, verb), verb.summary)
            for verb in VERBS.values()
            if may_change or not verb.mutating
        ]
        return entries

    def _action_entries(self, screen: Screen) -> list[PaletteEntry]:
        """Each enabled binding along `screen`'s binding chain (the config's `[keys]`
        applied: Textual applies it there only), keys of one action together."""
        found: dict[tuple[int, str], tuple[DOMNode, Binding, list[str]]] = {}
        for node, bindings in screen._modal_binding_chain:
            for _key, binding in bindings:
                name = binding.action.rpartition(".")[2].split("(")[0]
                if (
                    name in _NOT_ACTIONS
                    or self._check_action_state(binding.action, node) is not True
                ):
                    continue
                entry = found.setdefault((id(node), binding.action), (node, binding, []))
                entry[2].append(self.get_key_display(binding))
        return [
            PaletteEntry(
                f"{binding.description or binding.action} ({', '.join(keys)})",
                partial(self.run_action, binding.action, node),
            )
            for node, binding, keys in found.values()
        ]

    def _keys_by_id(self, screen: Screen) -> dict[str, str]:
        keys: dict[str, list[str]] = {}
        for active in screen.active_bindings.values():
            if active.binding.id:
                keys.setdefault(active.binding.id, []).append(self.get_key_display(active.binding))
        return {binding_id: ", ".join(shown) for binding_id, shown in keys.items()}

    def _palette_verb(self, screen: Screen, verb: Verb) -> None:
        """A verb that takes no argument runs; one that needs some opens the `:` line with
        the verb and the selected guest (or, for a verb of several, every marked one)
        written in, to finish and check before Enter."""
        if not verb.positionals:
            self.run_line(verb.name)
            return
        words = [verb.name]
        # The guest list's selection, or the guest a detail screen shows.
        selected = getattr(screen, "selected", None)
        shown = getattr(screen, "guest", None)
        guests: list[GuestSnapshot] = (
            selected() if selected else [shown] if isinstance(shown, GuestSnapshot) else []
        )
        # A verb of several guests (NAME...) gets every marked one.
        several = verb.variadic and verb.positionals == ("NAME",)
        if verb.guest_arg and (len(guests) == 1 or several):
            words.extend(g.ref for g in guests)
        line = " ".join(words) + (" " if len(words) <= len(verb.positionals) else "")
        self.show_view(self.current_mode)  # its `:` line, whatever was open over it
        self.screen.query_one(PromptLine).open(":", line)
