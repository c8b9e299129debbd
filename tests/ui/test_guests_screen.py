"""The guest table driven with keys on the demo fleet (libvirt's real test:/// driver)."""

from __future__ import annotations

import libvirt
import pytest
from textual import events

from kvmtui.app import KvmTuiApp
from kvmtui.core.model import GuestState
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.guest_config import UndefineDialog
from tests.ui.helpers import (
    guest,
    keys,
    notifications,
    select,
    started,
    status,
    table_names,
    wait_for,
)

SIZE = (100, 30)


async def test_table_shows_every_guest_of_every_host(demo_settings):
    async with started(demo_settings, SIZE) as (app, _pilot):
        names = table_names(app)
        assert len(names) == len(app.fleet.snapshot().guests) >= 30
        assert {n.split("@")[1] for n in names} == {"kvm01", "kvm02", "kvm03"}
        assert "hosts 3/3 up" in status(app)


def _table_is_current(app) -> bool:
    """The guest table shows the fleet's latest figures (refreshes reached it), with the
    addresses the view lays on them."""
    shown = {row.key: row for row in app.screen.table.visible_rows()}
    return shown == {g.key: g for g in app.screen.view.read(app.services, app.fleet.snapshot())}


async def test_cursor_and_sort_survive_refreshes(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        table = app.screen.table
        await pilot.press("down", "down", "down")
        chosen = table.current.key
        await pilot.press("N")  # sort by name
        names = [r.name.lower() for r in table.visible_rows()]
        assert names == sorted(names)
        assert table.current.key == chosen
        await pilot.press("N")  # again: reversed
        assert [r.name.lower() for r in table.visible_rows()] == sorted(names, reverse=True)
        # Ticks that change nothing, and one that does (another guest is paused).
        version = app.fleet.snapshot().version
        ticks = sum(h.poller.ticks for h in app.fleet.hosts)
        other = next(
            g for g in table.visible_rows() if g.key != chosen and g.state is GuestState.RUNNING
        )
        await app.fleet.perform(other, "suspend")
        await wait_for(
            pilot,
            lambda: (
                sum(h.poller.ticks for h in app.fleet.hosts) > ticks + 6
                and app.fleet.snapshot().version > version
            ),
            what="several refresh ticks",
        )
        await wait_for(pilot, lambda: _table_is_current(app), what="the table to catch up")
        assert table.current.key == chosen
        assert [r.name.lower() for r in table.visible_rows()] == sorted(names, reverse=True)


async def test_filter_by_host_and_state_then_clear(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        total = len(table_names(app))
        await pilot.press("slash", *keys("kvm02 shut"), "enter")
        shown = app.screen.table.visible_rows()
        assert shown and all(g.host == "kvm02" and g.state is GuestState.SHUTOFF for g in shown)
        assert "filter: kvm02 shut" in status(app)
        await pilot.press("escape")
        assert len(table_names(app)) == total


async def test_keys_typed_hard_on_the_heels_of_slash_land_in_the_filter(demo_settings):
    """A fast typist or a paste: the keys after `/` are queued before the line opens."""
    async with started(demo_settings, SIZE) as (app, pilot):
        for key, character in [("slash", "/"), *((c, c) for c in "kvm03")]:
            app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: "filter: kvm03" in status(app), what="the filter")
        shown = app.screen.table.visible_rows()
        assert shown and {g.host for g in shown} == {"kvm03"}
        assert not notifications(app)  # no key fell through to an action


async def test_a_filter_typed_at_once_is_one_pass_and_enter_or_esc_behind_it_still_count(
    demo_settings,
):
    """A name pasted or typed fast is applied once, when the keys queued are in (one pass
    over the rows, one frame); an Enter right behind it keeps it, an Esc drops it."""
    async with started(demo_settings, SIZE) as (app, pilot):
        total = len(table_names(app))
        table = app.screen.table
        passes: list[str] = []
        set_filter = table.set_filter
        table.set_filter = lambda text: (passes.append(text), set_filter(text))[1]
        for key, character in [("slash", "/"), *((c, c) for c in "kvm03"), ("enter", "\r")]:
            app.post_message(events.Key(key, character))
        await wait_for(pilot, lambda: "filter: kvm03" in status(app), what="the filter")
        assert {g.host for g in table.visible_rows()} == {"kvm03"}
        assert len(passes) < len("kvm03")
        for key, character in [("escape", None), ("slash", "/"), *((c, c) for c in "kvm02")]:
            app.post_message(events.Key(key, character))
        app.post_message(events.Key("escape", None))
        await wait_for(pilot, lambda: len(table_names(app)) == total, what="every row back")
        await pilot.pause(0.3)
        assert "filter:" not in status(app) and len(table_names(app)) == total


async def test_marks_count_and_bulk_confirmation_names_guests_and_hosts(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("slash", *keys("running"), "enter")
        running = app.screen.table.visible_rows()
        first_host = [g for g in running if g.host == "kvm01"][:1]
        other_host = [g for g in running if g.host == "kvm03"][:1]
        for g in first_host + other_host:
            app.screen.table.select_key(g.key)
            await pilot.press("space")
        assert "marked: 2" in status(app)
        await pilot.press("p")  # suspend, in bulk: must confirm
        await pilot.pause()
        question = str(app.screen.query_one("#question").render())
        assert "2 guests on 2 hosts" in question
        await pilot.press("enter")  # Cancel has the focus
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.pause()  # until whatever Enter set off has run
        for g in first_host + other_host:
            assert guest(app, g.name, g.host).state is GuestState.RUNNING


LIFECYCLE = [
    # key, confirm?, start state, expected state
    ("s", False, GuestState.SHUTOFF, GuestState.RUNNING),
    ("h", False, GuestState.RUNNING, GuestState.SHUTOFF),
    ("p", False, GuestState.RUNNING, GuestState.PAUSED),
    ("u", False, GuestState.PAUSED, GuestState.RUNNING),
    ("w", False, GuestState.RUNNING, GuestState.SHUTOFF),
    ("ctrl+k", True, GuestState.RUNNING, GuestState.SHUTOFF),
]  # reboot and reset leave the state as it was: see the two tests after this one


@pytest.mark.parametrize(("key", "confirm", "before", "after"), LIFECYCLE)
async def test_each_action_changes_the_state_shown(demo_settings, key, confirm, before, after):
    async with started(demo_settings, SIZE) as (app, pilot):
        target = next(g for g in app.fleet.snapshot().guests if g.state is before)
        await select(pilot, target.ref)
        await pilot.press(key)
        if confirm:
            await pilot.pause()
            await pilot.press("tab", "enter")  # Tab to the action, Enter
        await wait_for(pilot, lambda: notifications(app), what="the outcome notice")
        assert any(target.name in n and target.host in n for n in notifications(app))
        await wait_for(
            pilot,
            lambda: app.screen.table.current.state is after,
            what=f"{target.name} to show {after.value}",
        )


async def _state_reason(app, target) -> int:
    """libvirt's own reason for the guest's state (`virsh domstate --reason`)."""
    host = app.fleet.host(target.host)
    return (await host.run_on_guest(target.uuid, lambda dom: dom.state()))[1]


async def test_reboot_boots_the_guest_again(demo_settings):
    """`b` really reboots: libvirt's reason for "running" turns from unknown to booted."""
    async with started(demo_settings, SIZE) as (app, pilot):
        target = next(g for g in app.fleet.snapshot().guests if g.state is GuestState.RUNNING)
        assert await _state_reason(app, target) == libvirt.VIR_DOMAIN_RUNNING_UNKNOWN
        await select(pilot, target.ref)
        await pilot.press("b")
        await wait_for(
            pilot,
            lambda: any(
                f"{target.name} on {target.host}: reboot requested" in n for n in notifications(app)
            ),
            what="the reboot notice",
        )
        assert await _state_reason(app, target) == libvirt.VIR_DOMAIN_RUNNING_BOOTED


async def test_reset_reaches_libvirt_and_its_answer_is_shown(demo_settings):
    """The confirmed Ctrl+E on a running guest reaches libvirt (a real reset's REBOOT event
    needs QEMU: the lab); on a shut-off guest it asks nothing and says, in one line, that
    reset does not fit, instead of libvirt's "domain is not running"."""
    async with started(demo_settings, SIZE) as (app, pilot):
        running = next(g for g in app.fleet.snapshot().guests if g.state is GuestState.RUNNING)
        await select(pilot, running.ref)
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("tab", "enter")
        await wait_for(
            pilot,
            lambda: f"{running.name} on {running.host}: reset" in notifications(app),
            what="reset done",
        )
        off = next(g for g in app.fleet.snapshot().guests if g.state is GuestState.SHUTOFF)
        await select(pilot, off.ref)
        await pilot.press("ctrl+e")
        line = f"reset: {off.name} on {off.host} is shut off"
        await wait_for(pilot, lambda: line in notifications(app), what=line)
        assert not isinstance(app.screen, ConfirmScreen)
        assert not any("not running" in n for n in notifications(app))


async def test_cancel_on_destroy_leaves_guest_running(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        target = next(g for g in app.fleet.snapshot().guests if g.state is GuestState.RUNNING)
        await select(pilot, target.ref)
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert "Destroy" in str(app.screen.query_one("#question").render())
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.pause()  # until whatever Enter set off has run
        assert guest(app, target.name, target.host).state is GuestState.RUNNING
        assert not notifications(app)


async def test_undefine_asks_then_removes_the_guest(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        target = next(g for g in app.fleet.snapshot().guests if g.state is GuestState.SHUTOFF)
        await select(pilot, target.ref)
        await pilot.press("ctrl+d")  # which volumes go too: none ticked
        await wait_for(pilot, lambda: isinstance(app.screen, UndefineDialog), what="the dialog")
        while app.focused is not app.screen.query_one("#undefine-go"):  # past the volumes
            await pilot.press("tab")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("tab", "enter")
        await wait_for(
            pilot,
            lambda: target.ref not in table_names(app),
            what="the undefined guest to leave the table",
        )


async def test_autostart_toggles(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        target = app.fleet.snapshot().guests[0]
        await select(pilot, target.ref)
        await pilot.press("a")
        await wait_for(pilot, lambda: guest(app, target.name, target.host).autostart)
        await pilot.press("a")
        await wait_for(pilot, lambda: not guest(app, target.name, target.host).autostart)


async def test_the_status_line_says_reading_once_while_the_services_read(demo_settings):
    """Addresses, agent answers and disk marks all read after the first table: the status
    line says "reading guests ..." once while any of them has not yet, then not at all."""
    app = KvmTuiApp(demo_settings)
    seen: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        while not seen or "reading" in seen[-1]:
            await pilot.pause(0.02)
            if app.screen.query("#status"):
                seen.append(status(app))
            assert len(seen) < 500, seen[-1]
    assert all(line.count("reading guests") <= 1 for line in seen)
