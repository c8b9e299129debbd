"""Hardware changes, `:edit` and the devices tab in the app, on libvirt's test:/// driver
(the node of tests/nodes.py: disks in a pool, a CD-ROM, two NICs, a vCPU maximum).

The editor is a small script standing for the operator: it edits the draft as a person
would, and the app sees only the file it leaves behind.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.model import HostSpec
from tests.nodes import NODE_XML, OFF_UUID, WEB_UUID
from tests.ui.helpers import (
    answer_to,
    fleet_ready,
    keys,
    notifications,
    screen_text,
    select,
    wait_for,
)

SIZE = (100, 32)


@asynccontextmanager
async def node_app(
    tmp_path: Path, readonly: bool = False
) -> AsyncIterator[tuple[KvmTuiApp, Pilot]]:
    """The app on one test:/// host holding the node; yields its URI too."""
    path = tmp_path / "kvm1.xml"
    path.write_text(NODE_XML)
    uri = f"test://{path}"
    settings = Settings(
        hosts=(HostSpec("kvm1", uri, readonly),),
        readonly=False,
        refresh=0.5,
        theme=None,
        demo=False,
    )
    app = KvmTuiApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await fleet_ready(pilot, guests=3)
        yield app, pilot


def memory_after_restart(app: KvmTuiApp, uuid: str) -> int:
    """The persistent definition's memory (KiB), as libvirt holds it; read through the
    host's own connection, since a test:/// node lives only in its connection."""
    session = app.fleet.host("kvm1").session()
    with session.use() as conn:
        return int(conn.lookupByUUIDString(uuid).maxMemory())


def lines(app: KvmTuiApp) -> str:
    """The screen's text with runs of spaces made one: rows read the same at any width."""
    return "\n".join(" ".join(line.split()) for line in screen_text(app).splitlines())


async def test_devices_tab_shows_disks_cdrom_nics_boot_order_and_what_waits(tmp_path):
    async with node_app(tmp_path) as (app, pilot):
        await select(pilot, "web@kvm1")
        await pilot.press("enter", "l")
        await wait_for(pilot, lambda: "Disks and CD-ROMs" in screen_text(app), what="devices")
        text = lines(app)
        assert "vda disk virtio qcow2 20G 3.0G /var/lib/images/web.qcow2" in text
        assert "sda cdrom sata - - - (empty) (read-only)" in text
        assert "net0 52:54:00:00:00:01 network default virtio testnet0" in text
        assert "Boot order hd, cdrom" in text
        assert "Takes effect after a restart" not in text
        # A persistent-only change: the tab marks it, live and next-start values side by side.
        await pilot.press("escape")
        answer = await answer_to(pilot, "setvcpus web 1 --config")
        assert answer == "web on kvm1: 1 vCPU (persistent, takes effect after a restart)"
        await pilot.press("enter", "l")
        await wait_for(
            pilot,
            lambda: "Takes effect after a restart" in screen_text(app),
            what="the difference marked",
        )
        text = lines(app)
        assert "vCPUs 2 of 4 maximum *" in text
        assert "vCPUs 2 1" in text


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("setvcpus web 3", "web on kvm1: 3 vCPUs (live)"),
        (
            "setvcpus web 5",
            "setvcpus web on kvm1: 5 vCPUs is more than its maximum of 4 "
            "(raise it with --maximum --config)",
        ),
        ("setvcpus off 2 --maximum --config", "off on kvm1: at most 2 vCPUs (persistent)"),
        (
            "setvcpus off 1 --live",
            "setvcpus off on kvm1: the guest is not running: a live change needs a running guest",
        ),
        (
            "setvcpus web 2 --live --current",
            "setvcpus: --current cannot go with --live or --config",
        ),
        ("setmem web 512M", "web on kvm1: memory 512.0 MiB (live)"),
        (
            "setmem web 3G",
            "setmem web on kvm1: 3.0 GiB is more than its maximum of 2.0 GiB "
            "(raise it with setmaxmem first)",
        ),
        (
            "setmem web 12QB",
            "setmem: unknown size unit 'QB' in '12QB': use K, M, G, T, P or E "
            "(KiB ... for 1024, KB ... for 1000)",
        ),
        ("setmaxmem off 1048576", "off on kvm1: memory maximum 1.0 GiB (persistent)"),
        (
            "attach-disk web /var/lib/images/missing.qcow2 vdf",
            'attach-disk web on kvm1: no storage volume "/var/lib/images/missing.qcow2" on this '
            "host (the file does not exist, or lies outside every storage pool)",
        ),
        (
            "attach-disk web images/data.raw vdb",
            'attach-disk web on kvm1: it already has a disk "vdb"',
        ),
        (
            "detach-disk web vdq",
            'detach-disk web on kvm1: no disk "vdq" (it has vda, vdb, vdc, sda)',
        ),
        (
            "attach-interface web network nowhere",
            'attach-interface web on kvm1: no network "nowhere" on this host',
        ),
        (
            "attach-interface web bridge br1 --mac 52:54:00:00:00:01",
            "attach-interface web on kvm1: it already has a NIC with MAC 52:54:00:00:00:01",
        ),
        (
            "attach-interface web direct eth0",
            'attach-interface: type must be network or bridge, not "direct"',
        ),
        (
            "detach-interface web bridge --mac 52:54:00:00:00:09",
            "detach-interface web on kvm1: no bridge interface with MAC 52:54:00:00:00:09",
        ),
        ("change-media web sda --eject", "change-media web on kvm1: there is no medium in sda"),
        (
            "change-media web vdb images/web.qcow2",
            "change-media web on kvm1: vdb is a disk, not "
            "a CD-ROM or floppy: use attach-disk/detach-disk",
        ),
        (
            "change-media web sda --eject --insert",
            "change-media: say one of --eject, --insert or --update",
        ),
        ("boot-order off net0,hda", "off on kvm1: boots from net0, hda (persistent)"),
        (
            "boot-order web vda,vdz",
            'boot-order web on kvm1: no device "vdz" to boot from (it has '
            "vda, vdb, vdc, sda, net0, net1)",
        ),
    ],
)
async def test_every_hardware_verb_answers_in_one_line(tmp_path, line, answer):
    async with node_app(tmp_path) as (_app, pilot):
        assert await answer_to(pilot, line) == answer


