"""The backup catalogue and what is built from it, without a hypervisor: points kept in the
store across runs, points found by name or `latest`, chains with their size and staleness,
and the XML handed to libvirt. (Backups themselves run on QEMU only: tests/lab.)"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from kvmtui.core.backups import (
    BackupFile,
    BackupPlan,
    BackupPoint,
    BackupService,
    BackupSettings,
    DiskToSave,
    backup_xml,
    check_complaint,
    checkpoint_xml,
)
from kvmtui.core.errors import HostError
from kvmtui.core.fleet import Fleet
from kvmtui.core.host_shell import NoShell, Ran, Way, _is_this_machine, run_on_host, way
from kvmtui.core.model import GuestState
from kvmtui.core.services import Services
from kvmtui.core.store import Store
from kvmtui.core.thresholds import next_mark
from tests.nodes import connected_fleet, node_specs, until


def _point(guest: str, hours_ago: float, kind: str = "full", host: str = "kvm1") -> BackupPoint:
    return BackupPoint(
        id=0,
        uuid=f"uuid-{guest}",
        guest=guest,
        host=host,
        time=time.time() - hours_ago * 3600,
        kind=kind,
        size=1 << 20,
        checkpoint=f"kvmtui-{guest}-{hours_ago}",
        pool="backups",
        files=(BackupFile("vda", f"/b/{guest}-{hours_ago}.qcow2", "default", 1 << 30),),
        definition="<domain/>",
        verified=None,
    )


def _service(store: Store, max_age_hours: float = 26.0) -> BackupService:
    return BackupService(Fleet([], 1.0), store, BackupSettings(max_age_hours=max_age_hours))


async def test_points_outlive_the_run_in_the_one_store(tmp_path: Path) -> None:
    path = tmp_path / "kvmtui.db"
    first = Store(path)
    await first.open()
    service = _service(first)
    await service.load()
    saved = await service.record(_point("web1", 2))
    await first.close()

    again = Store(path)
    await again.open()
    later = _service(again)
    await later.load()
    assert later.points() == [saved]
    await again.close()


async def test_chains_add_up_and_the_old_one_is_stale() -> None:
    service = _service(Store(None), max_age_hours=24)
    await service.load()
    for point in (_point("web1", 30), _point("web1", 1, "incremental"), _point("db1", 48)):
        await service.record(point)
    rows = service.rows()
    assert [(r.point.guest, r.position, r.points, r.newest, r.stale) for r in rows] == [
        ("db1", 1, 1, True, True),
        ("web1", 1, 2, False, False),
        ("web1", 2, 2, True, False),
    ]
    assert rows[-1].total == 2 << 20


async def test_a_point_is_found_by_its_name_or_latest_and_nothing_else() -> None:
    service = _service(Store(None))
    await service.load()
    old = await service.record(_point("web1", 5))
    new = await service.record(_point("web1", 1, "incremental"))
    await service.record(_point("web1", 3, host="kvm2"))
    assert service.find_point("web1", "kvm1", "latest") == new
    assert service.find_point("web1", "kvm1", old.name) == old
    with pytest.raises(HostError, match="has backups from kvm1, kvm2: say web1@HOST"):
        service.find_point("web1", None, "latest")
    with pytest.raises(HostError, match='no backup of "db1" in the catalogue'):
        service.find_point("db1", None, "latest")
    with pytest.raises(HostError, match='has no backup "x"'):
        service.find_point("web1", "kvm1", "x")


def _stale_alerts(services: Services) -> list[tuple[str, str, str]]:
    return [(e.ref, e.what, e.detail) for e in services.events.alerts() if e.kind == "backup-stale"]


async def test_a_stale_chain_raises_one_alert_per_newest_point_across_runs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "kvmtui.db"
    settings = BackupSettings(max_age_hours=24)
    async with connected_fleet(node_specs(tmp_path)) as fleet:
        services = Services(fleet, Store(path), backups=settings)
        await services.open()
        await services.backups.load()
        old = await services.backups.record(_point("web1", 30))
        await services.backups.record(_point("db1", 2))  # fresh: no alert
        ((ref, what, detail),) = _stale_alerts(services)
        assert (ref, what) == ("web1@kvm1", "backup stale")
        assert detail == f"newest point {old.name} is 30 h old, over backup_max_age (24 h)"
        await services.backups.refresh()  # looked at again: not raised again
        assert len(_stale_alerts(services)) == 1
    async with connected_fleet(node_specs(tmp_path)) as fleet:  # the next run
        services = Services(fleet, Store(path), backups=settings)
        await services.open()
        await services.backups.load()
        assert len(_stale_alerts(services)) == 1
        services.events.acknowledge(services.events.alerts())
        await services.backups.refresh()
        assert services.events.open_alerts == 0  # acknowledged, and not raised anew
        # a newer point, stale too: its own alert
        newer = await services.backups.record(_point("web1", 25, "incremental"))
        ((_, _, detail),) = _stale_alerts(services)
        assert detail.startswith(f"newest point {newer.name} is 25 h old")


async def test_a_chain_going_stale_later_raises_its_alert_then(tmp_path: Path) -> None:
    """No view on screen and nothing done: the service's own timer notices it."""
    async with connected_fleet(node_specs(tmp_path)) as fleet:
        services = Services(fleet, backups=BackupSettings(max_age_hours=1 / 3600))
        await services.open()
        await services.backups.load()
        await services.backups.record(_point("web1", 0))
        assert not _stale_alerts(services)
        await until(lambda: _stale_alerts(services), "the alert once the point is stale")
        assert services.events.open_alerts == 1


