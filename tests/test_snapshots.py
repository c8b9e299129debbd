"""Snapshots on libvirt's test:/// driver: what an operator sees after each snapshot verb."""

from __future__ import annotations

import asyncio
import time

import libvirt
import pytest

from kvmtui.core import snapshots
from kvmtui.core.host import Host, HostError
from kvmtui.core.model import GuestState
from tests.nodes import (
    OFF_UUID,
    WEB_UUID,
    connected_fleet,
    guest,
    node_host,
    node_specs,
    until,
)


async def _names(host: Host, uuid: str = WEB_UUID) -> list[str]:
    return [s.name for s in await snapshots.list_snapshots(host, uuid)]


async def test_created_snapshots_are_listed_oldest_first_with_what_they_hold(tmp_path):
    async with node_host(tmp_path) as host:
        first = await snapshots.create_snapshot(
            host, WEB_UUID, "before-patch", description="kernel 6.1 → 6.6"
        )
        assert snapshots.created_sentence(first) == (
            "web on kvm1: snapshot before-patch created (internal, disk+memory)"
        )
        await snapshots.create_snapshot(host, WEB_UUID, "after-patch")
        listed = await snapshots.list_snapshots(host, WEB_UUID)
    assert [s.name for s in listed] == ["before-patch", "after-patch"]
    before, after = listed
    assert before.description == "kernel 6.1 → 6.6"
    assert before.state == "running" and before.memory and not before.external
    assert not before.current and before.parent is None
    assert after.current and after.parent == "before-patch"
    assert after.created is not None and before.created is not None
    assert after.created >= before.created


async def test_a_shut_off_guest_snapshot_holds_no_memory(tmp_path):
    async with node_host(tmp_path) as host:
        snap = await snapshots.create_snapshot(host, OFF_UUID, "cold")
    assert snap.state == "shutoff" and not snap.memory and snap.kind == "internal, disk only"


async def test_without_a_name_libvirt_chooses_one(tmp_path):
    async with node_host(tmp_path) as host:
        snap = await snapshots.create_snapshot(host, WEB_UUID, None)
        assert await _names(host) == [snap.name]
    assert snap.name.isdigit()  # libvirt names it after the time, as virsh shows


async def test_names_and_descriptions_are_kept_literally(tmp_path):
    hostile = "pre[b]<patch> & 'x'"
    async with node_host(tmp_path) as host:
        await snapshots.create_snapshot(host, WEB_UUID, hostile, description="</description>")
        (snap,) = await snapshots.list_snapshots(host, WEB_UUID)
    assert (snap.name, snap.description) == (hostile, "</description>")


async def test_revert_brings_back_the_state_at_the_snapshot(tmp_path):
    async with node_host(tmp_path) as host:
        await snapshots.create_snapshot(host, WEB_UUID, "running-ok")
        await snapshots.create_snapshot(host, WEB_UUID, "later")
        await host.perform(WEB_UUID, "destroy")
        await until(lambda: not guest(host, WEB_UUID).state.is_active, "web destroyed")
        said = await snapshots.revert_snapshot(host, WEB_UUID, "running-ok")
        state = await host.run_on_guest(WEB_UUID, lambda dom: dom.state()[0])
        current = await snapshots.current_snapshot(host, WEB_UUID)
    assert said == "web on kvm1: reverted to snapshot running-ok"
    assert state == libvirt.VIR_DOMAIN_RUNNING
    assert current is not None and current.name == "running-ok"


async def test_revert_can_leave_the_guest_paused(tmp_path):
    async with node_host(tmp_path) as host:
        await snapshots.create_snapshot(host, WEB_UUID, "s")
        await snapshots.revert_snapshot(host, WEB_UUID, "s", paused=True)
        # The table follows libvirt's lifecycle event.
        await until(lambda: guest(host, WEB_UUID).state is GuestState.PAUSED, "web paused")


async def test_unknown_snapshot_is_one_line_naming_guest_host_and_libvirt(tmp_path):
    async with node_host(tmp_path) as host:
        await snapshots.create_snapshot(host, WEB_UUID, "real")
        for attempt in (
            snapshots.revert_snapshot(host, WEB_UUID, "nope"),
            snapshots.delete_snapshot(host, WEB_UUID, "nope"),
            snapshots.set_current(host, WEB_UUID, "nope"),
        ):
            with pytest.raises(HostError) as caught:
                await attempt
            message = str(caught.value)
            assert "web on kvm1" in message and "'nope'" in message and "\n" not in message
        assert await _names(host) == ["real"]


