"""Devices of a guest and what takes effect after a restart, on libvirt's test:/// driver."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import libvirt
import pytest

from kvmtui.core.devices import (
    Difference,
    guest_devices,
    parse_definition,
)
from kvmtui.core.host import HostError
from tests.nodes import OFF_UUID, WEB_UUID, node_host

GIB = 1024**3


async def test_disks_show_source_bus_and_size_when_a_volume_knows_it(tmp_path):
    async with node_host(tmp_path) as host:
        devices = await guest_devices(host, WEB_UUID)
    rows = [
        (d.target, d.bus, d.device, d.kind, d.source, d.readonly, d.capacity, d.allocation)
        for d in devices.live.disks
    ]
    assert rows == [
        ("vda", "virtio", "disk", "file", "/var/lib/images/web.qcow2", False, 20 * GIB, 3 * GIB),
        ("vdb", "virtio", "disk", "volume", "images/data.raw", True, 50 * GIB, 50 * GIB),
        # Outside every pool: libvirt cannot say its size, so none is shown.
        ("vdc", "virtio", "disk", "file", "/srv/elsewhere/scratch.img", False, None, None),
        ("sda", "sata", "cdrom", "file", "", True, None, None),
    ]
    assert devices.live.disks[0].format == "qcow2"
    assert devices.live.disks[3].describe() == "empty (sata cdrom, read-only)"


async def test_nics_memory_vcpus_and_boot_order_of_a_running_guest(tmp_path):
    async with node_host(tmp_path) as host:
        devices = await guest_devices(host, WEB_UUID)
    live = devices.live
    assert [(n.mac, n.kind, n.source, n.model) for n in live.nics] == [
        ("52:54:00:00:00:01", "network", "default", "virtio"),
        ("52:54:00:00:00:02", "bridge", "br0", "e1000"),
    ]
    assert all(n.target for n in live.nics)  # running: each has its host-side device
    assert (live.memory_kib, live.current_memory_kib) == (2 * 1024**2, 1024**2)
    assert (live.vcpus, live.vcpus_max) == (2, 4)
    assert live.boot_order == ("hd", "cdrom")
    assert devices.active and devices.persistent is not None
    assert devices.differences == ()  # nothing waits for a restart


async def test_per_device_boot_order_wins_over_the_os_list(tmp_path):
    async with node_host(tmp_path) as host:
        devices = await guest_devices(host, OFF_UUID)
    assert devices.live.boot_order == ("52:54:00:00:00:03", "hda")
    # Shut off: there is only the definition it will start with, so nothing differs.
    assert not devices.active and devices.persistent is None and devices.differences == ()


def _edited(xml: str) -> str:
    """`virsh edit` of the running guest: drop vdc, add a NIC, change a NIC's model."""
    root = ET.fromstring(xml)
    devices = root.find("devices")
    assert devices is not None
    for disk in devices.findall("disk"):
        target = disk.find("target")
        if target is not None and target.get("dev") == "vdc":
            devices.remove(disk)
    for model in devices.iter("model"):
        if model.get("type") == "e1000":
            model.set("type", "virtio")
    devices.append(
        ET.fromstring(
            "<interface type='network'><mac address='52:54:00:00:00:10'/>"
            "<source network='default'/><model type='virtio'/></interface>"
        )
    )
    return ET.tostring(root, encoding="unicode")


async def test_changes_for_the_next_start_are_listed_setting_by_setting(tmp_path):
    config = libvirt.VIR_DOMAIN_AFFECT_CONFIG

    def change(conn: libvirt.virConnect) -> None:
        dom = conn.lookupByUUIDString(WEB_UUID)
        conn.defineXML(_edited(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)))
        dom.setMemoryFlags(2 * 1024**2, config)  # setmem 2G --config
        dom.setVcpusFlags(3, config)  # setvcpus 3 --config

    async with node_host(tmp_path) as host:
        await host.run(change)
        devices = await guest_devices(host, WEB_UUID)
    assert devices.differences == (
        Difference("memory", "1.0 GiB", "2.0 GiB"),
        Difference("vCPUs", "2", "3"),
        Difference("disk vdc", "/srv/elsewhere/scratch.img (virtio disk)", ""),
        Difference("NIC 52:54:00:00:00:02", "bridge br0 (e1000)", "bridge br0 (virtio)"),
        Difference("NIC 52:54:00:00:00:10", "", "network default (virtio)"),
    )
    # The live definition is what runs now, untouched.
    assert [d.target for d in devices.live.disks] == ["vda", "vdb", "vdc", "sda"]


async def test_an_unknown_guest_is_one_line_naming_the_host(tmp_path):
    async with node_host(tmp_path) as host:
        with pytest.raises(HostError, match=r"^devices .* on kvm1: .*[Dd]omain not found"):
            await guest_devices(host, "99999999-0000-0000-0000-000000000000")


def test_memory_in_any_unit_is_read_in_kib_and_shown_exactly():
    definition = parse_definition(
        "<domain><memory unit='GiB'>4</memory><currentMemory unit='MiB'>1536</currentMemory>"
        "<vcpu>2</vcpu></domain>"
    )
    assert (definition.memory_kib, definition.current_memory_kib) == (4 * 1024**2, 1536 * 1024)
    assert (definition.vcpus, definition.vcpus_max, definition.disks) == (2, 2, ())


def test_network_disks_and_direct_nics_read_their_sources():
    definition = parse_definition(
        "<domain><memory>1024</memory><devices>"
        "<disk type='network' device='disk'><source protocol='rbd' name='pool/img'/>"
        "<target dev='vda' bus='virtio'/></disk>"
        "<interface type='direct'><mac address='52:54:00:AA:00:01'/>"
        "<source dev='eth0' mode='bridge'/></interface>"
        "</devices></domain>"
    )
    assert definition.disks[0].source == "rbd:pool/img"
    nic = definition.nics[0]
    assert (nic.mac, nic.source, nic.describe()) == (
        "52:54:00:aa:00:01",
        "eth0",
        "direct eth0 (default model)",
    )
