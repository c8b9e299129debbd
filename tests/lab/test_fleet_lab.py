"""kvmtui's core and UI against the real two-host lab: real libvirtd, QEMU guests, sshd.

Covers the foundation's promises that only real daemons can show: lifecycle actions on real
guests over both URI kinds, real CPU load, events from plain `virsh` within a second, a host
whose daemon dies and comes back, and a dead URI at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.fleet import Fleet
from kvmtui.core.model import GuestSnapshot, GuestState, HostSpec, Link
from kvmtui.screens.confirm import ConfirmScreen
from tests.ui.helpers import fleet_ready, notifications, select, status, wait_for

pytestmark = pytest.mark.timeout(240)


async def until(predicate, timeout: float, what: str) -> float:
    """Waits for `predicate()`; returns how long it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


@contextlib.asynccontextmanager
async def lab_fleet(lab, kind: str, refresh: float = 1.0) -> AsyncIterator[Fleet]:
    uri = "uri_tcp" if kind == "tcp" else "uri_ssh"
    fleet = Fleet([HostSpec(name, getattr(h, uri)) for name, h in lab.hosts.items()], refresh)
    await fleet.start()
    try:
        await until(
            lambda: all(h.link is Link.CONNECTED for h in fleet.snapshot().hosts),
            30,
            "both lab hosts connected",
        )
        yield fleet
    finally:
        await fleet.close()


def find(fleet: Fleet, name: str) -> GuestSnapshot | None:
    return next((g for g in fleet.snapshot().guests if g.name == name), None)


def state_of(fleet: Fleet, name: str) -> GuestState | None:
    guest = find(fleet, name)
    return guest.state if guest else None


@pytest.mark.parametrize("kind", ["tcp", "ssh"])
async def test_both_hosts_and_all_guests_over_each_uri_kind(lab, kind):
    async with lab_fleet(lab, kind) as fleet:
        await until(lambda: len(fleet.snapshot().guests) >= len(lab.guests), 10, "all guests")
        snapshot = fleet.snapshot()
        on = {(g.name, g.host) for g in snapshot.guests}
        for guest in lab.guests.values():
            assert (guest.name, guest.host) in on
        hosts = {h.name: h for h in snapshot.hosts}
        assert hosts["hostb"].info.hostname == "hostb"
        assert all(h.info.libvirt_version and h.info.cpus for h in hosts.values())


async def test_every_lifecycle_action_through_the_core(lab, lab_fresh):
    async with lab_fleet(lab, "tcp") as fleet:
        guest = find(fleet, "tiny-a2")
        assert guest is not None and guest.state is GuestState.SHUTOFF
        steps = [
            ("start", GuestState.RUNNING),
            ("suspend", GuestState.PAUSED),
            ("resume", GuestState.RUNNING),
            ("reboot", GuestState.RUNNING),
            ("reset", GuestState.RUNNING),
            ("managedsave", GuestState.SHUTOFF),
            ("start", GuestState.RUNNING),  # restores the managed save
            ("destroy", GuestState.SHUTOFF),
        ]
        for verb, expected in steps:
            message = await fleet.perform(find(fleet, "tiny-a2"), verb)
            assert "tiny-a2 on hosta" in message
            await until(
                lambda e=expected: state_of(fleet, "tiny-a2") is e,
                10,
                f"{verb} -> {expected.value}",
            )
        await fleet.perform(find(fleet, "tiny-a2"), "autostart")
        await until(lambda: find(fleet, "tiny-a2").autostart, 5, "autostart on")
        assert "autostart" in lab.virsh("hosta", "dominfo", "tiny-a2").stdout.lower()
        await fleet.perform(find(fleet, "tiny-a2"), "autostart", disable=True)
        await until(lambda: not find(fleet, "tiny-a2").autostart, 5, "autostart off")
        # shutdown asks the guest (ACPI); an OS-less guest ignores it, a request is all we see
        await fleet.perform(find(fleet, "tiny-a1"), "shutdown")


async def test_undefine_removes_a_stopped_guest(lab, lab_fresh, tmp_path):
    xml = lab.virsh("hosta", "dumpxml", "tiny-a2").stdout
    xml = xml.replace("<name>tiny-a2</name>", "<name>scratch-a9</name>")
    xml = "\n".join(line for line in xml.splitlines() if "<uuid>" not in line)
    path = tmp_path / "scratch.xml"
    path.write_text(xml)
    async with lab_fleet(lab, "tcp") as fleet:
        try:
            assert lab.virsh("hosta", "define", str(path)).returncode == 0
            await until(
                lambda: find(fleet, "scratch-a9") is not None,
                1.0,
                "a guest defined with virsh to appear (event)",
            )
            await fleet.perform(find(fleet, "scratch-a9"), "undefine")
            await until(lambda: find(fleet, "scratch-a9") is None, 5, "undefined guest gone")
            assert "scratch-a9" not in lab.virsh("hosta", "list", "--all").stdout
        finally:
            lab.virsh("hosta", "undefine", "scratch-a9")


async def test_busy_guest_shows_far_more_cpu_than_an_idle_one(lab):
    async with lab_fleet(lab, "tcp") as fleet:

        def cpu(name: str) -> float | None:
            guest = find(fleet, name)
            return guest.rates.cpu_percent if guest else None

        def apart() -> bool:
            busy, idle = cpu("busy-a1"), cpu("tiny-a1")
            return busy is not None and idle is not None and busy > 20 and busy > idle + 15

        # The first rates may cover the guests' start-up; a few refreshes settle them. The
        # lab's busy-a1 spins its vCPU 40 % of the time (scripts/lab-guest/init).
        await until(apart, 15, "busy-a1 over 20 % and 15 points over tiny-a1")
        hosta = next(h for h in fleet.snapshot().hosts if h.name == "hosta")
        assert hosta.load.cpu_percent is not None and hosta.load.cpu_percent > 0