async def test_an_existing_name_is_refused_and_nothing_changes(tmp_path):
    async with node_host(tmp_path) as host:
        await snapshots.create_snapshot(host, WEB_UUID, "one", description="first")
        with pytest.raises(HostError, match=r"^snapshot-create-as web on kvm1: .*one"):
            await snapshots.create_snapshot(host, WEB_UUID, "one", description="second")
        (snap,) = await snapshots.list_snapshots(host, WEB_UUID)
    assert snap.description == "first"


async def test_disk_only_goes_to_libvirt_and_its_refusal_is_shown(tmp_path):
    # The test driver takes no external snapshots: its own reason reaches the operator.
    async with node_host(tmp_path) as host:
        with pytest.raises(HostError, match=r"web on kvm1: .*unsupported flags"):
            await snapshots.create_snapshot(host, WEB_UUID, "ext", disk_only=True, atomic=True)
        assert await _names(host) == []


async def test_external_snapshots_are_listed_as_such(tmp_path):
    async with node_host(tmp_path) as host:

        def redefine(dom: libvirt.virDomain) -> None:
            # What `snapshot-create-as --disk-only` leaves behind on a real host.
            dom.snapshotCreateXML(
                "<domainsnapshot><name>ext</name><state>disk-snapshot</state>"
                "<creationTime>1700000000</creationTime><memory snapshot='no'/>"
                "<disks><disk name='vda' snapshot='external' type='file'>"
                "<source file='/var/lib/images/web.ext'/></disk>"
                "<disk name='vdb' snapshot='no'/><disk name='vdc' snapshot='no'/>"
                "<disk name='sda' snapshot='no'/></disks>"
                f"{dom.XMLDesc(0)}</domainsnapshot>",
                libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE,
            )

        await host.run_on_guest(WEB_UUID, redefine)
        await snapshots.create_snapshot(host, WEB_UUID, "internal")
        ext, internal = await snapshots.list_snapshots(host, WEB_UUID)
    assert (ext.name, ext.external, ext.disk_only, ext.memory) == ("ext", True, True, False)
    assert ext.kind == "external, disk only"
    assert ext.created is not None and ext.created.year == 2023
    assert not internal.external and not internal.disk_only


async def test_delete_removes_one_or_a_whole_branch(tmp_path):
    async with node_host(tmp_path) as host:
        for name in ("a", "b", "c"):
            await snapshots.create_snapshot(host, WEB_UUID, name)
        said = await snapshots.delete_snapshot(host, WEB_UUID, "c")
        assert said == "web on kvm1: snapshot c deleted"
        assert await _names(host) == ["a", "b"]
        await snapshots.create_snapshot(host, WEB_UUID, "c2")
        said = await snapshots.delete_snapshot(host, WEB_UUID, "a", children=True)
        assert said == "web on kvm1: snapshot a and 2 below it deleted"
        assert await _names(host) == []
        assert await snapshots.current_snapshot(host, WEB_UUID) is None


async def test_snapshot_current_marks_another_without_reverting(tmp_path):
    async with node_host(tmp_path) as host:
        await snapshots.create_snapshot(host, WEB_UUID, "old")
        await snapshots.create_snapshot(host, WEB_UUID, "new")
        said = await snapshots.set_current(host, WEB_UUID, "old")
        listed = await snapshots.list_snapshots(host, WEB_UUID)
    assert said == "web on kvm1: snapshot old is now current"
    assert [(s.name, s.current) for s in listed] == [("old", True), ("new", False)]


async def test_a_read_only_host_refuses_and_keeps_its_snapshots(tmp_path):
    async with node_host(tmp_path, readonly=True) as host:
        with pytest.raises(HostError, match=r"web on kvm1: .*read only"):
            await snapshots.create_snapshot(host, WEB_UUID, "x")
        assert await _names(host) == []


async def test_a_host_lists_every_guests_snapshots_at_once(tmp_path):
    async with node_host(tmp_path) as host:
        await snapshots.create_snapshot(host, WEB_UUID, "w1")
        await snapshots.create_snapshot(host, OFF_UUID, "o1")
        await snapshots.create_snapshot(host, WEB_UUID, "w2")
        listed = await snapshots.host_snapshots(host)
    # Guests without snapshots ("bare") have no rows; each guest's rows come oldest first.
    assert sorted((s.guest, s.uuid, s.name, s.current) for s in listed) == [
        ("off", OFF_UUID, "o1", True),
        ("web", WEB_UUID, "w1", False),
        ("web", WEB_UUID, "w2", True),
    ]
    assert [s.name for s in listed if s.guest == "web"] == ["w1", "w2"]


