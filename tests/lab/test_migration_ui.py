"""A live migration started from the guest list with keys, its progress read off the screen."""

from __future__ import annotations

import re

import pytest

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.model import HostSpec
from kvmtui.screens.migrate_dialog import AskNumberScreen, MigrateDialog
from kvmtui.screens.migration_progress import MigrationProgressScreen
from kvmtui.widgets.migration import MigrationGraphs
from tests.ui.helpers import keys, notifications, screen_text, select, wait_for

from .labinfo import LabInfo

pytestmark = pytest.mark.timeout(120)


def _lab_app(lab: LabInfo) -> KvmTuiApp:
    """kvmtui on both lab hosts over TCP; the migrate dialog ticks a live move that keeps
    the guest defined on its destination only, as the config's `[migrate] flags` can ask."""
    hosts = tuple(HostSpec(name, host.uri_tcp) for name, host in lab.hosts.items())
    return KvmTuiApp(
        Settings(
            hosts=hosts,
            readonly=False,
            refresh=1.0,
            theme=None,
            demo=False,
            migrate_flags=frozenset({"live", "persistent", "undefinesource"}),
        )
    )


async def test_migrate_with_keys_and_watch_progress(lab_fresh: LabInfo):
    app = _lab_app(lab_fresh)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot,
            lambda: any(g.name == "linux-a1" for g in app.fleet.snapshot().guests),
            30,
            "the lab guests",
        )
        await pilot.pause(0.5)
        await select(pilot, "linux-a1@hosta")
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MigrateDialog), what="the dialog")
        assert app.screen.destinations == ["hostb"]
        assert app.screen.query_one("#migrate-uri").placeholder == "tcp://10.213.0.2"
        while app.focused is not app.screen.query_one("#migrate-bandwidth"):
            await pilot.press("tab")
        await pilot.press(*keys("20"))
        # The idle guest writes little: the measured forecast says it converges at 20 MiB/s.
        await wait_for(
            pilot,
            lambda: "Forecast: converges in about" in " ".join(screen_text(app).split()),
            what="the forecast",
        )
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, MigrationProgressScreen),
            what="the progress screen",
        )
        seen: list[int] = []
        while "migrated" not in screen_text(app):
            match = re.search(r"Data\s+(\d+)% of", screen_text(app))
            if match:
                seen.append(int(match.group(1)))
            await pilot.pause(0.25)
        text = screen_text(app)
        assert "linux-a1  hosta -> hostb" in text
        assert "now running on hostb, undefined on hosta" in text
        assert "final figures from libvirt" in text
        assert len(set(seen)) >= 3, f"progress on screen: {seen}"
        assert seen == sorted(seen)
        job = app.services.migrations.jobs()[0]
        assert job.final is not None and job.final.downtime_ms is not None
        assert f"{job.final.downtime_ms} ms" in text
        assert job.foresight is not None and job.foresight.forecast is not None
        assert "Forecast converges in about" in " ".join(text.split())


async def test_quitting_mid_migration_asks_then_aborts_it(lab_fresh: LabInfo):
    app = _lab_app(lab_fresh)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot,
            lambda: any(g.name == "linux-a1" for g in app.fleet.snapshot().guests),
            30,
            "the lab guests",
        )
        app.controller.run_command("migrate linux-a1 hostb --live --bandwidth 2")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, MigrationProgressScreen) and "running" in screen_text(app)
            ),
            30,
            "the migration under way",
        )
        await pilot.press("escape", "q")
        await wait_for(
            pilot,
            lambda: "Quit and abort 1 migration?" in screen_text(app),
            what="the quit confirmation",
        )
        assert "linux-a1 (hosta -> hostb)" in screen_text(app)
        await pilot.press("enter")  # Cancel is focused: kvmtui and the migration go on
        await pilot.pause(0.5)
        assert app.is_running and app.services.migrations.running()
        await pilot.press("q")
        await wait_for(pilot, lambda: "Quit and abort" in screen_text(app), what="asked again")
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: not app.is_running, 30, "kvmtui to exit")
    assert lab_fresh.virsh("hosta", "domstate", "linux-a1").stdout.strip() == "running"
    assert lab_fresh.virsh("hostb", "domstate", "linux-a1").returncode != 0


def _graph(app: KvmTuiApp, label: str) -> str:
    """The graph's columns on the `label` line, as drawn on the progress screen ("" before
    the first figures draw the line)."""
    lines = app.screen.query_one(MigrationGraphs).render().plain.splitlines()
    line = next((line for line in lines if line.startswith(label)), "")
    return line[12:-12] if label != "Pass" else line[12:]


def _drawn(app: KvmTuiApp, label: str) -> int:
    return len(_graph(app, label).strip())


async def _steer(pilot, key: str, value: str) -> None:
    await pilot.press(key)
    await wait_for(
        pilot,
        lambda: (
            isinstance(pilot.app.screen, AskNumberScreen) and bool(pilot.app.screen.query("Input"))
        ),
        what=f"the {key} prompt",
    )
    await pilot.press(*keys(value), "enter")


async def test_graphs_fill_and_the_options_line_follows_steering(lab_fresh: LabInfo):
    app = _lab_app(lab_fresh)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot,
            lambda: any(g.name == "linux-a1" for g in app.fleet.snapshot().guests),
            30,
            "the lab guests",
        )
        # 2 MiB/s: the guest's 128 MiB take about a minute, time to watch and steer.
        app.controller.run_command("migrate linux-a1 hostb --bandwidth 2")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, MigrationProgressScreen) and _drawn(app, "Remaining") >= 3
            ),
            30,
            "the graphs to start",
        )
        first = _drawn(app, "Remaining")
        # Throughput needs two readings, so its graph may start a column after Remaining's.
        await wait_for(
            pilot,
            lambda: (
                _drawn(app, "Remaining") >= first + 5 and _drawn(app, "Throughput") >= first + 5
            ),
            30,
            "the graphs to fill",
        )
        assert _graph(app, "Pass").startswith("1")  # the first memory pass, marked
        assert "bandwidth=2MiB/s" in screen_text(app)

        await _steer(pilot, "s", "3")
        await wait_for(
            pilot,
            lambda: "bandwidth=3MiB/s" in screen_text(app),
            15,
            "the Options line to follow s",
        )
        assert "linux-a1 on hosta: migration bandwidth 3 MiB/s" in notifications(app)
        assert "bandwidth=2MiB/s" not in screen_text(app)
        await _steer(pilot, "d", "400")
        await wait_for(
            pilot,
            lambda: "max-downtime=400ms" in screen_text(app),
            15,
            "the Options line to follow d",
        )

        await pilot.press("a")
        await wait_for(
            pilot,
            lambda: "Abort the migration of linux-a1?" in screen_text(app),
            what="the abort question",
        )
        await pilot.press("tab", "enter")  # Cancel is focused: Tab to Abort
        await wait_for(pilot, lambda: "migration aborted" in screen_text(app), 30, "the outcome")
        assert "linux-a1 is still running on hosta" in screen_text(app)
    assert lab_fresh.virsh("hosta", "domstate", "linux-a1").stdout.strip() == "running"
