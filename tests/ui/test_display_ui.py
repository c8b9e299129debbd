"""Graphical consoles on libvirt's test:/// driver: `:vncdisplay`, `v`, and `:viewer` on a
jump box (the commands to run elsewhere) and on a desktop (the viewer started)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.model import HostSpec
from kvmtui.screens.display import DisplayScreen
from tests.ui.helpers import keys, notifications, screen_text, wait_for

SIZE = (100, 30)
NODE = """<node>
  <domain type='test'><name>win1</name><memory>1048576</memory><vcpu>1</vcpu>
    <os><type>hvm</type></os>
    <devices><graphics type='vnc' port='5907' autoport='no' listen='127.0.0.1'/></devices>
  </domain>
  <domain type='test'><name>plain</name><memory>1048576</memory><vcpu>1</vcpu>
    <os><type>hvm</type></os></domain>
</node>
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    node = tmp_path / "win.xml"
    node.write_text(NODE)
    return Settings(
        hosts=(HostSpec("win", f"test://{node}"),),
        readonly=False,
        refresh=0.5,
        theme=None,
        demo=False,
    )


@pytest.fixture
def jump_box(monkeypatch: pytest.MonkeyPatch) -> None:
    """No graphical session; the operator came in over SSH to 192.0.2.10."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("USER", "ops")
    monkeypatch.setenv("SSH_CONNECTION", "198.51.100.7 50000 192.0.2.10 22")


async def _command(pilot, line: str) -> None:
    await pilot.press("colon", *keys(line), "enter")


async def _ready(pilot) -> None:
    await wait_for(
        pilot, lambda: len(pilot.app.screen.table.visible_rows()) == 2, what="both guests listed"
    )


async def test_vncdisplay_says_where_the_display_listens(settings):
    app = KvmTuiApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot)
        await _command(pilot, "vncdisplay win1")
        await wait_for(pilot, lambda: any("VNC display" in n for n in notifications(app)))
        assert "VNC display of win1 on win: 127.0.0.1:5907 (display :7)" in notifications(app)
        await _command(pilot, "vncdisplay plain")
        await wait_for(pilot, lambda: any("no graphical display" in n for n in notifications(app)))


async def test_help_lists_v_and_v_shows_the_display_under_the_cursor(settings):
    app = KvmTuiApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: "Graphical console" in screen_text(app), what="help")
        assert ":viewer NAME" in screen_text(app) and ":vncdisplay NAME" in screen_text(app)
        await pilot.press("escape")
        win1 = next(g for g in app.fleet.snapshot().guests if g.name == "win1")
        app.screen.table.select_key(win1.key)
        await pilot.press("v")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, DisplayScreen) and "127.0.0.1:5907" in screen_text(app),
            what="the display screen",
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DisplayScreen))


async def test_viewer_on_a_jump_box_shows_and_copies_the_commands(settings, jump_box):
    app = KvmTuiApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot)
        await _command(pilot, "viewer win1")
        ssh_line = "ssh -N -L 5907:127.0.0.1:5907 ops@192.0.2.10"
        await wait_for(pilot, lambda: ssh_line in screen_text(app), what="the ssh command")
        text = screen_text(app)
        assert "remote-viewer vnc://localhost:5907" in text
        assert "DISPLAY and WAYLAND_DISPLAY are unset" in text
        await pilot.press("y")
        assert app.clipboard == f"{ssh_line}\nremote-viewer vnc://localhost:5907\n"


async def test_viewer_on_a_desktop_starts_the_configured_viewer(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":99")
    seen = tmp_path / "viewer-args"
    fake_viewer = tmp_path / "viewer.py"
    fake_viewer.write_text(
        f"import sys, pathlib\npathlib.Path({str(seen)!r}).write_text(' '.join(sys.argv[1:]))\n"
    )
    app = KvmTuiApp(
        dataclasses.replace(settings, viewer=f"{sys.executable} {fake_viewer} --title win {{url}}")
    )
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot)
        await _command(pilot, "viewer win1")
        await wait_for(pilot, lambda: "Viewer started" in screen_text(app), what="the viewer")
        await wait_for(
            pilot, lambda: seen.exists() and seen.read_text() != "", what="the viewer to run"
        )
        assert seen.read_text() == "--title win vnc://127.0.0.1:5907"
