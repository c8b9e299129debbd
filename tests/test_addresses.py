"""Guest addresses: lease, agent and ARP merged per NIC, each address naming its sources."""

from __future__ import annotations

import libvirt
import pytest

from kvmtui.core.addresses import (
    Address,
    AddressBook,
    AddressSource,
    GuestAddresses,
    Interface,
    SourceStatus,
    guest_addresses,
    host_addresses,
    merge,
)
from kvmtui.core.fleet import Fleet
from kvmtui.core.host import HostError
from kvmtui.core.model import GuestState
from tests.nodes import BARE_UUID, OFF_UUID, WEB_UUID, node_host, node_hosts, until

LEASE, AGENT, ARP = AddressSource.LEASE, AddressSource.AGENT, AddressSource.ARP


async def test_every_source_is_asked_and_each_address_names_its_sources(tmp_path):
    async with node_host(tmp_path) as host:
        found = await guest_addresses(host, WEB_UUID)
    assert found.guest == "web" and found.host == "kvm1"
    assert [(s.source, s.available) for s in found.sources] == [
        (LEASE, True),
        (AGENT, True),
        (ARP, True),
    ]
    # The test driver answers every source alike: one address per NIC, seen by all three.
    assert [(nic.mac, [str(a) for a in nic.addresses]) for nic in found.interfaces] == [
        ("52:54:00:00:00:01", ["192.168.122.3/24"]),
        ("52:54:00:00:00:02", ["192.168.0.2/24"]),
    ]
    assert all(a.sources == (LEASE, AGENT, ARP) and a.family == "ipv4" for a in found.addresses)
    assert "192.168.122.3" in found.words and "52:54:00:00:00:02" in found.words


async def test_one_source_only_like_virsh_source(tmp_path):
    async with node_host(tmp_path) as host:
        found = await guest_addresses(host, WEB_UUID, (ARP,))
    assert [s.source for s in found.sources] == [ARP]
    assert {a.sources for a in found.addresses} == {(ARP,)}


async def test_a_shut_off_guest_has_no_addresses_and_that_is_not_an_error(tmp_path):
    async with node_host(tmp_path) as host:
        found = await guest_addresses(host, OFF_UUID)
    assert found.interfaces == ()
    assert [(s.available, s.reason) for s in found.sources] == [
        (False, "Requested operation is not valid: domain is not running")
    ] * 3


async def test_a_guest_without_nics_has_none(tmp_path):
    async with node_host(tmp_path) as host:
        found = await guest_addresses(host, BARE_UUID)
    assert found.interfaces == () and all(s.available for s in found.sources)


async def test_sources_that_cannot_answer_are_unavailable_with_libvirts_reason(tmp_path):
    def remove_network(conn: libvirt.virConnect) -> None:
        network = conn.networkLookupByName("default")
        network.destroy()
        network.undefine()

    async with node_host(tmp_path) as host:
        # The NIC's network is gone: the driver cannot answer for that guest any more.
        await host.run(remove_network)
        found = await guest_addresses(host, WEB_UUID)
    assert found.interfaces == ()
    assert not any(s.available for s in found.sources)
    assert "no network with matching name 'default'" in found.sources[0].reason


async def test_a_vanished_guest_is_an_error_naming_it(tmp_path):
    async with node_host(tmp_path) as host:
        with pytest.raises(HostError, match=r"^domifaddr .*kvm1: .*[Dd]omain not found"):
            await guest_addresses(host, "99999999-0000-0000-0000-000000000000")


async def test_a_host_reads_every_running_guest_at_once(tmp_path):
    async with node_host(tmp_path) as host:
        found = await host_addresses(host, (LEASE,))
    assert set(found) == {WEB_UUID, BARE_UUID}  # "off" is not running
    assert [str(a) for a in found[WEB_UUID].addresses] == ["192.168.122.3/24", "192.168.0.2/24"]


def test_qemu_shaped_answers_merge_by_mac_keeping_every_name_and_source():
    # What QEMU's driver answers for one guest on a NAT network with an agent running.
    mac = "52:54:00:AB:CD:EF"
    v4 = {"addr": "192.168.122.50", "prefix": 24, "type": libvirt.VIR_IP_ADDR_TYPE_IPV4}
    answers = {
        LEASE: {"vnet3": {"hwaddr": mac.lower(), "addrs": [v4]}},
        AGENT: {
            "lo": {
                "hwaddr": "00:00:00:00:00:00",
                "addrs": [
                    {"addr": "127.0.0.1", "prefix": 8, "type": libvirt.VIR_IP_ADDR_TYPE_IPV4},
                    {"addr": "::1", "prefix": 128, "type": libvirt.VIR_IP_ADDR_TYPE_IPV6},
                ],
            },
            "eth0": {
                "hwaddr": mac,
                "addrs": [
                    v4,
                    {
                        "addr": "fe80::5054:ff:feab:cdef",
                        "prefix": 64,
                        "type": libvirt.VIR_IP_ADDR_TYPE_IPV6,
                    },
                ],
            },
            "eth1": {"hwaddr": "52:54:00:00:00:99", "addrs": []},
        },
        ARP: {
            "vnet3": {
                "hwaddr": mac.lower(),
                "addrs": [
                    {"addr": "192.168.122.50", "prefix": 0, "type": libvirt.VIR_IP_ADDR_TYPE_IPV4}
                ],
            }
        },
    }
    first, second = merge(answers)
    assert first.mac == "52:54:00:ab:cd:ef" and first.names == ("vnet3", "eth0")
    assert [(str(a), a.family, a.sources) for a in first.addresses] == [
        ("192.168.122.50/24", "ipv4", (LEASE, AGENT, ARP)),
        ("fe80::5054:ff:feab:cdef/64", "ipv6", (AGENT,)),
    ]
    # A NIC the agent knows without an address is still shown; the guest's lo is not.
    assert (second.mac, second.names, second.addresses) == ("52:54:00:00:00:99", ("eth1",), ())


