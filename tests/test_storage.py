"""Pools and volumes on libvirt's real test:/// driver: what `:pools`/`:vols` read, the
changes the verbs make, and sizes as users type them."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvmtui.core.commands import CommandError
from kvmtui.core.errors import HostError
from kvmtui.core.fleet import Fleet
from kvmtui.core.model import HostSpec
from kvmtui.core.sizes import parse_size
from kvmtui.core.storage.lookup import (
    find_pool,
    find_volume,
    volume_users,
)
from kvmtui.core.storage.pools import PoolSource, define_pool, pool_action, pool_xml
from kvmtui.core.storage.service import StorageService
from kvmtui.core.storage.upload import upload_volume
from kvmtui.core.storage.volumes import clone_volume, create_volume, delete_volume
from tests.nodes import NODE_XML, until


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("10G", 10 * 1024**3),
        ("512M", 512 * 1024**2),
        ("4096", 4096),
        ("1.5KiB", 1536),
        ("2GB", 2 * 1000**3),
        ("1t", 1024**4),
        ("7 b", 7),
    ],
)
def test_sizes_read_as_virsh_reads_them(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("10QB", "unknown size unit 'QB'"),
        ("-1G", "is not a size"),
        ("ten", "is not a size"),
        ("", "is not a size"),
        ("1.5", "whole number"),
        ("9E", "too large"),
        ("10G; rm -rf /", "is not a size"),
    ],
)
def test_bad_sizes_are_refused_in_one_line(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as raised:
        parse_size(text)
    assert "\n" not in str(raised.value)


@pytest.fixture
async def fleet(tmp_path: Path):
    specs = []
    for name in ("kvm1", "kvm2"):
        path = tmp_path / f"{name}.xml"
        path.write_text(NODE_XML)
        specs.append(HostSpec(name, f"test://{path}"))
    fleet = Fleet(specs, refresh=60.0)
    await fleet.start()
    for host in fleet.hosts:
        await until(lambda h=host: h.connected and h.guests(), f"{host.name} to connect")
    yield fleet
    await fleet.close()


async def test_pools_and_volumes_say_who_uses_each_volume(fleet: Fleet) -> None:
    service = StorageService(fleet)
    await service.refresh()
    pools = {p.key: p for p in service.pools()}
    images = pools["images@kvm1"]
    assert (images.type, images.state, images.target) == ("dir", "running", "/var/lib/images")
    assert images.capacity == 100 * 1024**3 and images.volumes == 2
    volumes = {v.key: v for v in service.volumes()}
    web = volumes["images/web.qcow2@kvm1"]
    assert (web.format, web.capacity, web.used_by) == ("qcow2", 20 * 1024**3, ("web",))
    # a `<source pool= volume=>` disk counts as much as a path
    assert volumes["images/data.raw@kvm2"].used_by == ("web",)
    assert not web.unused


async def test_a_volume_created_cloned_and_deleted(fleet: Fleet) -> None:
    host = fleet.host("kvm1")
    path = await create_volume(host, "images", "new.qcow2", parse_size("1G"))
    assert path == "/var/lib/images/new.qcow2"
    overlay = await create_volume(
        host, "images", "over.qcow2", parse_size("20G"), backing="web.qcow2"
    )
    copy = await clone_volume(host, path, "copy.qcow2")
    service = StorageService(fleet)
    await service.refresh(["kvm1"])
    volumes = {v.name: v for v in service.volumes() if v.host == "kvm1"}
    assert volumes["new.qcow2"].unused and volumes["copy.qcow2"].capacity == 1024**3
    assert volumes["web.qcow2"].backs == ("over.qcow2",)
    for each in (path, overlay, copy):
        await delete_volume(host, each)
    await service.refresh(["kvm1"])
    assert {v.name for v in service.volumes() if v.host == "kvm1"} == {"web.qcow2", "data.raw"}


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("images", "web.qcow2", 1024), {}, "already exists"),
        (("images", "x", 1024), {"fmt": "vmdk"}, "unknown format"),
        (("images", "x", 1024), {"fmt": "raw", "backing": "web.qcow2"}, "needs --format qcow2"),
        (("images", "a/../../etc", 1024), {}, "is not a volume name"),
        (("nopool", "x", 1024), {}, "nopool"),
    ],
)
async def test_bad_volumes_create_nothing(fleet: Fleet, args, kwargs, message: str) -> None:
    host = fleet.host("kvm1")
    with pytest.raises((CommandError, HostError), match=message):
        await create_volume(host, *args, **kwargs)
    service = StorageService(fleet)
    await service.refresh(["kvm1"])
    assert {v.name for v in service.volumes() if v.host == "kvm1"} == {"web.qcow2", "data.raw"}


async def test_names_resolve_across_hosts_or_say_what_to_add(fleet: Fleet) -> None:
    with pytest.raises(CommandError, match=r"on several hosts \(kvm1, kvm2\): say images@kvm1"):
        await find_pool(fleet, "images", None, "pool-start")
    host, name = await find_pool(fleet, "images@kvm2", None, "pool-start")
    assert (host.name, name) == ("kvm2", "images")
    with pytest.raises(CommandError, match=r'no pool "imagez" .*did you mean "images"'):
        await find_pool(fleet, "imagez", None, "pool-start")
    assert (await find_pool(fleet, "images", "kvm2", "pool-start"))[0].name == "kvm2"
    with pytest.raises(CommandError, match=r"several hosts .* say web.qcow2@kvm1"):
        await find_volume(fleet, "web.qcow2", None, None, "vol-delete")
    found = await find_volume(fleet, "web.qcow2@kvm2", None, None, "vol-delete")
    assert (found.host, found.pool) == ("kvm2", "images")
    found = await find_volume(fleet, "/var/lib/images/web.qcow2", None, "kvm2", "vol-delete")
    assert (found.host, found.pool, found.name) == ("kvm2", "images", "web.qcow2")
    with pytest.raises(CommandError, match="no volume"):
        await find_volume(fleet, "nothing", "images", "kvm1", "vol-delete")


async def test_a_volume_in_use_names_guests_of_other_hosts_with_the_same_path(fleet: Fleet) -> None:
    """Shared storage shows one file to every host: kvm2's web uses kvm1's web.qcow2 too,
    as far as kvmtui can know; data.raw is used through `<source pool= volume=>`."""
    web = await find_volume(fleet, "web.qcow2", "images", "kvm1", "vol-delete")
    assert await volume_users(fleet, web) == ["web", "web@kvm2"]
    data = await find_volume(fleet, "data.raw", "images", "kvm2", "vol-delete")
    assert await volume_users(fleet, data) == ["web"]


async def test_a_pool_defined_started_stopped_and_undefined(fleet: Fleet) -> None:
    host = fleet.host("kvm1")
    said = await define_pool(host, "scratch", "dir", PoolSource(target="/srv/scratch"))
    assert said == "pool scratch (dir, /srv/scratch) defined on kvm1"
    service = StorageService(fleet)
    await service.refresh(["kvm1"])
    assert next(p for p in service.pools() if p.name == "scratch").state == "inactive"
    for action in ("pool-start", "pool-autostart", "pool-refresh", "pool-destroy"):
        await pool_action(host, "scratch", action)
    await service.refresh(["kvm1"])
    scratch = next(p for p in service.pools() if p.name == "scratch")
    assert scratch.autostart and scratch.state == "inactive"
    await pool_action(host, "scratch", "pool-undefine")
    await service.refresh(["kvm1"])
    assert "scratch" not in {p.name for p in service.pools()}


@pytest.mark.parametrize(
    ("kind", "source", "message"),
    [
        ("zfs", PoolSource(target="/x"), "unsupported pool type"),
        ("dir", PoolSource(), "needs --target"),
        ("netfs", PoolSource(target="/mnt"), "needs --source-host, --source-path"),
        ("logical", PoolSource(), "needs --source-dev"),
        ("dir", PoolSource(target="relative"), "absolute path"),
    ],
)
def test_pool_definitions_need_their_sources(kind: str, source: PoolSource, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        pool_xml("p", kind, source)


@pytest.mark.parametrize("name", ["", "a/b", "x\nrm -rf", "tab\there"])
def test_pool_names_with_slashes_or_control_characters_are_refused(name: str) -> None:
    with pytest.raises(CommandError, match="is not a pool name"):
        pool_xml(name, "dir", PoolSource(target="/srv/p"))


def test_hostile_pool_names_stay_text() -> None:
    xml = pool_xml("<name><evil>", "netfs", PoolSource("/mnt/x", "nfs'\"", "/e&x"))
    assert "<evil>" not in xml and "&lt;name&gt;&lt;evil&gt;" in xml and "&amp;x" in xml


async def test_an_upload_the_driver_refuses_leaves_no_volume(fleet: Fleet, tmp_path: Path) -> None:
    """test:/// cannot receive a stream: the volume made for it is deleted again."""
    local = tmp_path / "disk.img"
    local.write_bytes(b"x" * 4096)
    host = fleet.host("kvm1")
    with pytest.raises(HostError, match="not supported"):
        await upload_volume(host, "images", "up.img", local)
    with pytest.raises(CommandError, match="cannot read"):
        await upload_volume(host, "images", "up.img", tmp_path / "missing.img")
    service = StorageService(fleet)
    await service.refresh(["kvm1"])
    assert "up.img" not in {v.name for v in service.volumes()}
