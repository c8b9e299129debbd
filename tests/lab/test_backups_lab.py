"""Live backups of a real running Linux guest on QEMU, through the service the backups view
and the `backup` / `restore` verbs use.

linux-a1 writes file A, is backed up in full, writes B, is backed up incrementally, writes
C. The incremental point restored as a new guest boots and has A and B and not C; the full
point restored has A only (read in the guests over their serial consoles). An aborted backup
leaves the chain and the guest's checkpoints as they were. Everything made is removed at the
end: the restored guests, the points' volumes, linux-a1's checkpoints and files.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil
import struct
import time
from pathlib import Path

import pytest

from kvmtui.core.backups import BackupService
from kvmtui.core.blockjobs import BlockJobs
from kvmtui.core.errors import HostError
from kvmtui.core.fleet import Fleet
from kvmtui.core.host_shell import NoShell, run_on_host
from kvmtui.core.migration import JobState
from kvmtui.core.model import GuestSnapshot, GuestState, HostSpec
from kvmtui.core.store import Store
from kvmtui.core.thresholds import DiskThresholds
from tests.lab.labinfo import READY_LINE, LabInfo
from tests.nodes import connected_fleet

pytestmark = pytest.mark.timeout(300)

GUEST = "linux-a1"
FILES = "/mnt/disk/kvmtui-backup"
RESTORED = ("kvmtui-restored-inc", "kvmtui-restored-full")


async def _shell(lab: LabInfo, guest: str, command: str) -> str:
    """The command's output; typed again once when a console still booting ate it."""
    try:
        return await asyncio.to_thread(lab.guest_shell, guest, command, 20)
    except TimeoutError:
        return await asyncio.to_thread(lab.guest_shell, guest, command, 40)


def _log_size(lab: LabInfo, guest: str) -> int:
    log = lab.state_dir / "serial" / f"{guest}.log"
    return log.stat().st_size if log.exists() else 0


def _wait_ready(lab: LabInfo, guest: str, after: int = 0, timeout: float = 120) -> None:
    """Until the guest's serial log says it is ready, past `after` bytes (an earlier boot)."""
    log = lab.state_dir / "serial" / f"{guest}.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and READY_LINE.encode() in log.read_bytes()[after:]:
            return
        time.sleep(0.5)
    raise TimeoutError(f"{guest} did not boot in {timeout:.0f}s")


def _remove_guest(lab: LabInfo, name: str) -> None:
    for host in ("hosta", "hostb"):
        lab.virsh(host, "destroy", name)
        lab.virsh(host, "undefine", "--remove-all-storage", name)
    (lab.state_dir / "serial" / f"{name}.log").unlink(missing_ok=True)


