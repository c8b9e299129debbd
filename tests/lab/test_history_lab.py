"""The kept history on the real lab: a guest whose QEMU is killed is a "crashed" event with
its reason and an alert; the audit trail holds a one-shot `destroy --yes` and a change made
with a key in the full screen, each with its outcome, as `kvmtui audit` prints them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.model import GuestState, HostSpec
from kvmtui.screens.history import EventsScreen
from tests.ui.helpers import fleet_ready, keys, select, status, wait_for

from .labinfo import LabInfo

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[2]


def _settings(lab: LabInfo, database: Path) -> Settings:
    return Settings(
        hosts=tuple(HostSpec(n, h.uri_tcp) for n, h in lab.hosts.items()),
        readonly=False,
        refresh=1.0,
        theme=None,
        demo=False,
        history_path=database,
    )


def _qemu_pid(guest: str) -> int:
    """The pid of the QEMU process running `guest` (its command line names it)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and b"qemu" in argv[0] and f"guest={guest},".encode() in b" ".join(argv):
            return int(entry.name)
    raise AssertionError(f"no QEMU process for {guest}")


async def test_killing_qemu_is_a_crashed_event_and_an_alert(lab_fresh: LabInfo, tmp_path):
    app = KvmTuiApp(_settings(lab_fresh, tmp_path / "kvmtui.db"))
    async with app.run_test(size=(120, 30)) as pilot:
        await fleet_ready(pilot, guests=len(lab_fresh.guests))
        os.kill(_qemu_pid("tiny-a1"), signal.SIGKILL)
        events = app.services.events
        await wait_for(pilot, lambda: events.alerts(), 30, "the crash's alert")
        (crash,) = events.alerts()
        assert (crash.guest, crash.host, crash.what) == ("tiny-a1", "hosta", "crashed")
        assert crash.detail == "stopped: failed"  # what libvirt says of a QEMU that died
        await wait_for(pilot, lambda: "ALERTS 1" in status(app), 5, "the count")
        await pilot.press("colon", *keys("events --guest tiny-a1"), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, EventsScreen), 5, "the timeline")
        await wait_for(
            pilot,
            lambda: any(r[0] == "!" for r in app.screen.table.shown_texts().values()),
            5,
            "the alert's row",
        )
        await pilot.press("a")
        await wait_for(pilot, lambda: "ALERTS" not in status(app), 5, "acknowledged")


def _kvmtui(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvmtui", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "XDG_STATE_HOME": str(state)},
    )


async def test_the_audit_has_a_one_shot_destroy_and_a_key(lab_fresh: LabInfo, tmp_path):
    config = str(lab_fresh.configs["tcp"])
    result = _kvmtui(tmp_path, "--config", config, "destroy", "tiny-a1", "--yes")
    assert result.returncode == 0, result.stderr

    app = KvmTuiApp(_settings(lab_fresh, tmp_path / "kvmtui" / "kvmtui.db"))
    async with app.run_test(size=(120, 30)) as pilot:
        await fleet_ready(pilot, guests=len(lab_fresh.guests))
        await select(pilot, "tiny-a1@hosta")
        await pilot.press("s")
        await wait_for(
            pilot, lambda: app.screen.table.current.state is GuestState.RUNNING, 20, "started"
        )
        await wait_for(pilot, lambda: len(app.services.audit.rows()) == 2, 5, "both kept")

    result = _kvmtui(tmp_path, "--config", config, "audit", "--since", "1h", "--json")
    assert result.returncode == 0, result.stderr
    destroy, start = json.loads(result.stdout)
    assert (destroy["via"], destroy["args"], destroy["ok"]) == ("cli", "destroy tiny-a1", True)
    assert "destroyed" in destroy["message"] and destroy["guests"] == "tiny-a1@hosta"
    assert (start["via"], start["args"], start["ok"]) == ("key", "start tiny-a1@hosta", True)
    assert "started" in start["message"] and start["user"] == destroy["user"]
