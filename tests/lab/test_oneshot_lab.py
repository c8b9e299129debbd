"""The one-shot command line on the real lab: it lists the lab's guests and really starts
and destroys one, as a script would run it (a separate process, no terminal)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .labinfo import LabInfo

REPO = Path(__file__).resolve().parents[2]


def _kvmtui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvmtui", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def _state(lab: LabInfo, host: str, guest: str) -> str:
    result = lab.virsh(host, "domstate", guest)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_list_json_lists_the_lab_guests(lab_fresh: LabInfo) -> None:
    result = _kvmtui("--config", str(lab_fresh.configs["tcp"]), "list", "--all", "--json")
    assert result.returncode == 0, result.stderr
    listed = {(g["name"], g["host"]): g["state"] for g in json.loads(result.stdout)}
    expected = {
        (g.name, g.host): "running" if g.running else "shut off" for g in lab_fresh.guests.values()
    }
    assert listed == expected


def test_start_really_starts_and_destroy_needs_yes(lab_fresh: LabInfo) -> None:
    uri = lab_fresh.host("hosta").uri_tcp
    assert _state(lab_fresh, "hosta", "tiny-a2") == "shut off"

    result = _kvmtui("-c", uri, "start", "tiny-a2", "--yes")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("tiny-a2 on 10.213.0.1: started")
    assert _state(lab_fresh, "hosta", "tiny-a2") == "running"

    refused = _kvmtui("-c", uri, "destroy", "tiny-a2")
    assert refused.returncode == 1 and refused.stdout == ""
    assert "add --yes" in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert _state(lab_fresh, "hosta", "tiny-a2") == "running"

    result = _kvmtui("-c", uri, "destroy", "tiny-a2", "--yes")
    assert result.returncode == 0, result.stderr
    assert _state(lab_fresh, "hosta", "tiny-a2") == "shut off"


def test_readonly_refuses_on_the_lab(lab_fresh: LabInfo) -> None:
    result = _kvmtui(
        "--readonly", "--config", str(lab_fresh.configs["tcp"]), "start", "tiny-a2", "--yes"
    )
    assert result.returncode == 1
    assert result.stderr == "kvmtui: start: kvmtui runs read-only (--readonly)\n"
    assert _state(lab_fresh, "hosta", "tiny-a2") == "shut off"


def test_migrate_runs_to_the_end_printing_progress(lab_fresh: LabInfo) -> None:
    # A Linux guest (its memory is not all zero pages) at 32 MiB/s: a few seconds of lines.
    result = _kvmtui(
        "--config",
        str(lab_fresh.configs["tcp"]),
        "migrate",
        "linux-a1",
        "hostb",
        "--live",
        "--bandwidth",
        "32",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # The forecast first: the idle guest writes little, so 32 MiB/s is ample.
    assert lines[0] == "measuring the dirty rate of linux-a1 on hosta (1 s)"
    assert lines[1].startswith("linux-a1: converges in about "), lines[1]
    assert lines[2] == "migrating linux-a1 from hosta to hostb"
    progress = lines[3:-1]
    assert progress and all(
        line.startswith("linux-a1 hosta -> hostb: ") and " left at " in line for line in progress
    ), lines
    assert lines[-1] == "linux-a1 migrated: now running on hostb"
    assert _state(lab_fresh, "hostb", "linux-a1") == "running"