async def test_virsh_start_and_destroy_show_within_a_second(lab, lab_fresh):
    # A slow tick proves the change came by event, not by the next poll.
    async with lab_fleet(lab, "tcp", refresh=30.0) as fleet:
        assert state_of(fleet, "tiny-a2") is GuestState.SHUTOFF
        assert lab.virsh("hosta", "start", "tiny-a2").returncode == 0
        took = await until(
            lambda: state_of(fleet, "tiny-a2") is GuestState.RUNNING, 1.0, "virsh start seen"
        )
        assert lab.virsh("hosta", "destroy", "tiny-a2").returncode == 0
        took2 = await until(
            lambda: state_of(fleet, "tiny-a2") is GuestState.SHUTOFF, 1.0, "virsh destroy seen"
        )
        print(f"start seen after {took:.3f} s, destroy after {took2:.3f} s")


async def test_host_b_dies_and_comes_back_while_a_keeps_updating(lab, lab_fresh):
    async with lab_fleet(lab, "tcp") as fleet:

        def link(name: str) -> Link:
            return next(h.link for h in fleet.snapshot().hosts if h.name == name)

        try:
            lab.stop_host("hostb")
            took = await until(lambda: link("hostb") is Link.LOST, 15, "hostb marked lost")
            hostb = next(h for h in fleet.snapshot().hosts if h.name == "hostb")
            assert hostb.reason, "a lost host says why"
            version = fleet.snapshot().version
            await until(lambda: fleet.snapshot().version > version + 2, 5, "hosta keeps updating")
            assert link("hosta") is Link.CONNECTED
            print(f"hostb lost after {took:.2f} s: {hostb.reason}")
        finally:
            lab.start_host("hostb")
        back = await until(
            lambda: link("hostb") is Link.CONNECTED, 45, "hostb reconnected without a restart"
        )
        await until(lambda: find(fleet, "linux-b1") is not None, 5, "hostb's guests back")
        print(f"hostb back {back:.1f} s after its daemon restarted")


async def test_dead_uri_at_startup_is_a_lost_host_and_the_rest_works(lab):
    specs = [
        HostSpec("hosta", lab.hosts["hosta"].uri_tcp),
        HostSpec("nowhere", f"qemu+tcp://{lab.hosts['hostb'].address}:1/system"),
    ]
    fleet = Fleet(specs, 1.0)
    await fleet.start()
    try:
        await until(
            lambda: (
                {h.name: h.link for h in fleet.snapshot().hosts}
                == {"hosta": Link.CONNECTED, "nowhere": Link.LOST}
            ),
            20,
            "one up, one lost",
        )
        nowhere = next(h for h in fleet.snapshot().hosts if h.name == "nowhere")
        assert "refused" in nowhere.reason.lower() or "unable to connect" in nowhere.reason
        assert find(fleet, "tiny-a1") is not None
    finally:
        await fleet.close()


async def test_ui_actions_on_real_guests(lab, lab_fresh):
    settings = Settings(
        hosts=tuple(HostSpec(n, h.uri_tcp) for n, h in lab.hosts.items()),
        readonly=False,
        refresh=1.0,
        theme=None,
        demo=False,
    )
    app = KvmTuiApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await fleet_ready(pilot, guests=len(lab.guests))
        assert "hosts 2/2 up" in status(app)
        await select(pilot, "tiny-a1@hosta")
        await pilot.press("p")
        await wait_for(pilot, lambda: app.screen.table.current.state is GuestState.PAUSED, 10)
        assert any("tiny-a1 on hosta: suspended" in n for n in notifications(app))
        assert "paused" in lab.virsh("hosta", "domstate", "tiny-a1").stdout
        await pilot.press("u")
        await wait_for(pilot, lambda: app.screen.table.current.state is GuestState.RUNNING, 10)
        await select(pilot, "tiny-b1@hostb")
        await pilot.press("ctrl+k", "tab", "enter")
        await wait_for(pilot, lambda: app.screen.table.current.state is GuestState.SHUTOFF, 10)
        assert "shut off" in lab.virsh("hostb", "domstate", "tiny-b1").stdout
        await pilot.press("s")
        await wait_for(pilot, lambda: app.screen.table.current.state is GuestState.RUNNING, 10)


async def test_reset_from_the_table_really_restarts_the_guest(lab, lab_fresh):
    """Ctrl+E, confirmed, resets the real guest: its kernel boots again (a second ready line
    on its serial log) inside the same QEMU process (the domain id is kept)."""
    target = lab.guests["linux-a1"]
    assert target.serial_log is not None
    ready = lab.raw["ready_line"]

    def boots() -> int:
        return target.serial_log.read_text(errors="replace").count(ready)

    settings = Settings(
        hosts=tuple(HostSpec(n, h.uri_tcp) for n, h in lab.hosts.items()),
        readonly=False,
        refresh=1.0,
        theme=None,
        demo=False,
    )
    app = KvmTuiApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await fleet_ready(pilot, guests=len(lab.guests))
        await until(lambda: boots() >= 1, 120, "linux-a1 booted once")
        before, domain_id = boots(), lab.virsh("hosta", "domid", "linux-a1").stdout.strip()
        await select(pilot, "linux-a1@hosta")
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("tab", "enter")
        await wait_for(
            pilot,
            lambda: any("linux-a1" in n and ": reset" in n for n in notifications(app)),
            10,
            "reset notice",
        )
        await until(lambda: boots() > before, 120, "linux-a1 booted again after the reset")
        assert lab.virsh("hosta", "domid", "linux-a1").stdout.strip() == domain_id
