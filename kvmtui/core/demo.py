"""A demo fleet on libvirt's in-process `test:///` driver: no daemon, no KVM, real libvirt.

Each host is a node XML file the test driver loads; guests get varied names, vCPU counts,
memory sizes and states, and one name appears on two hosts, as happens in real fleets.

Every figure shown must be one libvirt reports, and they must agree with each other. The test
driver's `getCPUMap` is fixed (8 CPUs, 0, 2 and 4 online, whatever the node file says), so
each demo host is that machine: a 4-core, 2-thread node with 3 CPUs active (what `getInfo`
reports), and guests whose vCPUs may run on the online CPUs only (`cpuset`), so `vcpus()`
places them on an online CPU, as a real host's default affinity would. Its capabilities are
fixed too (an i686 host offering i686 guests), so that is the arch the node file names as
its model (`getInfo`, the hosts view) and the guests' arch: the hosts view and `:caps` agree.
"""

from __future__ import annotations

import random
import re
import uuid
from pathlib import Path
from xml.sax.saxutils import escape

from kvmtui.core.model import HostSpec
from kvmtui.core.tags import NAMESPACE

_ROLES = (
    "web",
    "db",
    "cache",
    "build",
    "mail",
    "proxy",
    "queue",
    "search",
    "ci-runner",
    "monitor",
    "vpn",
    "dns",
    "backup",
    "git",
    "ldap",
    "log",
)
#: kvmtui's tags (core/tags.py) of the guests of some roles, so that selectors, the Tags
#: column and the groups have something to show.
_ROLE_TAGS = {
    "web": ("tier=web",),
    "proxy": ("tier=web",),
    "db": ("backup", "tier=db"),
    "cache": ("tier=db",),
    "build": ("ci",),
    "ci-runner": ("ci",),
}
# libvirt's VIR_DOMAIN_* state codes, weighted like a real fleet: mostly running.
_STATES = (1,) * 7 + (3,) + (5,) * 2
_VCPUS = (1, 1, 2, 2, 2, 4, 4, 8)
_MEMORY_MIB = (512, 1024, 2048, 2048, 4096, 4096, 8192, 16384)
_TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"
# What the test driver's getCPUMap reports for every node: 8 CPUs, these online.
_NODE_CPUS = 8
_ONLINE_CPUS = "0,2,4"
# The arch the test driver's capabilities give every node, whatever the node file says.
_ARCH = "i686"


def _domain_xml(
    name: str,
    state: int,
    vcpus: int,
    memory_mib: int,
    rng: random.Random,
    tags: tuple[str, ...] = (),
) -> str:
    guest_uuid = uuid.UUID(int=rng.getrandbits(128), version=4)
    mac = "52:54:00:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(3))
    metadata = (
        f"<metadata><kvmtui:tags xmlns:kvmtui='{NAMESPACE}'>"
        + "".join(f"<kvmtui:tag>{escape(t)}</kvmtui:tag>" for t in tags)
        + "</kvmtui:tags></metadata>"
        if tags
        else ""
    )
    return f"""
  <domain type='test' xmlns:test='{_TEST_NS}'>
    <name>{escape(name)}</name>
    <uuid>{guest_uuid}</uuid>{metadata}
    <memory unit='MiB'>{memory_mib}</memory>
    <currentMemory unit='MiB'>{memory_mib}</currentMemory>
    <vcpu placement='static' cpuset='{_ONLINE_CPUS}'>{vcpus}</vcpu>
    <os><type arch='{_ARCH}'>hvm</type><boot dev='hd'/></os>
    <devices>
      <disk type='file' device='disk'>
        <source file='/var/lib/libvirt/images/{escape(name)}.qcow2'/>
        <target dev='vda' bus='virtio'/>
      </disk>
      <interface type='network'>
        <mac address='{mac}'/><source network='default'/><target dev='vnet-{escape(name)}'/>
      </interface>
      <serial type='pty'><target port='0'/></serial>
    </devices>
    <test:runstate>{state}</test:runstate>
  </domain>"""