async def test_full_incremental_restore_and_abort(lab_fresh: LabInfo) -> None:
    lab = lab_fresh
    specs = [HostSpec(name, lab.host(name).uri_tcp) for name in ("hosta", "hostb")]
    async with connected_fleet(specs) as fleet:
        service = BackupService(fleet, Store(None), sample_interval=0.05)
        host = fleet.host("hosta")
        guest = next(g for g in host.guests() if g.name == GUEST)
        home = lab.guests[GUEST].disk
        assert home is not None
        restored_over = False
        try:
            await _shell(lab, GUEST, f"echo A > {FILES}-a && sync")
            said = await service.backup(guest, pool=lab.pool_name)
            assert said.startswith(f"{GUEST} on hosta: full backup ")
            await _shell(lab, GUEST, f"echo B > {FILES}-b && sync")
            said = await service.backup(guest, pool=lab.pool_name, quiesce=True)
            assert said.startswith(f"{GUEST} on hosta: incremental backup ")
            assert "frozen through the guest agent" in said
            await _shell(lab, GUEST, f"echo C > {FILES}-c && sync")
            full, inc = service.chain_of(guest.uuid, "hosta")
            assert (full.kind, inc.kind) == ("full", "incremental")
            assert inc.size < full.size  # only the blocks written since

            # An abort leaves the chain and the checkpoints as they were.
            checkpoints = lab.virsh("hosta", "checkpoint-list", "--name", GUEST).stdout
            volumes = lab.virsh("hosta", "vol-list", lab.pool_name).stdout

            aborts: list[asyncio.Future[str]] = []

            def abort_when_running() -> None:
                job = service.active_job_for("hosta", guest.uuid)
                if job is not None and job.state is JobState.RUNNING and not aborts:
                    aborts.append(asyncio.ensure_future(service.abort("hosta", guest.uuid)))

            service.add_listener(abort_when_running)
            with pytest.raises(Exception, match="abort"):
                await service.backup(guest, pool=lab.pool_name, incremental=False)
            service.remove_listener(abort_when_running)
            assert "aborting" in await aborts[0]
            assert service.chain_of(guest.uuid, "hosta") == [full, inc]
            assert service.jobs()[-1].state is JobState.ABORTED
            assert lab.virsh("hosta", "checkpoint-list", "--name", GUEST).stdout == checkpoints
            assert lab.virsh("hosta", "vol-list", lab.pool_name).stdout == volumes

            # The checkpoint the aborted backup stood on is still usable.
            said = await service.backup(guest, pool=lab.pool_name, incremental=True)
            assert said.startswith(f"{GUEST} on hosta: incremental backup ")
            again = service.chain_of(guest.uuid, "hosta")[-1]

            # A checkpoint gone (a restart lost it, someone deleted it): the next is full.
            lab.virsh("hosta", "checkpoint-delete", GUEST, again.checkpoint)
            said = await service.backup(guest, pool=lab.pool_name)
            assert f"; full: checkpoint {again.checkpoint} of the last backup is gone" in said

            assert "every block of 1 disk read back" in await service.verify(full)
            assert service.chain_of(guest.uuid, "hosta")[0].verified is not None

            # Each point restored as a new guest boots with what was on disk then: the
            # incremental one on the other host (its chain streamed across), the full one here.
            for point, name, where in zip((inc, full), RESTORED, ("hostb", "hosta"), strict=True):
                said = await service.restore(point, name, dest=where)
                assert said == f"{GUEST} backup {point.name} restored as {name} on {where}"
                assert lab.virsh(where, "start", name).returncode == 0
            for name in RESTORED:
                await asyncio.to_thread(_wait_ready, lab, name)
            seen = await _shell(lab, RESTORED[0], f"cat {FILES}-a {FILES}-b; ls {FILES}-c")
            assert "A\nB\n" in seen and "No such file" in seen
            seen = await _shell(lab, RESTORED[1], f"cat {FILES}-a; ls {FILES}-b")
            assert "A\n" in seen and "No such file" in seen

            # Keeping three points merges the first incremental one into a full point.
            said = await service.prune(guest.uuid, "hosta", 3)
            assert said == f"pruned 1 older point of {GUEST}"
            merged = service.chain_of(guest.uuid, "hosta")[0]
            assert (merged.id, merged.kind) == (inc.id, "full")
            assert "read back through its chain" in await service.verify(merged)

            # Over the guest itself, once shut off: its disk replaced, the old volume gone.
            lab.virsh("hosta", "destroy", GUEST)
            said = await service.restore(merged, None)
            restored_over = True
            assert said == f"{GUEST} on hosta restored from backup {merged.name}"
            assert not home.exists()
            booted = _log_size(lab, GUEST)
            assert lab.virsh("hosta", "start", GUEST).returncode == 0
            await asyncio.to_thread(_wait_ready, lab, GUEST, booted)
            seen = await _shell(lab, GUEST, f"cat {FILES}-a {FILES}-b; ls {FILES}-c")
            assert "A\nB\n" in seen and "No such file" in seen
        finally:
            for name in RESTORED:
                await asyncio.to_thread(_remove_guest, lab, name)
            await service.prune(guest.uuid, "hosta", 1)
            for point in service.chain_of(guest.uuid, "hosta"):
                for file in point.files:
                    lab.virsh("hosta", "vol-delete", file.path)
                lab.virsh(
                    "hosta", "vol-delete", f"{GUEST}-{point.name}.xml", "--pool", lab.pool_name
                )
            for name in lab.virsh("hosta", "checkpoint-list", "--name", GUEST).stdout.split():
                lab.virsh("hosta", "checkpoint-delete", GUEST, name)
            await _shell(lab, GUEST, f"rm -f {FILES}-* && sync")
            if restored_over:  # the lab's reset gives it a fresh disk where it was
                lab.virsh("hosta", "destroy", GUEST)
                lab.virsh(
                    "hosta",
                    "vol-delete",
                    f"{GUEST}-vda-restored-{merged.name}.qcow2",
                    "--pool",
                    lab.pool_name,
                )
            for name in ("hosta", "hostb"):  # the pool is shared: each host's list in step
                lab.virsh(name, "pool-refresh", lab.pool_name)


