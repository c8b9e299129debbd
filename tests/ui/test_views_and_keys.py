"""The view registry reached every way a user can (digit, `:` alias, Tab, palette, help),
screens fed by the core's publishers, and keys remapped from the config's `[keys]`."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from textual import events
from textual.binding import Binding

import kvmtui
from kvmtui.core.commands import VERBS
from kvmtui.core.migration import MigrationOptions
from kvmtui.core.model import GuestState
from kvmtui.keys import all_bindings
from kvmtui.screens.help import HelpScreen
from kvmtui.views import VIEW_DIGITS, VIEWS
from kvmtui.widgets.command_line import PromptLine
from tests.ui.helpers import guest, keys, screen_text, started, status, wait_for

SIZE = (100, 30)


async def show_help(pilot) -> str:
    await pilot.press("question_mark")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), what="help")
    await pilot.pause()
    return screen_text(pilot.app)


async def close_help(pilot) -> None:
    await pilot.press("escape")
    await wait_for(pilot, lambda: not isinstance(pilot.app.screen, HelpScreen))


def own_bindings(view) -> list[Binding]:
    return [b for b in view.screen_class.BINDINGS if isinstance(b, Binding)]


async def test_every_view_is_reachable_by_its_digit_and_each_alias(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        for digit, view in zip(VIEW_DIGITS, VIEWS, strict=False):
            await pilot.press(digit)
            await wait_for(
                pilot,
                lambda v=view: (
                    isinstance(app.screen, v.screen_class) and f"kvmtui: {v.name}" in status(app)
                ),
                what=f"{view.name} by digit",
            )
        for view in VIEWS:
            for alias in view.aliases:
                other = next(v for v in VIEWS if v is not view)
                await pilot.press(VIEW_DIGITS[VIEWS.index(other)])
                await wait_for(pilot, lambda o=other: isinstance(app.screen, o.screen_class))
                await pilot.press("colon", *keys(alias), "enter")
                await wait_for(
                    pilot,
                    lambda v=view: (
                        isinstance(app.screen, v.screen_class)
                        and f"kvmtui: {v.name}" in status(app)
                    ),
                    what=f":{alias}",
                )


#: The views the demo fleet fills (it has no migration and no snapshot to list).
DEMO_HAS_ROWS = {"guests", "hosts", "pools", "vols", "networks"}


async def test_help_lists_each_views_keys_and_every_view(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        for digit, view in zip(VIEW_DIGITS, VIEWS, strict=False):
            await pilot.press(digit)
            await wait_for(pilot, lambda v=view: isinstance(app.screen, v.screen_class))
            if view.name in DEMO_HAS_ROWS:
                # A key that acts on the row under the cursor is shown once there is one.
                await wait_for(
                    pilot, lambda: app.screen.table.visible_rows(), what=f"{view.name} rows"
                )
            text = await show_help(pilot)
            assert f"{view.title}: keys" in text
            for binding in own_bindings(view):
                assert binding.description in text, (view.name, binding.description)
            for other_digit, other in zip(VIEW_DIGITS, VIEWS, strict=False):
                line = next(li for li in text.splitlines() if f":{other.aliases[0]}" in li)
                assert line.split()[0] == other_digit
                assert other.summary in line
            await close_help(pilot)


async def test_tab_completes_view_aliases_and_the_palette_lists_views(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("colon", *keys("nod"), "tab")
        assert app.screen.query_one("#prompt").value == "nodes"
        await pilot.press("escape")
        titles = [entry.text for entry in app.palette_entries(app.screen)]
        assert all(
            f"{view.title} view ({digit})" in titles
            for digit, view in zip(VIEW_DIGITS, VIEWS, strict=False)
        )


async def test_a_view_beneath_a_dialog_follows_the_fleet(demo_settings):
    """The core's change reaches the guest table while help is open over it."""
    async with started(demo_settings, SIZE) as (app, pilot):
        target = next(
            g
            for g in app.fleet.snapshot().guests
            if g.state is GuestState.SHUTOFF and g.name != "shared-tools"
        )
        table = app.screen.table
        await show_help(pilot)
        await app.fleet.perform(target, "start")

        def shown_running() -> bool:
            row = next(g for g in table.visible_rows() if g.key == target.key)
            return row.state is GuestState.RUNNING

        await wait_for(pilot, shown_running, what="the table beneath help to follow")
        assert isinstance(app.screen, HelpScreen)


