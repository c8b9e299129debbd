"""Creating a guest and evacuating a host on the real lab, driven through kvmtui's screen.

The created guest boots the lab's own kernel and initrd (lab.json `kernel`, `initrd`) from a
new qcow2 volume in the lab's pool, under TCG (the lab's Linux guests hang under KVM), and
its boot is read on kvmtui's own serial console. The evacuation moves every running guest
of host A to host B through the migration manager; `lab_fresh` puts them home after.
"""

from __future__ import annotations

import shlex

import pytest
from textual.widgets import Static

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.model import HostSpec
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.console import ConsoleScreen
from kvmtui.widgets.terminal import TerminalView
from tests.ui.helpers import keys, notifications, text_of, wait_for

from .labinfo import READY_LINE, LabInfo

pytestmark = pytest.mark.timeout(240)

NAME = "kvmtui-created-1"


def _lab_app(lab: LabInfo) -> KvmTuiApp:
    hosts = tuple(HostSpec(name, host.uri_tcp) for name, host in lab.hosts.items())
    return KvmTuiApp(Settings(hosts=hosts, readonly=False, refresh=1.0, theme=None, demo=False))


def _remove(lab: LabInfo, pool: str) -> None:
    """What the test made, gone whatever happened (each step may find nothing to do)."""
    lab.virsh("hosta", "destroy", NAME)
    lab.virsh("hosta", "undefine", NAME)
    lab.virsh("hosta", "vol-delete", f"{NAME}.qcow2", "--pool", pool)


async def _lab_listed(pilot) -> None:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (
            sum(h.connected for h in app.fleet.hosts) == 2
            and any(g.name == "linux-a1" for g in app.fleet.snapshot().guests)
        ),
        30,
        "both lab hosts listed",
    )


async def test_created_guest_boots_to_the_ready_line_in_kvmtuis_console(lab_fresh: LabInfo):
    pool = lab_fresh.raw["pool"]["name"]
    _remove(lab_fresh, pool)
    line = shlex.join(
        [
            "create",
            "--host",
            "hosta",
            "--vcpus",
            "1",
            "--memory",
            "128M",
            "--disk",
            "64M",
            "--pool",
            pool,
            "--kernel",
            lab_fresh.raw["kernel"],
            "--initrd",
            lab_fresh.raw["initrd"],
            "--cmdline",
            f"console=ttyS0 kvmtui.name={NAME}",
            "--virt-type",
            "qemu",
            "--network",
            "kvmtui-nat",
            "--start",
            "--console",
            NAME,
        ]
    )
    app = _lab_app(lab_fresh)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await _lab_listed(pilot)
            await pilot.press("colon", *keys(line), "enter")
            await wait_for(
                pilot,
                lambda: isinstance(app.screen, ConfirmScreen),
                20,
                "the confirmation with the XML",
            )
            assert f"volume {NAME}.qcow2 in pool {pool}" in text_of(
                app.screen.query_one("#detail", Static)
            )
            await pilot.press("tab", "enter")
            await wait_for(
                pilot,
                lambda: any(
                    f"{NAME} created on hosta with volume {NAME}.qcow2" in n
                    for n in notifications(app)
                ),
                30,
                "the guest created",
            )
            await wait_for(
                pilot, lambda: isinstance(app.screen, ConsoleScreen), 30, "the new guest's console"
            )

            def shown() -> str:
                return "\n".join(app.screen.query_one(TerminalView).display_lines())

            await wait_for(pilot, lambda: READY_LINE in shown(), 120, "the ready line")
            await pilot.press("enter", *keys("echo made-$((6*7))"), "enter")
            await wait_for(pilot, lambda: "made-42" in shown(), 30, "a shell answering")
        volume = lab_fresh.virsh("hosta", "vol-dumpxml", "--pool", pool, f"{NAME}.qcow2")
        assert "<format type='qcow2'/>" in volume.stdout, volume.stderr
    finally:
        _remove(lab_fresh, pool)


async def test_a_failed_start_leaves_no_guest_and_no_volume(lab_fresh: LabInfo):
    """A kernel path that is not there: the definition is made, the start fails, and the
    undo removes the guest and its new volume."""
    pool = lab_fresh.raw["pool"]["name"]
    _remove(lab_fresh, pool)
    app = _lab_app(lab_fresh)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await _lab_listed(pilot)
            app.controller.run_command(
                shlex.join(
                    [
                        "create",
                        "--host",
                        "hosta",
                        "--memory",
                        "128M",
                        "--disk",
                        "64M",
                        "--pool",
                        pool,
                        "--kernel",
                        "/nonexistent/vmlinuz",
                        "--virt-type",
                        "qemu",
                        "--start",
                        NAME,
                    ]
                )
            )
            await wait_for(
                pilot, lambda: isinstance(app.screen, ConfirmScreen), 20, "the confirmation"
            )
            await pilot.press("tab", "enter")
            await wait_for(
                pilot,
                lambda: any(
                    n.startswith(f"create {NAME}: start on hosta") for n in notifications(app)
                ),
                60,
                "the failed start reported",
            )
        assert NAME not in lab_fresh.virsh("hosta", "list", "--all", "--name").stdout
        assert f"{NAME}.qcow2" not in lab_fresh.virsh("hosta", "vol-list", pool).stdout
    finally:
        _remove(lab_fresh, pool)