async def _wait_state(fleet: Fleet, name: str, state: GuestState) -> GuestSnapshot:
    """The guest as kvmtui sees it once it is in `state`."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [g for g in fleet.snapshot().guests if g.name == name and g.state is state]
        if found:
            return found[0]
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{name} not {state.value} in 30 s")


async def test_a_shut_off_guest_is_backed_up_started_paused_and_stopped_again(
    lab_fresh: LabInfo,
) -> None:
    """Its first point full, its second incremental (the checkpoint outlived the stop);
    restored as a new guest, it boots with what was written before the shutdown."""
    lab = lab_fresh
    spec = HostSpec("hosta", lab.host("hosta").uri_tcp)
    name = RESTORED[0]
    async with connected_fleet([spec]) as fleet:
        service = BackupService(fleet, Store(None), sample_interval=0.05)
        await _shell(lab, GUEST, f"echo cold > {FILES}-cold && sync")
        lab.virsh("hosta", "destroy", GUEST)
        try:
            guest = await _wait_state(fleet, GUEST, GuestState.SHUTOFF)
            said = await service.backup(guest, pool=lab.pool_name)
            assert said.startswith(f"{GUEST} on hosta: full backup ")
            assert said.endswith(
                "; it was shut off: started paused for the backup and stopped again"
            )
            assert lab.virsh("hosta", "domstate", GUEST).stdout.strip() == "shut off"
            said = await service.backup(guest, pool=lab.pool_name)
            assert said.startswith(f"{GUEST} on hosta: incremental backup "), said
            assert lab.virsh("hosta", "domstate", GUEST).stdout.strip() == "shut off"
            full, inc = service.chain_of(guest.uuid, "hosta")
            assert (full.kind, inc.kind) == ("full", "incremental")

            said = await service.restore(inc, name)
            assert said == f"{GUEST} backup {inc.name} restored as {name} on hosta"
            assert lab.virsh("hosta", "start", name).returncode == 0
            await asyncio.to_thread(_wait_ready, lab, name)
            assert "cold\n" in await _shell(lab, name, f"cat {FILES}-cold")
        finally:
            await asyncio.to_thread(_remove_guest, lab, name)
            for point in service.chain_of(guest.uuid, "hosta"):
                for file in point.files:
                    lab.virsh("hosta", "vol-delete", file.path)
                lab.virsh(
                    "hosta", "vol-delete", f"{GUEST}-{point.name}.xml", "--pool", lab.pool_name
                )
            booted = _log_size(lab, GUEST)
            lab.virsh("hosta", "start", GUEST)  # its checkpoints' bitmaps go with them
            for checkpoint in lab.virsh("hosta", "checkpoint-list", "--name", GUEST).stdout.split():
                lab.virsh("hosta", "checkpoint-delete", GUEST, checkpoint)
            await asyncio.to_thread(_wait_ready, lab, GUEST, booted)
            await _shell(lab, GUEST, f"rm -f {FILES}-* && sync")
            for host in ("hosta", "hostb"):
                lab.virsh(host, "pool-refresh", lab.pool_name)


def _corrupt_l1(path: Path) -> None:
    """Its first L1 table entry made to point off every cluster boundary (a bit flipped on
    the disk would do as much): qemu-img check counts corruptions, naming the entry."""
    with path.open("r+b") as image:
        image.seek(40)  # the qcow2 header's l1_table_offset
        (l1,) = struct.unpack(">Q", image.read(8))
        image.seek(l1)
        (entry,) = struct.unpack(">Q", image.read(8))
        image.seek(l1)
        image.write(struct.pack(">Q", entry ^ 0x100200))


async def test_verify_runs_qemu_img_check_and_a_corrupt_point_fails_naming_the_file(
    lab: LabInfo,
) -> None:
    if "running" not in lab.virsh("hosta", "domstate", GUEST).stdout:
        lab.reset_guests()
    spec = HostSpec("hosta", lab.host("hosta").uri_tcp)  # an address of this machine
    copy = lab.pool_path / f"{GUEST}-corrupt.qcow2"
    async with connected_fleet([spec]) as fleet:
        service = BackupService(fleet, Store(None), sample_interval=0.05)
        guest = next(g for g in fleet.host("hosta").guests() if g.name == GUEST)
        try:
            await service.backup(guest, pool=lab.pool_name)
            (point,) = service.chain_of(guest.uuid, "hosta")
            assert await service.verify(point) == (
                f"{GUEST} backup {point.name}: qemu-img check passed on 1 file; every block "
                "of 1 disk read back through its chain"
            )
            # A copy of its file, corrupt, as the catalogue's next point.
            shutil.copyfile(point.files[0].path, copy)
            _corrupt_l1(copy)
            lab.virsh("hosta", "pool-refresh", lab.pool_name)
            bad = await service.record(
                dataclasses.replace(
                    point,
                    time=point.time + 1,
                    files=(dataclasses.replace(point.files[0], path=str(copy)),),
                )
            )
            with pytest.raises(HostError) as failed:
                await service.verify(bad)
            said = str(failed.value)
            assert said.startswith(
                f"backup-verify {GUEST} {bad.name} on hosta: qemu-img check of {copy}: "
            ), said
            assert re.search(r": \d+ corruptions? \(ERROR", said), said  # its first ERROR line
            assert service.chain_of(guest.uuid, "hosta")[-1].verified is None
        finally:
            copy.unlink(missing_ok=True)
            for each in service.chain_of(guest.uuid, "hosta")[:1]:
                lab.virsh("hosta", "vol-delete", each.files[0].path)
                lab.virsh(
                    "hosta", "vol-delete", f"{GUEST}-{each.name}.xml", "--pool", lab.pool_name
                )
            for name in lab.virsh("hosta", "checkpoint-list", "--name", GUEST).stdout.split():
                lab.virsh("hosta", "checkpoint-delete", GUEST, name)
            for host in ("hosta", "hostb"):
                lab.virsh(host, "pool-refresh", lab.pool_name)


async def test_qemu_img_reaches_host_b_over_each_ssh_route_and_not_over_tcp(lab: LabInfo) -> None:
    """Host B is another machine (its own network and UTS namespaces): over kvmtui's own
    ssh:// connection and over OpenSSH for qemu+ssh://, a program runs there (`hostname`
    says which machine); over qemu+tcp:// kvmtui has no way there."""
    b = lab.host("hostb")
    known = lab.known_hosts
    specs = [
        HostSpec("b-link", f"ssh://root@{b.address}?keyfile={lab.ssh_key}&known_hosts={known}"),
        HostSpec("b-openssh", b.uri_ssh),
        HostSpec("b-tcp", b.uri_tcp),
    ]
    disk = str(lab.guests["linux-b1"].disk)
    async with connected_fleet(specs) as fleet:
        for name in ("b-link", "b-openssh"):
            ran = await run_on_host(fleet.host(name), ["hostname"])
            assert (ran.status, ran.out.strip()) == (0, b.hostname), (name, ran)
            ran = await run_on_host(fleet.host(name), ["qemu-img", "check", "-U", disk])
            assert ran.status == 0 and "No errors were found" in ran.out, (name, ran)
        with pytest.raises(NoShell, match=r"^no shell on b-tcp$"):
            await run_on_host(fleet.host("b-tcp"), ["hostname"])


