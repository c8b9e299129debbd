"""`:nets` on the demo fleet (libvirt's test driver): the networks of every host, a network
defined from the short form on the `:` line, then started, autostarted, stopped and
undefined with the view's keys (the destructive two asking first), its leases (Enter), and
bad input refused in one line with nothing created."""

from __future__ import annotations

import dataclasses

from textual.widgets._toast import Toast

from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.networks import LeasesScreen, NetworksScreen
from tests.ui.helpers import keys, notifications, screen_text, started, wait_for

SIZE = (120, 30)


def rows(app) -> dict[str, list[str]]:
    return {key: texts for key, texts in app.screen.table.shown_texts().items()}


async def show_networks(pilot) -> None:
    await pilot.press("colon", *keys("nets"), "enter")
    await wait_for(
        pilot,
        lambda: (
            isinstance(pilot.app.screen, NetworksScreen)
            and len(pilot.app.screen.table.visible_rows()) >= 4
        ),
        what="the networks",
    )


async def command(pilot, line: str, expect: str | None = None) -> str:
    """Runs a `:` line and returns the one line it answered (checked when `expect`)."""
    app = pilot.app
    app.clear_notifications()  # older ones expire meanwhile: count from none
    await pilot.press("colon", *keys(line), "enter")
    await wait_for(pilot, lambda: notifications(app), what=line)
    await pilot.pause(0.1)
    assert len(notifications(app)) == 1
    if expect is not None:
        assert notifications(app)[-1] == expect
    return notifications(app)[-1]


async def confirm(pilot, title: str) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what=title)
    assert title in screen_text(app)
    await pilot.press("tab", "enter")  # Cancel is focused: the action takes Tab first


async def test_every_hosts_networks_are_listed(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await show_networks(pilot)
        shown = rows(app)
        assert set(shown) == {"default@kvm01", "default@kvm02", "default@kvm03", "storage@kvm01"}
        assert shown["default@kvm01"] == [
            "default",
            "kvm01",
            "active",
            "no",
            "-",
            "nat",
            "virbr0",
            "10.1.0.1/24",
            "10.1.0.10-250",
        ]
        assert shown["storage@kvm01"][5] == "isolated"


async def test_define_start_autostart_destroy_undefine(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await show_networks(pilot)
        await command(
            pilot,
            "net-define lab --subnet 192.168.150.0/24 --dhcp --host kvm02",
            "network lab defined on kvm02",
        )
        await wait_for(pilot, lambda: "lab@kvm02" in rows(app), what="the new network")
        assert rows(app)["lab@kvm02"][2:9] == [
            "inactive",
            "no",
            "-",
            "nat",
            "-",
            "192.168.150.1/24",
            "192.168.150.2-254",
        ]
        app.screen.table.select_key("lab@kvm02")
        await pilot.press("s")
        await wait_for(pilot, lambda: rows(app)["lab@kvm02"][2] == "active", what="started")
        assert notifications(app)[-1] == "network lab on kvm02: started"
        await pilot.press("a")
        await wait_for(pilot, lambda: rows(app)["lab@kvm02"][3] == "yes", what="autostart")
        await pilot.press("ctrl+k")
        await confirm(pilot, "Stop network lab on kvm02?")
        await wait_for(pilot, lambda: rows(app)["lab@kvm02"][2] == "inactive", what="stopped")
        await pilot.press("ctrl+d")
        await confirm(pilot, "Undefine network lab on kvm02?")
        await wait_for(pilot, lambda: "lab@kvm02" not in rows(app), what="undefined")
        assert notifications(app)[-1] == "network lab on kvm02: undefined"


async def test_cancel_leaves_the_network_running(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await show_networks(pilot)
        app.screen.table.select_key("storage@kvm01")
        await pilot.press("ctrl+k")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NetworksScreen))
        await pilot.pause()
        await command(
            pilot,
            "net-start storage",
            "net-start storage on kvm01: Requested "
            "operation is not valid: Network 'storage' is already running",
        )


async def test_bad_input_is_one_line_and_creates_nothing(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await show_networks(pilot)
        before = set(rows(app))
        await command(
            pilot,
            "net-define x --subnet 10QB --host kvm01",
            "net-define: '10QB' is not a subnet (write it like 192.168.150.0/24)",
        )
        await command(
            pilot,
            "net-define x --subnet 10.1.0.0/24",
            "net-define: say which host with --host (kvm01, kvm02, kvm03)",
        )
        await command(
            pilot, "net-define x --subnet 10.1.0.0/24 --host nowhere", "no host named 'nowhere'"
        )
        exists = await command(pilot, "net-define default --subnet 10.1.0.0/24 --host kvm01")
        assert exists.startswith(
            "net-define on kvm01: operation failed: network 'default' already exists"
        )
        await command(
            pilot,
            "net-destroy default",
            'net-destroy: network "default" is on several hosts '
            "(kvm01, kvm02, kvm03): say default@kvm01",
        )
        await app.services.networks.refresh()
        await pilot.pause(0.2)
        assert set(rows(app)) == before


async def test_enter_shows_the_leases_or_why_there_are_none(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await show_networks(pilot)
        app.screen.table.select_key("default@kvm03")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LeasesScreen))
        await pilot.pause()
        text = screen_text(app)
        assert "DHCP leases: default on kvm03" in text
        assert "Leases not readable: this function is not supported" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, NetworksScreen))
        await pilot.press("colon", *keys("net-dhcp-leases storage"), "enter")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, LeasesScreen)
                and "DHCP leases: storage on kvm01" in screen_text(app)
            ),
        )


