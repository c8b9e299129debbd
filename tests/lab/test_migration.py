"""Live migration between the lab's two hosts, through the core, checked with virsh."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kvmtui.core.fleet import Fleet
from kvmtui.core.host import HostError
from kvmtui.core.migration import JobState, MigrationManager, MigrationOptions
from kvmtui.core.model import GuestSnapshot, HostSpec

from .labinfo import LabInfo

GUEST = "linux-a1"
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def fleet(lab_fresh: LabInfo) -> AsyncIterator[Fleet]:
    fleet = Fleet([HostSpec(name, host.uri_tcp) for name, host in lab_fresh.hosts.items()], 1.0)
    await fleet.start()
    await _until(lambda: all(h.connected for h in fleet.hosts), "both hosts connected")
    try:
        yield fleet
    finally:
        await fleet.close()


async def _until(predicate, what: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def _guest(fleet: Fleet, host: str) -> GuestSnapshot:
    for guest in fleet.snapshot().guests:
        if guest.name == GUEST and guest.host == host:
            return guest
    raise AssertionError(f"{GUEST} not seen on {host}")


def _virsh_state(lab: LabInfo, host: str) -> str:
    """`running`, `shut off`, ... or '' when the host has no such domain."""
    cp = lab.virsh(host, "domstate", GUEST)
    return cp.stdout.strip() if cp.returncode == 0 else ""


async def _migrate_and_watch(
    manager: MigrationManager, guest: GuestSnapshot, dest: str, bandwidth: int
) -> list[int]:
    """Runs one migration to its end, reading its progress as a screen would."""
    job = manager.start(guest, dest, MigrationOptions(bandwidth_mib=bandwidth))
    processed: list[int] = []
    while not manager.job(job.id).state.finished:
        latest = manager.job(job.id).latest
        if latest is not None and latest.data_processed is not None:
            processed.append(latest.data_processed)
        await asyncio.sleep(0.2)
    done = manager.job(job.id)
    assert done.state is JobState.SUCCEEDED, done.message
    took = (done.finished or 0) - (done.started or 0)
    assert done.samples >= 8, f"only {done.samples} progress samples in {took:.1f} s"
    assert processed == sorted(processed), "processed bytes went backwards"
    assert done.final is not None and done.final.data_processed, "no final figures"
    assert done.final.data_processed >= processed[-1]
    assert done.final.data_total and done.final.data_total > 100 * 2**20
    return processed


async def test_live_migration_there_and_back_with_progress(fleet: Fleet, lab_fresh: LabInfo):
    # 8 MiB/s makes each way last about 14 s: long enough for many samples even when the
    # two-core CI machine answers a reading only every second or so (the sampler asks for
    # three a second; libvirt serialises them with the tick's stats on the same guest).
    manager = MigrationManager(fleet)
    await _migrate_and_watch(manager, _guest(fleet, "hosta"), "hostb", bandwidth=8)
    assert _virsh_state(lab_fresh, "hostb") == "running"
    assert _virsh_state(lab_fresh, "hosta") == ""  # undefined on the source
    await _until(
        lambda: any(g.name == GUEST and g.host == "hostb" for g in fleet.snapshot().guests),
        "the guest table on hostb",
    )
    assert not any(g.name == GUEST and g.host == "hosta" for g in fleet.snapshot().guests)

    await _migrate_and_watch(manager, _guest(fleet, "hostb"), "hosta", bandwidth=8)
    assert _virsh_state(lab_fresh, "hosta") == "running"
    assert _virsh_state(lab_fresh, "hostb") == ""


async def test_bulk_migration_keeps_to_the_concurrency_limit(fleet: Fleet, lab_fresh: LabInfo):
    manager = MigrationManager(fleet)
    assert manager.concurrency == 2
    names = ["linux-a1", "smp-a1", "tiny-a1"]
    guests = {g.name: g for g in fleet.snapshot().guests if g.host == "hosta"}
    jobs = [
        manager.start(guests[name], "hostb", MigrationOptions(bandwidth_mib=20)).id
        for name in names
    ]
    most_running, third_waited = 0, False
    while not all(manager.job(j).state.finished for j in jobs):
        states = [manager.job(j).state for j in jobs]
        most_running = max(most_running, states.count(JobState.RUNNING))
        third_waited |= states == [JobState.RUNNING, JobState.RUNNING, JobState.QUEUED]
        await asyncio.sleep(0.1)
    assert most_running == 2
    assert third_waited, "the third migration never waited for a free slot"
    for job_id in jobs:
        assert manager.job(job_id).state is JobState.SUCCEEDED, manager.job(job_id).message
    for name in names:
        assert lab_fresh.virsh("hostb", "domstate", name).stdout.strip() == "running"


async def test_abort_midway_leaves_the_guest_on_the_source(fleet: Fleet, lab_fresh: LabInfo):
    manager = MigrationManager(fleet)
    guest = _guest(fleet, "hosta")
    job = manager.start(guest, "hostb", MigrationOptions(bandwidth_mib=10))
    await _until(lambda: manager.job(job.id).samples >= 3, "progress samples")
    assert "aborted" in await manager.abort("hosta", guest.uuid)
    done = await asyncio.wait_for(manager.wait(job.id), 30)
    assert done.state is JobState.ABORTED
    assert f"{GUEST} is still running on hosta" in done.message
    assert _virsh_state(lab_fresh, "hosta") == "running"
    assert _virsh_state(lab_fresh, "hostb") == ""


async def test_migrating_to_a_stopped_host_fails_cleanly(fleet: Fleet, lab_fresh: LabInfo):
    manager = MigrationManager(fleet)
    guest = _guest(fleet, "hosta")
    lab_fresh.stop_host("hostb")
    try:
        job = manager.start(guest, "hostb", MigrationOptions(bandwidth_mib=20))
        done = await asyncio.wait_for(manager.wait(job.id), 60)
    finally:
        lab_fresh.start_host("hostb")
    assert done.state is JobState.FAILED
    assert "migration failed (hosta -> hostb): " in done.message
    assert f"{GUEST} is still running on hosta" in done.message
    assert _virsh_state(lab_fresh, "hosta") == "running"


async def test_destination_dying_midway_fails_with_the_guest_on_the_source(
    fleet: Fleet, lab_fresh: LabInfo
):
    manager = MigrationManager(fleet)
    guest = _guest(fleet, "hosta")
    job = manager.start(guest, "hostb", MigrationOptions(bandwidth_mib=5))
    await _until(lambda: manager.job(job.id).samples >= 3, "progress samples")
    try:
        # The fleet sees hostb lost and lets go of its connection while migrate3 still
        # carries it: that must fail the job, never crash kvmtui.
        lab_fresh.stop_host("hostb")
        done = await asyncio.wait_for(manager.wait(job.id), 90)
    finally:
        lab_fresh.start_host("hostb")
    assert done.state is JobState.FAILED, done.message
    assert "migration failed (hosta -> hostb): " in done.message
    assert f"{GUEST} is still running on hosta" in done.message
    assert _virsh_state(lab_fresh, "hosta") == "running"
    await _until(lambda: fleet.host("hostb").connected, "hostb reconnected", timeout=60)
    assert fleet.host("hosta").guest(guest.uuid) is not None


async def test_closing_the_fleet_aborts_a_running_migration(lab_fresh: LabInfo):
    fleet = Fleet([HostSpec(n, h.uri_tcp) for n, h in lab_fresh.hosts.items()], 1.0)
    await fleet.start()
    try:
        await _until(lambda: all(h.connected for h in fleet.hosts), "both hosts connected")
        manager = MigrationManager(fleet)
        job = manager.start(_guest(fleet, "hosta"), "hostb", MigrationOptions(bandwidth_mib=5))
        await _until(lambda: manager.job(job.id).samples >= 2, "progress samples")
    finally:
        await fleet.close()
    assert manager.job(job.id).state is JobState.ABORTED
    assert _virsh_state(lab_fresh, "hosta") == "running"
    assert _virsh_state(lab_fresh, "hostb") == ""


async def test_switch_to_postcopy_or_a_clear_refusal(fleet: Fleet, lab_fresh: LabInfo):
    manager = MigrationManager(fleet)
    guest = _guest(fleet, "hosta")
    job = manager.start(guest, "hostb", MigrationOptions.from_flags({"postcopy"}, bandwidth_mib=10))
    await _until(lambda: manager.job(job.id).samples >= 3, "progress samples")
    try:
        said = await manager.start_postcopy("hosta", guest.uuid)
    except HostError as refusal:
        # TCG guests may not support post-copy: libvirt's reason must reach the operator.
        assert "migrate-postcopy linux-a1 on hosta:" in str(refusal)
        await manager.abort("hosta", guest.uuid)
        done = await asyncio.wait_for(manager.wait(job.id), 30)
        assert done.state is JobState.ABORTED
        assert _virsh_state(lab_fresh, "hosta") == "running"
        return
    assert "post-copy" in said
    assert manager.job(job.id).postcopy
    done = await asyncio.wait_for(manager.wait(job.id), 60)
    assert done.state is JobState.SUCCEEDED, done.message
    assert _virsh_state(lab_fresh, "hostb") == "running"