async def test_blockcopy_moves_a_running_guests_disk_and_back(lab: LabInfo) -> None:
    if "running" not in lab.virsh("hosta", "domstate", GUEST).stdout:
        lab.reset_guests()
    spec = HostSpec("hosta", lab.host("hosta").uri_tcp)
    home = str(lab.guests[GUEST].disk)
    async with connected_fleet([spec]) as fleet:
        jobs = BlockJobs(fleet, sample_interval=0.1)
        (host,) = fleet.hosts
        guest = next(g for g in host.guests() if g.name == GUEST)
        await _shell(lab, GUEST, f"echo moved > {FILES}-moved && sync")
        moved = await jobs.wait((await jobs.copy(guest, "vda", pool=lab.pool_name, pivot=True)).key)
        try:
            assert moved.state is JobState.SUCCEEDED, moved.message
            assert moved.target != home
            assert moved.target in lab.virsh("hosta", "domblklist", GUEST).stdout
            # Still running, on the new disk, with its data.
            assert "moved" in await _shell(lab, GUEST, f"cat {FILES}-moved")
            xml = lab.virsh("hosta", "dumpxml", "--inactive", GUEST).stdout
            assert moved.target in xml  # the move outlives a restart
        finally:
            back = await jobs.wait((await jobs.copy(guest, "vda", dest=home, pivot=True)).key)
            assert back.state is JobState.SUCCEEDED, back.message
            assert home in lab.virsh("hosta", "domblklist", GUEST).stdout
            lab.virsh("hosta", "vol-delete", moved.target)
            await _shell(lab, GUEST, f"rm -f {FILES}-moved && sync")


