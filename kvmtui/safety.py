"""The last resort of the never-crash contract: an unexpected error is logged, shown as one
line, and the app goes on; it ends only when the user quits.

The core turns every libvirt/SSH failure into a HostError and the screens report those as
notifications; this module is the net under whatever still escapes (a bug). Textual's own
`App._handle_exception` ends the app on any unhandled error, whether from a worker or from a
message handler, so `NeverCrash` replaces it:

- a failed worker only ended itself: report it and carry on;
- an error in the app's own message handling (every key binding and action runs there) is
  caught around the dispatch, so the app's message loop never stops;
- an error in a screen's or widget's message handler has already stopped that message loop
  (Textual breaks it), so the broken screen is closed, or rebuilt if it is a view's base;
- an error from a screen the user has already closed (keys typed ahead close a screen
  while it still loads) is only logged: nobody can see that screen any more.

Every report appends the traceback to `kvmtui.log` in the XDG state directory and adds the
error to `unexpected_errors`, which the keyboard-monkey tests check stays empty.

Textual's public API is used where it has one (`get_screen_stack`, `exit`). It has none for
this net: its public route for a failed worker (`exit_on_error=False`, then
`Worker.StateChanged`) reaches only the node that started the worker, never the app, and a
failing message handler has no public route at all. Both end in `App._handle_exception`,
and the app's own handlers run in `App._dispatch_message`: those two overrides, the
`active_message_pump` context variable that names the failing node, and the palette's
private methods below are Textual's internals. An upgrade that renames or reshapes any of
them would switch this module off without a word. So every override here is marked
`@override`: mypy fails when one overrides nothing any more, and tests/ui/test_never_crash.py
checks each still has Textual's parameters, and that a failing key handler and a failing
worker are still reported in a real app that then goes on.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from platformdirs import user_state_dir
from textual import work
from textual._context import active_message_pump
from textual.app import App
from textual.command import CommandListItem, CommandPalette, SimpleProvider
from textual.css.query import NoMatches
from textual.events import Mount
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.theme import ThemeProvider
from textual.widget import AwaitMount, Widget
from textual.worker import WorkerFailed, active_worker

# PEP 698's @override (typing.override from Python 3.12), from the typing_extensions
# that Textual itself requires: mypy then fails when a method marked so overrides
# nothing, and so does tests/ui/test_never_crash.py.
from typing_extensions import override

from kvmtui.screens.closing import ClosesOnce

LOG_NAME = "kvmtui.log"

_log = logging.getLogger("kvmtui")


def log_path() -> Path:
    """Where tracebacks go: `$XDG_STATE_HOME/kvmtui/kvmtui.log` (~/.local/state/...)."""
    return Path(user_state_dir("kvmtui")) / LOG_NAME


def _write_log(error: BaseException) -> Path | None:
    """Appends the traceback; None when the file cannot be written (a read-only home must
    not turn one error into two)."""
    path = log_path()
    text = "".join(traceback.format_exception(error))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    _log.addHandler(handler)
    try:
        _log.error("unexpected error\n%s", text.rstrip())
    finally:
        _log.removeHandler(handler)
        handler.close()
    return path


def _screen_of(node: object) -> Screen | None:
    if isinstance(node, Screen):
        return node
    if isinstance(node, Widget) and node.is_attached:
        return node.screen
    return None


class SafeCommandPalette(CommandPalette, ClosesOnce[Any]):
    """Textual's command palette without its paging crash, closing once (a command such
    as "Guests" closes every pushed screen, the palette with them, before the palette's
    own dismiss runs: Textual's then raised ScreenStackError).

    Textual 8.2.8, `OptionList._move_page` (reached by PageUp/PageDown through
    `CommandPalette._action_command_list`) reads `_index_to_line[highlighted]`, which is
    only filled once the result list has been laid out: a page key right after the list
    opens (or while it is empty) raised `KeyError: 0`. Such a page move is dropped."""

    @override
    @work(exclusive=True, group=CommandPalette._GATHER_COMMANDS_GROUP)
    async def _gather_commands(self, search_value: str) -> None:
        """Textual's search, dropped when the palette has no list to fill: a search started
        by a key or a paste just as the palette closes found its list already removed and
        raised NoMatches inside the worker, which ended the app (monkey seed 303)."""
        # The search itself, without its @work wrapper (functools.wraps keeps it there).
        search = CommandPalette._gather_commands.__wrapped__  # type: ignore[attr-defined]  # set by wraps
        try:
            await search(self, search_value)
        except NoMatches:
            return

    def _on_mount(self, event: Mount) -> None:
        """Runs before Textual's own, which takes the screen under the palette to be
        `app.screen_stack[-2]`: a palette whose stack changed before it mounted (a view
        switched, the screen under it closed) found no such screen (IndexError, monkey
        seed 101) or searched the wrong one. Such a palette has nothing to search (Esc
        closes it, and so does showing its view again); Textual's handler is skipped."""
        stack = self.app.screen_stack
        if len(stack) >= 2 and stack[-1] is self:
            return
        event.prevent_default()
        self._providers = []

    @override
    def _action_command_list(self, action: str) -> None:
        try:
            super()._action_command_list(action)
        except NoMatches:
            return  # a key typed before the palette has composed its list: nothing to move
        except KeyError:
            if action not in ("page_up", "page_down"):
                raise


