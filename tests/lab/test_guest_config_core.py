"""The guest-configuration core on real QEMU: what the test:/// driver cannot show.

A throwaway guest with a qcow2 disk (OS-less, so it runs in a second) lives on hosta for the
test only; the lab's own guests are not touched. libvirt 9.0 (Debian 12) takes internal and
external snapshots but refuses to revert to or delete an external one: the operator must read
libvirt's reason, and no image file may go.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from kvmtui.config import Settings
from kvmtui.core import snapshots
from kvmtui.core.addresses import AddressSource, guest_addresses
from kvmtui.core.devices import guest_devices
from kvmtui.core.host import HostError
from kvmtui.core.model import HostSpec
from kvmtui.oneshot import run_command
from tests.nodes import connected

pytestmark = pytest.mark.timeout(180)

NAME = "cfgtest-a9"


@pytest.fixture
def throwaway(lab, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """NAME running on hosta with one qcow2 disk in tmp_path; gone afterwards."""
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    xml = f"""<domain type='{lab.domain_type_os_less}'>
      <name>{NAME}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
      <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
      <devices>
        <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
          <source file='{disk}'/><target dev='vda' bus='virtio'/></disk>
        <serial type='pty'/>
      </devices>
    </domain>"""
    conn = libvirt.open(lab.host("hosta").uri_tcp)
    dom = conn.defineXML(xml)
    try:
        dom.create()
        yield dom.UUIDString(), tmp_path
    finally:
        if dom.isActive():
            dom.destroy()
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
        conn.close()


async def test_snapshots_of_a_running_qemu_guest(lab, throwaway):
    uuid, directory = throwaway
    images = {"disk.qcow2"}
    async with connected([HostSpec("hosta", lab.host("hosta").uri_tcp)]) as (host,):
        before = await snapshots.create_snapshot(host, uuid, "before", description="internal")
        assert (before.state, before.memory, before.external) == ("running", True, False)

        ext = await snapshots.create_snapshot(host, uuid, "ext", disk_only=True, atomic=True)
        assert snapshots.created_sentence(ext) == (
            f"{NAME} on hosta: snapshot ext created (external, disk only)"
        )
        images.add("disk.ext")  # libvirt's overlay next to the image
        assert {p.name for p in directory.iterdir()} == images

        listed = await snapshots.list_snapshots(host, uuid)
        assert [(s.name, s.current, s.parent) for s in listed] == [
            ("before", False, None),
            ("ext", True, "before"),
        ]

        with pytest.raises(HostError) as refused:
            await snapshots.revert_snapshot(host, uuid, "ext")
        assert str(refused.value) == (
            f"snapshot-revert {NAME} on hosta: unsupported configuration:"
            " revert to external snapshot not supported yet"
        )

        said = await snapshots.revert_snapshot(host, uuid, "before")
        assert said == f"{NAME} on hosta: reverted to snapshot before"

        with pytest.raises(HostError, match=rf"^snapshot-delete {NAME} on hosta: "):
            await snapshots.delete_snapshot(host, uuid, "ext")
        assert {p.name for p in directory.iterdir()} == images  # nothing deleted
        assert [s.name for s in await snapshots.list_snapshots(host, uuid)] == ["before", "ext"]

        await snapshots.delete_snapshot(host, uuid, "before")  # internal: libvirt can
        assert [s.name for s in await snapshots.list_snapshots(host, uuid)] == ["ext"]


async def test_the_verbs_leave_an_external_snapshot_to_libvirt(lab, throwaway):
    """`kvmtui snapshot-*` from the shell, as a script would run them (`--yes`): the
    external snapshot is taken; reverting to it is libvirt's refusal, word for word, with
    exit status 1 and every image file still there; deleting it (libvirt 9.0 merges a lone
    external snapshot back into its image) is libvirt's own work, not kvmtui's guess."""
    _uuid, directory = throwaway
    hosta = HostSpec("hosta", lab.host("hosta").uri_tcp)

    async def kvmtui(*words: str, as_json: bool = False) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        settings = Settings(
            (hosta,), False, 60.0, None, False, command=words, yes=True, json=as_json
        )
        return (
            await run_command(settings, stdin=io.StringIO(), stdout=out, stderr=err),
            out.getvalue(),
            err.getvalue(),
        )

    status, out, err = await kvmtui("snapshot-create-as", NAME, "ext", "--disk-only", "--atomic")
    assert (status, err) == (0, "")
    assert out == f"{NAME} on hosta: snapshot ext created (external, disk only)\n"
    files = {p.name for p in directory.iterdir()}
    assert files == {"disk.qcow2", "disk.ext"}

    status, out, err = await kvmtui("snapshot-revert", NAME, "ext")
    assert (status, out) == (1, "")
    assert err == (
        f"kvmtui: snapshot-revert {NAME} on hosta: unsupported configuration:"
        " revert to external snapshot not supported yet\n"
    )
    status, out, _ = await kvmtui("snapshot-list", NAME, as_json=True)
    assert [s["name"] for s in json.loads(out)] == ["ext"]
    assert {p.name for p in directory.iterdir()} == files  # nothing deleted

    status, out, err = await kvmtui("snapshot-delete", NAME, "ext")
    assert (status, err) == (0, "")
    assert out == f"{NAME} on hosta: snapshot ext deleted\n"
    status, out, _ = await kvmtui("snapshot-list", NAME, as_json=True)
    assert json.loads(out) == []
    assert "disk.qcow2" in {p.name for p in directory.iterdir()}


async def test_addresses_and_devices_of_a_qemu_guest(lab, throwaway):
    uuid, directory = throwaway
    async with connected([HostSpec("hosta", lab.host("hosta").uri_tcp)]) as (host,):
        found = await guest_addresses(host, uuid)
        devices = await guest_devices(host, uuid)
    status = {s.source: s for s in found.sources}
    # No agent channel: unavailable with QEMU's words, and no error for the guest.
    assert not status[AddressSource.AGENT].available
    assert "agent is not configured" in status[AddressSource.AGENT].reason
    assert status[AddressSource.LEASE].available and found.interfaces == ()
    (disk,) = devices.live.disks
    assert (disk.target, disk.source, disk.format) == (
        "vda",
        str(directory / "disk.qcow2"),
        "qcow2",
    )
    assert devices.active and devices.differences == ()
