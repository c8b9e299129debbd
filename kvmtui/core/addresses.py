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

import asyncio
import contextlib
import functools
import ipaddress
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

import libvirt

from kvmtui.core.host import Host, HostError
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.poller import DomainEvent
from kvmtui.core.resource import GuestAnnotations, ResourceService

if TYPE_CHECKING:
    from kvmtui.core.fleet import Fleet


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
#: Lifecycle events after which a guest's addresses are new.
_STARTS = (libvirt.VIR_DOMAIN_EVENT_STARTED, libvirt.VIR_DOMAIN_EVENT_RESUMED)


@dataclass(frozen=True, slots=True)
class Address:
    address: str
    prefix: int | None  # None when no source gave one (ARP never does)
    family: str  # "ipv4" or "ipv6"
    sources: tuple[AddressSource, ...]

    def __str__(self) -> str:
        return f"{self.address}/{self.prefix}" if self.prefix is not None else self.address


@dataclass(frozen=True, slots=True)
class Interface:
    """One guest NIC: its MAC, the names sources gave it (the host's `vnet0` from leases and
    ARP, the guest's own `eth0` from the agent) and its addresses."""

    mac: str
    names: tuple[str, ...]
    addresses: tuple[Address, ...]


@dataclass(frozen=True, slots=True)
class SourceStatus:
    source: AddressSource
    available: bool
    reason: str = ""  # libvirt's words when the source could not answer


@dataclass(frozen=True, slots=True)
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
    def macs(self) -> tuple[str, ...]:
        return tuple(nic.mac for nic in self.interfaces if nic.mac)

    def line(self) -> str:
        """What `:domifaddr` reports, on one line: each NIC with its addresses and the
        sources that gave them, then the sources that could not answer and why."""
        nics = []
        for nic in self.interfaces:
            found = (
                ", ".join(f"{a} ({'+'.join(s.value for s in a.sources)})" for a in nic.addresses)
                or "no address"
            )
            nics.append(" ".join(w for w in (nic.mac, "/".join(nic.names)) if w) + f" {found}")
        unavailable = [
            f"{s.source.value}: {s.reason or 'unavailable'}"
            for s in self.sources
            if not s.available
        ]
        text = f"{self.guest} on {self.host}: " + ("; ".join(nics) or "no interface")
        return text + (f" [{'; '.join(unavailable)}]" if unavailable else "")

    @property
    def words(self) -> tuple[str, ...]:
        """What a filter should match the guest by: every MAC and address."""
        return tuple(
            w
            for nic in self.interfaces
            for w in (nic.mac, *(a.address for a in nic.addresses))
            if w
        )


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
                    replace(known, prefix=known.prefix or prefix, sources=(*known.sources, source))
                    if known
                    else Address(
                        address,
                        prefix,
                        "ipv6" if entry.get("type") == libvirt.VIR_IP_ADDR_TYPE_IPV6 else "ipv4",
                        (source,),
                    )
                )
    return tuple(
        Interface(one.mac, tuple(one.names), tuple(one.addresses.values()))
        for one in seen.values()
        if one.mac or one.addresses
    )


# ---- blocking reads (run on the host's threads) ----------------------------------------


def _read(dom: libvirt.virDomain, host: str, sources: Iterable[AddressSource]) -> GuestAddresses:
    answers: dict[AddressSource, Answer] = {}
    statuses: list[SourceStatus] = []
    for source in sources:
        try:
            answers[source] = dom.interfaceAddresses(source.flag, 0) or {}
        except libvirt.libvirtError as error:
            statuses.append(_status(source, False, error.get_error_message() or ""))
        else:
            statuses.append(_status(source, True))
    if len(answers) < len(statuses):
        dom.isActive()  # raises when the guest or the connection is gone, not just a source
    uuid, name = sys.intern(dom.UUIDString()), sys.intern(dom.name())  # as the poller's
    return GuestAddresses(host, uuid, name, merge(answers), _statuses(tuple(statuses)))


# A round's guests mostly share their sources' outcomes (a lease found, no agent): one
# object for each outcome and for each set of them, not one per guest.
_status = functools.lru_cache(maxsize=64)(SourceStatus)


