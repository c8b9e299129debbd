"""Migration foresight on real QEMU: a guest made to write its memory at a steady rate is
forecast not to converge at 8 MiB/s, indeed does not, and at the suggested bandwidth does,
within twice the forecast.

The guest writes its memory through `LabInfo.dirtying` (a busybox loop on its console,
no change to the guest image); QEMU samples 64 pages of a 128 MiB guest, so a reading moves
in steps of 2 MiB/s and can be a third off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from kvmtui.core.fleet import Fleet
from kvmtui.core.foresight import MIB, Foresight, forecast, measure_guests
from kvmtui.core.migration import JobState, MigrationManager, MigrationOptions
from kvmtui.core.model import GuestSnapshot, HostSpec

from .labinfo import LabInfo

GUEST = "linux-a1"
SLOW_MIB = 8
pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def fleet(lab_fresh: LabInfo) -> AsyncIterator[Fleet]:
    fleet = Fleet([HostSpec(name, host.uri_tcp) for name, host in lab_fresh.hosts.items()], 1.0)
    await fleet.start()
    await _until(lambda: _guest(fleet) is not None, f"{GUEST} on hosta")
    try:
        yield fleet
    finally:
        await fleet.close()


def _guest(fleet: Fleet) -> GuestSnapshot | None:
    return next((g for g in fleet.host("hosta").guests() if g.name == GUEST), None)


async def _until(predicate, what: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_a_forecast_of_no_convergence_holds_and_the_suggested_bandwidth_works(
    fleet: Fleet, lab_fresh: LabInfo
):
    guest = _guest(fleet)
    assert guest is not None
    manager = MigrationManager(fleet)
    with lab_fresh.dirtying(GUEST):
        await asyncio.sleep(2)  # the loop's first bursts
        rate = (await measure_guests(fleet, [guest]))[guest.key]
        assert rate.bytes_per_second is not None, rate.problem
        slow = Foresight.of(guest, rate, MigrationOptions(bandwidth_mib=SLOW_MIB))
        assert slow.forecast is not None and not slow.forecast.converges, slow.line
        assert slow.describe().startswith(f"will not converge at {SLOW_MIB} MiB/s: dirties ")

        # The window: what sending the whole memory once takes at that speed, which is all
        # an idle guest needs (and more: its zero pages cost nearly nothing).
        window = forecast(guest.memory_kib * 1024, 0, SLOW_MIB * MIB).seconds
        assert window is not None
        job = manager.start(guest, "hostb", MigrationOptions(bandwidth_mib=SLOW_MIB), slow)
        await asyncio.sleep(window)
        still = manager.job(job.id)
        assert still.state is JobState.RUNNING, still.message
        assert still.foresight == slow
        await manager.abort("hosta", guest.uuid)
        done = await asyncio.wait_for(manager.wait(job.id), 30)
        assert done.state is JobState.ABORTED
        assert f"{GUEST} is still running on hosta" in done.message
        assert lab_fresh.virsh("hosta", "domstate", GUEST).stdout.strip() == "running"

        suggested = slow.forecast.suggested_mib
        options = MigrationOptions(bandwidth_mib=suggested)
        fast = Foresight.of(guest, rate, options)
        assert fast.forecast is not None and fast.forecast.seconds is not None, fast.line
        began = time.monotonic()
        job = manager.start(guest, "hostb", options, fast)
        done = await asyncio.wait_for(manager.wait(job.id), 4 * fast.forecast.seconds + 30)
        took = time.monotonic() - began
        assert done.state is JobState.SUCCEEDED, done.message
        print("FIGURES", slow.line, "|", fast.line, "| took", round(took, 1), "window", window)
        assert took <= 2 * fast.forecast.seconds, (
            f"{took:.1f} s at {suggested} MiB/s; forecast: {fast.line}"
        )
