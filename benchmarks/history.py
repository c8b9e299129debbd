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

Not part of the test suite: `env PYTHONPATH=$PWD .venv/bin/python benchmarks/history.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import libvirt  # noqa: E402

from kvmtui.config import HistoryTable  # noqa: E402
from kvmtui.core.eventlog import EventLog  # noqa: E402
from kvmtui.core.fleet import Fleet  # noqa: E402
from kvmtui.core.host import DomainEvent  # noqa: E402
from kvmtui.core.journal import Retention  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args()
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
