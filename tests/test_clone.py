"""Clones and the small guest edits on libvirt's test:/// driver: what the operator gets (a
guest with its own name, UUID, MACs and disks), and that a failure leaves nothing behind."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from types import SimpleNamespace

import libvirt
import pytest

from kvmtui.core import clone, guest_config
from kvmtui.core.host import Host, HostError
from kvmtui.core.keycodes import keycodes
from kvmtui.verbs import guest_config as verbs
from tests.clone_node import TMPL_UUID, clone_host
from tests.nodes import OFF_UUID, WEB_UUID


async def _volumes(host: Host) -> set[str]:
    return set(await host.run(lambda c: c.storagePoolLookupByName("images").listVolumes()))


async def _guests(host: Host) -> set[str]:
    return {d.name() for d in await host.run(lambda c: c.listAllDomains(0))}


async def _xml(host: Host, name: str) -> ET.Element:
    return ET.fromstring(
        await host.run(lambda c: c.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    )


def _sources(root: ET.Element) -> dict[str, dict[str, str]]:
    return {
        d.find("target").get("dev"): dict(d.find("source").attrib)
        for d in root.iterfind("devices/disk")
        if d.find("source") is not None
    }


async def test_a_full_clone_gets_its_own_name_uuid_macs_and_disks(tmp_path):
    async with clone_host(tmp_path) as host:
        before = await _volumes(host)
        done = await clone.clone_guest(host, TMPL_UUID, "copy")
        assert done == (
            "tmpl on kvm1 cloned to copy (full copy: vda -> copy-vda.qcow2, vdb -> copy-vdb.raw)"
        )
        assert await _volumes(host) - before == {"copy-vda.qcow2", "copy-vdb.raw"}
        root = await _xml(host, "copy")
        assert root.findtext("uuid") != TMPL_UUID
        macs = [m.get("address") for m in root.iterfind("devices/interface/mac")]
        assert len(macs) == 1 and macs[0] != "52:54:00:00:00:aa"
        assert _sources(root) == {
            "vda": {"file": "/var/lib/images/copy-vda.qcow2"},
            "vdb": {"pool": "images", "volume": "copy-vdb.raw"},
            "vdc": {"pool": "images", "volume": "data.raw"},  # read-only: shared
        }
        assert root.find("devices/serial/log").get("file") == "/var/log/guests/copy.log"
        # The source is as it was.
        assert _sources(await _xml(host, "tmpl"))["vda"] == {"file": "/var/lib/images/tmpl.qcow2"}


async def test_a_linked_clone_stands_on_the_source_volumes(tmp_path):
    async with clone_host(tmp_path) as host:
        await clone.clone_guest(host, TMPL_UUID, "thin", linked=True)
        root = await _xml(host, "thin")
        vda = next(d for d in root.iterfind("devices/disk") if d.find("target").get("dev") == "vda")
        assert vda.find("source").get("file") == "/var/lib/images/thin-vda.qcow2"
        assert vda.find("driver").get("type") == "qcow2"
        volume = ET.fromstring(
            await host.run(
                lambda c: c.storageVolLookupByPath("/var/lib/images/thin-vdb.qcow2").XMLDesc(0)
            )
        )
        assert volume.findtext("backingStore/path") == "/var/lib/images/tmpl-data.raw"
        assert volume.find("backingStore/format").get("type") == "raw"


async def test_an_existing_name_is_refused_before_anything_is_made(tmp_path):
    async with clone_host(tmp_path) as host:
        before = await _volumes(host), await _guests(host)
        with pytest.raises(HostError, match='clone tmpl on kvm1: a guest named "off" already'):
            await clone.clone_guest(host, TMPL_UUID, "off")
        assert (await _volumes(host), await _guests(host)) == before


async def test_a_failed_copy_removes_the_volumes_already_made(tmp_path):
    """The second disk's volume name is taken: the first copy is made, then undone."""
    async with clone_host(tmp_path) as host:
        await host.run(
            lambda c: c.storagePoolLookupByName("images").createXML(
                "<volume><name>copy-vdb.raw</name><capacity>1024</capacity></volume>", 0
            )
        )
        before = await _volumes(host), await _guests(host)
        with pytest.raises(HostError, match=r"copying vdb to copy-vdb\.raw: .*already exists"):
            await clone.clone_guest(host, TMPL_UUID, "copy")
        assert (await _volumes(host), await _guests(host)) == before
        assert "copy-vdb.raw" in before[0]  # the volume that was there stays


