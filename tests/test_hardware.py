"""Hardware changes and `:edit`'s define on libvirt's test:/// driver: what changes, where
(live, persistent), and bad input refused in one line with nothing changed.

The test driver cannot hot-plug devices (attach/detach/update are the lab's, on real QEMU),
so here those verbs are checked for what they refuse before libvirt is asked.
"""

from __future__ import annotations

import pytest

from kvmtui.core import hardware
from kvmtui.core.devices import GuestDevices, guest_devices
from kvmtui.core.edit import define_edited, editor_command, read_definition
from kvmtui.core.hardware import Where
from kvmtui.core.host import Host, HostError
from kvmtui.core.sizes import parse_size
from tests.nodes import OFF_UUID, WEB_UUID, node_host


async def _devices(host: Host, uuid: str) -> GuestDevices:
    return await guest_devices(host, uuid)


async def test_setvcpus_live_on_a_running_guest_and_persistent_waits_for_a_restart(tmp_path):
    async with node_host(tmp_path) as host:
        live = await hardware.set_vcpus(host, WEB_UUID, 3, Where())
        later = await hardware.set_vcpus(host, WEB_UUID, 1, Where(config=True))
        devices = await _devices(host, WEB_UUID)
    assert live == "web on kvm1: 3 vCPUs (live)"
    assert later == "web on kvm1: 1 vCPU (persistent, takes effect after a restart)"
    assert devices.live.vcpus == 3
    assert devices.persistent is not None and devices.persistent.vcpus == 1
    assert [(d.setting, d.live, d.persistent) for d in devices.differences] == [("vCPUs", "3", "1")]


async def test_more_vcpus_than_the_maximum_is_one_line_and_changes_nothing(tmp_path):
    async with node_host(tmp_path) as host:
        with pytest.raises(HostError) as refused:
            await hardware.set_vcpus(host, WEB_UUID, 5, Where())
        devices = await _devices(host, WEB_UUID)
    assert str(refused.value) == (
        "setvcpus web on kvm1: 5 vCPUs is more than its maximum of "
        "4 (raise it with --maximum --config)"
    )
    assert devices.live.vcpus == 2


async def test_the_maximum_of_a_shut_off_guest_then_its_vcpus(tmp_path):
    async with node_host(tmp_path) as host:
        await hardware.set_vcpus(host, OFF_UUID, 3, Where(config=True), maximum=True)
        done = await hardware.set_vcpus(host, OFF_UUID, 3, Where())
        devices = await _devices(host, OFF_UUID)
    assert done == "off on kvm1: 3 vCPUs (persistent)"
    assert (devices.live.vcpus, devices.live.vcpus_max) == (3, 3)