class NeverCrash(App[Any]):
    """An App whose unexpected errors are reported, not fatal; see the module doc."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unexpected_errors: list[BaseException] = []

    def report_unexpected(self, error: BaseException) -> None:
        """One notification line naming the error and the log file; the traceback to the log."""
        self.unexpected_errors.append(error)
        path = _write_log(error)
        where = f" (details in {path})" if path else ""
        message = str(error) or type(error).__name__
        self.notify(f"internal error: {message}{where}", severity="error", timeout=10)

    @override
    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Textual's notify, but plain text unless asked: kvmtui's messages quote guest and
        host names and libvirt's errors, which may hold `[` and must show as typed."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    # Every palette Textual opens (Ctrl+P, and its "Theme" and "Keys" lists), as ours.

    @override
    def action_command_palette(self) -> None:
        # Textual asks only whether the top screen is a palette, and gives each the same id:
        # a dialog a background task opened over one (a password, a host key), or a palette
        # closing but not yet removed, let Ctrl+P push a second one under that id:
        # DuplicateIds (monkey seed 404). One palette per screen stack, and no fixed id.
        if self.use_command_palette and not any(
            isinstance(screen, CommandPalette) for screen in self.screen_stack
        ):
            self.push_screen(SafeCommandPalette())

    @override
    def search_commands(
        self, commands: Sequence[CommandListItem], placeholder: str = "Search for commands…"
    ) -> AwaitMount:
        return self.push_screen(
            SafeCommandPalette(
                # As Textual 8's own App.search_commands passes it: an instance where the
                # annotation says a class.
                providers=[cast(Any, SimpleProvider(self.screen, list(commands)))],
                placeholder=placeholder,
            )
        )

    @override
    def search_themes(self) -> None:
        self.push_screen(
            SafeCommandPalette(providers=[ThemeProvider], placeholder="Search for themes…")
        )

    @override
    async def _dispatch_message(self, message: Message) -> None:
        try:
            await super()._dispatch_message(message)
        except Exception as error:  # the app's message loop must never stop
            if self.return_code is None:
                self.report_unexpected(error)
            else:  # quitting: no screen left to show it on
                _write_log(error)

    @override
    def _handle_exception(self, error: Exception) -> None:
        worker = active_worker.get(None)
        node = worker.node if worker is not None else active_message_pump.get(None)
        screen = _screen_of(node)
        in_worker = isinstance(error, WorkerFailed)
        if isinstance(error, WorkerFailed):
            # What the worker raised (an Exception: Textual lets BaseExceptions through).
            error = error.error  # type: ignore[assignment]  # WorkerFailed.error is typed wider
        if self.return_code is not None:
            # Quitting as asked (q, Ctrl+C): a part failing on the way out (a view a key
            # typed ahead opens as the app closes) is logged; the exit stays the operator's.
            _write_log(error)
            return
        if in_worker:
            pass  # only the worker ended: reported below, the app goes on
        elif node is not None and not self.is_running and self._on_closed_screen(node):
            # A part of a screen the shutdown has already taken down (a tab bar mounting as
            # its screen goes): nobody can see it, and the exit is not this error's.
            _write_log(error)
            return
        elif node is None or not self.is_running:
            # Only start-up and shutdown errors land here: nothing left to recover.
            path = _write_log(error)
            if path is None:
                super()._handle_exception(error)
            else:
                self._exit_quietly(path)
            return
        elif screen is not None:  # that screen's message loop has stopped
            self.call_later(self._recover, screen)
        if self._on_closed_screen(node):
            # Keys typed ahead can close a screen while it still opens or reads: what it
            # failed to show nobody can see any more, so the log has it, the screen not.
            _write_log(error)
            return
        self.report_unexpected(error)

    def _on_closed_screen(self, node: object) -> bool:
        """Whether `node` belongs to a screen that is on no view's stack any more."""
        if isinstance(node, Screen):
            return not any(node in stack for stack in self._stacks())
        if isinstance(node, Widget):
            return not node.is_attached or self._on_closed_screen(node.screen)
        return False

    def _stacks(self) -> Iterator[list[Screen]]:
        """The stack of screens of every view shown so far."""
        for mode in dict.fromkeys([*self.MODES, self.current_mode]):
            try:
                stack = self.get_screen_stack(mode)
            except KeyError:  # a view not shown yet has none
                continue
            yield stack

    @override
    async def action_pop_screen(self) -> None:
        """Back (Esc) from a screen: a Back typed ahead that arrives after its screen has
        gone finds only the view's base, where Textual would raise ScreenStackError."""
        if len(self.screen_stack) > 1:
            await self.pop_screen()

    def _exit_quietly(self, path: Path) -> None:
        """Ends with status 1 and one line pointing at the log, not a traceback."""
        self.exit(return_code=1, message=f"kvmtui: internal error, details in {path}")

    async def _recover(self, screen: Screen) -> None:
        """Closes the screen whose message loop died; a view's base screen is rebuilt."""
        if not self.is_running:
            return  # quitting: the shutdown closes every screen, and a rebuilt view breaks it
        stack = self.screen_stack
        if screen not in stack:
            return  # already closed, or in another view's stack: left alone
        if screen is not stack[0]:
            while screen in self.screen_stack:
                await self.pop_screen()
            return
        mode = self.current_mode
        base = self.MODES.get(mode)
        other = next((name for name in self.MODES if name != mode), None)
        if base is None or other is None:
            return
        await self.switch_mode(other)
        await self.remove_mode(mode)
        self.add_mode(mode, base)
        await self.switch_mode(mode)