async def test_a_running_source_is_refused_for_a_full_copy_unless_paused(tmp_path):
    async with clone_host(tmp_path) as host:
        await host.run_on_guest(TMPL_UUID, lambda d: d.create())
        with pytest.raises(HostError, match="it is running and its disks would change"):
            await clone.clone_guest(host, TMPL_UUID, "copy")
        with pytest.raises(HostError, match="linked clone's backing files must never change"):
            await clone.clone_guest(host, TMPL_UUID, "copy", linked=True)
        await host.run_on_guest(TMPL_UUID, lambda d: d.suspend())
        assert "cloned to copy" in await clone.clone_guest(host, TMPL_UUID, "copy")


async def test_disks_outside_every_pool_and_bad_names_are_refused(tmp_path):
    async with clone_host(tmp_path) as host:
        before = await _volumes(host), await _guests(host)
        await host.run_on_guest(WEB_UUID, lambda d: d.suspend())
        with pytest.raises(
            HostError,
            match=r"disk vdc \(/srv/elsewhere/scratch.img\) is in no "
            "storage pool; kvmtui copies disks only through",
        ):
            await clone.clone_guest(host, WEB_UUID, "web2")
        for bad, why in (
            ("a/b", "may not contain '/'"),
            ("", "may not be empty"),
            ("x\x1b[2J", "control character"),
        ):
            with pytest.raises(HostError, match=why):
                await clone.clone_guest(host, TMPL_UUID, bad)
        assert (await _volumes(host), await _guests(host)) == before


async def test_a_hostile_name_is_taken_as_text(tmp_path):
    async with clone_host(tmp_path) as host:
        await clone.clone_guest(host, TMPL_UUID, "[bold]x'<&>")
        assert "[bold]x'<&>" in await _guests(host)
        assert "[bold]x'<&>-vda.qcow2" in await _volumes(host)


async def test_undefine_deletes_exactly_the_listed_volumes(tmp_path):
    async with clone_host(tmp_path) as host:
        disks = await guest_config.guest_disks(host, TMPL_UUID)
        chosen = guest_config.storage_to_remove(disks, None, "undefine tmpl")
        assert [(d.target, d.volume) for d in chosen] == [
            ("vda", "/var/lib/images/tmpl.qcow2"),
            ("vdb", "/var/lib/images/tmpl-data.raw"),
        ]
        done = await guest_config.undefine(host, TMPL_UUID, chosen)
        assert done == (
            "tmpl on kvm1: undefined, deleted vda /var/lib/images/tmpl.qcow2, "
            "vdb /var/lib/images/tmpl-data.raw"
        )
        assert "tmpl" not in await _guests(host)
        assert await _volumes(host) == {"web.qcow2", "data.raw"}  # the shared one stays