async def test_the_jobs_view_follows_the_migration_manager_between_fleet_ticks(demo_settings):
    """With an hour between fleet ticks, only the manager's own notices can show the job."""
    settings = dataclasses.replace(demo_settings, refresh=3600)
    async with started(settings, SIZE) as (app, pilot):
        await pilot.press("3")
        await wait_for(pilot, lambda: app.current_mode == "jobs", what="the jobs view")
        running = next(
            g
            for g in app.fleet.snapshot().guests
            if g.state is GuestState.RUNNING and g.host == "kvm01"
        )
        app.services.migrations.start(running, "kvm02", MigrationOptions.from_flags({"live"}))
        await wait_for(
            pilot,
            lambda: (
                [(j.guest, j.state.value) for j in app.screen.table.visible_rows()]
                == [(running.name, "failed")]
            ),
            what="the job, failed (test:///)",
        )


async def test_keys_from_the_config_replace_the_defaults_and_help_shows_them(demo_settings):
    settings = dataclasses.replace(
        demo_settings, keys={"guests.start": "S", "app.hosts": "f2", "app.help": "f1"}
    )
    async with started(settings, SIZE) as (app, pilot):
        target = next(
            g
            for g in app.fleet.snapshot().guests
            if g.state is GuestState.SHUTOFF and g.name != "shared-tools"
        )
        app.screen.table.select_key(target.key)
        await pilot.press("s")  # no longer Start
        await pilot.press("S")
        await wait_for(
            pilot,
            lambda: guest(app, target.name, target.host).state is GuestState.RUNNING,
            what="S to start the guest",
        )
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="f1 for help")
        lines = screen_text(app).splitlines()
        assert any(line.split()[:3] == ["S", "Start", "guests.start"] for line in lines)
        assert any(line.split()[:2] == ["f2", ":hosts"] for line in lines)
        await close_help(pilot)
        await pilot.press("2")
        await pilot.press("f2")
        await wait_for(pilot, lambda: app.current_mode == "hosts", what="f2 for hosts")


async def test_ctrl_c_quits_as_q_does_and_prints_no_markup(demo_settings):
    """Ctrl+C ends kvmtui as it ends virsh or top, rather than a notice whose markup
    (`[b]ctrl+q[/b]`) showed raw."""
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("colon", *keys("lis"), "ctrl+c")  # as in a shell: the line goes
        await wait_for(
            pilot, lambda: not app.screen.query_one(PromptLine).has_focus, what="the line to close"
        )
        assert app.return_code is None
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: app.return_code is not None, what="kvmtui to quit")
        assert app.return_code == 0
        assert not any("[b]" in str(n.message) for n in app._notifications)


def test_every_binding_has_its_own_id():
    """`[keys]` can reach every key, and one id never moves two unrelated keys."""
    bindings = list(all_bindings())
    assert len(bindings) > 40
    assert all(isinstance(b, Binding) and b.id for b in bindings), [
        b for b in bindings if not (isinstance(b, Binding) and b.id)
    ]
    ids = [b.id for b in bindings]
    assert sorted({i for i in ids if ids.count(i) > 1}) == []


def test_view_aliases_are_unique_and_never_a_verb():
    aliases = [alias for view in VIEWS for alias in view.aliases]
    assert len(aliases) == len(set(aliases))
    assert not set(aliases) & set(VERBS)
    assert all(view.name in view.aliases for view in VIEWS)


def typed_at_once(app, text: str) -> None:
    """Queues every key of `text` before the app handles the first, as a paste or
    `tmux send-keys ':migrate ...'` arrives: in one write from the terminal."""
    names = {":": "colon", "/": "slash", " ": "space"}
    for ch in text:
        app.post_message(events.Key(names.get(ch, ch), ch))


@pytest.mark.parametrize("mode, line", [(":", "migrate web-101 kvm02"), ("/", "shm c")])
async def test_a_line_typed_at_once_lands_whole_in_the_prompt(demo_settings, mode, line):
    async with started(demo_settings, SIZE) as (app, pilot):
        screen = app.screen
        typed_at_once(app, mode + line)
        await wait_for(
            pilot,
            lambda: screen.query_one(PromptLine).value == line,
            what=f"{mode}{line} in the prompt",
        )
        assert app.screen is screen, "a key meant for the prompt opened another screen"


def test_every_toggle_shows_its_state_without_colour():
    """kvmtui's check boxes and radio buttons are widgets/toggles' (a mark only when on);
    Textual's own draw the same mark either way."""
    root = Path(kvmtui.__file__).parent
    plain = [
        f"{path.relative_to(root)}:{number}"
        for path in root.rglob("*.py")
        if path.name != "toggles.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"\b(Checkbox|RadioButton)\(", line)
    ]
    assert not plain, f"use TickBox / RadioChoice from kvmtui.widgets.toggles: {plain}"