@functools.lru_cache(maxsize=64)
def _statuses(statuses: tuple[SourceStatus, ...]) -> tuple[SourceStatus, ...]:
    return statuses


def _read_host(
    conn: libvirt.virConnect, host: str, sources: tuple[AddressSource, ...]
) -> dict[str, GuestAddresses]:
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


async def guest_addresses(
    host: Host, uuid: str, sources: tuple[AddressSource, ...] = ALL_SOURCES
) -> GuestAddresses:
    """`virsh domifaddr` over every source asked (virsh's `--source` picks one), merged."""
    name = host.name
    return await host.run_on_guest(uuid, lambda dom: _read(dom, name, sources), "domifaddr")


async def host_addresses(
    host: Host, sources: tuple[AddressSource, ...] = ALL_SOURCES
) -> dict[str, GuestAddresses]:
    """Every running guest's addresses on one host, by UUID, in one trip to its threads:
    for an address column, read less often than the stats (each guest costs calls)."""
    name = host.name
    try:
        return await host.run(lambda conn: _read_host(conn, name, sources))
    except libvirt.libvirtError as error:
        raise HostError(f"domifaddr on {name}: {error.get_error_message()}") from error


# ---- the address column's service ------------------------------------------------------

#: How often every running guest is asked for its addresses: far less often than the
#: stats, since it costs calls per guest where the stats cost one per host. Addresses change
#: when a guest starts, so a guest that starts is asked again on its own (FOLLOW_UPS); the
#: round only catches what no event announces (an address set inside a running guest).
#: Measured at 200 hosts x 20 guests, a round every 15 s cost more idle CPU than the stats.
ADDRESS_PERIOD = 60.0
#: Seconds after a guest starts (or arrives by migration) at which it is asked again: DHCP
#: answers within seconds, a guest agent once the guest has booted.
FOLLOW_UPS = (3.0, 10.0, 30.0)
#: Guests asked per trip to a host's threads, so a host with thousands of guests still
#: serves its stats tick between trips.
CHUNK = 50
#: The sources the column reads: leases are cheap and cover libvirt's networks, the agent
#: covers bridged guests that run one. ARP is left to `:domifaddr --source arp`.
COLUMN_SOURCES = (AddressSource.LEASE, AddressSource.AGENT)
#: A guest whose agent did not answer is asked again only every this many rounds.
AGENT_RETRY_ROUNDS = 4


def _running(conn: libvirt.virConnect) -> list[libvirt.virDomain]:
    return conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)


def _read_chunk(
    conn: libvirt.virConnect, host: str, doms: Sequence[libvirt.virDomain | str], agent: set[str]
) -> list[GuestAddresses]:
    """The addresses of `doms` (domains of this connection, or UUIDs to look up), from the
    leases, and from the agent for those in `agent`."""
    found = []
    for dom in doms:
        try:
            if isinstance(dom, str):
                dom = conn.lookupByUUIDString(dom)
            sources = tuple(
                s
                for s in COLUMN_SOURCES
                if s is not AddressSource.AGENT or dom.UUIDString() in agent
            )
            found.append(_read(dom, host, sources))
        except libvirt.libvirtError as error:
            if error.get_error_code() in (
                libvirt.VIR_ERR_NO_DOMAIN,
                libvirt.VIR_ERR_OPERATION_INVALID,
            ):
                continue  # gone or stopped since the fleet saw it running
            raise
    return found