async def test_a_thin_disk_filling_past_its_mark_marks_the_row_and_is_rearmed(
    lab: LabInfo,
) -> None:
    if "running" not in lab.virsh("hosta", "domstate", GUEST).stdout:
        lab.reset_guests()
    spec = HostSpec("hosta", lab.host("hosta").uri_tcp)
    async with connected_fleet([spec]) as fleet:
        marks = DiskThresholds(fleet, percent=50)
        marks.watch()
        try:
            await marks.refresh()
            (mark,) = [m for m in marks.reading("hosta") or () if m.guest == GUEST]
            assert (mark.disk, mark.percent, mark.passed) == ("vda", 50, 0)
            await _shell(lab, GUEST, f"dd if=/dev/zero of={FILES}-fill bs=1M count=36; sync")

            def row() -> tuple[str, ...]:
                (guest,) = [g for g in fleet.snapshot().guests if g.name == GUEST]
                return marks.annotate((guest,))[0].disk_alerts

            deadline = time.monotonic() + 30
            while not row() and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert row() == ("vda 50%",)
            await marks.refresh()
            (mark,) = [m for m in marks.reading("hosta") or () if m.guest == GUEST]
            assert (mark.percent, mark.passed) == (75, 50)  # set again, halfway to full
        finally:
            marks.unwatch()
            lab.virsh("hosta", "domblkthreshold", GUEST, "vda", "0")
            await _shell(lab, GUEST, f"rm -f {FILES}-fill && sync")
