"""Host capabilities in the app on the demo fleet (libvirt's test driver, which offers no
`kvm` domain type): the KVM column of the hosts table, the guests' virt-type column,
`:caps` from the hosts view's key, and `:validate` for every host at once."""

from __future__ import annotations

import re

from kvmtui.screens.caps import CapsScreen
from kvmtui.screens.hosts import HostsScreen
from tests.ui.helpers import keys, notifications, screen_text, started, wait_for

SIZE = (120, 30)


def column(app, key: str) -> dict[str, str]:
    labels = [c.key for c in app.screen.table.columns_spec]
    index = labels.index(key)
    return {row: texts[index] for row, texts in app.screen.table.shown_texts().items()}


async def test_the_tables_say_whether_kvm_is_there(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        virt = column(app, "virt")
        assert virt and set(virt.values()) == {"test"}  # the test driver's own domain type
        await pilot.press("2")
        await wait_for(
            pilot, lambda: isinstance(app.screen, HostsScreen) and len(column(app, "kvm")) == 3
        )
        assert column(app, "kvm") == {"kvm01": "NO", "kvm02": "NO", "kvm03": "NO"}


async def test_caps_of_the_host_under_the_cursor(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, HostsScreen))
        app.screen.table.select_key("kvm02")
        await pilot.press("d")  # describe the host
        await wait_for(pilot, lambda: isinstance(app.screen, CapsScreen))
        await pilot.pause()
        text = screen_text(app)
        assert " kvm02 " in text and "kvm01" not in text
        assert "NO: no kvm domain type offered, guests cannot run accelerated" in text
        assert re.search(r"Domain types +test *\n", text)
        assert re.search(r"FAIL +KVM +no kvm domain type for i686", text)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HostsScreen))


async def test_validate_lists_every_host(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("colon", *keys("validate"), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CapsScreen))
        await pilot.pause()
        text = screen_text(app)
        for host in ("kvm01", "kvm02", "kvm03"):
            assert f" {host}   2 FAIL" in text
        assert len(re.findall(r"FAIL +KVM ", text)) == 3


async def test_caps_of_an_unknown_host_is_one_line(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("colon", *keys("caps kvm9"), "enter")
        await wait_for(pilot, lambda: notifications(app))
        assert notifications(app) == ["no host named 'kvm9'"]
        assert not isinstance(app.screen, CapsScreen)