class AddressBook(ResourceService[dict[str, GuestAddresses]]):
    """Every running guest's addresses, read per host on a slow cadence of its own (not the
    stats tick) while the guest list shows them, and laid onto the guest rows by
    `annotate`: the guest table's IP column and its `/` filter (addresses and MACs).

    On the resource-service base (kvmtui.core.resource); a host is read once its first
    table is complete (a round costs calls per guest, and must not hold up the first tables
    of hosts still connecting). A guest that starts is asked again a few times soon after,
    on its own, without a round. A host that cannot be read keeps nothing: its guests show
    no address rather than a stale one."""

    EVENTS = frozenset({"lifecycle"})
    CADENCE = ADDRESS_PERIOD
    AFTER_DEFINITIONS = True

    def __init__(
        self,
        fleet: Fleet,
        period: float = ADDRESS_PERIOD,
        follow_ups: tuple[float, ...] = FOLLOW_UPS,
    ) -> None:
        super().__init__(fleet, period)
        self._follow_ups = follow_ups
        self._no_agent: dict[str, set[str]] = {}  # host -> guests whose agent did not answer
        self._annotations = GuestAnnotations[GuestAddresses](
            lambda guest, got: replace(
                guest, addresses=tuple(a.address for a in got.addresses), macs=got.macs
            )
        )
        self._reads: set[asyncio.Task[None]] = set()  # follow-ups of guests that started

    def publish(self) -> None:
        self._annotations.outdate()
        super().publish()

    def on_event(self, event: DomainEvent) -> None:
        """A guest that starts, resumes or arrives is asked again a few times soon after."""
        if event.event not in _STARTS:
            return
        task = asyncio.get_running_loop().create_task(self._follow(event.host, event.uuid))
        self._reads.add(task)
        task.add_done_callback(self._reads.discard)

    async def _follow(self, host: str, uuid: str) -> None:
        waited = 0.0
        for at in self._follow_ups:
            await asyncio.sleep(at - waited)
            waited = at
            await self._read_one(host, uuid)

    async def _read_one(self, host_name: str, uuid: str) -> None:
        host = next((h for h in self.fleet.hosts if h.name == host_name), None)
        if host is None or not host.connected:
            return
        guest = host.guest(uuid)
        agent = {uuid} if guest is None or guest.agent_channel is not False else set()
        call = functools.partial(_read_chunk, host=host_name, doms=[uuid], agent=agent)
        number = self.reading_begins()
        try:
            read = await host.run(call, what=f"domifaddr on {host_name}")
        except HostError:
            return  # the next round tells
        book = dict(self.reading(host_name) or {})
        if read:
            book[uuid] = read[0]
        else:
            book.pop(uuid, None)
        if self.hold(host_name, number, book):
            self.publish()

    async def close(self) -> None:
        await super().close()
        tasks = list(self._reads)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def addresses(self, host: str, uuid: str) -> GuestAddresses | None:
        return (self.reading(host) or {}).get(uuid)

    def _agent_guests(self, host: Host) -> set[str]:
        """The running guests whose agent is asked: those with an agent channel, less those
        whose agent did not answer lately (asked again every AGENT_RETRY_ROUNDS rounds)."""
        no_agent = self._no_agent.setdefault(host.name, set())
        if self.rounds % AGENT_RETRY_ROUNDS == 0:
            no_agent.clear()
        with_channel = {
            g.uuid for g in host.guests() if g.state.is_active and g.agent_channel is not False
        }
        no_agent &= with_channel
        return with_channel - no_agent

    async def read_host(self, host: Host) -> dict[str, GuestAddresses]:
        agent = self._agent_guests(host)
        no_agent = self._no_agent[host.name]
        running = await host.run(_running, what=f"domifaddr on {host.name}")
        found: dict[str, GuestAddresses] = {}
        for start in range(0, len(running), CHUNK):
            call = functools.partial(
                _read_chunk, host=host.name, doms=running[start : start + CHUNK], agent=agent
            )
            for read in await host.run(call, what=f"domifaddr on {host.name}"):
                found[read.uuid] = read
                if any(s.source is AddressSource.AGENT and not s.available for s in read.sources):
                    no_agent.add(read.uuid)
        return found

    def annotate(self, guests: tuple[GuestSnapshot, ...]) -> tuple[GuestSnapshot, ...]:
        """`guests` with each running guest's addresses and MACs on it. A row that did not
        change comes back as the same object (the table redraws only changed rows), and the
        same tuple given again costs nothing."""
        return self._annotations.apply(guests, self._addresses_of)

    def _addresses_of(self, guest: GuestSnapshot) -> GuestAddresses | None:
        book = self.reading(guest.host)
        got = book.get(guest.uuid) if book and guest.state.is_active else None
        return got if got is not None and got.interfaces else None
