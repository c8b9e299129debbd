"""Other programs kvmtui runs for the operator (the editor of `:edit`, `virsh console` on
Ctrl+O, the graphical viewer), and how each ended, in words naming the program.

Whatever the program does (is not found, exits non-zero, is killed, hangs until the operator
ends it with Ctrl+C) it ends as a one-line report, and kvmtui carries on after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import termios
from collections.abc import Iterator
from types import FrameType

#: What the terminal's keys send to every process in its foreground while a program has the
#: terminal: Ctrl+C and Ctrl+\ are the program's, not kvmtui's.
_TERMINAL_SIGNALS = (signal.SIGINT, signal.SIGQUIT)


def how_it_ended(role: str, program: str, status: int) -> str:
    """`editor `false` exited with status 1`, or `... was killed by SIGKILL` for asyncio's
    negative status (the signal that ended it)."""
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"{role} `{program}` was killed by {name}"
    return f"{role} `{program}` exited with status {status}"


def cannot_start(role: str, program: str, error: OSError) -> str:
    return f"{role} `{program}` cannot start: {error.strerror or error}"


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """A handler, not SIG_IGN: the program's exec resets it, so Ctrl+C still ends the
    program (an ignored signal would stay ignored in it)."""


@contextlib.contextmanager
def _terminal_lent() -> Iterator[None]:
    """While the program runs, kvmtui lets Ctrl+C and Ctrl+\\ pass, as system(3) does: a
    hung editor ended with Ctrl+C must not end kvmtui too. Afterwards the terminal's modes
    are put back, as a shell does after a job: a program killed mid-way leaves them as it
    set them (raw, no echo), and kvmtui would take those for the terminal's own and leave
    them behind when it exits."""
    stdin = sys.__stdin__
    fd = stdin.fileno() if stdin is not None and stdin.isatty() else None
    modes = termios.tcgetattr(fd) if fd is not None else None
    previous = {number: signal.signal(number, _ignore) for number in _TERMINAL_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        if fd is not None and modes is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(fd, termios.TCSADRAIN, modes)


async def run_in_terminal(command: list[str], role: str) -> None:
    """Runs `command` on kvmtui's terminal to its end without holding up the event loop
    (libvirt's keepalive runs on it, and an edit or a console may last long); ValueError
    saying how, naming the program, when it cannot start or does not exit with status 0."""
    with _terminal_lent():
        try:
            process = await asyncio.create_subprocess_exec(*command)
        except OSError as error:
            raise ValueError(cannot_start(role, command[0], error)) from None
        status = await process.wait()
    if status != 0:
        raise ValueError(how_it_ended(role, command[0], status))