def test_the_backup_and_checkpoint_xml_cover_every_qcow2_disk_and_skip_the_rest() -> None:
    plan = BackupPlan(
        (DiskToSave("vda", "/p/a.qcow2", "default", 1 << 30),),
        ("sdb",),
        "<domain/>",
        "/backups",
        frozenset({"kvmtui-1"}),
    )
    assert backup_xml(plan, {"vda": "/backups/a-1-vda.qcow2"}, "kvmtui-1") == (
        "<domainbackup><incremental>kvmtui-1</incremental><disks>"
        '<disk name="vda" type="file"><target file="/backups/a-1-vda.qcow2" />'
        '<driver type="qcow2" /></disk><disk name="sdb" backup="no" /></disks></domainbackup>'
    )
    assert checkpoint_xml(plan, "kvmtui-2") == (
        "<domaincheckpoint><name>kvmtui-2</name><disks>"
        '<disk name="vda" checkpoint="bitmap" /><disk name="sdb" checkpoint="no" />'
        "</disks></domaincheckpoint>"
    )


async def test_a_guest_neither_running_paused_nor_shut_off_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    async with connected_fleet(node_specs(tmp_path)) as fleet:
        service = BackupService(fleet, Store(None))
        guest = dataclasses.replace(fleet.snapshot().guests[0], state=GuestState.CRASHED)
        with pytest.raises(HostError) as refused:
            await service.backup(guest)
        assert str(refused.value) == (
            f"backup {guest.name} on kvm1: it is crashed; kvmtui backs up running, paused "
            "and shut-off guests only"
        )
        assert service.jobs() == []


def test_qemu_img_checks_complaint_names_what_it_found() -> None:
    clean = '{"check-errors": 0, "filename": "a.qcow2", "format": "qcow2"}'
    assert check_complaint(Ran(0, clean, "")) == ""
    assert check_complaint(Ran(3, '{"check-errors": 0, "leaks": 4}', "Leaked cluster 9")) == ""
    broken = '{"corruptions": 3, "check-errors": 0, "leaks": 1}'
    err = "Leaked cluster 9\nERROR cluster 0 refcount=0 reference=1\nERROR cluster 5\n"
    assert check_complaint(Ran(2, broken, err)) == (
        "3 corruptions (ERROR cluster 0 refcount=0 reference=1)"
    )
    unopened = "qemu-img: Could not open 'a.qcow2': Image is not in qcow2 format\n"
    assert check_complaint(Ran(1, "", unopened)) == (
        "Could not open 'a.qcow2': Image is not in qcow2 format"
    )


def test_a_program_reaches_the_hosts_machine_only_where_kvmtui_has_a_way() -> None:
    assert way("qemu:///system") == (Way.HERE, "")
    assert way("qemu+unix:///system?socket=/s") == (Way.HERE, "")
    assert way("qemu+ssh://root@kvm1/system") == (Way.OPENSSH, "")
    assert way("ssh://root@kvm1") == (Way.SSH_LINK, "")
    assert way("qemu+tcp://10.0.0.5/system") == (Way.NONE, "10.0.0.5")  # this machine's?
    assert way("test:///default") == (Way.NONE, "")
    assert _is_this_machine("127.0.0.1") and not _is_this_machine("192.0.2.1")


async def test_no_shell_on_a_test_driver_host(tmp_path: Path) -> None:
    async with connected_fleet(node_specs(tmp_path)) as fleet:
        with pytest.raises(NoShell, match=r"^no shell on kvm1$"):
            await run_on_host(fleet.host("kvm1"), ["true"])


def test_a_passed_fill_mark_is_set_again_halfway_to_full() -> None:
    assert [next_mark(p) for p in (85, 92, 96, 98, 99)] == [92, 96, 98, 99, 99]
