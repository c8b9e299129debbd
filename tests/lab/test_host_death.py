"""Host B's libvirtd dies while the operator acts on it, and comes back.

For each kind of action (`:vcpupin`, `:console`, `:migrate`, the CPU map, the detail screen,
a bulk action) the daemon is killed (`scripts/lab stop-host b`) and the action is taken at
once, before or after kvmtui has noticed, as an operator would: it must end in an error
message naming the host, kvmtui keeps running, and after `scripts/lab start-host b` the same
action works, in the same kvmtui, without a restart.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.migration import JobState
from kvmtui.core.model import GuestState, HostSpec, Link
from kvmtui.screens.console import ConsoleScreen
from kvmtui.screens.cpumap import CpuMapScreen
from kvmtui.screens.detail import GuestDetailScreen
from kvmtui.screens.guests import GuestsScreen
from kvmtui.screens.migration_progress import MigrationProgressScreen
from kvmtui.widgets.terminal import TerminalView
from tests.ui.helpers import guest, keys, screen_text, select, text_of, wait_for

from .labinfo import LabInfo

pytestmark = pytest.mark.timeout(300)

RECONNECT = 60.0  # the back-off after a short death is a few seconds; start-host waits too


@asynccontextmanager
async def _running(lab: LabInfo) -> AsyncIterator[tuple[KvmTuiApp, Pilot]]:
    """kvmtui on both lab hosts over TCP, every lab guest listed."""
    hosts = tuple(HostSpec(name, host.uri_tcp) for name, host in lab.hosts.items())
    app = KvmTuiApp(Settings(hosts=hosts, readonly=False, refresh=1.0, theme=None, demo=False))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(
            pilot,
            lambda: {g.name for g in app.screen.table.visible_rows()} >= set(lab.guests),
            30,
            "every lab guest listed",
        )
        yield app, pilot


def _link(app: KvmTuiApp, name: str = "hostb") -> Link:
    return next(h.link for h in app.fleet.snapshot().hosts if h.name == name)


def _errors(app: KvmTuiApp) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


def _infos(app: KvmTuiApp) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "information"]


async def _kill_b(lab: LabInfo) -> None:
    await asyncio.to_thread(lab.stop_host, "b")


async def _revive_b(pilot: Pilot, lab: LabInfo) -> None:
    """Host B answers again and kvmtui (the same process) has reconnected to it by itself."""
    app = pilot.app
    await asyncio.to_thread(lab.start_host, "b")
    await wait_for(pilot, lambda: _link(app) is Link.CONNECTED, RECONNECT, "hostb reconnected")
    app.clear_notifications()


async def _error_naming_hostb(pilot: Pilot, what: str) -> str:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: any("hostb" in e for e in _errors(app)),
        40,
        f"an error naming hostb ({what})",
    )
    assert app.is_running
    return next(e for e in _errors(app) if "hostb" in e)


async def _command(pilot: Pilot, line: str) -> None:
    """Types a `:` command as the operator does."""
    await pilot.press(":", *keys(line), "enter")


async def test_vcpupin_while_host_is_down(lab_fresh: LabInfo) -> None:
    async with _running(lab_fresh) as (app, pilot):
        await _kill_b(lab_fresh)
        await _command(pilot, "vcpupin tiny-b1 0 1")
        await _error_naming_hostb(pilot, ":vcpupin")
        await _revive_b(pilot, lab_fresh)
        await _command(pilot, "vcpupin tiny-b1 0 1")
        await wait_for(
            pilot,
            lambda: any("vCPU 0 pinned to CPUs 1" in m for m in _infos(app)),
            30,
            "the pin reported done",
        )
        assert not _errors(app)
    pinned = lab_fresh.virsh("hostb", "vcpupin", "tiny-b1", "0").stdout.split()
    assert pinned[-1] == "1", pinned


async def test_console_while_host_is_down(lab_fresh: LabInfo) -> None:
    async with _running(lab_fresh) as (app, pilot):
        await _kill_b(lab_fresh)
        await _command(pilot, "console linux-b1 --force")
        await _error_naming_hostb(pilot, ":console")
        await wait_for(
            pilot, lambda: isinstance(app.screen, GuestsScreen), 10, "back on the guest list"
        )
        await _revive_b(pilot, lab_fresh)
        await _command(pilot, "console linux-b1 --force")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ConsoleScreen) and app.screen.terminal.live,
            30,
            "the console attached",
        )
        await pilot.press("enter", *keys("echo hello-$((6*7))"), "enter")
        await wait_for(
            pilot, lambda: "hello-42" in _console_lines(app), 20, "hello-42 on the console"
        )
        await pilot.press("ctrl+right_square_bracket")
        await wait_for(pilot, lambda: isinstance(app.screen, GuestsScreen), 10, "detached")


async def test_console_attached_when_its_host_dies(lab_fresh: LabInfo) -> None:
    """The daemon dies under an open console: the console says so and stays, and `r`
    reattaches once the host is back."""
    async with _running(lab_fresh) as (app, pilot):
        await _command(pilot, "console linux-b1 --force")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ConsoleScreen) and app.screen.terminal.live,
            30,
            "the console attached",
        )
        console = app.screen
        await _kill_b(lab_fresh)
        await wait_for(pilot, lambda: not console.terminal.live, 40, "the console ended")
        status = console.query_one("#console-status", Static)
        await wait_for(pilot, lambda: "r reattach" in text_of(status), 5, "the way back shown")
        assert any(
            "console of linux-b1 ended: host hostb lost" in n.message for n in app._notifications
        )
        assert app.is_running and app.screen is console
        await _revive_b(pilot, lab_fresh)
        await pilot.press("r")
        await wait_for(pilot, lambda: console.terminal.live, 30, "reattached")
        await pilot.press("enter", *keys("echo hello-$((6*7))"), "enter")
        await wait_for(
            pilot, lambda: "hello-42" in _console_lines(app), 20, "hello-42 on the console"
        )


def _console_lines(app: KvmTuiApp) -> list[str]:
    return [line.rstrip() for line in app.screen.query_one(TerminalView).display_lines()]


async def test_migrate_to_a_host_that_is_down(lab_fresh: LabInfo) -> None:
    async with _running(lab_fresh) as (app, pilot):
        await _kill_b(lab_fresh)
        await _command(pilot, "migrate tiny-a1 hostb --live")
        # A migration reports on its own progress screen, where the operator is taken.
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, MigrationProgressScreen)
                and "migration failed (hosta -> hostb)" in screen_text(app)
            ),
            40,
            "the migration's failure naming hostb",
        )
        assert "tiny-a1 is still running on hosta" in screen_text(app)
        assert app.is_running
        assert lab_fresh.virsh("hosta", "domstate", "tiny-a1").stdout.strip() == "running"
        await _revive_b(pilot, lab_fresh)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, GuestsScreen), 5, "the guest list")
        await _command(pilot, "migrate tiny-a1 hostb --live")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, MigrationProgressScreen)
                and "now running on hostb" in screen_text(app)
            ),
            60,
            "tiny-a1 migrated to hostb",
        )
        assert not _errors(app)
    assert lab_fresh.virsh("hostb", "domstate", "tiny-a1").stdout.strip() == "running"


async def test_cpu_map_while_host_is_down(lab: LabInfo) -> None:
    async with _running(lab) as (app, pilot):
        await pilot.press("2")
        await wait_for(pilot, lambda: app.current_mode == "hosts", 5, "the hosts view")
        app.screen.table.select_key("hostb")
        await wait_for(
            pilot, lambda: app.screen.table.current_key == "hostb", 5, "the cursor on hostb"
        )
        try:
            await _kill_b(lab)
            await pilot.press("k")
            await wait_for(pilot, lambda: isinstance(app.screen, CpuMapScreen), 5, "the map")
            status = app.screen.query_one("#status", Static)
            await wait_for(
                pilot,
                lambda: (
                    "hostb" in text_of(status)
                    and "CPUs" not in text_of(status)
                    and "reading" not in text_of(status)
                ),
                40,
                "the map's status saying hostb cannot be read",
            )
            assert app.is_running
        finally:
            await _revive_b(pilot, lab)
        await wait_for(
            pilot,
            lambda: "CPU map: hostb" in text_of(status) and "CPUs," in text_of(status),
            30,
            "the map read again by itself",
        )
        assert "tiny-b1:0" in screen_text(app)


async def test_detail_screen_while_host_is_down(lab: LabInfo) -> None:
    async with _running(lab) as (app, pilot):
        await select(pilot, "tiny-b1@hostb")
        try:
            await _kill_b(lab)
            await pilot.press("enter")
            await wait_for(
                pilot, lambda: isinstance(app.screen, GuestDetailScreen), 5, "the detail screen"
            )
            dominfo = app.screen.query_one("#dominfo", Static)
            await wait_for(
                pilot,
                lambda: "hostb" in text_of(dominfo),
                40,
                "dominfo saying hostb cannot be read",
            )
            for tab in ("k", "g", "y", "d"):
                await pilot.press(tab)
            await pilot.pause(0.5)
            assert app.is_running and isinstance(app.screen, GuestDetailScreen)
        finally:
            await _revive_b(pilot, lab)
        await pilot.press("r")
        await wait_for(
            pilot,
            lambda: (
                "tiny-b1" in text_of(dominfo)
                and "Name" in text_of(dominfo)
                and "hostb" not in text_of(dominfo)
            ),
            30,
            "dominfo read again",
        )


async def test_bulk_action_while_one_host_is_down(lab_fresh: LabInfo) -> None:
    async with _running(lab_fresh) as (app, pilot):
        for ref in ("tiny-a1@hosta", "tiny-b1@hostb", "linux-b1@hostb"):
            await select(pilot, ref)
            await pilot.press("space")
        await _kill_b(lab_fresh)
        await pilot.press("p")
        await wait_for(
            pilot,
            lambda: "Suspend 3 guests on 2 hosts?" in screen_text(app),
            5,
            "the bulk confirmation",
        )
        await pilot.press("tab", "enter")
        await _error_naming_hostb(pilot, "bulk suspend")
        await wait_for(
            pilot,
            lambda: guest(app, "tiny-a1").state is GuestState.PAUSED,
            20,
            "hosta's guest suspended all the same",
        )
        await _revive_b(pilot, lab_fresh)
        await pilot.press("p")  # hosta's guest is paused already: passed over, and said so
        await wait_for(
            pilot,
            lambda: (
                "Suspend 2 running guests on 1 host? 1 already paused"
                " is skipped" in screen_text(app)
            ),
            5,
            "the bulk confirmation again",
        )
        await pilot.press("tab", "enter")
        await wait_for(
            pilot,
            lambda: all(
                guest(app, name).state is GuestState.PAUSED for name in ("tiny-b1", "linux-b1")
            ),
            30,
            "hostb's guests suspended once it is back",
        )
        assert not any("hostb" in e for e in _errors(app)), _errors(app)
    for name in ("tiny-b1", "linux-b1"):
        assert lab_fresh.virsh("hostb", "domstate", name).stdout.strip() == "paused"


BIG = "kvmtui-dies"


@contextmanager
def _big_guest(lab: LabInfo) -> Iterator[None]:
    """An os-less guest on host B whose 2 GiB disk is full of data: a full backup of it
    takes seconds (about 200 MiB/s on the lab), time to kill the daemon mid-way. Removed
    afterwards with everything its backups left."""
    disk = lab.pool_path / f"{BIG}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "2G"], check=True)
    writes = ["-c", "write -P 0x5a 0 1G", "-c", "write -P 0xa5 1G 1G"]
    subprocess.run(["qemu-io", "-f", "qcow2", *writes, str(disk)], check=True, capture_output=True)
    xml = lab.state_dir / f"{BIG}.xml"
    xml.write_text(
        f"<domain type='{lab.domain_type_os_less}'><name>{BIG}</name>"
        "<memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os>"
        "<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        f"<source file='{disk}'/><target dev='vda' bus='virtio'/></disk></devices></domain>"
    )
    try:
        for host in ("hosta", "hostb"):
            lab.virsh(host, "pool-refresh", lab.pool_name)
        assert lab.virsh("hostb", "define", str(xml)).returncode == 0
        assert lab.virsh("hostb", "start", BIG).returncode == 0
        yield
    finally:
        lab.start_host("b")  # a test failing mid-way may leave it stopped
        lab.virsh("hostb", "destroy", BIG)
        lab.virsh("hostb", "undefine", "--checkpoints-metadata", BIG)
        for path in lab.pool_path.glob(f"{BIG}*"):
            path.unlink()
        xml.unlink(missing_ok=True)
        for host in ("hosta", "hostb"):
            lab.virsh(host, "pool-refresh", lab.pool_name)


def _made(lab: LabInfo) -> tuple[list[str], list[str]]:
    """The big guest's checkpoints and its backups' files, as host B has them."""
    checkpoints = lab.virsh("hostb", "checkpoint-list", "--name", BIG).stdout.split()
    files = sorted(p.name for p in lab.pool_path.glob(f"{BIG}-*"))
    return checkpoints, files


async def test_backup_while_its_host_dies(lab_fresh: LabInfo) -> None:
    """The daemon dies mid-backup: the backup is one error line naming the guest and the
    host, its jobs view row ends failed, the chain keeps no half point; once the host is
    back what the cut-off backup made is removed and the next backup follows the last
    checkpoint (incremental) again."""
    lab = lab_fresh
    with _big_guest(lab):
        async with _running(lab) as (app, pilot):
            backups = app.services.backups
            await wait_for(
                pilot,
                lambda: any(g.name == BIG for g in app.fleet.snapshot().guests),
                30,
                "the big guest listed",
            )
            await _command(pilot, f"backup {BIG} --to {lab.pool_name}")
            await wait_for(
                pilot, lambda: any("full backup" in m for m in _infos(app)), 60, "a full point"
            )
            (first,) = backups.points()
            before = _made(lab)
            assert before[0] == [first.checkpoint]

            await _command(pilot, f"backup {BIG} --to {lab.pool_name} --full")
            await wait_for(
                pilot,
                lambda: any(j.state is JobState.RUNNING and j.done for j in backups.jobs()),
                30,
                "the second backup under way",
            )
            await _kill_b(lab)
            said = await _error_naming_hostb(pilot, "the backup")
            assert said.startswith(f"backup {BIG} on hostb: failed: hostb was lost mid-backup")
            assert said.endswith("; no point is kept; what it made is removed once hostb is back")
            assert [j.state for j in backups.jobs()] == [JobState.SUCCEEDED, JobState.FAILED]
            assert backups.jobs()[-1].finished is not None  # its time stops: no hang
            await pilot.press("3")  # the jobs view
            await wait_for(pilot, lambda: app.current_mode == "jobs", 5, "the jobs view")
            await wait_for(
                pilot,
                lambda: any(
                    BIG in cells and "failed" in cells and "hostb" in cells[-1]  # outcome
                    for cells in app.screen.table.shown_texts().values()
                ),
                10,
                "its row failed",
            )
            assert backups.points() == [first]

            await _revive_b(pilot, lab)
            await wait_for(pilot, lambda: _made(lab) == before, 60, "what it made removed")
            await _command(pilot, f"backup {BIG} --to {lab.pool_name}")
            await wait_for(
                pilot,
                lambda: any("incremental backup" in m for m in _infos(app)),
                60,
                "an incremental point on the first",
            )
            assert not _errors(app), _errors(app)
            assert [p.kind for p in backups.points()] == ["full", "incremental"]
