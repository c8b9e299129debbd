"""The last-resort handler: a bug shows one line, lands in the log, and the app goes on."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandList
from textual.widgets import TabbedContent

from kvmtui.app import KvmTuiApp
from kvmtui.safety import SafeCommandPalette
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.detail import GuestDetailScreen
from kvmtui.screens.guests import GuestsScreen
from kvmtui.screens.hosts import HostsScreen
from tests.ui.helpers import notifications, started, wait_for

SIZE = (100, 30)


def _log(state_dir: Path) -> str:
    path = state_dir / "kvmtui" / "kvmtui.log"
    return path.read_text() if path.exists() else ""


async def test_a_failing_key_action_is_reported_and_the_app_goes_on(
        demo_settings, state_dir, monkeypatch: pytest.MonkeyPatch):
    def broken(self: KvmTuiApp) -> None:
        raise RuntimeError("boom in an action")

    monkeypatch.setattr(KvmTuiApp, "action_help", broken)
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: any("boom in an action" in n for n in notifications(app)),
                       what="the error line")
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
        await wait_for(pilot, lambda: any("worker bug" in n for n in notifications(app)),
                       what="the error line")
        assert "ValueError: worker bug" in _log(state_dir)
        assert app.is_running and app.unexpected_errors


async def test_a_screen_whose_handler_fails_is_closed(demo_settings, state_dir,
                                                      monkeypatch: pytest.MonkeyPatch):
    def broken(self: GuestDetailScreen) -> None:
        raise RuntimeError("detail bug")

    monkeypatch.setattr(GuestDetailScreen, "on_mount", broken)
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("detail bug" in n for n in notifications(app)),
                       what="the error line")
        await wait_for(pilot, lambda: isinstance(app.screen, GuestsScreen),
                       what="back on the guest list")
        await pilot.press("down")  # the guest list still works
        assert app.is_running


async def test_the_guest_detail_copes_with_its_parts_gone(demo_settings, state_dir):
    """A screen closed as it opens loses its parts before its handlers and workers are
    done; the detail's first show then found `#live` missing (CI, monkey seed 202)."""
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, GuestDetailScreen),
                       what="the detail")
        detail = app.screen
        await detail.query_one(TabbedContent).remove()
        detail.show_guest(detail.guest)
        detail.action_reload()
        await pilot.pause(0.5)
        assert "Traceback" not in _log(state_dir)
        assert not notifications(app)
        assert app.screen is detail
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, GuestsScreen),
                       what="back on the guest list")


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