async def test_bulk_snapshot_reports_per_guest_and_in_one_line(tmp_path):
    async with connected_fleet(node_specs(tmp_path, "kvm1", "kvm2")) as fleet:
        book = snapshots.SnapshotBook(fleet)
        kvm1, kvm2 = fleet.hosts
        await snapshots.create_snapshot(kvm2, WEB_UUID, "pre-patch")  # already there: fails
        guests = [
            guest(kvm1, WEB_UUID),
            guest(kvm1, OFF_UUID),
            guest(kvm2, WEB_UUID),
            guest(kvm2, OFF_UUID),
        ]
        bulk = await book.snapshot_guests(
            guests, "pre-patch", description="before the kernel update"
        )
        kvm1_off = await snapshots.list_snapshots(kvm1, OFF_UUID)
        # The book read each guest again: what the view shows is what libvirt has.
        shown = sorted((s.guest, s.host, s.name) for s in book.rows())
    assert [(o.guest.name, o.guest.host, o.ok) for o in bulk.outcomes] == [
        ("web", "kvm1", True),
        ("off", "kvm1", True),
        ("web", "kvm2", False),
        ("off", "kvm2", True),
    ]
    assert bulk.summary.startswith(
        "snapshot pre-patch: 3 of 4 guests on 2 hosts; failed: snapshot-create-as web on kvm2:"
    )
    assert kvm1_off[0].description == "before the kernel update"
    assert shown == [
        ("off", "kvm1", "pre-patch"),
        ("off", "kvm2", "pre-patch"),
        ("web", "kvm1", "pre-patch"),
        ("web", "kvm2", "pre-patch"),
    ]
    assert book.jobs() == []


@pytest.mark.parametrize("name", ["", "  ", "a/b", "pre\x1b[2Jpatch", "x\ny"])
async def test_a_name_no_one_could_type_again_is_refused_before_libvirt(tmp_path, name):
    async with connected_fleet(node_specs(tmp_path)) as fleet:
        book = snapshots.SnapshotBook(fleet)
        (host,) = fleet.hosts
        with pytest.raises(ValueError, match="snapshot name"):
            await book.snapshot_guests(host.guests(), name)
        with pytest.raises(ValueError, match="snapshot name"):
            await snapshots.create_snapshot(host, WEB_UUID, name)
        assert await _names(host) == []


async def test_the_book_lists_the_fleet_and_names_what_a_guest_has(tmp_path):
    async with connected_fleet(node_specs(tmp_path, "kvm1", "kvm2")) as fleet:
        book = snapshots.SnapshotBook(fleet)
        kvm1, kvm2 = fleet.hosts
        await snapshots.create_snapshot(kvm1, WEB_UUID, "a")
        await snapshots.create_snapshot(kvm2, OFF_UUID, "b")
        await book.refresh()
        first = sorted(s.key for s in book.rows())
        with pytest.raises(
            HostError,
            match=r'snapshot-revert web on kvm1: no snapshot "b"'
            r".*\(it has a\)",
        ):
            await book.lookup("snapshot-revert", guest(kvm1, WEB_UUID), "b")
    assert first == [f"{WEB_UUID}@kvm1/a", f"{OFF_UUID}@kvm2/b"]
    assert book.errors == {}


async def test_a_refresh_begun_before_a_change_does_not_bring_back_what_it_removed(tmp_path):
    """The view reads every host's snapshots now and then; one such reading that began
    before a delete and ended after it put the deleted snapshot back on screen."""
    async with connected_fleet(node_specs(tmp_path, "kvm1", "kvm2")) as fleet:
        book = snapshots.SnapshotBook(fleet)
        kvm1, kvm2 = fleet.hosts
        web = guest(kvm1, WEB_UUID)
        await book.create(web, "before")
        await book.create(web, "after")
        # kvm2 answers late: its lane is busy for a second, so the refresh ends last.
        slow = [asyncio.create_task(kvm2.run(lambda _conn: time.sleep(1.0))) for _ in range(2)]
        await asyncio.sleep(0.05)
        refresh = asyncio.create_task(book.refresh())
        await asyncio.sleep(0.05)  # kvm1 has been read, "before" still there
        await book.delete(web, "before")
        assert [s.name for s in book.rows()] == ["after"]
        await refresh
        await asyncio.gather(*slow)
        assert [s.name for s in book.rows()] == ["after"]
        await book.refresh()  # a refresh begun after the change reads it as it is
        assert [s.name for s in book.rows()] == ["after"]
