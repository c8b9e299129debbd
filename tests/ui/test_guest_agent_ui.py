"""The inside of a guest as the operator meets it on libvirt's test:/// driver, which has no
guest agent and no balloon statistics: the OS, Users, FS% and Used columns say `-` (never a
guess), `:guestinfo` says in one line, naming guest and host, that the driver cannot ask, and
an agent's answer holding an escape sequence shows as its characters."""

from __future__ import annotations

import re

from kvmtui.core.guestinfo import Filesystem, GuestInfo, GuestUser
from kvmtui.core.model import GuestState
from tests.ui.helpers import keys, notifications, row_line, screen_text, started, wait_for

SIZE = (200, 30)


async def test_without_agent_and_balloon_statistics_the_inside_columns_say_dash(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        header = app.screen.table.render_line(0).text.split()
        assert header[header.index("Mem") + 1] == "Used"
        assert {"OS", "Users", "FS%"} <= set(header)
        running = next(g for g in app.screen.table.visible_rows() if g.state.is_active)
        line = await row_line(pilot, running.key)
        head = app.screen.table.render_line(0).text
        starts = [m.start() for m in re.finditer(r"\S+", head)] + [len(head)]

        def cell(name: str) -> str:
            index = head.split().index(name)
            return line[starts[index] : starts[index + 1]].strip()

        assert [cell(name) for name in ("Used", "OS", "Users", "FS%")] == ["-"] * 4


async def test_guestinfo_without_an_agent_is_one_line_naming_guest_and_host(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        running = next(g for g in app.screen.table.visible_rows() if g.state.is_active)
        await pilot.press("colon", *keys(f"guestinfo {running.ref}"), "enter")
        expected = (
            f"guestinfo {running.name} on {running.host}: this function is not supported by"
            " the connection driver: virDomainGetGuestInfo"
        )
        await wait_for(pilot, lambda: expected in screen_text(app), what="the refusal line")
        assert app.screen.VIEW_NAME == "Guest detail"


async def test_an_agent_answer_with_an_escape_sequence_shows_as_its_characters(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        target = next(g for g in app.screen.table.visible_rows() if g.state is GuestState.RUNNING)
        book = app.services.guestinfo
        # laid on after the service's own first round, which would replace it
        await wait_for(
            pilot, lambda: book.rounds > 0 and book.read_once, what="the first guest-info round"
        )
        answer = GuestInfo(
            target.host,
            target.uuid,
            target.name,
            os_name="Evil\x1b]52;c;Zm9v\x07OS",
            hostname="evil\x1b[2J",
            users=(GuestUser("root"), GuestUser("ops\x1b[31m")),
            filesystems=(Filesystem("/", "vda1", "ext4", 75, 100),),
        )
        book.hold(target.host, book.reading_begins(), {target.uuid: answer})
        book.publish()
        await wait_for(
            pilot,
            lambda: any(g.inside for g in app.screen.table.visible_rows()),
            what="the answer on the row",
        )
        line = await row_line(pilot, target.key)
        assert "Evil\\x1b]52;c;Zm9v\\…" in line  # the OS cell, cut at its width
        assert "root,ops\\x1b[31m" in line and " 75.0 " in line
        assert "\x1b" not in line
        await pilot.press("slash", *keys("Evil"), "enter")
        assert [g.key for g in app.screen.table.visible_rows()] == [target.key]


async def test_set_user_password_asks_twice_in_hidden_fields(demo_settings):
    """The password is typed into a password field twice (shown as dots, never as typed)
    and goes nowhere but to libvirt: not into the `:` line, not into a notification."""
    async with started(demo_settings, SIZE) as (app, pilot):
        running = next(g for g in app.screen.table.visible_rows() if g.state.is_active)
        await pilot.press("colon", *keys(f"set-user-password {running.ref} root"), "enter")
        for prompt in (f"New password for root on {running.name}", "The same password again"):
            await wait_for(pilot, lambda: app.screen.query("#secret-input"), what="the dialog")
            assert prompt in screen_text(app)
            field = app.screen.query_one("#secret-input")
            assert field.password
            await pilot.press(*keys("Hunter2pw"), "enter")
            await pilot.pause()
        expected = f"{running.name} on {running.host}: password of root set"
        await wait_for(pilot, lambda: expected in notifications(app), what="the outcome")
        assert not any("Hunter2" in n for n in notifications(app))
