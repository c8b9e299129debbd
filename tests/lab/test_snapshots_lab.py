"""Snapshots of a real running Linux guest on QEMU, through the service the snapshots view
uses: a file written after the snapshot is gone once the guest is reverted to it, as read
in the guest over its serial console; the calls show as under way while they run.

Uses linux-a1 (its qcow2 system disk is mounted at /mnt/disk in the guest) and leaves it as
it found it: no snapshot, no file.
"""

from __future__ import annotations

import asyncio

import pytest

from kvmtui.core.model import GuestState, HostSpec
from kvmtui.core.snapshots import SnapshotBook, SnapshotJob
from tests.nodes import connected_fleet

pytestmark = pytest.mark.timeout(300)

GUEST = "linux-a1"
SNAP = "kvmtui-lab-snap"
FILE = "/mnt/disk/kvmtui-snaptest"


async def _shell(lab, command: str) -> str:
    return await asyncio.to_thread(lab.guest_shell, GUEST, command, 60)


async def test_revert_of_a_running_guest_forgets_what_it_wrote_since(lab_fresh):
    lab = lab_fresh
    spec = HostSpec("hosta", lab.host("hosta").uri_tcp)
    async with connected_fleet([spec]) as fleet:
        book = SnapshotBook(fleet)
        seen: list[SnapshotJob] = []
        book.add_listener(lambda: seen.extend(book.jobs()))
        (host,) = fleet.hosts
        guest = next(g for g in host.guests() if g.name == GUEST)
        assert guest.state is GuestState.RUNNING
        await _shell(lab, f"echo before > {FILE} && sync")
        try:
            snap = await book.create(guest, SNAP, description="lab test")
            assert (snap.state, snap.memory, snap.external) == ("running", True, False)
            assert [(s.name, s.current) for s in book.rows()] == [(SNAP, True)]
            assert seen and seen[0].what == f"taking {SNAP}" and book.jobs() == []

            await _shell(lab, f"echo after > {FILE} && echo new > {FILE}-new && sync")
            assert "after" in await _shell(lab, f"cat {FILE}")

            said = await book.revert(guest, SNAP)
            assert said == f"{GUEST} on hosta: reverted to snapshot {SNAP}"
            # The guest runs on from the moment of the snapshot: memory and disk.
            out = await _shell(lab, f"cat {FILE}; ls {FILE}-new 2>&1")
            assert "before" in out and "after" not in out
            assert "No such file" in out
            assert fleet.find_guest(guest.key).state is GuestState.RUNNING
        finally:
            if any(s.name == SNAP for s in book.rows()):
                await book.delete(guest, SNAP)
            await _shell(lab, f"rm -f {FILE} {FILE}-new && sync")
        assert book.rows() == []
