"""kvmtui as a process in a real terminal (tmux, on a socket of the test's own): what it
leaves on the screen and on the disk, which `run_test()` cannot show.

Nothing libvirt and libxml2 write to fd 2 reaches the screen: it goes to the log while the
screen is up, and fd 2 is the terminal's again once it has closed. The demo's files go
however kvmtui ends: quit, a closed terminal (SIGHUP), `kill` (SIGTERM).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kvmtui.cli import stderr_to_log
from kvmtui.core.errors import LIBVIRT_LOG
from tests.ui.terminal import kvmtui_in_tmux, needs_tmux


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"no {what} in {timeout:.0f} s"
        time.sleep(0.1)


def test_fd_2_goes_to_the_log_and_comes_back(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "state" / "kvmtui.log"
    with stderr_to_log(log):
        os.write(2, b"I/O warning : from C\n")
        LIBVIRT_LOG.info("libvirt: a report")
        print("drawn", file=sys.__stderr__, flush=True)  # Textual draws here
        print("internal error line", file=sys.stderr, flush=True)  # its exit lines here
    os.write(2, b"after the screen\n")
    assert capfd.readouterr().err == "drawn\ninternal error line\nafter the screen\n"
    text = log.read_text()
    assert "I/O warning : from C" in text and "libvirt: a report" in text
    assert "drawn" not in text


@needs_tmux
def test_a_missing_host_file_writes_nothing_on_the_screen(tmp_path: Path) -> None:
    """`-c bad=test:///nonexistent.xml`: libxml2's `I/O warning` at each retry, and at
    `:caps` (d on the hosts view), went across the screen."""
    with kvmtui_in_tmux(
        tmp_path, ["-c", "bad=test:///nonexistent.xml", "-c", "good=test:///default"], {}
    ) as terminal:
        wait_for(lambda: "good" in terminal.screen(), "guest list")
        terminal.press("2")
        wait_for(lambda: "kvmtui: hosts" in terminal.screen(), "hosts view")
        terminal.press("Home", "d")
        wait_for(lambda: "Host capabilities" in terminal.screen(), "capabilities")
        log = tmp_path / "state" / "kvmtui" / "kvmtui.log"
        wait_for(
            lambda: log.exists() and "I/O warning" in log.read_text(),
            "libxml2's warning in the log",
        )
        screen = terminal.screen()
        assert "I/O warning" not in screen and "failed to load external entity" not in screen
        assert "libvirt: XML error" in log.read_text()


@needs_tmux
@pytest.mark.parametrize("ending", ["closed terminal", "SIGTERM", "q"])
def test_the_demo_files_go_however_kvmtui_ends(tmp_path: Path, ending: str) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    with kvmtui_in_tmux(tmp_path, ["--demo"], {"TMPDIR": str(temp)}) as terminal:
        wait_for(lambda: "web-101" in terminal.screen(), "demo guest list")
        (demo,) = temp.glob("kvmtui-demo-*")
        if ending == "closed terminal":
            terminal.hang_up()
        elif ending == "SIGTERM":
            os.kill(terminal.kvmtui_pid(), signal.SIGTERM)
        else:
            terminal.press("q")
        wait_for(lambda: not demo.exists(), f"{demo} removed after {ending}")
