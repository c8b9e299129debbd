"""The fleet benchmark still runs (CI runs it small; its figures are not asserted here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _benchmark(script: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Runs benchmarks/SCRIPT with `args` as a user would; it must exit 0."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_fleet_benchmark_smoke_prints_its_table(tmp_path: Path):
    out = tmp_path / "fleet.json"
    done = _benchmark("fleet.py", "--smoke", "--json", str(out), timeout=240)
    for row in (
        "bare Textual app",
        "kvmtui 2x20",
        "kvmtui 5x4",
        "event log on, tags on every guest",
        "first rows",
        "every host up",
        "libvirt opens in flight",
        "opens refused or failed",
        "open file descriptors",
        "first full table",
        "idle CPU",
        "raw polling",
        "terminal output while idle",
        "RSS",
        "filter typed at once",
        "cursor move",
        "sort",
        "threads",
        "stats calls per host per tick",
    ):
        assert row in done.stdout
    figures = json.loads(out.read_text())
    assert figures["bare"]["first_paint_s"] > 0
    # Each fleet served by the benchmark's own libvirtds, then in-process: 2x20 one daemon
    # per host, 5x4 five hosts sharing two daemons (the shape of 1,000 hosts x 10).
    assert [(f["fleet"], f["libvirt"]) for f in figures["fleets"]] == [
        ("2x20", "daemon"),
        ("2x20", "in-process"),
        ("5x4", "daemon"),
        ("5x4", "in-process"),
    ]
    for fleet in figures["fleets"]:
        assert fleet["guests"] == fleet["hosts"] * int(fleet["fleet"].split("x")[1]) + 2
        assert fleet["stats_calls_per_host_tick"] > 0
        assert 0 < fleet["first_rows_s"] <= fleet["first_table_s"]
        assert 0 < fleet["all_up_s"] <= fleet["first_table_s"]
        assert fleet["open_failures"] == 0 and fleet["opens_max_in_flight"] >= 1
        assert fleet["fds"] > 0
        # Measured as a user runs it: history on (its database was written) and every
        # guest tagged.
        assert fleet["history_kb"] > 0 and fleet["tags_per_guest"] == 2


def test_history_benchmark_day_of_churn_prints_each_hour_against_the_bound(tmp_path: Path):
    """Two simulated hours of the soak's churn into a 1 MiB database (a few seconds)."""
    out = tmp_path / "day.json"
    done = _benchmark(
        "history.py",
        "--day",
        "--hours",
        "2",
        "--max-size-mb",
        "1",
        "--json",
        str(out),
        timeout=120,
    )
    hours = [line for line in done.stdout.splitlines() if line.startswith("hour")]
    assert len(hours) == 2 and all("of 1 MiB" in line for line in hours)
    day = json.loads(out.read_text())
    assert day["changes_fed"] == 3600  # one change every 2 s, as the soak churns
    assert day["largest_on_disk_bytes"] <= day["max_bytes"] == 1024 * 1024