async def test_evacuate_moves_every_running_guest_of_host_a_to_host_b(lab_fresh: LabInfo):
    app = _lab_app(lab_fresh)
    async with app.run_test(size=(80, 24)) as pilot:
        await _lab_listed(pilot)
        running_a = {g.name for g in app.fleet.host("hosta").guests() if g.state.is_active}
        assert running_a, "the lab starts with running guests on host A"
        await pilot.press("colon", *keys("evacuate hosta"), "enter")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ConfirmScreen) and app.screen.query("#detail"),
            30,
            "the plan",
        )
        plan = text_of(app.screen.query_one("#detail", Static))
        assert all(f"{name} -> hostb" in plan for name in running_a), plan
        await pilot.press("tab", "enter")
        await wait_for(
            pilot,
            lambda: any(n.startswith("hosta evacuated: ") for n in notifications(app)),
            180,
            "the evacuation to finish",
        )
        assert not [n for n in notifications(app) if n.startswith("evacuate hosta:")]
    on_a = lab_fresh.virsh("hosta", "list", "--name").stdout.split()
    on_b = lab_fresh.virsh("hostb", "list", "--name").stdout.split()
    assert on_a == []
    assert running_a <= set(on_b)


async def test_cloud_init_seed_is_uploaded_beside_an_overlay_disk(lab_fresh: LabInfo, tmp_path):
    """A cloud image imported with a new overlay disk and a NoCloud seed: the seed goes up
    over host A's own libvirt connection (a volume upload) and reads back as the ISO."""
    pool = lab_fresh.raw["pool"]["name"]
    base = f"{NAME}-base.img"
    _remove(lab_fresh, pool)
    lab_fresh.virsh("hosta", "vol-delete", f"{NAME}-seed.iso", "--pool", pool)
    lab_fresh.virsh("hosta", "vol-delete", base, "--pool", pool)
    made = lab_fresh.virsh("hosta", "vol-create-as", pool, base, "16M", "--format", "raw")
    assert made.returncode == 0, made.stderr
    base_path = lab_fresh.virsh("hosta", "vol-path", base, "--pool", pool).stdout.strip()
    key = tmp_path / "ops.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvmtuiLabKey ops@jumpbox\n")
    app = _lab_app(lab_fresh)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await _lab_listed(pilot)
            app.controller.run_command(
                shlex.join(
                    [
                        "create",
                        "--host",
                        "hosta",
                        "--memory",
                        "128M",
                        "--import",
                        base_path,
                        "--disk",
                        "64M",
                        "--pool",
                        pool,
                        "--virt-type",
                        "qemu",
                        "--cloud-init",
                        "--user",
                        "ops",
                        "--ssh-key",
                        str(key),
                        NAME,
                    ]
                )
            )
            await wait_for(
                pilot, lambda: isinstance(app.screen, ConfirmScreen), 20, "the confirmation"
            )
            await pilot.press("tab", "enter")
            await wait_for(
                pilot,
                lambda: any(f"{NAME} created on hosta" in n for n in notifications(app)),
                60,
                "created",
            )
        overlay = lab_fresh.virsh("hosta", "vol-dumpxml", "--pool", pool, f"{NAME}.qcow2")
        assert f"<path>{base_path}</path>" in overlay.stdout  # backed by the image
        seed = tmp_path / "seed.iso"
        got = lab_fresh.virsh(
            "hosta", "vol-download", "--pool", pool, f"{NAME}-seed.iso", str(seed)
        )
        assert got.returncode == 0, got.stderr
        assert b"cidata" in seed.read_bytes()[32768:34816]  # the volume label, as written
        assert b"AAAAC3NzaC1lZDI1NTE5AAAAIKvmtuiLabKey" in seed.read_bytes()
    finally:
        _remove(lab_fresh, pool)
        lab_fresh.virsh("hosta", "vol-delete", f"{NAME}-seed.iso", "--pool", pool)
        lab_fresh.virsh("hosta", "vol-delete", base, "--pool", pool)
