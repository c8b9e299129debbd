"""One grammar, read on screen: the `:` line typed ahead, `:help VERB`, the palette, the
footer and columns at 80 columns, the migration dialogs, empty tables."""

from __future__ import annotations

import dataclasses

from textual import events
from textual.command import CommandList, CommandPalette
from textual.widgets import Button, Checkbox
from textual.widgets._footer import FooterKey

from kvmtui.core.model import GuestSnapshot, GuestState
from kvmtui.screens.confirm import ConfirmScreen
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
        await wait_for(
            pilot, lambda: line.value not in ("", "s", "st", "sta"), what="the completion"
        )
        assert line.has_focus
        assert line.value == "start"


def footer(app) -> list[str]:
    """The footer's entries as shown, `key description`, greyed-out ones included."""
    return [
        f"{entry.key_display} {entry.description}"
        for entry in app.screen.query(FooterKey)
        if entry.display
    ]


async def _failed_migration(app, pilot) -> GuestSnapshot:
    """`m` on a running guest, then Migrate: the test driver cannot migrate, so it fails."""
    moving = next(
        g
        for g in app.fleet.snapshot().guests
        if g.state is GuestState.RUNNING and g.host == "kvm01"
    )
    await select(pilot, moving.ref)
    await pilot.press("m")
    await wait_for(pilot, lambda: isinstance(app.screen, MigrateDialog), what="the dialog")
    app.screen.query_one("#migrate-go", Button).press()
    await wait_for(
        pilot, lambda: isinstance(app.screen, MigrationProgressScreen), what="the progress screen"
    )
    await wait_for(pilot, lambda: "migration failed" in screen_text(app), what="the outcome")
    return moving


async def test_an_ended_migration_offers_no_steering(demo_settings):
    async with started(demo_settings, SMALL) as (app, pilot):
        guest = await _failed_migration(app, pilot)
        await wait_for(
            pilot,
            lambda: not any("Abort" in entry for entry in footer(app)),
            what="Abort gone from the footer",
        )
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
        await wait_for(
            pilot, lambda: guest(app, "tmpl").state is GuestState.RUNNING, what="tmpl running"
        )
        await select(pilot, "tmpl@kvm1")
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, UndefineDialog), what="the dialog")
        await pilot.pause()
        assert "tmpl is running: it keeps running as a transient guest" in screen_text(app)
        reached = []
        for _ in range(5):
            reached.append(str(app.focused.label))
            await pilot.press("tab")
        assert reached == [
            "vda /var/lib/images/tmpl.qcow2",
            "vdb /var/lib/images/tmpl-data.raw",
            "vdc /var/lib/images/data.raw (read-only)",
            "Cancel",
            "Undefine ...",
        ]
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
        assert table_lines(app)[1].strip() == "No jobs started here yet"


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
        await wait_for(
            pilot,
            lambda: any("description set" in n for n in notifications(app)),
            what="the short answer",
        )
        await pilot.press("colon", *keys("desc web-101@kvm01"), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPanel), what="the page")
        assert f"web-101 description: {long}" in " ".join(screen_text(app).split())
        await pilot.press("escape")
        assert not isinstance(app.screen, TextPanel)


async def _palette(pilot, query: str) -> list[str]:
    """Ctrl+P, `query` typed: the entries the palette lists, in its order."""
    app = pilot.app
    await pilot.press("ctrl+p", *keys(query))
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
    found = app.screen.query_one(CommandList)
    await wait_for(pilot, lambda: found.option_count > 0, what="entries")
    await pilot.pause()
    return [
        str(found.get_option_at_index(i).prompt).split("\n")[0] for i in range(found.option_count)
    ]


async def _pick(pilot, entries: list[str], entry: str) -> None:
    """Down to `entry` from where the highlight is (none, or the first), then Enter."""
    highlighted = pilot.app.screen.query_one(CommandList).highlighted
    at = -1 if highlighted is None else highlighted
    await pilot.press(*["down"] * (entries.index(entry) - at), "enter")


