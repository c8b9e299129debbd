"""What the event timeline costs: the rate it keeps up with, the loop's time per event, and
the bytes each event takes on disk.

A fleet's events come in bursts (a host reconnecting, a bulk action on hundreds of guests,
a migration's iterations), on the event loop. `EventLog.note` must cost the loop little (a
row in memory, a publish), and the batched writes on the store's thread must keep up with
the fastest burst a fleet makes. This feeds `--events` lifecycle events as fast as the loop
takes them (in bursts of `--burst`, a loop turn between bursts) into an EventLog on a real
SQLite file (WAL, synchronous=NORMAL) and reports:

- loop time per event (note(), publish included), in microseconds;
- the sustained rate: events per second from the first note until every row is on disk;
- bytes per kept event (the database's pages in use over the rows), and so how many events
  the default `[history] max_size_mb` holds;
- a retention pass by size over the whole file, in milliseconds.

`--day` instead feeds a day of the soak's churn (benchmarks/soak.py) to the real EventLog,
AuditTrail and Store on one file, with the `[history]` retention given (`--max-size-mb`,
`--max-age-days`; the config's defaults otherwise), in simulated time: the journals' clock
is moved on by the events' own moments, so retention runs on its real schedule without
waiting a day. The churn is the soak's: one virsh change every 2 s, cycling through
suspend, suspend, start, resume, resume, destroy and two live migrations, and host B's
daemon killed every 4 minutes; each change brings the events libvirt sends for it, and
each is also kept in the audit trail as if made through kvmtui (the soak makes them
through virsh: this is the heavier case). After each simulated hour it prints the rows
kept and the database on disk (the file and its WAL) against the configured bound.

Not part of the test suite: `env PYTHONPATH=$PWD .venv/bin/python benchmarks/history.py
[--day [--hours 24] [--max-size-mb 64]]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import libvirt  # noqa: E402

from kvmtui.config import HistoryTable  # noqa: E402
from kvmtui.core import audit, eventlog, journal  # noqa: E402
from kvmtui.core.audit import AuditTrail  # noqa: E402
from kvmtui.core.eventlog import EventLog  # noqa: E402
from kvmtui.core.fleet import Fleet  # noqa: E402
from kvmtui.core.host import DomainEvent  # noqa: E402
from kvmtui.core.journal import Retention  # noqa: E402
from kvmtui.core.model import GuestSnapshot, GuestState  # noqa: E402
from kvmtui.core.store import Store  # noqa: E402


def _event(i: int) -> DomainEvent:
    return DomainEvent(
        f"kvm{i % 10:02d}",
        f"00000000-0000-0000-0000-{i % 1000:012d}",
        f"guest-{i % 1000:04d}",
        "lifecycle",
        libvirt.VIR_DOMAIN_EVENT_STOPPED,
        libvirt.VIR_DOMAIN_EVENT_STOPPED_DESTROYED,
    )


async def run(events: int, burst: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as directory:
        store = Store(Path(directory) / "kvmtui.db")
        fleet = Fleet([], refresh=60.0)
        log = EventLog(fleet, store)
        await log.open()
        loop_time = 0.0
        started = time.perf_counter()
        for first in range(0, events, burst):
            begun = time.perf_counter()
            for i in range(first, min(first + burst, events)):
                log.note(_event(i))
            loop_time += time.perf_counter() - begun
            await asyncio.sleep(0)  # a loop turn: the flush timer and the store's answers
        await log.flush()
        elapsed = time.perf_counter() - started
        size = await store.size()
        kept = (await store.read("SELECT count(*) FROM events"))[0][0]
        per_event = size / kept
        default_bytes = HistoryTable().retention().max_bytes
        log.retention = Retention(max_bytes=size // 2)
        begun = time.perf_counter()
        await log.prune()
        prune_ms = (time.perf_counter() - begun) * 1000
        await store.close()
        return {
            "events": events,
            "loop_us_per_event": loop_time / events * 1e6,
            "sustained_events_per_s": events / elapsed,
            "bytes_per_event": per_event,
            "events_in_default_size": default_bytes / per_event,
            "prune_half_ms": prune_ms,
        }


# ---- a day of the soak's churn ---------------------------------------------------------

#: soak.py's churn: a virsh change every CHURN_EVERY seconds, in this cycle.
CHURN_EVERY = 2.0
#: soak.py kills host B's libvirtd this often (seconds): a host-lost and a host-back event.
HOST_DEATH_EVERY = 240.0
#: Simulated seconds between two writes of the journals (each writes every 0.5 s at most:
#: a coarser step makes fewer, larger transactions of the same rows).
STEP = 10.0
_E = libvirt
#: What libvirt sends for each change of the soak's cycle: (host, kind, event, detail).
_LIFE = "lifecycle"
_MIGRATION = (
    ("hosta", "migration-iteration", 0, 1),  # its pass, as libvirt counts them
    ("hosta", "migration-iteration", 0, 2),
    ("hosta", "migration-iteration", 0, 3),
    ("hosta", _LIFE, _E.VIR_DOMAIN_EVENT_SUSPENDED, _E.VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED),
    ("hosta", _LIFE, _E.VIR_DOMAIN_EVENT_STOPPED, _E.VIR_DOMAIN_EVENT_STOPPED_MIGRATED),
    ("hosta", _LIFE, _E.VIR_DOMAIN_EVENT_UNDEFINED, _E.VIR_DOMAIN_EVENT_UNDEFINED_REMOVED),
    ("hosta", "job-completed", 0, 0),
    ("hostb", _LIFE, _E.VIR_DOMAIN_EVENT_DEFINED, _E.VIR_DOMAIN_EVENT_DEFINED_ADDED),
    ("hostb", _LIFE, _E.VIR_DOMAIN_EVENT_STARTED, _E.VIR_DOMAIN_EVENT_STARTED_MIGRATED),
    ("hostb", _LIFE, _E.VIR_DOMAIN_EVENT_RESUMED, _E.VIR_DOMAIN_EVENT_RESUMED_MIGRATED),
)
_SUSPEND = (("hosta", _LIFE, _E.VIR_DOMAIN_EVENT_SUSPENDED, _E.VIR_DOMAIN_EVENT_SUSPENDED_PAUSED),)
_RESUME = (("hosta", _LIFE, _E.VIR_DOMAIN_EVENT_RESUMED, _E.VIR_DOMAIN_EVENT_RESUMED_UNPAUSED),)
CYCLE: tuple[tuple[str, str, tuple[tuple[str, str, int, int], ...]], ...] = (
    ("suspend", "tiny-a1", _SUSPEND),
    ("suspend", "tiny-b1", _SUSPEND),
    (
        "start",
        "tiny-a2",
        (("hosta", _LIFE, _E.VIR_DOMAIN_EVENT_STARTED, _E.VIR_DOMAIN_EVENT_STARTED_BOOTED),),
    ),
    ("resume", "tiny-a1", _RESUME),
    ("resume", "tiny-b1", _RESUME),
    (
        "destroy",
        "tiny-a2",
        (("hosta", _LIFE, _E.VIR_DOMAIN_EVENT_STOPPED, _E.VIR_DOMAIN_EVENT_STOPPED_DESTROYED),),
    ),
    ("migrate", "tiny-a1", _MIGRATION),
    ("migrate", "tiny-a1", _MIGRATION),
)


class SimulatedClock:
    """The journals' `time` module for the run: time moves only when told to, from the
    moment the run began."""

    def __init__(self) -> None:
        self.now = time.time()
        self._began = self.now

    def time(self) -> float:
        return self.now

    def time_ns(self) -> int:
        return int(self.now * 1e9)

    def monotonic(self) -> float:
        return self.now - self._began


@contextlib.contextmanager
def simulated(clock: SimulatedClock) -> Iterator[None]:
    with (
        mock.patch.object(journal, "time", clock),
        mock.patch.object(eventlog, "time", clock),
        mock.patch.object(audit, "time", clock),
    ):
        yield


def on_disk(path: Path) -> int:
    """Bytes the database takes on disk: the file and its WAL (what `ls` shows)."""
    return sum(f.stat().st_size for f in path.parent.glob(f"{path.name}*") if f.is_file())


def _changes(
    seconds: float,
) -> Iterator[tuple[float, str, str, tuple[tuple[str, str, int, int], ...]]]:
    """(moment, verb, guest, its events) of the soak's churn, for `seconds`."""
    steps = itertools.cycle(CYCLE)
    for n in range(int(seconds / CHURN_EVERY)):
        yield (n + 1) * CHURN_EVERY, *next(steps)


