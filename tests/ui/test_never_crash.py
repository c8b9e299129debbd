"""The last-resort handler: a bug shows one line, lands in the log, and the app goes on."""

from __future__ import annotations

import contextvars
import inspect
from pathlib import Path

import pytest
from textual import events
from textual._context import active_message_pump
from textual.app import App
from textual.command import CommandList, CommandPalette
from textual.widgets import Static, TabbedContent

from kvmtui.app import KvmTuiApp
from kvmtui.safety import NeverCrash, SafeCommandPalette
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.detail import GuestDetailScreen
from kvmtui.screens.guests import GuestsScreen
from kvmtui.screens.hosts import HostsScreen
from tests.ui.helpers import notifications, started, wait_for

SIZE = (100, 30)


def _log(state_dir: Path) -> str:
    path = state_dir / "kvmtui" / "kvmtui.log"
    return path.read_text() if path.exists() else ""


def _parameters(function: object) -> list[tuple[str, object]]:
    """What a caller relies on: each parameter's name and kind (annotations are strings)."""
    assert callable(function)
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize(
    ("ours", "textuals"), [(NeverCrash, App), (SafeCommandPalette, CommandPalette)]
)
def test_every_private_textual_method_overridden_is_still_textuals(ours: type, textuals: type):
    """NeverCrash catches errors by overriding Textual's private methods (safety.py's module
    doc says why there is no public way). Should an upgrade rename or reshape one, Textual
    would stop calling the override and the net would be off without a word: this fails
    instead, for every method safety.py marks @override."""
    overridden = {
        name: value for name, value in vars(ours).items() if getattr(value, "__override__", False)
    }  # marked @override
    assert {
        "_handle_exception",
        "_dispatch_message",
        "_gather_commands",
        "_action_command_list",
    } & set(overridden)
    for name, value in overridden.items():
        original = getattr(textuals, name, None)
        assert original is not None, f"Textual's {textuals.__name__} has no {name} any more"
        assert _parameters(value) == _parameters(original), f"{name} changed its parameters"
    # The search run without Textual's @work wrapper, which functools.wraps leaves there.
    assert inspect.isfunction(getattr(CommandPalette._gather_commands, "__wrapped__", None))


class _OneKeyFails(NeverCrash):
    """A bare app on the net: `x` fails in its own key handler, any other key is noted."""

    def __init__(self) -> None:
        super().__init__()
        self.keys_seen: list[str] = []

    def compose(self):
        yield Static("x fails")

    def on_key(self, event: events.Key) -> None:
        self.keys_seen.append(event.key)
        if event.key == "x":
            raise RuntimeError("key handler bug")


async def test_a_failing_key_handler_is_reported_and_the_app_goes_on(state_dir: Path):
    """The net itself, in a real app with nothing of kvmtui's around it: the moment an
    upgrade routes a handler's error past `_dispatch_message` / `_handle_exception`, this
    app ends (or the error goes unseen) and the test fails."""
    app = _OneKeyFails()
    async with app.run_test() as pilot:
        await pilot.press("x")
        await wait_for(pilot, lambda: len(app.unexpected_errors) == 1, what="the report")
        assert notifications(app) == [
            f"internal error: key handler bug (details in {state_dir}/kvmtui/kvmtui.log)"
        ]
        await pilot.press("x", "y")
        await wait_for(pilot, lambda: app.keys_seen == ["x", "x", "y"], what="every key")
        assert len(app.unexpected_errors) == 2
        assert app.is_running
    assert not app.return_code  # never ended by the error
    assert "RuntimeError: key handler bug" in _log(state_dir)


