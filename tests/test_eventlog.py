"""The event timeline, the audit trail and the alerts, on libvirt's real test driver and a
real SQLite file: what is kept, across runs, within bounds, and what a broken database
costs (the history only)."""

from __future__ import annotations

import asyncio

import libvirt
import pytest

from kvmtui.core.alerts import AlertRules
from kvmtui.core.eventlog import EventLog, TimelineEvent
from kvmtui.core.fleet import Fleet
from kvmtui.core.host import DomainEvent
from kvmtui.core.journal import CHUNK_ROWS, Retention, parse_since
from kvmtui.core.model import HostSpec
from kvmtui.core.services import Services
from kvmtui.core.store import Store
from tests.nodes import WEB_UUID, connected_fleet, node_specs, until

CRASH = DomainEvent(
    "kvm1",
    WEB_UUID,
    "web",
    "lifecycle",
    libvirt.VIR_DOMAIN_EVENT_STOPPED,
    libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED,
)


def _seen(log: EventLog, what: str) -> list[TimelineEvent]:
    return [e for e in log.rows() if e.what == what]


async def test_libvirt_events_are_kept_in_words_and_read_back_by_the_next_run(tmp_path):
    path = tmp_path / "state" / "kvmtui.db"
    async with connected_fleet(node_specs(tmp_path, "kvm1")) as fleet:
        services = Services(fleet, Store(path))
        await services.open()
        host = fleet.host("kvm1")
        await host.run(lambda conn: conn.lookupByUUIDString(WEB_UUID).destroy())
        await until(lambda: _seen(services.events, "stopped"), "the stop in the timeline")
        (stopped,) = _seen(services.events, "stopped")
        assert (stopped.guest, stopped.host, stopped.detail) == ("web", "kvm1", "destroyed")
        assert stopped.ref == "web@kvm1" and not stopped.alert
    # A new run, on the same file: the timeline is still there.
    async with connected_fleet(node_specs(tmp_path, "kvm1")) as fleet:
        services = Services(fleet, Store(path))
        await services.open()
        assert [e.detail for e in _seen(services.events, "stopped")] == ["destroyed"]
        assert [e.what for e in await services.events.query(parse_since("1h"))] == ["stopped"]


async def test_a_crash_is_an_alert_until_acknowledged_and_survives_a_restart(tmp_path):
    path = tmp_path / "kvmtui.db"
    async with connected_fleet(node_specs(tmp_path, "kvm1")) as fleet:
        services = Services(fleet, Store(path))
        await services.open()
        services.events.note(CRASH)
        (crash,) = services.events.alerts()
        assert (crash.what, crash.detail) == ("crashed", "stopped: failed")
        assert services.events.open_alerts == 1
    async with connected_fleet(node_specs(tmp_path, "kvm1")) as fleet:
        services = Services(fleet, Store(path))
        await services.open()
        assert services.events.open_alerts == 1  # not acknowledged: still open
        assert services.events.acknowledge(services.events.alerts()) == 1
        assert services.events.open_alerts == 0
    async with connected_fleet(node_specs(tmp_path, "kvm1")) as fleet:
        services = Services(fleet, Store(path))
        await services.open()
        assert services.events.open_alerts == 0
        assert [e.acked for e in services.events.rows() if e.alert] == [True]


async def test_rules_choose_the_alerts(tmp_path):
    watchdog = DomainEvent("kvm1", WEB_UUID, "web", "watchdog", params=(1,))
    paused = DomainEvent("kvm1", WEB_UUID, "web", "io-error", params=("/d.img", "vda", 1, "enospc"))
    async with connected_fleet(node_specs(tmp_path, "kvm1")) as fleet:
        log = EventLog(fleet, Store(None), rules=AlertRules(frozenset({"io-error"})))
        await log.open()
        for event in (CRASH, watchdog, paused):
            log.note(event)
        assert [(e.what, e.detail) for e in log.alerts()] == [
            ("I/O error", "disk vda (/d.img): pause, enospc")
        ]
        assert [e.detail for e in _seen(log, "watchdog")] == ["action: pause"]


