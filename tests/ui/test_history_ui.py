"""The event timeline, the audit trail and the alerts in the full screen, on the demo fleet
(libvirt's test:/// driver emits a lifecycle event for each start and destroy): what
`:events`, `:audit`, the status line and the guest's detail show after keys and lines."""

from __future__ import annotations

import libvirt

from kvmtui.core.host import DomainEvent
from kvmtui.core.model import GuestState
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.detail import GuestDetailScreen
from kvmtui.screens.history import AuditScreen, EventsScreen
from tests.ui.helpers import keys, select, started, status, text_of, wait_for

SIZE = (120, 30)


def _guest_in(app, state: GuestState, host: str = "kvm01"):
    return next(g for g in app.fleet.snapshot().guests if g.host == host and g.state is state)


def _rows(app) -> list[list[str]]:
    return list(app.screen.table.shown_texts().values())


async def _line(pilot, text: str) -> None:
    await pilot.press("colon", *keys(text), "enter")
    await pilot.pause()


async def _start_by_key_and_destroy_by_line(pilot):
    """`s` on a shut-off guest, `:destroy` (confirmed) on a running one: their names."""
    app = pilot.app
    off, running = _guest_in(app, GuestState.SHUTOFF), _guest_in(app, GuestState.RUNNING)
    await select(pilot, off.ref)
    await pilot.press("s")
    await _line(pilot, f"destroy {running.ref}")
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
    await pilot.press("tab", "enter")
    events = app.services.events
    await wait_for(pilot, lambda: len(events.rows()) >= 2, what="both events kept")
    return off, running


async def test_events_and_audit_show_what_keys_and_lines_did(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        off, running = await _start_by_key_and_destroy_by_line(pilot)
        await _line(pilot, "events")
        assert isinstance(app.screen, EventsScreen)
        rows = _rows(app)
        assert ["", off.host, off.name, "started", "booted"] == rows[1][:1] + rows[1][2:]
        assert ["", running.host, running.name, "stopped", "destroyed"] == (
            rows[0][:1] + rows[0][2:]
        )  # newest first

        await _line(pilot, "audit")
        assert isinstance(app.screen, AuditScreen)
        (destroy, start) = _rows(app)
        assert destroy[2:5] == ["line", running.ref, f"destroy {running.ref}"]
        assert "destroyed" in destroy[5]
        assert start[2:5] == ["key", off.ref, f"start {off.ref}"] and "started" in start[5]


async def test_events_narrow_by_guest_type_and_time(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        off, _ = await _start_by_key_and_destroy_by_line(pilot)
        await _line(pilot, f"events --guest {off.name} --since 10m")
        await wait_for(pilot, lambda: [row[3] for row in _rows(app)] == [off.name])
        line = status(app)
        assert "since 10m" in line and f"filter: guest:{off.name}@" in line
        await pilot.press("escape")  # the time first
        assert "since" not in status(app)
        await pilot.press("escape")  # then the filter
        assert len(_rows(app)) == 2
        await _line(pilot, "events --type lifecycle --since 2026-01-01")
        assert len(_rows(app)) == 2
        await _line(pilot, "events --since 1m --type network")
        assert _rows(app) == []
        assert app.screen.table.placeholder_text().startswith("No event matches")


async def test_an_alert_is_counted_everywhere_until_acknowledged(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        victim = _guest_in(app, GuestState.RUNNING)
        assert "ALERTS" not in status(app)
        # QEMU killed under the guest: libvirt says "stopped, failed" (the test driver
        # cannot crash a guest, so its event is handed to the fleet's listeners as is).
        crash = DomainEvent(
            victim.host,
            victim.uuid,
            victim.name,
            "lifecycle",
            libvirt.VIR_DOMAIN_EVENT_STOPPED,
            libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED,
        )
        app.services.events.note(crash)
        await wait_for(pilot, lambda: "ALERTS 1" in status(app), what="the count")
        await pilot.press("2")  # another view: the count is there too
        await wait_for(pilot, lambda: "ALERTS 1" in status(app), what="the count on hosts")

        await _line(pilot, "events")
        (row,) = _rows(app)
        assert row[0] == "!" and row[3:] == [victim.name, "crashed", "stopped: failed"]
        await pilot.press("a")
        await wait_for(pilot, lambda: "ALERTS" not in status(app), what="the count gone")
        await wait_for(pilot, lambda: _rows(app)[0][0] == "✓", what="the row ticked")
        await pilot.press("a")  # nothing open any more: said, not done twice
        assert app.services.events.open_alerts == 0


async def test_the_detail_has_the_guests_own_events(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        off, running = await _start_by_key_and_destroy_by_line(pilot)
        await select(pilot, off.ref)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, GuestDetailScreen))
        text = text_of(app.screen.query_one("#events-text"))
        assert "started: booted" in text and running.name not in text
        await pilot.press("ctrl+k")  # destroyed from the detail: its event comes in live
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("tab", "enter")
        await wait_for(
            pilot,
            lambda: "stopped: destroyed" in text_of(app.screen.query_one("#events-text")),
            what="the new event on the tab",
        )


async def test_events_narrow_by_the_tags_the_guest_had(demo_settings):
    """A guest's tags when the event came: the tag's own metadata event came before the
    guest had it, its start after."""
    async with started(demo_settings, SIZE) as (app, pilot):
        off = _guest_in(app, GuestState.SHUTOFF)
        other = next(
            g for g in app.fleet.snapshot().guests if g.state is GuestState.SHUTOFF and g != off
        )
        await _line(pilot, f"tag {off.ref} probe=on")
        await wait_for(pilot, lambda: "probe=on" in app.fleet.find_guest(off.key).tags)
        for guest in (off, other):
            await _line(pilot, f"start {guest.ref}")
        events = app.services.events
        await wait_for(pilot, lambda: len(_seen_started(events)) == 2, what="both started")
        await _line(pilot, "events --tag probe=on")
        await wait_for(pilot, lambda: [row[3] for row in _rows(app)] == [off.name])
        await _line(pilot, "events --tag probe")
        await wait_for(pilot, lambda: [row[3] for row in _rows(app)] == [off.name])


def _seen_started(events) -> list[str]:
    return [e.guest for e in events.rows() if e.what == "started"]