async def test_an_error_with_no_screen_to_show_it_ends_with_one_line(state_dir: Path):
    """An error outside any handler or worker (start-up, shutdown) cannot be shown on
    screen: the app ends with status 1 and one line naming the log, not a traceback."""
    app = _OneKeyFails()
    async with app.run_test() as pilot:
        # A context of its own: no message pump, no worker, as at start-up or shutdown.
        contextvars.Context().run(app._handle_exception, RuntimeError("outside every handler"))
        await pilot.pause()
    assert app.return_code == 1
    assert not app.unexpected_errors
    assert "RuntimeError: outside every handler" in _log(state_dir)


async def test_an_error_while_quitting_as_asked_keeps_the_exit_clean(state_dir: Path):
    """Ctrl+C or q, and a part failing as its screen goes (monkey seed 404: a tab bar
    mounting during the shutdown): the exit is the operator's, status 0, the log has it."""
    app = _OneKeyFails()
    async with app.run_test() as pilot:
        app.exit()
        contextvars.Context().run(app._handle_exception, RuntimeError("on the way out"))
        await pilot.pause()
    assert app.return_code == 0
    assert "RuntimeError: on the way out" in _log(state_dir)


async def test_an_error_of_a_part_already_gone_during_the_shutdown_is_only_logged(
    state_dir: Path,
):
    """The shutdown (here run_test's, which asks for no exit) takes screens down while one
    of their parts still mounts: monkey seed 404 ended with status 1 on a tab bar."""
    app = _OneKeyFails()
    async with app.run_test():
        pass
    gone = Static("never mounted")
    context = contextvars.Context()
    context.run(active_message_pump.set, gone)
    context.run(app._handle_exception, RuntimeError("from a part already gone"))
    assert not app.return_code
    assert "RuntimeError: from a part already gone" in _log(state_dir)


async def test_a_failing_key_action_is_reported_and_the_app_goes_on(
    demo_settings, state_dir, monkeypatch: pytest.MonkeyPatch
):
    def broken(self: KvmTuiApp) -> None:
        raise RuntimeError("boom in an action")

    monkeypatch.setattr(KvmTuiApp, "action_help", broken)
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("question_mark")
        await wait_for(
            pilot,
            lambda: any("boom in an action" in n for n in notifications(app)),
            what="the error line",
        )
        assert "RuntimeError: boom in an action" in _log(state_dir)
        assert "Traceback" in _log(state_dir)
        await pilot.press("2")  # still answering keys
        await wait_for(pilot, lambda: isinstance(app.screen, HostsScreen), what="the hosts view")
        assert app.is_running


async def test_a_failing_worker_is_reported_and_the_app_goes_on(demo_settings, state_dir):
    async def broken() -> None:
        raise ValueError("worker bug")

    async with started(demo_settings, SIZE) as (app, pilot):
        app.run_worker(broken())
        await wait_for(
            pilot, lambda: any("worker bug" in n for n in notifications(app)), what="the error line"
        )
        assert "ValueError: worker bug" in _log(state_dir)
        assert app.is_running and app.unexpected_errors


async def test_a_screen_whose_handler_fails_is_closed(
    demo_settings, state_dir, monkeypatch: pytest.MonkeyPatch
):
    def broken(self: GuestDetailScreen) -> None:
        raise RuntimeError("detail bug")

    monkeypatch.setattr(GuestDetailScreen, "on_mount", broken)
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: any("detail bug" in n for n in notifications(app)), what="the error line"
        )
        await wait_for(
            pilot, lambda: isinstance(app.screen, GuestsScreen), what="back on the guest list"
        )
        await pilot.press("down")  # the guest list still works
        assert app.is_running


async def test_the_guest_detail_copes_with_its_parts_gone(demo_settings, state_dir):
    """A screen closed as it opens loses its parts before its handlers and workers are
    done; the detail's first show then found `#live` missing (CI, monkey seed 202)."""
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, GuestDetailScreen), what="the detail")
        detail = app.screen
        await detail.query_one(TabbedContent).remove()
        detail.show_guest(detail.guest)
        detail.action_reload()
        await pilot.pause(0.5)
        assert "Traceback" not in _log(state_dir)
        assert not notifications(app)
        assert app.screen is detail
        await pilot.press("escape")
        await wait_for(
            pilot, lambda: isinstance(app.screen, GuestsScreen), what="back on the guest list"
        )


