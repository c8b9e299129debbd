"""libvirt's virtual networks on every host: what `:nets` shows and the net-* verbs change.

`NetworkService` reads every connected host's networks while a view shows them, again on
libvirt's network lifecycle events and at once after a change made here, so an operator who
never opens `:nets` pays nothing. Each active network's DHCP leases come with it, each
named by the guest that owns the MAC (guests' MACs are read once per guest and kept, and
read again when a lease names a MAC none of them had: a NIC added since).

`network_xml` builds a network from virsh-like short words (a subnet, a forward mode, a
bridge, DHCP) so nobody has to write XML for the common case.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import libvirt

from kvmtui.core.errors import describe
from kvmtui.core.names import find_named
from kvmtui.core.resource import ResourceService

if TYPE_CHECKING:
    from kvmtui.core.fleet import Fleet
    from kvmtui.core.host import Host

#: Seconds between two readings of the networks' DHCP leases while a view shows them:
#: a lease comes and goes with no event.
LEASES_CADENCE = 10.0
#: virsh's forward modes for `net-define`; "none" is an isolated network (no <forward>).
FORWARD_MODES = ("nat", "route", "none")
#: A Linux interface name: at most 15 characters (IFNAMSIZ), no '/' or blanks.
_BRIDGE_RE = re.compile(r"[A-Za-z0-9_.-]{1,15}")


@dataclass(frozen=True)
class Lease:
    mac: str
    ip: str  # with its prefix, as net-dhcp-leases prints it
    hostname: str
    guest: str  # the guest whose interface has this MAC, "" when none here has it
    expires: int  # seconds since the epoch, 0 when it does not expire


@dataclass(frozen=True)
class NetworkSnapshot:
    host: str
    name: str
    uuid: str
    active: bool
    persistent: bool
    autostart: bool
    bridge: str
    forward: str  # "nat", "route", "bridge" ...; "isolated" when it has no <forward>
    address: str  # the host's address on it with the prefix, "" when it has none
    dhcp: str  # "first-last" of the first DHCP range, "" when it serves none
    #: Its DHCP leases; None when they could not be read (`leases_note` says why).
    leases: tuple[Lease, ...] | None = None
    leases_note: str = ""

    @property
    def key(self) -> str:
        return f"{self.name}@{self.host}"

    @property
    def state(self) -> str:
        return "active" if self.active else "inactive"


def network_xml(
    name: str, subnet: str, *, forward: str = "nat", bridge: str | None = None, dhcp: bool = False
) -> str:
    """The XML of a network on `subnet` (the host takes its first address, DHCP hands out
    the rest); ValueError with a one-line reason for a subnet, mode or bridge that cannot
    be one."""
    try:
        net = ipaddress.ip_network(subnet, strict=False)
    except ValueError:
        raise ValueError(f"{subnet!r} is not a subnet (write it like 192.168.150.0/24)") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise ValueError(f"{subnet}: only IPv4 subnets can be given here")
    if net.prefixlen > 30:
        raise ValueError(f"{subnet}: too small for a host and a guest (/30 at most)")
    if forward not in FORWARD_MODES:
        raise ValueError(f"forward mode {forward!r}: say {', '.join(FORWARD_MODES)}")
    if bridge is not None and not _BRIDGE_RE.fullmatch(bridge):
        raise ValueError(f"bridge {bridge!r}: up to 15 letters, digits, '.', '_' or '-'")
    gateway = next(net.hosts())
    parts = [f"<network>\n  <name>{_text(name)}</name>"]
    if forward != "none":
        parts.append(f"  <forward mode='{forward}'/>")
    if bridge:
        # _BRIDGE_RE lets no quote or markup through: the name goes in as it is.
        parts.append(f"  <bridge name='{bridge}' stp='on' delay='0'/>")
    parts.append(f"  <ip address='{gateway}' netmask='{net.netmask}'>")
    if dhcp:
        first, last = gateway + 1, net.broadcast_address - 1
        parts.append(f"    <dhcp>\n      <range start='{first}' end='{last}'/>\n    </dhcp>")
    parts.append("  </ip>\n</network>\n")
    return "\n".join(parts)


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _parse(xml: str) -> dict[str, str]:
    root = ET.fromstring(xml)
    forward = root.find("forward")
    bridge = root.find("bridge")
    found = {
        "forward": (forward.get("mode") or "nat") if forward is not None else "isolated",
        "bridge": (bridge.get("name") or "") if bridge is not None else "",
        "address": "",
        "dhcp": "",
    }
    ip = root.find("ip")
    if ip is not None and ip.get("address"):
        prefix = ip.get("prefix")
        if prefix is None and ip.get("netmask"):
            prefix = str(ipaddress.ip_network(f"0.0.0.0/{ip.get('netmask')}").prefixlen)
        found["address"] = f"{ip.get('address')}/{prefix}" if prefix else str(ip.get("address"))
        span = ip.find("dhcp/range")
        if span is not None:
            found["dhcp"] = _span(span.get("start") or "", span.get("end") or "")
    return found


def _span(start: str, end: str) -> str:
    """`192.168.122.2-254` for a range within one /24, as people write it; in full else."""
    head, _, last = end.rpartition(".")
    if head and start.startswith(f"{head}."):
        return f"{start}-{last}"
    return f"{start}-{end}"


#: Seconds before MACs no running guest was known to have make every guest's MACs read
#: again (a NIC hot-plugged since): a lease of a machine that is no guest here costs at
#: most one such reading a minute.
MAC_REREAD = 60.0


@dataclass
class MacCache:
    """The MACs of a host's guests' interfaces, by guest UUID, read once per guest."""

    macs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    read_all_at: float = float("-inf")


def _guest_macs(dom: libvirt.virDomain) -> tuple[str, ...]:
    root = ET.fromstring(dom.XMLDesc(0))
    return tuple((m.get("address") or "").lower() for m in root.findall("devices/interface/mac"))


def _owners(conn: libvirt.virConnect, cache: MacCache, wanted: set[str]) -> dict[str, str]:
    """MAC -> guest name for the running guests (only they hold leases)."""
    domains = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
    known = {mac for macs in cache.macs.values() for mac in macs}
    now = time.monotonic()
    again = not wanted <= known and now - cache.read_all_at > MAC_REREAD
    if again:
        cache.read_all_at = now
    owners: dict[str, str] = {}
    for dom in domains:
        uuid = dom.UUIDString()
        if again or uuid not in cache.macs:
            with contextlib.suppress(libvirt.libvirtError, ET.ParseError):
                cache.macs[uuid] = _guest_macs(dom)
        owners.update(dict.fromkeys(cache.macs.get(uuid, ()), dom.name()))
    return owners


def _leases(
    net: libvirt.virNetwork, conn: libvirt.virConnect, cache: MacCache
) -> tuple[tuple[Lease, ...] | None, str]:
    try:
        raw = net.DHCPLeases()
    except libvirt.libvirtError as error:
        return None, describe(error)
    macs = [(entry.get("mac") or "").lower() for entry in raw]
    owners = _owners(conn, cache, set(macs)) if raw else {}
    leases = tuple(
        Lease(
            mac=mac,
            ip=f"{entry.get('ipaddr')}/{entry.get('prefix')}",
            hostname=entry.get("hostname") or "",
            guest=owners.get(mac, ""),
            expires=int(entry.get("expirytime") or 0),
        )
        for mac, entry in zip(macs, raw, strict=True)
    )
    return leases, ""


def read_blocking(host: str, conn: libvirt.virConnect, cache: MacCache) -> list[NetworkSnapshot]:
    """Every network of one host, with the leases of the active ones."""
    found = []
    for net in conn.listAllNetworks():
        try:
            parsed = _parse(net.XMLDesc(0))
            active = bool(net.isActive())
            leases, note = _leases(net, conn, cache) if active else (None, "inactive")
            found.append(
                NetworkSnapshot(
                    host=host,
                    name=net.name(),
                    uuid=net.UUIDString(),
                    active=active,
                    persistent=bool(net.isPersistent()),
                    autostart=bool(net.autostart()),
                    leases=leases,
                    leases_note=note,
                    **parsed,
                )
            )
        except libvirt.libvirtError as error:
            if error.get_error_code() != libvirt.VIR_ERR_NO_NETWORK:  # undefined meanwhile
                raise
    return found


# ---- changes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NetAction:
    """One net-* verb on an existing network: the call and the word that reports it."""

    run: Callable[[libvirt.virNetwork], object]
    done: str


NET_ACTIONS: Mapping[str, NetAction] = MappingProxyType(
    {
        "net-start": NetAction(lambda net: net.create(), "started"),
        "net-destroy": NetAction(lambda net: net.destroy(), "stopped"),
        "net-undefine": NetAction(lambda net: net.undefine(), "undefined"),
        "net-autostart": NetAction(lambda net: net.setAutostart(1), "marked autostart"),
        "net-noautostart": NetAction(lambda net: net.setAutostart(0), "autostart off"),
    }
)


async def act(host: Host, name: str, verb: str) -> str:
    """Runs one of NET_ACTIONS on network `name`; the sentence that reports it."""
    action = NET_ACTIONS[verb]
    await host.run(
        lambda conn: action.run(conn.networkLookupByName(name)),
        what=f"{verb} {name} on {host.name}",
    )
    return f"network {name} on {host.name}: {action.done}"


async def define(host: Host, xml: str) -> str:
    """Defines a network from `xml`; the sentence that reports it."""
    name = await host.run(
        lambda conn: conn.networkDefineXML(xml).name(), what=f"net-define on {host.name}"
    )
    return f"network {name} defined on {host.name}"


# ---- the service -----------------------------------------------------------------------


class NetworkService(ResourceService[tuple[NetworkSnapshot, ...]]):
    """Every host's networks, read when a view shows them, on libvirt's network events
    and after a change made here (kvmtui.core.resource). Leases have no event of their
    own: while watched, they are read again every `CADENCE` seconds."""

    EVENTS = frozenset({"network"})
    CADENCE = LEASES_CADENCE

    def __init__(self, fleet: Fleet) -> None:
        super().__init__(fleet)
        self._macs: dict[str, MacCache] = {}

    async def read_host(self, host: Host) -> tuple[NetworkSnapshot, ...]:
        cache = self._macs.setdefault(host.name, MacCache())
        found = await host.run(
            lambda conn: read_blocking(host.name, conn, cache), what=f"networks of {host.name}"
        )
        return tuple(sorted(found, key=lambda n: n.name))

    def networks(self) -> list[NetworkSnapshot]:
        """The networks as last read, host by host."""
        return [network for networks in self.readings() for network in networks]

    def find(self, token: str, host: str | None = None) -> NetworkSnapshot:
        """The network a command names (`NAME`, `NAME@HOST`, or NAME with `host`);
        CommandError with the sentence to show otherwise."""
        return find_named("network", token, self.networks(), host=host)
