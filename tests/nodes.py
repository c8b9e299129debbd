"""A small libvirt `test:///` node for the core's guest-configuration tests, and hosts on it.

Each test writes its own node file, so what one test changes (snapshots, definitions) no
other test sees; the driver is libvirt's real one, running in this process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from kvmtui.core.fleet import Fleet
from kvmtui.core.host import Host
from kvmtui.core.model import GuestSnapshot, HostSpec

WEB_UUID = "11111111-0000-0000-0000-000000000001"
OFF_UUID = "11111111-0000-0000-0000-000000000002"
BARE_UUID = "11111111-0000-0000-0000-000000000003"

_TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"

NODE_XML = f"""<node>
  <cpu><nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads>
    <active>2</active><mhz>2000</mhz><model>x86_64</model></cpu>
  <memory>8388608</memory>
  <network>
    <name>default</name><uuid>22222222-2222-3333-4444-555555555555</uuid>
    <bridge name='virbr0'/><forward/>
    <ip address='192.168.122.1' netmask='255.255.255.0'>
      <dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp>
    </ip>
  </network>
  <pool type='dir'>
    <name>images</name><uuid>11111111-2222-3333-4444-555555555555</uuid>
    <capacity unit='GiB'>100</capacity><allocation>0</allocation>
    <available unit='GiB'>100</available>
    <source/><target><path>/var/lib/images</path></target>
    <volume type='file'>
      <name>web.qcow2</name><key>/var/lib/images/web.qcow2</key>
      <capacity unit='GiB'>20</capacity><allocation unit='GiB'>3</allocation>
      <target><path>/var/lib/images/web.qcow2</path><format type='qcow2'/></target>
    </volume>
    <volume type='file'>
      <name>data.raw</name><key>/var/lib/images/data.raw</key>
      <capacity unit='GiB'>50</capacity><allocation unit='GiB'>50</allocation>
      <target><path>/var/lib/images/data.raw</path><format type='raw'/></target>
    </volume>
  </pool>
  <domain type='test'>
    <name>web</name><uuid>{WEB_UUID}</uuid>
    <memory unit='MiB'>2048</memory><currentMemory unit='MiB'>1024</currentMemory>
    <vcpu placement='static' current='2'>4</vcpu>
    <os><type arch='x86_64'>hvm</type><boot dev='hd'/><boot dev='cdrom'/></os>
    <devices>
      <disk type='file' device='disk'>
        <driver name='qemu' type='qcow2'/>
        <source file='/var/lib/images/web.qcow2'/><target dev='vda' bus='virtio'/>
      </disk>
      <disk type='volume' device='disk'>
        <source pool='images' volume='data.raw'/><target dev='vdb' bus='virtio'/><readonly/>
      </disk>
      <disk type='file' device='disk'>
        <source file='/srv/elsewhere/scratch.img'/><target dev='vdc' bus='virtio'/>
      </disk>
      <disk type='file' device='cdrom'><target dev='sda' bus='sata'/><readonly/></disk>
      <interface type='network'>
        <mac address='52:54:00:00:00:01'/><source network='default'/><model type='virtio'/>
      </interface>
      <interface type='bridge'>
        <mac address='52:54:00:00:00:02'/><source bridge='br0'/><model type='e1000'/>
      </interface>
    </devices>
  </domain>
  <domain type='test' xmlns:test='{_TEST_NS}'>
    <name>off</name><uuid>{OFF_UUID}</uuid>
    <memory unit='MiB'>512</memory><vcpu>1</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'>
        <source file='/var/lib/images/off.img'/><target dev='hda' bus='ide'/>
        <boot order='2'/>
      </disk>
      <interface type='network'>
        <mac address='52:54:00:00:00:03'/><source network='default'/><boot order='1'/>
      </interface>
    </devices>
    <test:runstate>5</test:runstate>
  </domain>
  <domain type='test'>
    <name>bare</name><uuid>{BARE_UUID}</uuid>
    <memory unit='MiB'>256</memory><vcpu>1</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
  </domain>
</node>
"""


async def until(predicate: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Waits for a condition the host reaches asynchronously (no fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def connected_fleet(specs: list[HostSpec]) -> AsyncIterator[Fleet]:
    """The core's fleet of `specs`, each host connected with its guests listed and
    described (no UI)."""
    fleet = Fleet(specs, refresh=60.0)
    await fleet.start()
    try:
        for host in fleet.hosts:
            await until(
                lambda h=host: h.connected and h.settled and h.guests(), f"{host.name} to connect"
            )
        yield fleet
    finally:
        await fleet.close()


@asynccontextmanager
async def connected(specs: list[HostSpec]) -> AsyncIterator[list[Host]]:
    """The core's hosts for `specs`, each connected with its guests listed (no UI)."""
    async with connected_fleet(specs) as fleet:
        yield fleet.hosts


def node_specs(tmp_path: Path, *names: str, readonly: bool = False) -> list[HostSpec]:
    """Hosts `names` (default one, "kvm1"), each on its own copy of the node."""
    specs = []
    for name in names or ("kvm1",):
        path = tmp_path / f"{name}.xml"
        path.write_text(NODE_XML)
        specs.append(HostSpec(name, f"test://{path}", readonly))
    return specs


@asynccontextmanager
async def node_hosts(
    tmp_path: Path, *names: str, readonly: bool = False
) -> AsyncIterator[list[Host]]:
    """Hosts `names` (default one, "kvm1"), each on its own copy of the node, connected."""
    async with connected(node_specs(tmp_path, *names, readonly=readonly)) as hosts:
        yield hosts


@asynccontextmanager
async def node_host(tmp_path: Path, readonly: bool = False) -> AsyncIterator[Host]:
    async with node_hosts(tmp_path, readonly=readonly) as hosts:
        yield hosts[0]


def guest(host: Host, uuid: str) -> GuestSnapshot:
    """The guest as the host's table shows it now."""
    found = host.guest(uuid)
    assert found is not None, f"{uuid} is not listed on {host.name}"
    return found
