"""Migration foresight on real QEMU: a guest made to write its memory at a steady rate is
forecast not to converge at 8 MiB/s, indeed does not, and at the suggested bandwidth does,
within twice the forecast.

The guest image is not changed for it: a busybox loop, typed on the serial console, writes
BLOCK_MIB blocks into a file on the guest's tmpfs (/tmp) ten times a second at most, cycling
over a ring of RING_MIB, so a second's writes land on pages not written the second before;
the blocks alternate between two random sources, so every write changes its pages (QEMU's
page sampling compares hashes, and a zero page costs a migration almost nothing). Under TCG
on a busy two-core machine that is 12 to 32 MiB/s as measured (QEMU samples 64 pages of a
128 MiB guest: a reading moves in steps of 2 MiB/s).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest

from kvmtui.core.fleet import Fleet
from kvmtui.core.foresight import MIB, Foresight, forecast, measure_guests
from kvmtui.core.migration import JobState, MigrationManager, MigrationOptions
from kvmtui.core.model import GuestSnapshot, HostSpec

from .labinfo import LabInfo

GUEST = "linux-a1"
#: MiB per write, at most ten writes a second (the loop's own cost under TCG slows it).
BLOCK_MIB = 3
#: The ring the writes cycle over: a second's worth, within the guest's 46 MiB /tmp.
RING_MIB = 30
SLOW_MIB = 8
pytestmark = pytest.mark.timeout(180)


@contextmanager
def dirtying(lab: LabInfo, guest: str) -> Iterator[None]:
    """The guest writes fresh data to its tmpfs, BLOCK_MIB at a time, until the end."""
    slots = RING_MIB // BLOCK_MIB
    lab.guest_shell(
        guest,
        f"head -c {BLOCK_MIB * MIB} /dev/urandom > /tmp/a; "
        f"head -c {BLOCK_MIB * MIB} /dev/urandom > /tmp/b; "
        f"(i=0; while :; do if [ $(( i / {slots} % 2 )) = 0 ]; then f=/tmp/a; else f=/tmp/b; fi; "
        f"dd if=$f of=/tmp/dirt bs=1M count={BLOCK_MIB} seek=$(( i % {slots} * {BLOCK_MIB} )) "
        "conv=notrunc 2>/dev/null; i=$((i+1)); sleep 0.1; done) "
        "</dev/null >/dev/null 2>&1 & echo $! > /tmp/dirt.pid",
    )
    try:
        yield
    finally:
        lab.guest_shell(guest, "kill $(cat /tmp/dirt.pid); rm -f /tmp/dirt /tmp/a /tmp/b")


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
    with dirtying(lab_fresh, GUEST):
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