def _networks_xml(host: int) -> str:
    """A NAT network on every host (the guests' NICs are on it, so the address column has
    leases to show; a subnet per host, as real hosts have) and, on the first host, an
    isolated one for storage traffic. Host n's subnet is 10.(n mod 256).(n div 256).0/24:
    10.n.0.0 up to the 255th host, and still an address libvirt takes beyond (1,000 hosts)."""
    subnet = f"10.{(host + 1) % 256}.{(host + 1) // 256}"
    default = f"""
  <network>
    <name>default</name><forward mode='nat'/><bridge name='virbr0'/>
    <ip address='{subnet}.1' netmask='255.255.255.0'>
      <dhcp><range start='{subnet}.10' end='{subnet}.250'/></dhcp>
    </ip>
  </network>"""
    if host:
        return default
    return (
        default
        + """
  <network>
    <name>storage</name><bridge name='virbr1'/>
    <ip address='10.40.0.1' prefix='24'/>
  </network>"""
    )


def _node_xml(guests: list[str], memory_gib: int, host: int = 0) -> str:
    online = len(_ONLINE_CPUS.split(","))
    return f"""<node>
  <cpu>
    <nodes>1</nodes><sockets>1</sockets><cores>{_NODE_CPUS // 2}</cores><threads>2</threads>
    <active>{online}</active><mhz>2900</mhz><model>{_ARCH}</model>
  </cpu>
  <memory>{memory_gib * 1024 * 1024}</memory>{_networks_xml(host)}
{"".join(guests)}
</node>
"""


def write_fleet(
    directory: Path,
    hosts: int,
    guests_per_host: int,
    seed: int = 7,
    storage: bool = False,
    tag_every: bool = False,
) -> tuple[HostSpec, ...]:
    """Writes one node file per host and returns the hosts that load them; with `storage`,
    each host also has a pool holding its guests' disks and a few unused volumes. With
    `tag_every`, every guest carries two tags (`role=ROLE`, `rack=N`) instead of its role's
    few: the fleet benchmark measures a fleet organised by tags."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    specs: list[HostSpec] = []

    def tags(role: str, h: int) -> tuple[str, ...]:
        return (f"role={role}", f"rack={h // 4 + 1}") if tag_every else _ROLE_TAGS.get(role, ())

    for h in range(hosts):
        host_name = f"kvm{h + 1:02d}"
        guests = []
        for g in range(guests_per_host):
            role = _ROLES[(g + h * 5) % len(_ROLES)]
            name = f"{role}-{h + 1}{g + 1:02d}"
            guests.append(
                _domain_xml(
                    name,
                    rng.choice(_STATES),
                    rng.choice(_VCPUS),
                    rng.choice(_MEMORY_MIB),
                    rng,
                    tags(role, h),
                )
            )
        if h < 2:
            # The same guest name on two hosts, as after a copy or a failed migration.
            guests.append(
                _domain_xml("shared-tools", 1 if h == 0 else 5, 2, 1024, rng, tags("tools", h))
            )
        if storage:
            guests.append(_images_pool(guests))
        path = directory / f"{host_name}.xml"
        path.write_text(_node_xml(guests, memory_gib=64 * (1 + h % 2), host=h))
        specs.append(HostSpec(host_name, f"test://{path.resolve()}"))
    return tuple(specs)


def build_demo_fleet(directory: Path) -> tuple[HostSpec, ...]:
    """The fleet `kvmtui --demo` shows: 3 hosts, 35 guests in mixed states."""
    return write_fleet(directory, hosts=3, guests_per_host=11, storage=True)


_DISK_RE = re.compile(r"<source file='/var/lib/libvirt/images/([^']+)'/>")


def _images_pool(guests: list[str]) -> str:
    """The `images` pool of a demo host: every guest's disk, an ISO and a stale disk, all
    with the sizes a small fleet has, so the storage views have something to show."""
    names = [m for guest in guests for m in _DISK_RE.findall(guest)]
    volumes = [(name, "qcow2", 20 + 10 * (i % 4), 2 + i % 7) for i, name in enumerate(names)]
    volumes += [("debian-12.iso", "raw", 1, 1), ("old-web.qcow2", "qcow2", 40, 12)]
    entries = "".join(
        f"""
    <volume type='file'>
      <name>{name}</name><key>/var/lib/libvirt/images/{name}</key>
      <capacity unit='GiB'>{capacity}</capacity><allocation unit='GiB'>{used}</allocation>
      <target><path>/var/lib/libvirt/images/{name}</path><format type='{kind}'/></target>
    </volume>"""
        for name, kind, capacity, used in volumes
    )
    return f"""
  <pool type='dir'>
    <name>images</name><uuid>{uuid.uuid4()}</uuid>
    <capacity unit='GiB'>2000</capacity><allocation unit='GiB'>400</allocation>
    <available unit='GiB'>1600</available>
    <source/><target><path>/var/lib/libvirt/images</path></target>{entries}
  </pool>"""
