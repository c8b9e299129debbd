"""What libvirt and libxml2 write to fd 2 never reaches the screen: it goes to the log while
the screen is up, and fd 2 is the terminal's again once it has closed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kvmtui.cli import stderr_to_log
from kvmtui.core.errors import LIBVIRT_LOG

REPO = Path(__file__).resolve().parent.parent


def test_fd_2_goes_to_the_log_and_comes_back(tmp_path: Path,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "state" / "kvmtui.log"
    with stderr_to_log(log):
        os.write(2, b"I/O warning : from C\n")
        LIBVIRT_LOG.info("libvirt: a report")
        print("drawn", file=sys.__stderr__, flush=True)  # Textual draws here
    os.write(2, b"after the screen\n")
    assert capfd.readouterr().err == "drawn\nafter the screen\n"
    text = log.read_text()
    assert "I/O warning : from C" in text and "libvirt: a report" in text
    assert "drawn" not in text


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_a_missing_host_file_writes_nothing_on_the_screen(tmp_path: Path) -> None:
    """`-c bad=test:///nonexistent.xml`: libxml2's `I/O warning` at each retry, and at
    `:caps` (k on the hosts view), went across the screen."""
    socket, state = tmp_path / "tmux", tmp_path / "state"
    env = {"PYTHONPATH": str(REPO), "XDG_STATE_HOME": str(state),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    command = " ".join([*(f"{k}={v}" for k, v in env.items()), sys.executable, "-m", "kvmtui",
                        "-c", "bad=test:///nonexistent.xml", "-c", "good=test:///default"])

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-S", str(socket), *args], check=True,
                              capture_output=True, text=True, cwd=REPO).stdout

    def wait_for(text: str) -> str:
        deadline = time.monotonic() + 30
        while text not in (screen := tmux("capture-pane", "-p", "-t", "t")):
            assert time.monotonic() < deadline, f"no {text!r} on the screen:\n{screen}"
            time.sleep(0.1)
        return screen

    tmux("new-session", "-d", "-s", "t", "-x", "100", "-y", "30", command)
    try:
        wait_for("good")
        tmux("send-keys", "-t", "t", "2")
        wait_for("kvmtui: hosts")
        tmux("send-keys", "-t", "t", "Home", "k")
        screen = wait_for("Host capabilities")
        log = state / "kvmtui" / "kvmtui.log"
        deadline = time.monotonic() + 30
        while "I/O warning" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "libxml2's warning never came"
            time.sleep(0.1)
        screen = tmux("capture-pane", "-p", "-t", "t")
        assert "I/O warning" not in screen and "failed to load external entity" not in screen
        assert "libvirt: XML error" in log.read_text()
    finally:
        tmux("kill-server")
