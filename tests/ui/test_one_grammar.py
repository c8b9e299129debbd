"""One grammar, read on screen: the `:` line typed ahead, `:help VERB`, the palette, the
footer and columns at 80 columns, the migration dialogs, empty tables."""

from __future__ import annotations

from textual import events
from textual.widgets import Button
from textual.widgets._footer import FooterKey

from kvmtui.core.model import GuestSnapshot, GuestState
from kvmtui.screens.guest_config import UndefineDialog
from kvmtui.screens.help import HelpScreen
from kvmtui.screens.migrate_dialog import MigrateDialog
from kvmtui.screens.migration_progress import MigrationProgressScreen
from kvmtui.screens.text_panel import TextPanel
from kvmtui.widgets.command_line import PromptLine
from tests.ui.helpers import guest, keys, notifications, screen_text, select, started, wait_for
from tests.ui.test_guest_config_ui import node_app

SMALL = (80, 24)
LARGE = (120, 40)


async def test_a_pasted_line_completes_what_was_pasted(demo_settings):
    """`:sta<Tab>` arriving at once (pasted, or typed faster than the app reads) completes
    `sta`, not an empty line with `sta` appended after the completion."""
    async with started(demo_settings, SMALL) as (app, pilot):
        for key, char in (("colon", ":"), ("s", "s"), ("t", "t"), ("a", "a"), ("tab", "\t")):
            app.post_message(events.Key(key, char))
        line = app.screen.query_one(PromptLine)
        await wait_for(pilot, lambda: len(line.value) >= 3, what="the line to fill")
        await pilot.pause()
        assert line.has_focus
        assert line.value == "start"


def footer(app) -> list[str]:
    """The footer's entries as shown, `key description`, greyed-out ones included."""
    return [f"{entry.key_display} {entry.description}"
            for entry in app.screen.query(FooterKey) if entry.display]


async def _failed_migration(app, pilot) -> GuestSnapshot:
    """`m` on a running guest, then Migrate: the test driver cannot migrate, so it fails."""
    guest = next(g for g in app.fleet.snapshot().guests
                 if g.state is GuestState.RUNNING and g.host == "kvm01")
    await select(pilot, guest.ref)
    await pilot.press("m")
    await wait_for(pilot, lambda: isinstance(app.screen, MigrateDialog), what="the dialog")
    app.screen.query_one("#migrate-go", Button).press()
    await wait_for(pilot, lambda: isinstance(app.screen, MigrationProgressScreen),
                   what="the progress screen")
    await wait_for(pilot, lambda: "migration failed" in screen_text(app), what="the outcome")
    return guest


async def test_an_ended_migration_offers_no_steering(demo_settings):
    async with started(demo_settings, SMALL) as (app, pilot):
        guest = await _failed_migration(app, pilot)
        await wait_for(pilot, lambda: not any("Abort" in entry for entry in footer(app)),
                       what="Abort gone from the footer")
        await pilot.pause()
        shown = " ".join(footer(app))
        for gone in ("Abort", "Max speed", "Max downtime", "Post-copy"):
            assert gone not in shown
        assert "Back" in shown
        text = screen_text(app)
        assert f"{guest.name}  kvm01 -> kvm02: failed" in text
        assert f"{guest.name} is still running on kvm01" in text
        await pilot.press("a")  # the key does nothing now: no question, no change
        await pilot.pause()
        assert isinstance(app.screen, MigrationProgressScreen)


async def test_undefine_of_a_running_guest_says_it_lives_on_and_tabs_in_reading_order(tmp_path):
    async with node_app(tmp_path) as (app, pilot):
        await pilot.press("colon", *keys("start tmpl"), "enter")
        await wait_for(pilot, lambda: guest(app, "tmpl").state is GuestState.RUNNING,
                       what="tmpl running")
        await select(pilot, "tmpl@kvm1")
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, UndefineDialog), what="the dialog")
        await pilot.pause()
        assert "tmpl is running: it keeps running as a transient guest" in screen_text(app)
        reached = []
        for _ in range(5):
            reached.append(str(app.focused.label))
            await pilot.press("tab")
        assert reached == ["vda /var/lib/images/tmpl.qcow2", "vdb /var/lib/images/tmpl-data.raw",
                           "vdc /var/lib/images/data.raw (read-only)", "Cancel", "Undefine ..."]
        await pilot.press("escape")


def table_lines(app) -> list[str]:
    """The table's lines as drawn, header first."""
    table = app.screen.table
    return [table.render_line(y).text.rstrip() for y in range(table.size.height)]


async def test_an_empty_view_or_filter_says_so_in_the_table(demo_settings):
    async with started(demo_settings, SMALL) as (app, pilot):
        await pilot.press("/", *keys("xyz"), "enter")
        await pilot.pause()
        assert table_lines(app)[1].strip() == "No guest matches filter 'xyz' (Esc clears)"
        await pilot.press("escape")
        await pilot.pause()
        assert not any("No guest" in line for line in table_lines(app))
        await pilot.press("3")
        await wait_for(pilot, lambda: app.current_mode == "jobs", what="the jobs view")
        await pilot.pause()
        assert table_lines(app)[1].strip() == "No migrations started here yet"


async def test_help_verb_opens_a_page_that_stays_until_esc(demo_settings):
    async with started(demo_settings, SMALL) as (app, pilot):
        await pilot.press("colon", *keys("help create"), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPanel), what="the page")
        text = screen_text(app)
        assert ":help create" in text
        assert ":create [NAME] [--cloud-init]" in text
        assert "--memory MEMORY" in text and "--vcpus VCPUS" in text
        assert "a whole number" in text  # --vcpus
        assert "create a guest" in text
        await pilot.press("escape")
        assert app.current_mode == "guests" and not isinstance(app.screen, TextPanel)
        await pilot.press("colon", *keys("help"), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help screen")


async def test_a_long_answer_is_a_page_a_short_one_a_notification(demo_settings):
    async with started(demo_settings, SMALL) as (app, pilot):
        long = " ".join(f"line{n}" for n in range(35))  # six lines of a notification
        await pilot.press("colon", *keys(f"desc web-101@kvm01 {long}"), "enter")
        await wait_for(pilot, lambda: any("description set" in n for n in notifications(app)),
                       what="the short answer")
        await pilot.press("colon", *keys("desc web-101@kvm01"), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPanel), what="the page")
        assert f"web-101 description: {long}" in " ".join(screen_text(app).split())
        await pilot.press("escape")
        assert not isinstance(app.screen, TextPanel)