async def churn_day(
    path: Path, hours: float, retention: Retention, each_hour: bool = True
) -> dict[str, float]:
    """Feeds `hours` of the soak's churn; the figures, and a line per simulated hour."""
    clock = SimulatedClock()
    with simulated(clock):
        store = Store(path)
        fleet = Fleet([], refresh=60.0)
        log = EventLog(fleet, store, retention)
        trail = AuditTrail(store, retention)
        await log.open()
        await trail.open()
        began, largest, events, changes = clock.now, 0, 0, 0
        next_death, next_write, next_hour = HOST_DEATH_EVERY, STEP, 3600.0
        guests = {
            (name, host): GuestSnapshot(host, name, f"uuid-{name}-{host}", GuestState.RUNNING)
            for name in ("tiny-a1", "tiny-a2", "tiny-b1")
            for host in ("hosta", "hostb")
        }
        for at, verb, name, said in _changes(hours * 3600):
            clock.now = began + at
            for host, kind, event, detail in said:
                guest = guests[name, host]
                log.note(DomainEvent(host, guest.uuid, name, kind, event, detail))
                events += 1
            where = said[0][0]
            trail.record(
                verb,
                command=None,
                via="cli",
                guests=[guests[name, where]],
                hosts=[where],
                ok=True,
                message=f"{name} on {where}: {verb} done",
            )
            changes += 1
            if at >= next_death:
                next_death += HOST_DEATH_EVERY
                log.note(DomainEvent("hostb", "", "", "host-lost", params="connection closed"))
                clock.now += 20
                log.note(DomainEvent("hostb", "", "", "host-back"))
                events += 2
            if at >= next_write:
                next_write += STEP
                await log.flush()
                await trail.flush()
                largest = max(largest, on_disk(path))
            if at >= next_hour:
                next_hour += 3600
                if each_hour:
                    print(await _hour_line(store, path, at, retention), flush=True)
        await log.flush()
        await trail.flush()
        largest = max(largest, on_disk(path))
        kept = (await store.read("SELECT count(*) FROM events"))[0][0]
        audited = (await store.read("SELECT count(*) FROM audit"))[0][0]
        await log.close()
        await trail.close()
        await store.close()
    return {
        "hours": hours,
        "events_fed": events,
        "changes_fed": changes,
        "events_kept": kept,
        "audit_kept": audited,
        "on_disk_bytes": on_disk(path),
        "largest_on_disk_bytes": largest,
        "max_bytes": retention.max_bytes,
    }


