"""vCPU pinning on the real lab: smp-a1 (4 vCPUs) on hosta (2 physical CPUs).

Each test puts the pinning it changed back with plain virsh, whatever happens, so other
tests sharing the lab find smp-a1 as it was (no full reset: other guests stay untouched).
"""

from __future__ import annotations

import re

import pytest

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.model import HostSpec
from kvmtui.screens.cpumap import CpuMapScreen
from kvmtui.screens.detail import GuestDetailScreen
from kvmtui.widgets.live_table import LiveTable
from tests.ui.helpers import fleet_ready, keys, notifications, text_of, wait_for
from tests.ui.test_placement_ui import rows

pytestmark = pytest.mark.timeout(180)

GUEST = "smp-a1"


def pinning(lab, *where: str) -> dict[int, str]:
    """`virsh vcpupin smp-a1 [--live|--config]` as {vcpu: cpulist}."""
    out = lab.virsh("hosta", "vcpupin", GUEST, *where).stdout
    return {int(m[1]): m[2] for m in re.finditer(r"^\s*(\d+)\s+(\S+)\s*$", out, re.M)}


def emulator_pinning(lab, where: str) -> str:
    out = lab.virsh("hosta", "emulatorpin", GUEST, where).stdout
    return out.split()[-1]


@pytest.fixture
def smp(lab):
    """smp-a1's pinning before the test, restored after it."""
    if "running" not in lab.virsh("hosta", "domstate", GUEST).stdout:
        pytest.skip(f"{GUEST} is not running on hosta")
    live, config = pinning(lab, "--live"), pinning(lab, "--config")
    emulator = emulator_pinning(lab, "--live"), emulator_pinning(lab, "--config")
    try:
        yield live, config
    finally:
        for vcpu, cpus in live.items():
            lab.virsh("hosta", "vcpupin", GUEST, str(vcpu), cpus, "--live")
        for vcpu, cpus in config.items():
            lab.virsh("hosta", "vcpupin", GUEST, str(vcpu), cpus, "--config")
        lab.virsh("hosta", "emulatorpin", GUEST, emulator[0], "--live")
        lab.virsh("hosta", "emulatorpin", GUEST, emulator[1], "--config")
        assert pinning(lab, "--live") == live and pinning(lab, "--config") == config


def lab_app(lab) -> KvmTuiApp:
    return KvmTuiApp(
        Settings(
            hosts=tuple(HostSpec(n, h.uri_tcp) for n, h in lab.hosts.items()),
            readonly=False,
            refresh=1.0,
            theme=None,
            demo=False,
        )
    )


async def command(pilot, line: str) -> None:
    await pilot.press("colon", *keys(line), "enter")


async def test_pin_vcpu0_to_one_cpu_shows_in_libvirt_and_on_screen(lab, smp):
    live, _config = smp
    assert live[0] == "0-1"
    app = lab_app(lab)
    async with app.run_test(size=(100, 30)) as pilot:
        await fleet_ready(pilot, guests=len(lab.guests))
        await command(pilot, f"vcpupin {GUEST}@hosta 0 1 --live --config")
        await wait_for(pilot, lambda: any("pinned" in n for n in notifications(app)), 15)
        assert f"{GUEST} on hosta: vCPU 0 pinned to CPUs 1 (live and persistent)" in (
            notifications(app)
        )
        assert pinning(lab, "--live")[0] == "1"
        assert pinning(lab, "--config")[0] == "1"
        assert pinning(lab, "--live")[1] == live[1]  # the other vCPUs untouched

        await command(pilot, f"vcpuinfo {GUEST}")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, GuestDetailScreen) and bool(app.screen.query("#vcpu-table"))
            ),
            15,
            "the vCPU table",
        )
        table = app.screen.query_one("#vcpu-table", LiveTable)
        # vCPU, state, CPU now, live affinity, config affinity, grid ...; the guest's vCPU
        # thread moves to CPU 1 at its next scheduling.
        await wait_for(
            pilot,
            lambda: rows(table)["0"][2:6] == ["1", "1", "1", ".#"],
            15,
            "vCPU 0 on CPU 1, pinned to 1 live and in config",
        )
        assert rows(table)["1"][3] == live[1]

        app.pop_screen()
        app.open_cpu_map("hosta")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, CpuMapScreen) and app.screen.cpu_map is not None,
            15,
            "the CPU map",
        )
        grid = text_of(app.screen.query_one("#pcpu-grid"))
        cpu1 = next(line for line in grid.splitlines() if line.split()[:1] == ["1"])
        assert f"{GUEST}:0" in cpu1
        assert "overcommit" in text_of(app.screen.query_one("#status"))


async def test_bad_cpu_list_is_refused_and_nothing_changes(lab, smp):
    live, config = smp
    app = lab_app(lab)
    async with app.run_test(size=(100, 30)) as pilot:
        await fleet_ready(pilot, guests=len(lab.guests))
        await command(pilot, f"vcpupin {GUEST}@hosta 0 5 --live")
        await wait_for(pilot, lambda: any("does not exist" in n for n in notifications(app)), 15)
        assert (
            f"vcpupin {GUEST}: CPU 5 does not exist on hosta (it has 2 CPUs: 0-1)"
            in notifications(app)
        )
        await command(pilot, f"emulatorpin {GUEST}@hosta 0-1,^0-1")
        await wait_for(pilot, lambda: any("empty CPU list" in n for n in notifications(app)), 15)
        assert pinning(lab, "--live") == live
        assert pinning(lab, "--config") == config


async def test_emulator_pin_live(lab, smp):
    app = lab_app(lab)
    async with app.run_test(size=(100, 30)) as pilot:
        await fleet_ready(pilot, guests=len(lab.guests))
        await command(pilot, f"emulatorpin {GUEST}@hosta 0 --live")
        await wait_for(
            pilot, lambda: any("emulator threads pinned" in n for n in notifications(app)), 15
        )
        assert emulator_pinning(lab, "--live") == "0"
