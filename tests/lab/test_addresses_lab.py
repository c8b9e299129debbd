"""A real DHCP lease reaches the guest table: linux-a1 takes its address from libvirt's
dnsmasq on the lab's NAT network, and the IP column and the `/` filter show it."""

from __future__ import annotations

import re
import time

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.model import HostSpec
from tests.ui.helpers import keys, notifications, wait_for

from .labinfo import LabInfo


def _lease(lab: LabInfo, guest: str) -> str:
    """The guest's address in its host's lease list (waiting for udhcpc, which may finish
    after the guest's ready line)."""
    g = lab.guests[guest]
    net = lab.host(g.host).network
    assert net is not None and g.mac
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        out = lab.virsh(g.host, "net-dhcp-leases", net.name).stdout
        m = re.search(rf"{g.mac}\s+ipv4\s+(\S+)/\d+", out)
        if m:
            return m.group(1)
        time.sleep(0.5)
    raise AssertionError(f"no DHCP lease for {guest} ({g.mac}) on {g.host}")


async def test_a_linux_guests_dhcp_address_shows_in_the_table(lab_fresh: LabInfo) -> None:
    address = _lease(lab_fresh, "linux-a1")
    mac = lab_fresh.guests["linux-a1"].mac
    hosts = tuple(HostSpec(h.name, h.uri_tcp) for h in lab_fresh.hosts.values())
    app = KvmTuiApp(Settings(hosts=hosts, readonly=False, refresh=1.0, theme=None, demo=False))
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.table

        def row():
            return next(
                (r for r in table.visible_rows() if r.name == "linux-a1" and r.host == "hosta"),
                None,
            )

        await wait_for(
            pilot,
            lambda: row() is not None and row().addresses,
            timeout=40,
            what="linux-a1's address in the table",
        )
        assert row().addresses[0] == address and row().macs == (mac,)
        table.select_key(row().key)
        await pilot.pause()
        line = table.render_line(table.cursor_row - int(table.scroll_offset.y) + 1).text
        assert "linux-a1" in line and address in line
        await pilot.press("slash", *keys(address), "enter")
        assert [r.name for r in table.visible_rows()] == ["linux-a1"]
        await pilot.press("escape")
        await pilot.press("colon", *keys("domifaddr linux-a1 --source lease"), "enter")
        await wait_for(
            pilot,
            lambda: any(f"{address}/24 (lease)" in n and mac in n for n in notifications(app)),
            timeout=20,
            what="the lease in :domifaddr",
        )
