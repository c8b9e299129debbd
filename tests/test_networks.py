"""Networks in the core: the short form's XML, what a network reads as, and the service
reading real `test:///` hosts (define, start, stop, autostart, undefine as libvirt does)."""

from __future__ import annotations

import time

import libvirt
import pytest

from kvmtui.core import networks
from kvmtui.core.commands import CommandError
from kvmtui.core.networks import NetworkService, network_xml
from tests.nodes import NODE_XML, WEB_UUID, connected_fleet, node_specs


def test_the_short_form_builds_a_nat_network_with_dhcp():
    xml = network_xml("lab<1>", "192.168.150.7/24", bridge="br-lab", dhcp=True)
    parsed = networks._parse(xml)
    assert parsed == {
        "forward": "nat",
        "bridge": "br-lab",
        "address": "192.168.150.1/24",
        "dhcp": "192.168.150.2-254",
    }
    assert "<name>lab&lt;1&gt;</name>" in xml


def test_an_isolated_network_has_no_forward_and_no_dhcp_unless_asked():
    parsed = networks._parse(network_xml("iso", "10.9.0.0/16", forward="none"))
    assert parsed == {"forward": "isolated", "bridge": "", "address": "10.9.0.1/16", "dhcp": ""}
    wide = networks._parse(network_xml("wide", "10.9.0.0/16", dhcp=True))
    assert wide["dhcp"] == "10.9.0.2-10.9.255.254"


@pytest.mark.parametrize(
    ("subnet", "options", "reason"),
    [
        ("10QB", {}, "'10QB' is not a subnet (write it like 192.168.150.0/24)"),
        ("fd00::/64", {}, "fd00::/64: only IPv4 subnets can be given here"),
        ("10.0.0.0/31", {}, "10.0.0.0/31: too small for a host and a guest (/30 at most)"),
        ("10.0.0.0/24", {"forward": "bridge"}, "forward mode 'bridge': say nat, route, none"),
        (
            "10.0.0.0/24",
            {"bridge": "a/b"},
            "bridge 'a/b': up to 15 letters, digits, '.', '_' or '-'",
        ),
    ],
)
def test_bad_short_forms_say_why_in_one_line(subnet, options, reason):
    with pytest.raises(ValueError) as caught:
        network_xml("n", subnet, **options)
    assert str(caught.value) == reason


async def test_the_service_follows_changes_made_through_libvirt(tmp_path):
    async with connected_fleet(node_specs(tmp_path, "kvm1", "kvm2")) as fleet:
        service = NetworkService(fleet)
        await service.refresh()
        assert [n.key for n in service.networks()] == ["default@kvm1", "default@kvm2"]
        kvm1 = fleet.host("kvm1")
        said = await networks.define(kvm1, network_xml("lab", "192.168.150.0/24", dhcp=True))
        assert said == "network lab defined on kvm1"
        await service.refresh()
        lab = service.find("lab")
        assert lab.host == "kvm1" and not lab.active
        assert (await networks.act(kvm1, "lab", "net-start")).endswith(": started")
        await networks.act(kvm1, "lab", "net-autostart")
        await service.refresh()
        lab = service.find("lab@kvm1")
        assert lab == service.find("lab", "kvm1")
        assert lab.active and lab.autostart and lab.dhcp == "192.168.150.2-254"
        with pytest.raises(
            CommandError, match=r"is on several hosts \(kvm1, kvm2\): say default@kvm1"
        ):
            service.find("default")
        await networks.act(kvm1, "lab", "net-destroy")
        await networks.act(kvm1, "lab", "net-undefine")
        await service.refresh()
        with pytest.raises(CommandError, match='no network named "lab"'):
            service.find("lab")


def test_lease_owners_are_read_again_when_a_mac_is_new(tmp_path):
    """A NIC hot-plugged after its guest's MACs were read is found at the next reading a
    minute on, not never."""
    path = tmp_path / "node.xml"
    path.write_text(NODE_XML)
    conn = libvirt.open(f"test://{path}")
    try:
        web = "52:54:00:00:00:01"
        cache = networks.MacCache()
        assert networks._owners(conn, cache, {web})[web] == "web"
        cache.macs[WEB_UUID] = ()  # as read before the NIC was there
        cache.read_all_at = time.monotonic()
        assert web not in networks._owners(conn, cache, {web})  # read a moment ago
        cache.read_all_at -= networks.MAC_REREAD + 1
        assert networks._owners(conn, cache, {web})[web] == "web"
    finally:
        conn.close()