async def test_storage_that_libvirt_cannot_delete_is_refused_up_front(tmp_path):
    async with clone_host(tmp_path) as host:
        disks = await guest_config.guest_disks(host, WEB_UUID)
        with pytest.raises(
            HostError,
            match=r"disk vdc \(/srv/elsewhere/scratch.img\) is in no "
            "storage pool; kvmtui deletes storage only",
        ):
            guest_config.storage_to_remove(disks, None, "undefine web")
        with pytest.raises(HostError, match='no disk "vdz" \\(its disks: vda, vdb, vdc, sda\\)'):
            guest_config.storage_to_remove(disks, ["vdz"], "undefine web")
        picked = guest_config.storage_to_remove(disks, ["/var/lib/images/web.qcow2"], "x")
        assert [d.target for d in picked] == ["vda"]
        with pytest.raises(HostError, match="it is running and its disks are in use"):
            await guest_config.undefine(host, WEB_UUID, picked)
        assert "web" in await _guests(host) and "web.qcow2" in await _volumes(host)


async def test_rename_description_keys_and_nmi(tmp_path):
    async with clone_host(tmp_path) as host:
        assert await guest_config.rename(host, OFF_UUID, "off2") == "off on kvm1: renamed to off2"
        assert {"off2"} <= await _guests(host) and "off" not in await _guests(host)
        with pytest.raises(HostError, match='a guest named "tmpl" already exists'):
            await guest_config.rename(host, OFF_UUID, "tmpl")
        with pytest.raises(HostError, match="cannot rename active domain"):
            await guest_config.rename(host, WEB_UUID, "web2")

        assert (
            await guest_config.set_description(host, WEB_UUID, "Web [b]front[/b]", title=True)
            == "web on kvm1: title set"
        )
        await guest_config.set_description(host, WEB_UUID, "line one\nline two", config=True)
        assert await guest_config.description(host, WEB_UUID, title=True) == "Web [b]front[/b]"
        assert await guest_config.description(host, WEB_UUID, config=True) == "line one\nline two"
        info = dict(await host.dominfo(WEB_UUID))
        assert info["Title"] == "Web [b]front[/b]"

        assert (
            await guest_config.send_key(host, WEB_UUID, ["KEY_LEFTCTRL", "leftalt", "111"])
            == "web on kvm1: sent KEY_LEFTCTRL leftalt 111"
        )
        with pytest.raises(
            HostError, match='unknown key "KEY_DELTE" \\(did you mean "KEY_DELETE"\\?\\)'
        ):
            await guest_config.send_key(host, WEB_UUID, ["KEY_DELTE"])
        assert await guest_config.inject_nmi(host, WEB_UUID) == "web on kvm1: NMI injected"


def test_key_names_read_as_virsh_reads_them():
    assert keycodes(["KEY_LEFTCTRL", "KEY_LEFTALT", "KEY_DELETE"]) == [29, 56, 111]
    assert keycodes(["a", "Key_Enter", "28"]) == [30, 28, 28]
    with pytest.raises(ValueError, match='unknown key "ctrl" \\(did you mean "KEY_LEFTCTRL"'):
        keycodes(["ctrl"])
    for words, why in (
        ([], "no key given"),
        (["1000"], "over 767"),
        (["KEY_A"] * 17, "at most 16 keys"),
    ):
        with pytest.raises(ValueError, match=why):
            keycodes(words)


def test_copy_progress_is_a_line_every_few_seconds(monkeypatch):
    """A copy quicker than PROGRESS_EVERY shows no line; a long one a line every so often,
    with the figures a user reads."""
    now = [100.0]
    monkeypatch.setattr(verbs.time, "monotonic", lambda: now[0])
    lines: list[str] = []
    controller = SimpleNamespace(operator=SimpleNamespace(ok=lines.append))
    report = verbs._progress(controller, "clone big to big2")
    gib = 1024**3
    for second, done in (
        (1, gib),
        (2, 2 * gib),
        (3.5, 3 * gib),
        (4, 4 * gib),
        (7, 5 * gib),
        (11, 10 * gib),
    ):
        now[0] = 100.0 + second
        report(done, 10 * gib)
    assert lines == [
        "clone big to big2: 3.0 GiB of 10.0 GiB copied (30%) in 4 seconds",
        "clone big to big2: 5.0 GiB of 10.0 GiB copied (50%) in 7 seconds",
    ]
