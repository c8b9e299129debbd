"""Guest addresses as the operator meets them: the IP column, `/` by address or MAC, and
`:domifaddr` (libvirt's test:/// driver answers every source for a running guest)."""

from __future__ import annotations

from kvmtui.core.model import GuestState
from tests.ui.helpers import keys, notifications, row_line, started, status, wait_for

SIZE = (100, 30)


async def _addressed(pilot):
    """The table's rows once every running guest shows its address."""
    table = pilot.app.screen.table
    await wait_for(
        pilot,
        lambda: all(r.addresses for r in table.visible_rows() if r.state.is_active),
        timeout=10,
        what="every running guest's address",
    )
    return table.visible_rows()


async def test_ip_column_shows_the_first_address_and_a_dash_when_stopped(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        rows = await _addressed(pilot)
        header = app.screen.table.render_line(0).text
        assert header.index("IP") < header.index("vCPU")  # before the figures, within 80
        up = next(r for r in rows if r.state is GuestState.RUNNING)
        down = next(r for r in rows if r.state is GuestState.SHUTOFF)
        assert up.addresses[0] in await row_line(pilot, up.key)
        line = await row_line(pilot, down.key)
        assert down.name in line and "10." not in line
        await pilot.press("I")  # sort by address: as numbers, guests without one last
        shown = [r.addresses[0] if r.addresses else None for r in app.screen.table.visible_rows()]
        numbers = [tuple(int(x) for x in a.split(".")) for a in shown if a]
        assert numbers == sorted(numbers) and shown[-1] is None
        assert shown.index(None) == len(numbers)


async def test_filter_finds_a_guest_by_address_and_by_mac(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        rows = await _addressed(pilot)
        target = next(r for r in rows if r.state is GuestState.RUNNING)
        for word in (target.addresses[0], target.macs[0]):
            await pilot.press("slash", *keys(word), "enter")
            assert [r.key for r in app.screen.table.visible_rows()] == [target.key]
            assert f"filter: {word}" in status(app)
            await pilot.press("escape")


async def test_domifaddr_names_addresses_with_their_sources(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        rows = await _addressed(pilot)
        target = next(r for r in rows if r.state is GuestState.RUNNING and r.name != "shared-tools")
        await pilot.press("colon", *keys(f"domifaddr {target.name}"), "enter")
        expected = f"{target.name} on {target.host}: {target.macs[0]}"
        await wait_for(
            pilot,
            lambda: any(n.startswith(expected) for n in notifications(app)),
            what="the domifaddr line",
        )
        line = next(n for n in notifications(app) if n.startswith(expected))
        assert f"{target.addresses[0]}/24 (lease+agent+arp)" in line
        await pilot.press("colon", *keys(f"domifaddr {target.name} --source arp"), "enter")
        await wait_for(
            pilot,
            lambda: any(f"{target.addresses[0]}/24 (arp)" in n for n in notifications(app)),
            what="arp only",
        )


async def test_domifaddr_refuses_a_bad_source_and_a_stopped_guest(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        rows = await _addressed(pilot)
        up = next(r for r in rows if r.state is GuestState.RUNNING and r.name != "shared-tools")
        down = next(r for r in rows if r.state is GuestState.SHUTOFF and r.name != "shared-tools")
        await pilot.press("colon", *keys(f"domifaddr {up.name} --source dns"), "enter")
        await wait_for(
            pilot,
            lambda: any(
                "--source must be one of lease, agent, arp" in n for n in notifications(app)
            ),
            what="the refusal",
        )
        await pilot.press("colon", *keys(f"domifaddr {down.name}"), "enter")
        await wait_for(
            pilot,
            lambda: any(
                f"{down.name} on {down.host} is not running" in n for n in notifications(app)
            ),
            what="not running",
        )