def test_an_arp_only_address_has_no_prefix():
    (nic,) = merge(
        {
            ARP: {
                "vnet0": {
                    "hwaddr": "52:54:00:00:00:01",
                    "addrs": [
                        {"addr": "10.0.0.9", "prefix": 0, "type": libvirt.VIR_IP_ADDR_TYPE_IPV4}
                    ],
                }
            }
        }
    )
    assert str(nic.addresses[0]) == "10.0.0.9"


# ---- the address column's service -------------------------------------------------------


async def test_the_book_reads_on_its_own_slow_cadence_and_lays_addresses_on_rows(demo_hosts):
    fleet = Fleet(demo_hosts, refresh=0.1)
    book = AddressBook(fleet, period=60.0)
    await fleet.start()
    book.watch()  # as the guest list does while on screen
    try:
        await until(
            lambda: (
                all(h.connected and h.guests() for h in fleet.hosts)
                and all(
                    book.addresses(g.host, g.uuid)
                    for g in fleet.snapshot().guests
                    if g.state.is_active
                )
            ),
            "every running guest's addresses",
        )
        rows = book.annotate(fleet.snapshot().guests)
        running = [g for g in rows if g.state.is_active]
        assert running and all(
            g.addresses and g.addresses[0].startswith("10.") and g.macs[0].startswith("52:54:00:")
            for g in running
        )
        assert all(not g.addresses and not g.macs for g in rows if not g.state.is_active)
        # No guest of the demo has an agent channel, so no agent was asked: leases only.
        assert {s.source for g in running for s in book.addresses(g.host, g.uuid).sources} == {
            LEASE
        }
        # Many stats ticks later, still one round: addresses cost calls, stats do not wait.
        rounds, ticks = book.rounds, min(h.poller.ticks for h in fleet.hosts)
        await until(lambda: min(h.poller.ticks for h in fleet.hosts) >= ticks + 10, "ticks")
        assert book.rounds == rounds
        # Asked again with nothing new, the very same rows come back (nothing to redraw).
        snapshot = fleet.snapshot()
        first = book.annotate(snapshot.guests)
        assert book.annotate(snapshot.guests) is first
        # A guest that stops loses its address at once, before the next round.
        target = next(g for g in first if g.state.is_active)
        await fleet.perform(target, "destroy")
        await until(lambda: not fleet.find_guest(target.key).state.is_active, "the stop")
        after = {g.key: g for g in book.annotate(fleet.snapshot().guests)}
        assert after[target.key].addresses == ()
        assert any(g.addresses for g in after.values())  # the others keep theirs
    finally:
        await fleet.close()


async def test_a_guest_that_starts_is_asked_again_without_waiting_for_the_round(demo_hosts):
    fleet = Fleet(demo_hosts, refresh=0.1)
    book = AddressBook(fleet, period=600.0, follow_ups=(0.2, 0.5))
    await fleet.start()
    book.watch()
    try:
        await until(
            lambda: (
                all(h.connected and h.guests() for h in fleet.hosts)
                and any(book.addresses(g.host, g.uuid) for g in fleet.snapshot().guests)
            ),
            "a round",
        )
        rounds = book.rounds
        stopped = next(g for g in fleet.snapshot().guests if g.state is GuestState.SHUTOFF)
        assert book.addresses(stopped.host, stopped.uuid) is None
        await fleet.perform(stopped, "start")
        await until(
            lambda: book.addresses(stopped.host, stopped.uuid) is not None,
            "the started guest's addresses",
            timeout=5,
        )
        row = next(g for g in book.annotate(fleet.snapshot().guests) if g.key == stopped.key)
        assert row.addresses and row.addresses[0].startswith("10.")
        assert book.rounds == rounds  # no round was spent on it
    finally:
        await fleet.close()


async def test_a_host_not_connected_shows_no_addresses(tmp_path):
    async with node_hosts(tmp_path) as hosts:
        spec = hosts[0].spec
    fleet = Fleet([spec], refresh=60.0)  # never started: its host is not connected
    book = AddressBook(fleet, period=60.0)
    await book.refresh()
    assert book.rounds == 1 and book.addresses(spec.name, WEB_UUID) is None
    await fleet.close()


def test_domifaddr_line_names_each_address_its_sources_and_why_a_source_failed():
    nic = Interface(
        "52:54:00:00:00:01", ("vnet0",), (Address("192.168.213.10", 24, "ipv4", (LEASE, ARP)),)
    )
    found = GuestAddresses(
        "hosta",
        "u",
        "web",
        (nic,),
        (
            SourceStatus(LEASE, True),
            SourceStatus(AGENT, False, "QEMU guest agent is not configured"),
            SourceStatus(ARP, True),
        ),
    )
    assert found.line() == (
        "web on hosta: 52:54:00:00:00:01 vnet0 192.168.213.10/24 "
        "(lease+arp) [agent: QEMU guest agent is not configured]"
    )
    assert GuestAddresses("h", "u", "g", (), ()).line() == "g on h: no interface"
