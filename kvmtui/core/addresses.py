"""Where a guest can be reached: its addresses from DHCP leases, the guest agent and ARP.

No one source knows every guest: leases cover only libvirt's own networks (a bridged guest
has none), the agent answers only when it runs in the guest and its channel is connected,
ARP only sees guests that spoke lately and gives no prefix. So every source asked is read,
and what they say is merged per interface (by MAC), each address keeping which sources gave
it. A source the driver or the guest cannot serve is recorded as unavailable with libvirt's
reason: that is normal, not an error, and the other sources still count. Which errors those
are is not a short list (no support, no agent or not connected, guest not running, network
gone, and QEMU's ARP reading fails with an internal "wrong nlmsg len" inside a network
namespace), so any error of one source counts as that source being unavailable, and one
more call then tells a guest or connection that is really gone from a source that is not.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

import libvirt

from kvmtui.core.host import Host, HostError


class AddressSource(Enum):
    """virsh domifaddr's `--source` words."""

    LEASE = "lease"
    AGENT = "agent"
    ARP = "arp"

    @property
    def flag(self) -> int:
        return {
            AddressSource.LEASE: libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
            AddressSource.AGENT: libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT,
            AddressSource.ARP: libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP,
        }[self]


ALL_SOURCES = tuple(AddressSource)

@dataclass(frozen=True)
class Address:
    address: str
    prefix: int | None  # None when no source gave one (ARP never does)
    family: str  # "ipv4" or "ipv6"
    sources: tuple[AddressSource, ...]

    def __str__(self) -> str:
        return f"{self.address}/{self.prefix}" if self.prefix is not None else self.address


@dataclass(frozen=True)
class Interface:
    """One guest NIC: its MAC, the names sources gave it (the host's `vnet0` from leases and
    ARP, the guest's own `eth0` from the agent) and its addresses."""

    mac: str
    names: tuple[str, ...]
    addresses: tuple[Address, ...]


@dataclass(frozen=True)
class SourceStatus:
    source: AddressSource
    available: bool
    reason: str = ""  # libvirt's words when the source could not answer


@dataclass(frozen=True)
class GuestAddresses:
    host: str
    uuid: str
    guest: str
    interfaces: tuple[Interface, ...]
    sources: tuple[SourceStatus, ...]

    @property
    def addresses(self) -> tuple[Address, ...]:
        return tuple(a for nic in self.interfaces for a in nic.addresses)

    @property
    def words(self) -> tuple[str, ...]:
        """What a filter should match the guest by: every MAC and address."""
        return tuple(w for nic in self.interfaces
                     for w in (nic.mac, *(a.address for a in nic.addresses)) if w)


# ---- merging (pure) --------------------------------------------------------------------

_NO_MAC = "00:00:00:00:00:00"

Answer = Mapping[str, Mapping[str, Any]]  # what interfaceAddresses returns: name -> NIC


@dataclass
class _Seen:
    """One interface while the answers are merged."""

    mac: str
    names: list[str] = field(default_factory=list)
    addresses: dict[str, Address] = field(default_factory=dict)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def merge(answers: Mapping[AddressSource, Answer]) -> tuple[Interface, ...]:
    """Interfaces from `interfaceAddresses` answers, one per MAC (or per name when a source
    gives no MAC), in the order first seen. Loopback addresses are left out: they say nothing
    about how to reach the guest, and an interface with only those (the guest's `lo`) goes."""
    seen: dict[str, _Seen] = {}
    for source, reply in answers.items():
        for name, nic in reply.items():
            mac = str(nic.get("hwaddr") or "").lower().replace(_NO_MAC, "")
            one = seen.setdefault(mac or f"name:{name}", _Seen(mac))
            if name not in one.names:
                one.names.append(name)
            for entry in nic.get("addrs") or ():
                address = str(entry["addr"])
                if _is_loopback(address):
                    continue
                prefix = int(entry["prefix"]) if entry.get("prefix") else None
                known = one.addresses.get(address)
                one.addresses[address] = (
                    replace(known, prefix=known.prefix or prefix,
                            sources=(*known.sources, source)) if known else
                    Address(address, prefix, "ipv6" if entry.get("type")
                            == libvirt.VIR_IP_ADDR_TYPE_IPV6 else "ipv4", (source,)))
    return tuple(Interface(one.mac, tuple(one.names), tuple(one.addresses.values()))
                 for one in seen.values() if one.mac or one.addresses)


# ---- blocking reads (run on the host's threads) ----------------------------------------


def _read(dom: libvirt.virDomain, host: str,
          sources: Iterable[AddressSource]) -> GuestAddresses:
    answers: dict[AddressSource, Answer] = {}
    statuses: list[SourceStatus] = []
    for source in sources:
        try:
            answers[source] = dom.interfaceAddresses(source.flag, 0) or {}
        except libvirt.libvirtError as error:
            statuses.append(SourceStatus(source, False, error.get_error_message() or ""))
        else:
            statuses.append(SourceStatus(source, True))
    if len(answers) < len(statuses):
        dom.isActive()  # raises when the guest or the connection is gone, not just a source
    return GuestAddresses(host, dom.UUIDString(), dom.name(), merge(answers), tuple(statuses))


def _read_host(conn: libvirt.virConnect, host: str,
               sources: tuple[AddressSource, ...]) -> dict[str, GuestAddresses]:
    found: dict[str, GuestAddresses] = {}
    for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
        try:
            read = _read(dom, host, sources)
        except libvirt.libvirtError as error:
            if error.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                continue  # the guest went away between the listing and the call
            raise
        found[read.uuid] = read
    return found


# ---- the async API ---------------------------------------------------------------------


async def guest_addresses(host: Host, uuid: str,
                          sources: tuple[AddressSource, ...] = ALL_SOURCES) -> GuestAddresses:
    """`virsh domifaddr` over every source asked (virsh's `--source` picks one), merged."""
    name = host.name
    return await host.run_on_guest(uuid, lambda dom: _read(dom, name, sources), "domifaddr")


async def host_addresses(host: Host, sources: tuple[AddressSource, ...] = ALL_SOURCES
                         ) -> dict[str, GuestAddresses]:
    """Every running guest's addresses on one host, by UUID, in one trip to its threads:
    for an address column, read less often than the stats (each guest costs calls)."""
    name = host.name
    try:
        return await host.run(lambda conn: _read_host(conn, name, sources))
    except libvirt.libvirtError as error:
        raise HostError(f"domifaddr on {name}: {error.get_error_message()}") from error