async def test_readonly_dims_the_changing_keys_and_refuses_the_verbs(demo_settings):
    async with started(dataclasses.replace(demo_settings, readonly=True), SIZE) as (app, pilot):
        await show_networks(pilot)
        for action, parameters in (
            ("net", ("net-start",)),
            ("toggle_autostart", ()),
            ("define", ()),
        ):
            assert app.screen.check_action(action, parameters) is None  # dimmed
        assert app.screen.check_action("leases", ()) is True
        await pilot.press("s")  # says why, in the verb's own words
        await wait_for(
            pilot,
            lambda: "net-start: kvmtui runs read-only (--readonly)" in notifications(app),
            what="s to say why",
        )
        await command(
            pilot, "net-destroy storage", "net-destroy: kvmtui runs read-only (--readonly)"
        )
        assert rows(app)["storage@kvm01"][2] == "active"


async def test_markup_in_a_network_name_is_shown_as_typed(demo_settings):
    name = "[bold]x[\\bold]"
    async with started(demo_settings, SIZE, notifications=True) as (app, pilot):
        await show_networks(pilot)
        await pilot.press(
            "colon", *keys(f"net-define '{name}' --subnet 10.7.0.0/24 --host kvm01"), "enter"
        )
        key = f"{name}@kvm01"
        await wait_for(pilot, lambda: key in rows(app), what="the new network")
        await wait_for(
            pilot,
            lambda: (
                f"network {name} defined on kvm01"
                in "\n".join(str(t.render()) for t in app.screen.query(Toast))
            ),
            what="the toast",
        )
        assert rows(app)[key][0] == name
        app.screen.table.select_key(key)
        await pilot.press("ctrl+d")
        await confirm(pilot, f"Undefine network {name} on kvm01?")
        await wait_for(pilot, lambda: key not in rows(app), what="undefined")
        assert not app.unexpected_errors


async def test_n_prefills_the_short_form(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await show_networks(pilot)
        await pilot.press("n", *keys("lab"), "end", *keys("10.9.0.0/24 --host kvm03"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: "lab@kvm03" in rows(app), what="the new network")
        assert rows(app)["lab@kvm03"][8] == "10.9.0.2-254"