async def test_a_lost_host_is_an_alert_only_once_it_stays_lost(tmp_path):
    rules = AlertRules(host_lost_after=0.3)
    async with connected_fleet(node_specs(tmp_path, "kvm1")) as fleet:
        log = EventLog(fleet, Store(None), rules=rules)
        await log.open()
        log.note(DomainEvent("kvm1", "", "", "host-lost", params="daemon gone"))
        log.note(DomainEvent("kvm1", "", "", "host-back"))  # back at once: no alert
        await asyncio.sleep(0.5)
        assert [e.what for e in log.rows()] == ["host lost", "host back"]
        assert not log.alerts()
    # A host that cannot be reached at all: its connection says so, and it stays lost.
    fleet = Fleet([HostSpec("gone", f"test://{tmp_path}/no-such-node.xml")], refresh=60.0)
    log = EventLog(fleet, Store(None), rules=rules)
    await log.open()
    await fleet.start()
    try:
        await until(lambda: log.alerts(), "the alert of the host still lost")
        (alert,) = log.alerts()
        assert (alert.what, alert.host) == ("host lost", "gone")
        assert "lost for more than 0.3 s" in alert.detail
    finally:
        await fleet.close()


async def test_a_burst_of_events_is_a_few_writes(tmp_path, monkeypatch):
    store = Store(tmp_path / "kvmtui.db")
    async with connected_fleet(node_specs(tmp_path, "kvm1")) as fleet:
        log = EventLog(fleet, store)
        await log.open()
        writes: list[int] = []
        write = store.write

        async def counted(sql, rows=()):
            writes.append(len(rows))
            await write(sql, rows)

        monkeypatch.setattr(store, "write", counted)
        for _ in range(500):
            log.note(CRASH)
        await until(lambda: sum(writes) == 500, "the batch written")
        assert writes == [CHUNK_ROWS] * (500 // CHUNK_ROWS)  # not one per event
        assert len(await log.query()) == 500


def _on_disk(path) -> int:
    """What `ls` shows of the database: the file and its WAL."""
    return sum(f.stat().st_size for f in path.parent.glob(f"{path.name}*"))


async def test_the_file_on_disk_never_grows_past_the_configured_size(tmp_path):
    """50,000 events in bursts, with `[history] max_size_mb = 1`: after every burst the
    file and its WAL together are within 1 MiB, and the newest events are the ones kept."""
    path = tmp_path / "kvmtui.db"
    store = Store(path)
    bound = 1024 * 1024
    async with connected_fleet(node_specs(tmp_path, "kvm1")) as fleet:
        log = EventLog(fleet, store, Retention(max_bytes=bound))
        await log.open()
        largest = 0
        for _burst in range(10):
            for _ in range(5000):
                log.note(CRASH)
            await log.flush()
            largest = max(largest, _on_disk(path))
        kept = await log.query()
        assert largest <= bound
        assert 1000 < len(kept) < 50_000  # most of 1 MiB holds rows
        assert kept[-1].key == log.rows()[-1].key  # the newest kept, the oldest gone


@pytest.mark.parametrize("fault", ["corrupt", "unwritable"])
async def test_a_broken_database_costs_the_history_only(tmp_path, fault):
    if fault == "corrupt":
        path = tmp_path / "kvmtui.db"
        path.write_bytes(b"not a database, whatever it once was" * 200)
    else:  # its directory cannot be made: a file is in the way (root may write anywhere)
        (tmp_path / "state").write_text("a file, not a directory")
        path = tmp_path / "state" / "kvmtui" / "kvmtui.db"
    async with connected_fleet(node_specs(tmp_path, "kvm1")) as fleet:
        services = Services(fleet, Store(path))
        await services.open()
        assert str(path) in services.store.problem
        assert "runs without history" in services.store.problem
        services.events.note(CRASH)
        await services.events.flush()
        assert [e.what for e in services.events.rows()] == ["crashed"]  # shown, not kept
        assert services.events.open_alerts == 1
        assert [e.what for e in await services.events.query()] == ["crashed"]


def test_since_takes_spans_and_moments():
    assert parse_since("2h", now=10_000.0) == 10_000.0 - 7200
    assert parse_since("1h30m", now=10_000.0) == 10_000.0 - 5400
    assert parse_since("2026-12-01 08:00") > 0
    with pytest.raises(ValueError, match="span back from now"):
        parse_since("yesterday")