async def test_memory_under_the_maximum_and_the_maximum_itself(tmp_path):
    async with node_host(tmp_path) as host:
        balloon = await hardware.set_memory(host, WEB_UUID, 512 * 1024, Where())
        with pytest.raises(HostError, match=r"4.0 GiB is more than its maximum of 2.0 GiB"):
            await hardware.set_memory(host, WEB_UUID, 4 * 1024**2, Where())
        raised = await hardware.set_memory(host, OFF_UUID, 1024**2, Where(), maximum=True)
        web, off = await _devices(host, WEB_UUID), await _devices(host, OFF_UUID)
    assert balloon == "web on kvm1: memory 512.0 MiB (live)"
    assert raised == "off on kvm1: memory maximum 1.0 GiB (persistent)"
    assert web.live.current_memory_kib == 512 * 1024
    assert off.live.memory_kib == 1024**2


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda h: hardware.attach_disk(h, WEB_UUID, "/nope/missing.img", "vdf", Where()),
            'attach-disk web on kvm1: no storage volume "/nope/missing.img" on this host (the file '
            "does not exist, or lies outside every storage pool)",
        ),
        (
            lambda h: hardware.attach_disk(h, WEB_UUID, "images/data.raw", "vda", Where()),
            'attach-disk web on kvm1: it already has a disk "vda"',
        ),
        (
            lambda h: hardware.detach_disk(h, WEB_UUID, "vdz", Where()),
            'detach-disk web on kvm1: no disk "vdz" (it has vda, vdb, vdc, sda)',
        ),
        (
            lambda h: hardware.attach_interface(h, WEB_UUID, "network", "nonet", Where()),
            'attach-interface web on kvm1: no network "nonet" on this host',
        ),
        (
            lambda h: hardware.detach_interface(
                h, WEB_UUID, "network", Where(), mac="52:54:00:aa:bb:cc"
            ),
            "detach-interface web on kvm1: no network interface with MAC 52:54:00:aa:bb:cc",
        ),
        (
            lambda h: hardware.change_media(h, WEB_UUID, "sda", None, Where()),
            "change-media web on kvm1: there is no medium in sda",
        ),
        (
            lambda h: hardware.change_media(h, WEB_UUID, "vda", "images/data.raw", Where()),
            "change-media web on kvm1: vda is a disk, not a CD-ROM or floppy: use "
            "attach-disk/detach-disk",
        ),
        (
            lambda h: hardware.set_boot_order(h, OFF_UUID, ["vdq"]),
            'boot-order off on kvm1: no device "vdq" to boot from (it has hda, net0)',
        ),
    ],
)
async def test_bad_device_input_is_one_line_and_changes_nothing(tmp_path, call, message):
    async with node_host(tmp_path) as host:
        before = await _devices(host, WEB_UUID)
        with pytest.raises(HostError) as refused:
            await call(host)
        after = await _devices(host, WEB_UUID)
    assert str(refused.value) == message
    assert after == before


async def test_boot_order_of_a_running_guest_waits_for_its_restart(tmp_path):
    async with node_host(tmp_path) as host:
        done = await hardware.set_boot_order(host, WEB_UUID, ["net0", "vda"])
        devices = await _devices(host, WEB_UUID)
    assert done == ("web on kvm1: boots from net0, vda (persistent, takes effect after a restart)")
    assert devices.persistent is not None
    assert devices.persistent.boot_order == ("52:54:00:00:00:01", "vda")
    assert devices.live.boot_order == ("hd", "cdrom")  # as it booted


async def test_an_edited_definition_is_defined_and_a_new_name_or_uuid_refused(tmp_path):
    async with node_host(tmp_path) as host:
        original = await read_definition(host, OFF_UUID)
        edited = original.replace(
            "<memory unit='KiB'>524288</memory>", "<memory unit='KiB'>1048576</memory>"
        )
        assert edited != original
        saved = await define_edited(host, OFF_UUID, original, edited)
        with pytest.raises(ValueError, match="the name cannot change here"):
            await define_edited(
                host, OFF_UUID, original, original.replace("<name>off</name>", "<name>other</name>")
            )
        with pytest.raises(ValueError, match="the UUID cannot change"):
            await define_edited(host, OFF_UUID, original, original.replace(OFF_UUID, WEB_UUID))
        with pytest.raises(ValueError, match="not well-formed XML"):
            await define_edited(host, OFF_UUID, original, original[:-20])
        with pytest.raises(HostError, match=r"^edit off on kvm1: \S"):
            await define_edited(
                host, OFF_UUID, original, original.replace("<devices>", "<devices><bogus/>")
            )
        devices = await _devices(host, OFF_UUID)
    assert saved == "off on kvm1: definition saved"
    assert devices.live.memory_kib == 1024**2


def test_the_editor_is_visual_then_editor_then_vi(tmp_path):
    path = tmp_path / "web.xml"
    assert editor_command(path, {"VISUAL": "code -w", "EDITOR": "nano"}) == [
        "code",
        "-w",
        str(path),
    ]
    assert editor_command(path, {"EDITOR": "nano"}) == ["nano", str(path)]
    assert editor_command(path, {"VISUAL": " "}) == ["vi", str(path)]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512M", 512 * 1024**2),
        ("2G", 2 * 1024**3),
        ("1.5GiB", 3 * 1024**3 // 2),
        ("10GB", 10 * 1000**3),
        ("4096", 4096),
    ],
)
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["10QB", "", "G", "-1G", "1e3"])
def test_sizes_refused(text):
    with pytest.raises(ValueError):
        parse_size(text)
