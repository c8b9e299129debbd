"""The test node of tests/nodes.py plus a shut-off template guest whose disks are volumes,
for the clone and undefine-with-storage tests (core and UI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from kvmtui.core.host import Host
from kvmtui.core.model import HostSpec
from tests.nodes import NODE_XML, connected

TMPL_UUID = "11111111-0000-0000-0000-0000000000aa"

_VOLUMES = """
    <volume type='file'>
      <name>tmpl.qcow2</name><key>/var/lib/images/tmpl.qcow2</key>
      <capacity unit='GiB'>10</capacity><allocation unit='GiB'>2</allocation>
      <target><path>/var/lib/images/tmpl.qcow2</path><format type='qcow2'/></target>
    </volume>
    <volume type='file'>
      <name>tmpl-data.raw</name><key>/var/lib/images/tmpl-data.raw</key>
      <capacity unit='GiB'>5</capacity><allocation unit='GiB'>5</allocation>
      <target><path>/var/lib/images/tmpl-data.raw</path><format type='raw'/></target>
    </volume>
  </pool>"""

_TEMPLATE = f"""
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>tmpl</name><uuid>{TMPL_UUID}</uuid>
    <memory unit='MiB'>512</memory><vcpu>1</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'>
        <driver name='qemu' type='qcow2'/>
        <source file='/var/lib/images/tmpl.qcow2'/><target dev='vda' bus='virtio'/>
      </disk>
      <disk type='volume' device='disk'>
        <driver name='qemu' type='raw'/>
        <source pool='images' volume='tmpl-data.raw'/><target dev='vdb' bus='virtio'/>
      </disk>
      <disk type='volume' device='disk'>
        <source pool='images' volume='data.raw'/><target dev='vdc' bus='virtio'/><readonly/>
      </disk>
      <disk type='file' device='cdrom'><target dev='sda' bus='sata'/><readonly/></disk>
      <interface type='network'>
        <mac address='52:54:00:00:00:aa'/><source network='default'/>
      </interface>
      <serial type='pty'><log file='/var/log/guests/tmpl.log'/></serial>
    </devices>
    <test:runstate>5</test:runstate>
  </domain>
</node>"""

CLONE_NODE_XML = NODE_XML.replace("\n  </pool>", _VOLUMES, 1).replace("\n</node>", _TEMPLATE)


def write_node(path: Path) -> str:
    """Writes the node file and returns its test:/// URI."""
    path.write_text(CLONE_NODE_XML)
    return f"test://{path}"


@asynccontextmanager
async def clone_host(tmp_path: Path) -> AsyncIterator[Host]:
    async with connected([HostSpec("kvm1", write_node(tmp_path / "kvm1.xml"))]) as (host,):
        yield host
