"""Hardware changes and `:edit` on real QEMU, driven through the app as an operator would,
and checked where it counts: inside the guest (over its serial console) or in libvirt.

The guests here are throwaways made for each test (the lab's own guests keep their
definitions): a Linux guest on hosta booted from the lab's kernel and initramfs, which
load virtio, so a hot-plugged disk shows up; and a shut-off guest on hostb, edited over
kvmtui's own SSH link.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.model import HostSpec
from tests.ui.helpers import answer_to, wait_for

from .labinfo import READY_LINE, LabInfo

pytestmark = pytest.mark.timeout(300)


def _app(lab: LabInfo) -> KvmTuiApp:
    hosts = (
        HostSpec("hosta", lab.host("hosta").uri_tcp),
        HostSpec(
            "hostb", f"ssh://root@10.213.0.2?keyfile={lab.ssh_key}&known_hosts={lab.known_hosts}"
        ),
    )
    return KvmTuiApp(Settings(hosts=hosts, readonly=False, refresh=1.0, theme=None, demo=False))


@pytest.fixture
def linux_guest(lab: LabInfo, tmp_path: Path) -> Iterator[str]:
    """hwtest-a1 running on hosta and ready for commands: one vCPU of at most two, no disk,
    an empty IDE CD-ROM (hdc); gone afterwards."""
    name = "hwtest-a1"
    log = tmp_path / "serial.log"
    xml = f"""<domain type='qemu'>
      <name>{name}</name><memory unit='MiB'>128</memory>
      <vcpu placement='static' current='1'>2</vcpu>
      <os><type arch='x86_64'>hvm</type>
        <kernel>{lab.raw["kernel"]}</kernel><initrd>{lab.raw["initrd"]}</initrd>
        <cmdline>console=ttyS0 panic=-1 kvmtui.name={name}</cmdline></os>
      <features><acpi/><apic/></features>
      <cpu mode='custom' match='exact'><model fallback='forbid'>qemu64</model></cpu>
      <devices>
        <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>
        <serial type='pty'><log file='{log}'/></serial><console type='pty'/>
      </devices>
    </domain>"""
    _define(lab, "hosta", xml, start=True)
    try:
        _wait_for_ready(log)
        yield name
    finally:
        _remove(lab, "hosta", name)


def _define(lab: LabInfo, host: str, xml: str, *, start: bool) -> None:
    """Defines (and starts) a throwaway guest on a connection of its own, closed at once:
    a connection left idle without an event loop is dropped by libvirtd's keepalive."""
    conn = libvirt.open(lab.host(host).uri_tcp)
    try:
        dom = conn.defineXML(xml)
        if start:
            dom.create()
    finally:
        conn.close()


def _remove(lab: LabInfo, host: str, name: str) -> None:
    conn = libvirt.open(lab.host(host).uri_tcp)
    try:
        dom = conn.lookupByName(name)
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    finally:
        conn.close()


def _wait_for_ready(log: Path, timeout: float = 120) -> None:
    """Until the guest's /init printed its ready line: keys typed earlier are lost."""
    deadline = time.monotonic() + timeout
    while READY_LINE not in (log.read_text(errors="replace") if log.exists() else ""):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no ready line from the guest in {timeout:.0f} s")
        time.sleep(0.2)


@pytest.fixture
def spare_volume(lab: LabInfo) -> Iterator[Path]:
    """A 64 MiB qcow2 image made behind libvirt's back in the lab's shared pool: attaching
    it must find it anyway (kvmtui refreshes the pools once)."""
    path = Path(lab.raw["pool"]["path"]) / "hwtest-spare.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
        lab.virsh("hosta", "pool-refresh", lab.raw["pool"]["name"])


def _shell(lab: LabInfo, guest: str, command: str) -> str:
    return lab.guest_shell(guest, command, timeout=60)


async def _listed(pilot, name: str, host: str) -> None:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: any(g.name == name and g.host == host for g in app.fleet.snapshot().guests),
        timeout=60,
        what=f"{name} on {host} in the list",
    )


