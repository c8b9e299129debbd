"""Every hand-over comes back: whatever the editor or the viewer does (is not found, fails,
is killed, hangs until Ctrl+C ends it), the real kvmtui in a real terminal gets its screen
back, its keys work, and one line says what happened, naming the program and the guest.

An editor that failed used to leave kvmtui suspended: a blank screen, every key echoed raw,
only Ctrl+C out (issue 25)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.ui.terminal import Terminal, kvmtui_in_tmux, needs_tmux, toasts
from tests.ui.test_display_ui import NODE as GRAPHICS_NODE

pytestmark = [needs_tmux, pytest.mark.timeout(90)]

#: The one guest of libvirt's stock test:///default, and its host.
GUEST_ROW = "test   test   running"


def _script(tmp_path: Path, body: str, name: str = "program.sh") -> str:
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def _back_and_working(term: Terminal, row: str) -> None:
    """The guest list is drawn again, a view key works, and `q` quits cleanly."""
    term.wait_for(lambda screen: row in screen, what="the guest list again")
    term.press("2")
    term.wait_for(lambda screen: "kvmtui: hosts" in screen, what="the hosts view after `2`")
    term.press("q")
    term.wait_for(lambda _screen: term.exit_status() is not None, what="kvmtui's exit")
    assert term.exit_status() == 0


#: (variable, program or script body, what kvmtui says); a body is run as a script.
EDITORS = {
    "false": ("EDITOR", "false", "editor `false` exited with status 1"),
    "not found": (
        "VISUAL",
        "/nonexistent/editor",
        "editor `/nonexistent/editor` cannot start: No such file or directory",
    ),
    "exits 3": ("VISUAL", "script:exit 3", "exited with status 3"),
    "killed": ("VISUAL", "script:stty raw -echo; kill -KILL $$", "was killed by SIGKILL"),
    "hangs, Ctrl+C": ("VISUAL", "script:sleep 600", "was killed by SIGINT"),
}


@pytest.mark.parametrize("case", EDITORS)
def test_the_guest_list_comes_back_after_the_editor(tmp_path, case):
    variable, program, said = EDITORS[case]
    if program.startswith("script:"):
        program = _script(tmp_path, program.removeprefix("script:"))
    env = {"VISUAL": "", "EDITOR": "", variable: program}
    with kvmtui_in_tmux(tmp_path, ["-c", "test:///default"], env) as term:
        term.wait_for(lambda screen: GUEST_ROW in screen, what="the guest list")
        term.press("e")
        if case == "hangs, Ctrl+C":
            term.wait_for(lambda screen: GUEST_ROW not in screen, what="the editor's turn")
            term.press("C-c")
        screen = term.wait_for(
            lambda screen: "left unchanged" in toasts(screen), what="the editor's report"
        )
        assert f"{said}; test on test left unchanged" in toasts(screen)
        _back_and_working(term, GUEST_ROW)
        # The modes it set (raw, no echo) are undone, not left behind for the shell.
        modes = term.wait_for(lambda screen: "speed" in screen, what="stty -a after kvmtui")
        assert not re.search(r"(^|\s)-(echo|icanon)(\s|$)", modes), modes


def test_keys_typed_ahead_start_one_editor_at_a_time(tmp_path):
    """`e e` in one read: the second edit, started while the first editor has the terminal,
    is refused instead of running a second editor on the same terminal."""
    editor = _script(tmp_path, "sleep 600")
    with kvmtui_in_tmux(tmp_path, ["-c", "test:///default"], {"VISUAL": editor}) as term:
        term.wait_for(lambda screen: GUEST_ROW in screen, what="the guest list")
        term.press("e", "e")
        term.wait_for(lambda screen: GUEST_ROW not in screen, what="the editor's turn")
        term.press("C-c")
        screen = term.wait_for(
            lambda screen: toasts(screen).count("left unchanged") == 2, what="both edits' reports"
        )
        assert toasts(screen).count("was killed by SIGINT") == 1
        assert (
            "editor not started: the terminal is already handed over; test on test left unchanged"
        ) in toasts(screen)
        _back_and_working(term, GUEST_ROW)


def test_a_viewer_that_fails_says_so_and_the_screen_stays(tmp_path):
    node = tmp_path / "win.xml"
    node.write_text(GRAPHICS_NODE)
    _script(tmp_path, "exit 3", "failing-viewer")  # found on PATH: a name short enough
    viewer = "failing-viewer"  # not to wrap inside the toast
    config = tmp_path / "kvmtui.toml"
    config.write_text(f'viewer = "{viewer}"\n[[host]]\nname = "win"\nuri = "test://{node}"\n')
    with kvmtui_in_tmux(
        tmp_path,
        ["--config", str(config)],
        {"DISPLAY": ":99", "PATH": f"{tmp_path}:{os.environ['PATH']}"},
    ) as term:
        term.wait_for(lambda screen: "win1" in screen, what="the guest list")
        term.press("Down", "v")  # win1, below plain
        term.wait_for(lambda screen: "127.0.0.1:5907" in screen, what="the display")
        term.press("o")
        screen = term.wait_for(
            lambda screen: "win1 on win" in toasts(screen), what="the viewer's failure"
        )
        assert f"viewer `{viewer}` exited with status 3; win1 on win" in toasts(screen)
        term.press("Escape")
        term.wait_for(lambda screen: "Graphical console" not in screen, what="it closed")
        _back_and_working(term, "win1")


def test_the_console_hand_over_comes_back_when_virsh_console_fails(tmp_path):
    """Ctrl+O on the console: `virsh console` in the terminal. The test driver has no
    consoles, so it fails (and the in-app console too); `c` and Ctrl+O arrive in one read,
    so Ctrl+O reaches the console screen before the attach's refusal closes it."""
    with kvmtui_in_tmux(tmp_path, ["-c", "test:///default"], {}) as term:
        term.wait_for(lambda screen: GUEST_ROW in screen, what="the guest list")
        term.press("c", "C-o")
        screen = term.wait_for(
            lambda screen: "console `virsh`" in toasts(screen), what="the console's report"
        )
        assert "console `virsh` exited with status 1; test on test" in toasts(screen)
        _back_and_working(term, GUEST_ROW)