async def _hour_line(store: Store, path: Path, at: float, retention: Retention) -> str:
    events = (await store.read("SELECT count(*) FROM events"))[0][0]
    audited = (await store.read("SELECT count(*) FROM audit"))[0][0]
    disk, wal = on_disk(path), on_disk(path.with_name(path.name + "-wal"))
    return (
        f"hour {at / 3600:4.0f}  events kept {events:>9,}  audit rows {audited:>8,}  "
        f"on disk {disk / 2**20:7.2f} MiB (WAL {wal / 2**20:5.2f}) "
        f"of {retention.max_bytes / 2**20:g} MiB ({disk / retention.max_bytes:4.0%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--day", action="store_true", help="a day of the soak's churn instead")
    parser.add_argument("--hours", type=float, default=24.0, help="--day: simulated hours")
    parser.add_argument("--max-size-mb", type=float, default=HistoryTable.max_size_mb)
    parser.add_argument("--max-age-days", type=float, default=HistoryTable.max_age_days)
    options = parser.parse_args()
    if options.day:
        retention = HistoryTable(
            max_size_mb=options.max_size_mb, max_age_days=options.max_age_days
        ).retention()
        with tempfile.TemporaryDirectory() as directory:
            day = asyncio.run(churn_day(Path(directory) / "kvmtui.db", options.hours, retention))
        print(
            f"{day['changes_fed']:,} changes and {day['events_fed']:,} events in "
            f"{day['hours']:g} simulated hours; largest on disk "
            f"{day['largest_on_disk_bytes'] / 2**20:.2f} MiB, bound "
            f"{day['max_bytes'] / 2**20:.0f} MiB: "
            + ("within" if day["largest_on_disk_bytes"] <= day["max_bytes"] else "OVER")
        )
        if options.json:
            options.json.write_text(json.dumps(day, indent=2))
        return
    figures = asyncio.run(run(options.events, options.burst))
    print(f"{'events fed':<38}{figures['events']:>12,}")
    print(f"{'loop time per event (note)':<38}{figures['loop_us_per_event']:>10.1f} us")
    print(
        f"{'sustained rate, until all on disk':<38}{figures['sustained_events_per_s']:>10,.0f} /s"
    )
    print(f"{'bytes per kept event':<38}{figures['bytes_per_event']:>10.0f} B")
    print(f"{'events in the default 64 MiB':<38}{figures['events_in_default_size']:>12,.0f}")
    print(f"{'retention pass by size (to half)':<38}{figures['prune_half_ms']:>10.0f} ms")
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