async def test_a_refused_change_leaves_the_guest_as_it_was(tmp_path):
    async with node_app(tmp_path) as (app, pilot):
        await answer_to(pilot, "setvcpus web 9")
        await answer_to(pilot, "setmem web 3G")
        web = app.fleet.host("kvm1").guest(WEB_UUID)
        assert web is not None and (web.vcpus, web.memory_kib) == (2, 1024**2)


def _editor(tmp_path: Path, *steps: str) -> str:
    """An editor (a command line for $VISUAL) that on its Nth run applies steps[N] to the
    file: `memory` doubles the memory, `break` adds an element libvirt's schema refuses,
    `fix` removes it again, `same` saves as it found it."""
    script = tmp_path / "editor.py"
    script.write_text(f"""
import re, sys
from pathlib import Path
count = Path({str(tmp_path / "runs")!r})
run = int(count.read_text()) if count.exists() else 0
count.write_text(str(run + 1))
step = {list(steps)!r}[run]
draft = Path(sys.argv[1])
text = draft.read_text()
if step in ("memory", "fix"):
    text = re.sub(r"<memory unit='KiB'>\\d+</memory>", "<memory unit='KiB'>1048576</memory>", text)
    text = text.replace("<bogus/>", "")
if step == "break":
    text = text.replace("<devices>", "<devices><bogus/>")
draft.write_text(text)
""")
    return f"{sys.executable} {script}"


async def test_edit_key_changes_a_shut_off_guests_memory(tmp_path, monkeypatch):
    monkeypatch.setenv("VISUAL", _editor(tmp_path, "memory"))
    async with node_app(tmp_path) as (app, pilot):
        await select(pilot, "off@kvm1")
        await pilot.press("e")
        await wait_for(pilot, lambda: notifications(app), what="the edit's report")
        assert notifications(app) == ["off on kvm1: definition saved"]
        assert memory_after_restart(app, OFF_UUID) == 1024**2


async def test_edit_unchanged_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("VISUAL", _editor(tmp_path, "same"))
    async with node_app(tmp_path) as (app, pilot):
        assert await answer_to(pilot, "edit off") == "off on kvm1: unchanged, nothing to define"
        assert memory_after_restart(app, OFF_UUID) == 512 * 1024


async def test_a_refused_edit_offers_to_edit_again_keeping_the_text(tmp_path, monkeypatch):
    monkeypatch.setenv("VISUAL", _editor(tmp_path, "break", "fix"))
    async with node_app(tmp_path) as (app, pilot):
        await select(pilot, "off@kvm1")
        await pilot.press("enter", "e")  # from the detail screen
        await wait_for(pilot, lambda: app.screen.query("#detail"), what="edit again?")
        assert screen_text(app).count("Edit off again?") == 1
        assert "Not saved:" in screen_text(app)
        assert notifications(app)[0].startswith("edit off on kvm1: ")  # libvirt's words
        await pilot.press("tab", "enter")  # Edit again: the editor gets the refused text
        await wait_for(pilot, lambda: len(notifications(app)) == 2, what="the second save")
        assert notifications(app)[-1] == "off on kvm1: definition saved"
        assert memory_after_restart(app, OFF_UUID) == 1024**2
        await wait_for(pilot, lambda: "1048576" in screen_text(app), what="the XML tab read again")


async def test_a_refused_edit_discarded_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("VISUAL", _editor(tmp_path, "break"))
    async with node_app(tmp_path) as (app, pilot):
        await pilot.press("colon", *keys("edit off"), "enter")
        await wait_for(pilot, lambda: app.screen.query("#question"), what="edit again?")
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(notifications(app)) == 2, what="the discard")
        assert notifications(app)[-1] == "off on kvm1: edit discarded, nothing changed"
        assert memory_after_restart(app, OFF_UUID) == 512 * 1024


async def test_an_editor_that_fails_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("VISUAL", "false")
    async with node_app(tmp_path) as (_app, pilot):
        assert await answer_to(pilot, "edit off") == (
            "editor `false` exited with status 1; off on kvm1 left unchanged"
        )


async def test_a_read_only_host_dims_edit_and_refuses_changes(tmp_path):
    async with node_app(tmp_path, readonly=True) as (app, pilot):
        await select(pilot, "off@kvm1")
        assert app.screen.check_action("edit", ()) is None  # dimmed
        assert await answer_to(pilot, "setvcpus off 1") == "setvcpus: host kvm1 is read-only"
        assert await answer_to(pilot, "edit off") == "edit: host kvm1 is read-only"
