"""How kvmtui copes with a large fleet: 4 hosts x 250 guests on libvirt's test:/// driver.

Prints, with the targets beside them:
- time from start to the first full guest table          (target < 1.5 s)
- CPU seconds per minute of idle refreshing at 1 s       (target < 6)
- resident memory                                         (no target; watch it)
- time from a filter keystroke to the updated table       (target < 100 ms)
- libvirt stats calls, and all libvirt calls, per host per tick (target: 1 stats call)

Run: .venv/bin/python benchmarks/fleet.py [--hosts 4] [--guests 250] [--idle 30]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kvmtui.app import KvmTuiApp
from kvmtui.cli import Settings
from kvmtui.core.demo import write_fleet


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(hosts: int, guests: int, idle_seconds: float) -> None:
    with tempfile.TemporaryDirectory() as directory:
        specs = write_fleet(Path(directory), hosts=hosts, guests_per_host=guests)
        total = sum(1 for _ in range(hosts * guests)) + min(hosts, 2)
        app = KvmTuiApp(Settings(specs, readonly=False, refresh=1.0, theme=None, demo=True))
        started = time.perf_counter()
        async with app.run_test(size=(120, 40)) as pilot:
            while len(app.screen.table.visible_rows()) < total:
                await pilot.pause(0.01)
            first_table = time.perf_counter() - started

            counters = [(h.ticks, h.stats_calls, h.libvirt_calls) for h in app.fleet.hosts]
            cpu_before, wall_before = time.process_time(), time.perf_counter()
            await pilot.pause(idle_seconds)
            cpu = time.process_time() - cpu_before
            wall = time.perf_counter() - wall_before
            per_tick_stats, per_tick_calls = [], []
            for host, (ticks, stats, calls) in zip(app.fleet.hosts, counters, strict=True):
                done = host.ticks - ticks
                per_tick_stats.append((host.stats_calls - stats) / max(done, 1))
                per_tick_calls.append((host.libvirt_calls - calls) / max(done, 1))

            # Typing into the filter line: from the changed text to the table redrawn. (Pilot's
            # press() also waits for its own bookkeeping, which no terminal user sees.)
            latencies = []
            await pilot.press("slash")
            prompt = app.screen.query_one("#prompt")
            for text in ("w", "we", "web", "web-", "web-1", "web-", "web", "we", "w", ""):
                before = time.perf_counter()
                prompt.value = text
                await pilot.pause()
                latencies.append(time.perf_counter() - before)
                if text == "web-1":
                    shown = len(app.screen.table.visible_rows())

        print(f"fleet: {hosts} hosts x {guests} guests ({total} guests), refresh 1 s")
        print(f"first full table:        {first_table:6.2f} s     (target < 1.5 s)")
        print(f"idle CPU:                {cpu / wall * 60:6.2f} CPU-s/min (target < 6), "
              f"over {wall:.0f} s")
        print(f"resident memory:         {rss_mib():6.1f} MiB")
        print(f"filter keystroke:        {statistics.median(latencies) * 1000:6.1f} ms median, "
              f"{max(latencies) * 1000:.1f} ms max (target < 100 ms); {shown} rows match")
        print(f"stats calls/host/tick:   {statistics.mean(per_tick_stats):6.2f}       "
              "(target 1)")
        print(f"libvirt calls/host/tick: {statistics.mean(per_tick_calls):6.2f}       "
              "(bulk stats + node CPU/memory)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--guests", type=int, default=250)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle refreshing")
    args = parser.parse_args()
    asyncio.run(measure(args.hosts, args.guests, args.idle))


if __name__ == "__main__":
    main()
