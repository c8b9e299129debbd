"""kvmtui as a process in a real terminal (tmux, on a socket of the test's own): what it
leaves on the screen and on the disk, which `run_test()` cannot show.

Nothing libvirt and libxml2 write to fd 2 reaches the screen: it goes to the log while the
screen is up, and fd 2 is the terminal's again once it has closed. The demo's files go
however kvmtui ends: quit, a closed terminal (SIGHUP), `kill` (SIGTERM).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kvmtui.cli import stderr_to_log
from kvmtui.core.errors import LIBVIRT_LOG

REPO = Path(__file__).resolve().parent.parent

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


class Tmux:
    """One tmux server and session running `kvmtui ARGS`, with its own state and temp dirs."""

    def __init__(self, tmp_path: Path) -> None:
        self.socket = tmp_path / "tmux"
        self.state = tmp_path / "state"
        self.temp = tmp_path / "tmp"
        self.temp.mkdir()

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", str(self.socket), *args], check=True,
                              capture_output=True, text=True, cwd=REPO).stdout

    def start(self, *args: str) -> None:
        env = {"PYTHONPATH": str(REPO), "XDG_STATE_HOME": str(self.state),
               "XDG_CONFIG_HOME": str(self.state / "config"), "TMPDIR": str(self.temp)}
        command = ["env", *(f"{k}={v}" for k, v in env.items()), sys.executable, "-m",
                   "kvmtui", *args]
        self("new-session", "-d", "-s", "t", "-x", "100", "-y", "30", shlex.join(command))

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "t")

    def press(self, *keys: str) -> None:
        self("send-keys", "-t", "t", *keys)

    def pid(self) -> int:
        return int(self("display-message", "-p", "-t", "t", "#{pane_pid}"))


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"no {what} in {timeout:.0f} s"
        time.sleep(0.1)


@contextmanager
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    terminal = Tmux(tmp_path)
    try:
        yield terminal
    finally:
        subprocess.run(["tmux", "-S", str(terminal.socket), "kill-server"],
                       capture_output=True, check=False)


def test_fd_2_goes_to_the_log_and_comes_back(tmp_path: Path,
                                             capfd: pytest.CaptureFixture[str]) -> None:
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
    `:caps` (k on the hosts view), went across the screen."""
    with tmux(tmp_path) as terminal:
        terminal.start("-c", "bad=test:///nonexistent.xml", "-c", "good=test:///default")
        wait_for(lambda: "good" in terminal.screen(), "guest list")
        terminal.press("2")
        wait_for(lambda: "kvmtui: hosts" in terminal.screen(), "hosts view")
        terminal.press("Home", "k")
        wait_for(lambda: "Host capabilities" in terminal.screen(), "capabilities")
        log = terminal.state / "kvmtui" / "kvmtui.log"
        wait_for(lambda: log.exists() and "I/O warning" in log.read_text(),
                 "libxml2's warning in the log")
        screen = terminal.screen()
        assert "I/O warning" not in screen and "failed to load external entity" not in screen
        assert "libvirt: XML error" in log.read_text()


@needs_tmux
@pytest.mark.parametrize("ending", ["closed terminal", "SIGTERM", "q"])
def test_the_demo_files_go_however_kvmtui_ends(tmp_path: Path, ending: str) -> None:
    with tmux(tmp_path) as terminal:
        terminal.start("--demo")
        wait_for(lambda: "web-101" in terminal.screen(), "demo guest list")
        (demo,) = terminal.temp.glob("kvmtui-demo-*")
        pid = terminal.pid()
        if ending == "closed terminal":
            terminal("kill-session", "-t", "t")  # tmux hangs up, as a closed window does
        elif ending == "SIGTERM":
            os.kill(pid, signal.SIGTERM)
        else:
            terminal.press("q")
        wait_for(lambda: not demo.exists(), f"{demo} removed after {ending}")