async def test_the_palette_holds_views_actions_and_verbs_and_nothing_of_textual(demo_settings):
    async with started(demo_settings, SMALL) as (app, pilot):
        everything = await _palette(pilot, "")
        for textual_own in ("Keys", "Maximize", "Screenshot", "Theme"):
            assert not any(textual_own in entry for entry in everything)
        assert "Guests view (1)" in everything and "Jobs view (3)" in everything
        assert ":migrate" in everything and ":help" in everything
        await pilot.press("escape")
        off = next(
            g
            for g in app.fleet.snapshot().guests
            if g.state is GuestState.SHUTOFF and g.host == "kvm01"
        )
        await select(pilot, off.ref)
        entries = await _palette(pilot, "start")
        assert "Start (s)" in entries and ":start" in entries, entries
        await _pick(pilot, entries, ":start")  # needs a guest: the line, filled in
        line = app.screen.query_one(PromptLine)
        await wait_for(pilot, lambda: line.has_focus, what="the : line")
        assert line.value == f"start {off.ref}"
        await pilot.press("escape")
        assert guest(app, off.name, off.host).state is GuestState.SHUTOFF  # nothing ran


async def test_a_palette_action_runs_as_its_key_with_its_question(demo_settings):
    async with started(demo_settings, SMALL) as (app, pilot):
        running = next(
            g
            for g in app.fleet.snapshot().guests
            if g.state is GuestState.RUNNING and g.host == "kvm01"
        )
        await select(pilot, running.ref)
        entries = await _palette(pilot, "destroy")
        await _pick(pilot, entries, "Destroy (^k)")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        assert running.name in screen_text(app)
        await pilot.press("escape")
        assert guest(app, running.name, running.host).state is GuestState.RUNNING


async def test_a_read_only_palette_offers_no_change(demo_settings):
    settings = dataclasses.replace(demo_settings, readonly=True)
    async with started(settings, SMALL) as (_app, pilot):
        entries = await _palette(pilot, "")
        assert ":start" not in entries and not any(e.startswith("Start (") for e in entries)
        assert ":dominfo" in entries and "Detail (⏎)" in entries
        assert not any(e.startswith(("Page ", "Cursor ")) for e in entries)


async def test_at_80_columns_help_is_in_the_footer_and_every_column_is_reachable(demo_settings):
    async with started(demo_settings, SMALL) as (app, pilot):
        await pilot.pause()
        [help_key] = [entry for entry in app.screen.query(FooterKey) if entry.action == "help"]
        assert help_key.region.width > 0 and help_key.region.right <= SMALL[0]
        header = table_lines(app)[0]
        assert header.split()[:5] == ["Name", "Host▲", "State", "CPU%", "Mem"]
        assert "Virt" not in header
        await pilot.press("right", "right", "right")
        header = table_lines(app)[0]
        assert header.split()[0] == "Name" and header.split()[-1] == "Virt"
        assert table_lines(app)[1].split()[0] == app.screen.table.current.name
        await pilot.press("left", "left", "left")
        assert table_lines(app)[0].split()[:2] == ["Name", "Host▲"]


async def test_at_120_columns_every_guest_column_shows(demo_settings):
    """All of them but the last of the guest agent's and the tags, which Right brings in."""
    async with started(demo_settings, LARGE) as (app, pilot):
        await pilot.pause()
        assert table_lines(app)[0].split()[:15] == [
            "Name",
            "Host▲",
            "State",
            "CPU%",
            "Mem",
            "Used",
            "IP",
            "vCPU",
            "Disk",
            "r/w",
            "Net",
            "rx/tx",
            "Virt",
            "OS",
            "Users",
        ]
        await pilot.press("right", "right")
        assert table_lines(app)[0].split()[-2:] == ["FS%", "Tags"]


async def test_the_migrate_dialog_ticks_what_the_config_says_and_says_so(demo_settings):
    settings = dataclasses.replace(demo_settings, migrate_flags=frozenset({"live", "p2p"}))
    async with started(settings, SMALL) as (app, pilot):
        running = next(
            g
            for g in app.fleet.snapshot().guests
            if g.state is GuestState.RUNNING and g.host == "kvm01"
        )
        await select(pilot, running.ref)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MigrateDialog), what="the dialog")
        ticked = {str(box.label) for box in app.screen.query(Checkbox) if box.value}
        assert ticked == {"live", "p2p"}
        assert "Ticked first: from the config, [migrate] flags" in screen_text(app)
        await pilot.press("escape")


async def test_a_palette_verb_over_the_detail_screen_fills_in_its_guest(demo_settings):
    async with started(demo_settings, SMALL) as (app, pilot):
        shown = app.screen.table.current
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: app.screen.__class__.__name__ == "GuestDetailScreen",
            what="the detail screen",
        )
        entries = await _palette(pilot, "migrate")
        await _pick(pilot, entries, ":migrate")
        line = app.screen.query_one(PromptLine)
        await wait_for(pilot, lambda: line.has_focus, what="the : line")
        assert line.value == f"migrate {shown.ref} "  # the destination is left to type
