"""The serial console against `virsh console`, side by side in one run, on the lab.

`seq 1 20000` is typed in lab guest linux-b1's serial console, once through kvmtui (its
own process in a pty at 100x30, the console opened with `:console linux-b1 --force`) and
once through `virsh console linux-b1 --force` in the same kind of pty, in turn, `--rounds`
times each, with the CPU each terminal's process spent meanwhile (on a busy machine, CPU
the guest's own emulation wants). Each time is from the Enter that runs the command to
the marker the command prints after its last line (`DONE-42`, computed by the guest's
shell, so the echo of the typed line never matches) reaching the terminal. The pty's
output is searched as raw bytes, not fed to a terminal emulator here, so the reading side
costs both the same.

The lab is one shared instance: run this only under its lock, lab up (`scripts/lab up`):

    flock /tmp/kvmtui-lab.lock .venv/bin/python benchmarks/console.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.lab.labinfo import LabInfo  # noqa: E402

COLUMNS, LINES = 100, 30
GUEST, HOST = "linux-b1", "hostb"
COMMAND = "seq 1 20000; echo DONE-$((6*7))\r"
DONE = b"DONE-42"


class Pty:
    """A process in a pty of COLUMNS x LINES whose output is kept as raw bytes."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self._fd = master
        self._lock = threading.Lock()
        self._output = bytearray()
        self._arrived = threading.Condition(self._lock)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self._output += chunk
                self._arrived.notify_all()

    def mark(self) -> int:
        with self._lock:
            return len(self._output)

    def write(self, text: str) -> float:
        os.write(self._fd, text.encode())
        return time.monotonic()

    def wait(self, marker: bytes, since: int = 0, timeout: float = 60.0) -> float:
        """When `marker` had arrived in the output after offset `since`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while marker not in self._output[since:]:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    tail = bytes(self._output[-2000:]).decode(errors="replace")
                    raise TimeoutError(f"{marker!r} never came; the output ended:\n{tail}")
                self._arrived.wait(min(left, 0.5))
            return time.monotonic()

    def cpu_seconds(self) -> float:
        """The process's CPU (user + system) so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        os.close(self._fd)


def timed_seq(term: Pty) -> tuple[float, float]:
    """Seconds from the Enter of COMMAND to its marker, once the shell answers, and the
    CPU seconds the terminal's process spent meanwhile."""
    for _attempt in range(12):  # a line typed before the console was raw is thrown away
        since = term.mark()
        term.write("echo READY-$((6*7))\r")
        try:
            term.wait(b"READY-42", since, timeout=5)
            break
        except TimeoutError:
            continue
    else:
        term.wait(b"READY-42", since, timeout=0)  # raises, with the output's tail
    time.sleep(0.5)  # what the shell prints after (its prompt) is not in the timing
    since, cpu = term.mark(), term.cpu_seconds()
    sent = term.write(COMMAND)
    done = term.wait(DONE, since, timeout=300) - sent
    return done, term.cpu_seconds() - cpu


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL")}
    env.update(TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(LINES))
    return env


def with_virsh(uri: str) -> tuple[float, float]:
    term = Pty(["virsh", "-c", uri, "console", GUEST, "--force"], environment())
    try:
        term.wait(b"Escape character", timeout=30)
        time.sleep(0.5)  # virsh makes the pty raw after this line, flushing what came first
        term.write("\r")
        return timed_seq(term)
    finally:
        term.stop()


def with_kvmtui(config: Path, state: Path) -> tuple[float, float]:
    env = environment()
    env.update(PYTHONPATH=str(ROOT), XDG_STATE_HOME=str(state), XDG_CONFIG_HOME=str(state))
    term = Pty([sys.executable, "-m", "kvmtui", "--config", str(config)], env)
    try:
        term.wait(GUEST.encode(), timeout=60)  # the guests' table, with the guest on it
        since = term.mark()
        term.write(":")
        time.sleep(0.3)
        term.write(f"console {GUEST} --force\r")
        term.wait(b"Ctrl+]", since, timeout=30)
        time.sleep(1.0)  # the console attached: the stream open, the first output drawn
        term.write("\r")
        return timed_seq(term)
    finally:
        term.write("\x1d")  # Ctrl+]: back to the list, then q
        time.sleep(0.5)
        term.write("q")
        time.sleep(0.5)
        term.stop()


@dataclass
class Result:
    rounds: int
    load_average: list[float]
    virsh_s: list[float]
    kvmtui_s: list[float]
    virsh_cpu_s: list[float]
    kvmtui_cpu_s: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.kvmtui_s) / statistics.median(self.virsh_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, in turn")
    parser.add_argument("--json", type=Path, default=Path("console.json"))
    args = parser.parse_args()
    lab = LabInfo.load()
    uri = lab.host(HOST).uri_tcp
    result = Result(args.rounds, [round(x, 2) for x in os.getloadavg()], [], [], [], [])
    with tempfile.TemporaryDirectory(prefix="kvmtui-console-bench-") as directory:
        config = Path(directory) / "kvmtui.toml"
        config.write_text(f'refresh = 2.0\n[[host]]\nname = "{HOST}"\nuri = "{uri}"\n')
        state = Path(directory)
        for _ in range(args.rounds):
            for times, cpus, measured in (
                (result.virsh_s, result.virsh_cpu_s, lambda: with_virsh(uri)),
                (result.kvmtui_s, result.kvmtui_cpu_s, lambda: with_kvmtui(config, state)),
            ):
                seconds, cpu = measured()
                times.append(seconds)
                cpus.append(cpu)
    print(
        f"seq 1 20000 in {GUEST}'s serial console at {COLUMNS}x{LINES}, {args.rounds} rounds, "
        f"load average before the run {result.load_average}"
    )
    for label, times, cpus in (
        ("virsh console", result.virsh_s, result.virsh_cpu_s),
        ("kvmtui", result.kvmtui_s, result.kvmtui_cpu_s),
    ):
        shown = ", ".join(f"{t:.2f}" for t in times)
        print(
            f"  {label:<14} median {statistics.median(times):.2f} s  ({shown}), "
            f"its CPU meanwhile {statistics.median(cpus):.2f} s"
        )
    print(f"  kvmtui / virsh {result.ratio:.2f}x   (target <= 1.05x)")
    args.json.write_text(json.dumps({**asdict(result), "ratio": result.ratio}, indent=2) + "\n")


if __name__ == "__main__":
    main()
