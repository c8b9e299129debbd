"""The real `kvmtui` in a real terminal: tmux, on a server of the test's own (its own socket),
driven with keys and read as an operator reads it.

`run_test()` has no terminal to hand over (the editor, `virsh console`): what happens to the
screen and the keys around a hand-over only shows here.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: What the pane shows once kvmtui has ended: how it ended (then the terminal's modes it
#: left, `stty -a`).
EXITED = "KVMTUI-EXIT="

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


class Terminal:
    def __init__(self, socket: Path, session: str) -> None:
        self.socket = socket
        self.session = session

    def _tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-S", str(self.socket), *args], check=True, capture_output=True, text=True
        ).stdout

    def press(self, *keys: str) -> None:
        """tmux key names: `e`, `Escape`, `C-c`."""
        self._tmux("send-keys", "-t", self.session, *keys)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.session)

    def wait_for(self, predicate: Callable[[str], object], what: str, timeout: float = 20.0) -> str:
        """The screen once `predicate(screen)` holds; fails naming `what`, with the screen."""
        deadline = time.monotonic() + timeout
        while not predicate(screen := self.screen()):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} in {timeout:.0f} s; the screen:\n{screen}")
            time.sleep(0.1)
        return screen

    def kvmtui_pid(self) -> int:
        """kvmtui's process: the one child of the pane's shell."""
        shell = self._tmux("display-message", "-p", "-t", self.session, "#{pane_pid}").strip()
        children = subprocess.run(
            ["pgrep", "-P", shell], capture_output=True, text=True, check=True
        ).stdout.split()
        return int(children[0])

    def hang_up(self) -> None:
        """Closes the terminal, as closing its window does (SIGHUP)."""
        self._tmux("kill-session", "-t", self.session)

    def exit_status(self) -> int | None:
        """kvmtui's exit status once it has ended, else None."""
        found = re.search(f"{EXITED}(\\d+)", self.screen())  # after any echoed ^C
        return int(found.group(1)) if found else None


def toasts(screen: str) -> str:
    """The notifications' text, their wrapped lines joined (a toast's lines start with ▌)."""
    return " ".join(line.split("▌", 1)[1].strip() for line in screen.splitlines() if "▌" in line)


@contextmanager
def kvmtui_in_tmux(
    tmp_path: Path, args: list[str], env: Mapping[str, str], size: tuple[int, int] = (100, 30)
) -> Iterator[Terminal]:
    """`kvmtui ARGS` in a fresh tmux server, with `env` on top of the test's environment
    (XDG dirs in tmp_path); the pane stays after kvmtui ends and shows its exit status and
    the terminal's modes."""
    socket = tmp_path / "tmux.sock"
    session = f"kvmtui-{os.getpid()}-{tmp_path.name}"[:60]
    environ = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "TERM": "xterm-256color",
        **env,
    }
    command = f"{sys.executable} -m kvmtui {shlex.join(args)}; echo {EXITED}$?; stty -a; sleep 600"
    subprocess.run(
        [
            "tmux",
            "-S",
            str(socket),
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            str(size[0]),
            "-y",
            str(size[1]),
            command,
        ],
        check=True,
        env=environ,
        cwd=REPO,
    )
    try:
        yield Terminal(socket, session)
    finally:
        subprocess.run(["tmux", "-S", str(socket), "kill-server"], capture_output=True)
