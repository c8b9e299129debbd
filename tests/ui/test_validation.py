"""Every input line checks what is typed and says why a value is refused."""

from __future__ import annotations

from textual import events
from textual.widgets import Input, Static

from kvmtui.screens.detail import GuestDetailScreen
from kvmtui.screens.pin_editor import PinEditor
from kvmtui.screens.secret import SecretScreen, ask_secret
from kvmtui.widgets.command_line import PromptLine
from tests.ui.helpers import keys, notifications, started, text_of, wait_for
from tests.ui.test_placement_ui import open_vcpus, smp_guest

SIZE = (100, 30)


async def _paste(pilot, field: Input, text: str) -> None:
    field.value = ""
    field.post_message(events.Paste(text))
    await pilot.pause()


async def test_pin_list_refuses_digits_int_cannot_read(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await open_vcpus(pilot, smp_guest(app).name)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PinEditor), what="the editor")
        field = app.screen.query_one("#pin-list", Input)
        await _paste(pilot, field, "0-²")
        assert "'²' is not a CPU number" in text_of(app.screen.query_one("#pin-error", Static))
        assert field.has_class("-invalid")
        await pilot.press("enter")  # refused: the editor stays open
        assert isinstance(app.screen, PinEditor)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, GuestDetailScreen))


async def test_filter_refuses_control_characters_and_says_so(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        total = len(app.screen.table.visible_rows())
        await pilot.press("slash")
        line = app.screen.query_one(PromptLine)
        await _paste(pilot, line, "\x1b[31mweb")
        assert "control character" in str(line.border_subtitle)
        assert len(app.screen.table.visible_rows()) == total  # not applied
        await _paste(pilot, line, "kvm02")
        assert not line.border_subtitle
        await wait_for(
            pilot,
            lambda: {g.host for g in app.screen.table.visible_rows()} == {"kvm02"},
            what="the filter applied",
        )


async def test_command_numbers_are_checked_before_use(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        target = smp_guest(app)
        await pilot.press("colon")
        await _paste(pilot, app.screen.query_one(PromptLine), f"vcpupin {target.name} ² 0")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: any(
                "must be a whole number from 0 to 2147483647" in n for n in notifications(app)
            ),
            what="the refusal",
        )
        assert not app.unexpected_errors


async def test_password_dialog_refuses_control_characters(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        answers: list[str | None] = []

        async def ask() -> None:
            answers.append(await ask_secret(app, "Password for root@kvm9:"))

        app.run_worker(ask())
        await wait_for(pilot, lambda: isinstance(app.screen, SecretScreen), what="the dialog")
        await _paste(pilot, app.screen.query_one(Input), "pass\x00word")
        await pilot.press("enter")
        assert isinstance(app.screen, SecretScreen)
        assert "control character" in text_of(app.screen.query_one("#secret-hint", Static))
        await _paste(pilot, app.screen.query_one(Input), "")
        await pilot.press(*keys("s3cret"), "enter")
        await wait_for(pilot, lambda: answers == ["s3cret"], what="the answer")