async def test_live_vcpu_and_disk_hotplug_seen_inside_the_guest(lab, linux_guest, spare_volume):
    assert _shell(lab, linux_guest, "cat /sys/devices/system/cpu/present").strip() == "0"
    assert "vda" not in _shell(lab, linux_guest, "cat /proc/partitions")
    uuid = lab.virsh("hosta", "domuuid", linux_guest).stdout.strip()
    app = _app(lab)
    async with app.run_test(size=(120, 32)) as pilot:
        await _listed(pilot, linux_guest, "hosta")
        assert await answer_to(pilot, f"setvcpus {linux_guest} 3 --live", timeout=60) == (
            f"setvcpus {linux_guest} on hosta: 3 vCPUs is more than its maximum of 2 "
            "(raise it with --maximum --config)"
        )
        assert await answer_to(pilot, f"setvcpus {linux_guest} 2 --live", timeout=60) == (
            f"{linux_guest} on hosta: 2 vCPUs (live)"
        )
        attach = f"attach-disk {linux_guest} {spare_volume} vdb"
        assert await answer_to(pilot, attach, timeout=60) == (
            f"{linux_guest} on hosta: disk vdb attached ({spare_volume}) (live)"
        )
        await wait_for(
            pilot,
            lambda: app.fleet.host("hosta").guest(uuid).vcpus == 2,
            timeout=30,
            what="the table's vCPU count",
        )
    # Inside the guest: the second CPU is present, and the disk is its first virtio disk.
    assert _shell(lab, linux_guest, "cat /sys/devices/system/cpu/present").strip() == "0-1"
    partitions = _shell(lab, linux_guest, "cat /proc/partitions")
    assert any(
        line.split()[-1:] == ["vda"] and line.split()[2] == "65536"
        for line in partitions.splitlines()
        if line.strip()
    ), partitions


def _until(what: str, check, timeout: float = 60) -> None:
    """Polls `check()` (a guest shell round trip, a virsh call) until it holds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1)


async def test_nic_media_and_detach_on_real_qemu(lab, linux_guest, spare_volume):
    mac = "52:54:00:77:00:01"
    app = _app(lab)
    async with app.run_test(size=(120, 32)) as pilot:
        await _listed(pilot, linux_guest, "hosta")
        line = f"attach-interface {linux_guest} network kvmtui-nat --model virtio --mac {mac}"
        assert await answer_to(pilot, line, timeout=60) == (
            f"{linux_guest} on hosta: NIC on network kvmtui-nat attached (live)"
        )
        _until("eth0 in the guest", lambda: "eth0" in _shell(lab, linux_guest, "ls /sys/class/net"))
        line = f"change-media {linux_guest} hdc {spare_volume}"
        assert await answer_to(pilot, line, timeout=60) == (
            f"{linux_guest} on hosta: {spare_volume} inserted in hdc (live)"
        )
        assert str(spare_volume) in lab.virsh("hosta", "domblklist", linux_guest).stdout
        assert await answer_to(pilot, f"change-media {linux_guest} hdc --eject", timeout=60) == (
            f"{linux_guest} on hosta: medium ejected from hdc (live)"
        )
        assert str(spare_volume) not in lab.virsh("hosta", "domblklist", linux_guest).stdout
        attach = f"attach-disk {linux_guest} {spare_volume} vdb"
        assert await answer_to(pilot, attach, timeout=60) == (
            f"{linux_guest} on hosta: disk vdb attached ({spare_volume}) (live)"
        )
        _until(
            "the disk in the guest",
            lambda: "vda" in _shell(lab, linux_guest, "cat /proc/partitions"),
        )
        assert await answer_to(pilot, f"detach-disk {linux_guest} vdb", timeout=60) == (
            f"{linux_guest} on hosta: disk vdb detached (live)"
        )
        assert await answer_to(
            pilot, f"detach-interface {linux_guest} network --mac {mac}", timeout=60
        ) == (f"{linux_guest} on hosta: network interface {mac} detached (live)")
    # The guest lets go of both (PCI hot-unplug takes its ACPI handshake).
    _until(
        "the disk gone from the guest",
        lambda: "vda" not in _shell(lab, linux_guest, "cat /proc/partitions"),
    )
    _until(
        "eth0 gone from the guest",
        lambda: "eth0" not in _shell(lab, linux_guest, "ls /sys/class/net"),
    )


@pytest.fixture
def shut_off_guest(lab: LabInfo) -> Iterator[str]:
    """hwtest-b1 defined, shut off, on hostb (64 MiB, no OS); gone afterwards."""
    name = "hwtest-b1"
    xml = f"""<domain type='{lab.domain_type_os_less}'>
      <name>{name}</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
      <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
      <devices><serial type='pty'/></devices>
    </domain>"""
    _define(lab, "hostb", xml, start=False)
    try:
        yield name
    finally:
        _remove(lab, "hostb", name)


async def test_edit_changes_the_memory_of_a_shut_off_guest_over_ssh(
    lab, shut_off_guest, tmp_path, monkeypatch
):
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys\nfrom pathlib import Path\np = Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('>65536</memory>', '>131072</memory>'"
        ", 1))\n"
    )
    monkeypatch.setenv("VISUAL", f"{sys.executable} {editor}")
    app = _app(lab)
    async with app.run_test(size=(120, 32)) as pilot:
        await _listed(pilot, shut_off_guest, "hostb")
        assert await answer_to(pilot, f"edit {shut_off_guest}", timeout=60) == (
            f"{shut_off_guest} on hostb: definition saved"
        )
    info = lab.virsh("hostb", "dominfo", shut_off_guest).stdout
    assert "Max memory:     131072 KiB" in info, info