@pytest.mark.parametrize("opener", ["action_command_palette", "search_themes"])
async def test_every_palette_pages_without_a_crash(demo_settings, opener):
    """Textual 8.2.8's palette raised KeyError on PageUp/PageDown before its list was laid
    out; every palette kvmtui opens (Ctrl+P, and the palette's own "Theme" list) is ours."""
    async with started(demo_settings, SIZE) as (app, pilot):
        getattr(app, opener)()
        assert isinstance(app.screen, SafeCommandPalette)
        await pilot.press("pagedown", "down", "pageup", "pagedown")  # before any layout
        await pilot.press("pagedown", "pageup", "escape")
        assert not app.unexpected_errors


async def test_ctrl_p_over_a_dialog_over_the_palette_opens_no_second_one(demo_settings):
    """A dialog a background task opens over the palette (a password, a host key) used to
    let Ctrl+P push a second palette under the same id: DuplicateIds (monkey seed 404)."""
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, SafeCommandPalette))
        app.push_screen(ConfirmScreen("A dialog over the palette?", "", "Yes"))
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert not app.unexpected_errors
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, SafeCommandPalette))


async def test_a_palette_whose_view_changed_before_it_showed_closes_quietly(demo_settings):
    """Ctrl+P and, before the palette was up, another view: Textual's palette took the
    screen under it from the new view's stack, which had none (IndexError, monkey seed
    101). It closes; the view asked for is on screen, and Ctrl+P works there."""
    async with started(demo_settings, SIZE) as (app, pilot):
        app.action_command_palette()
        app.switch_mode("hosts")  # as a view key does, the palette not yet mounted
        await pilot.pause(0.2)
        assert not app.unexpected_errors
        assert isinstance(app.screen, HostsScreen)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, SafeCommandPalette))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HostsScreen))
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, GuestsScreen))
        assert not app.unexpected_errors


async def test_a_palette_search_that_finds_its_list_gone_is_dropped(demo_settings):
    """A key or paste that starts a search just as the palette closes: the search found its
    result list already removed, and the NoMatches inside its worker ended the app
    (monkey seed 303)."""
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, SafeCommandPalette))
        palette = app.screen
        await palette.query_one(CommandList).remove()  # as when the palette closes
        worker = palette._gather_commands("guests")
        await worker.wait()
        await pilot.pause()
        assert app.is_running and not app.unexpected_errors
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, SafeCommandPalette))


async def test_a_view_asked_for_while_quitting_does_not_break_the_shutdown(demo_settings):
    """Found by the monkey in CI: Textual's shutdown walks every view's stack of screens,
    and a view opened meanwhile (here by a dialog closed by the shutdown itself) added a
    stack under its feet: 'dictionary changed size during iteration', and a traceback."""
    opened: list[str] = []

    class OpensAViewWhenClosed(ConfirmScreen):
        def on_unmount(self) -> None:
            opened.append(self.app.current_mode)
            self.app.show_view("jobs")  # a view the app has not shown yet

    async with started(demo_settings, SIZE) as (app, _pilot):
        await app.push_screen(OpensAViewWhenClosed("Undefine?", "", "Undefine"))
        app.exit()
    assert opened == ["guests"] and app.return_code == 0


async def test_a_view_typed_ahead_of_a_quit_is_not_opened(demo_settings, state_dir):
    """Ctrl+C then `5` typed at once (monkey seed 404 in CI): the pools view began to
    mount as the app closed, failed, and its stack broke Textual's shutdown."""
    async with started(demo_settings, SIZE) as (app, _pilot):
        app.exit()
        assert app.show_view("pools") is None
        assert app.current_mode == "guests"
    assert app.return_code == 0 and not app.unexpected_errors
