"""A long soak of kvmtui on the two-host lab, in a real terminal (tmux), while the lab churns.

kvmtui runs on both lab hosts (the lab's TCP config) in a tmux pane for `--minutes`
(default 30). Meanwhile a churn loop changes the lab through virsh only, never through
kvmtui: it suspends and resumes guests, starts and destroys one, live-migrates an OS-less
guest back and forth between the hosts, and every `--host-death-every` minutes kills host B's
libvirtd (`scripts/lab stop-host b`), leaves it dead for `--host-death-for` seconds, and
starts it again (`scripts/lab start-host b`).

It reports, with the targets beside them:
- unhandled exceptions: "Traceback" on the screen (Textual prints the trace there when it
  ends the app) or in kvmtui's log files under the XDG state dir (`$XDG_STATE_HOME/kvmtui`,
  a private temporary one for the run), and whether the app exited on its own (target 0);
- resident memory (VmRSS) and open file descriptors of the kvmtui process, at the start
  (once the first full guest table is on screen and the warm-up has passed) and at the end
  (targets: RSS growth < 10 %, file descriptors flat);
- the largest screen-update gap: the pane is captured every `--sample` seconds, and the gap
  is the longest time between two captures that differ, counted only while the churn loop is
  running (the lab's guests burn CPU, so the guest table's figures change every refresh; a
  gap longer than a few refreshes means the UI stalled) (target < 3 s). Every gap over 2 s
  is listed with the machine's load average when it ended: on a shared machine a late tick
  can be the machine's doing.

Not part of the test suite. Run it as root with the lab up, holding the lab lock:

    flock /tmp/kvmtui-lab.lock env PYTHONPATH=$PWD .venv/bin/python benchmarks/soak.py --minutes 30

It exits 0 iff every target was met, and leaves every lab guest at home (`scripts/lab reset`).
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.lab.labinfo import LabInfo, run_lab  # noqa: E402

SESSION = "kvmtui-soak"
SIZE = (120, 40)
TRACEBACK = re.compile(r"Traceback \(most recent call last\)")
TARGET_RSS_GROWTH = 10.0  # percent
TARGET_GAP = 3.0  # seconds


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def capture() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def pane_dead() -> bool:
    return tmux("display-message", "-p", "-t", SESSION, "#{pane_dead}").strip() == "1"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class Screen:
    """Samples the pane on a thread of its own and records when its content changed."""

    period: float
    changes: list[float] = field(default_factory=list)
    #: (gap, when it ended, the machine's 1-minute load average then) for gaps over 2 s:
    #: on a shared machine a stall can be the machine's, not kvmtui's.
    long_gaps: list[tuple[float, str, float]] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="soak-screen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        last = None
        while not self._stop.is_set():
            try:
                text = capture()
            except subprocess.CalledProcessError:
                break  # the session is gone: reported by the caller
            self.samples += 1
            if text != last:
                now = time.monotonic()
                if self.changes and now - self.changes[-1] > 2.0:
                    self.long_gaps.append(
                        (now - self.changes[-1], time.strftime("%H:%M:%S"), os.getloadavg()[0])
                    )
                self.changes.append(now)
                last = text
                if TRACEBACK.search(text) and len(self.tracebacks) < 5:
                    self.tracebacks.append(text)
            self._stop.wait(self.period)

    def largest_gap(self, since: float, until: float) -> tuple[float, float]:
        """The longest time within [since, until] during which the pane did not change, and
        when (seconds after `since`) it began."""
        inside = [t for t in self.changes if since <= t <= until]
        edges = [since, *inside, until]
        gap, start = max((b - a, a) for a, b in itertools.pairwise(edges))
        return gap, start - since


@dataclass
class Churn:
    """Changes the lab behind kvmtui's back, through virsh and scripts/lab only."""

    lab: LabInfo
    death_every: float
    death_for: float
    actions: int = 0
    failures: int = 0
    deaths: int = 0
    log: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        """Two threads: the guest churn goes on on host A while host B is dead."""
        for target, name in ((self._churn, "soak-churn"), (self._deaths, "soak-deaths")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _virsh(self, host: str, *args: str) -> bool:
        cp = self.lab.virsh(host, *args, timeout=120)
        self.actions += 1
        if cp.returncode != 0:
            self.failures += 1
            self._note(f"virsh {host} {' '.join(args)}: {cp.stderr.strip()[:160]}")
        return cp.returncode == 0

    def _note(self, line: str) -> None:
        self.log.append(f"{time.strftime('%H:%M:%S')} {line}")

    def _where(self, guest: str) -> str | None:
        for host in self.lab.hosts:
            if self.lab.virsh(host, "domstate", guest, timeout=30).returncode == 0:
                return host
        return None

    def _on_its_host(self, verb: str, guest: str) -> None:
        """`virsh VERB GUEST` on whichever host has the guest now (it migrates)."""
        host = self._where(guest)
        if host is not None:
            self._virsh(host, verb, guest)

    def _migrate(self, guest: str) -> None:
        source = self._where(guest)
        if source is None:
            return
        dest = next(h for h in self.lab.hosts if h != source)
        info = self.lab.host(dest)
        self._virsh(
            source,
            "migrate",
            "--live",
            "--persistent",
            "--undefinesource",
            guest,
            info.uri_tcp,
            info.migrate_uri,
        )

    def _steps(self) -> list[Callable[[], object]]:
        return [
            lambda: self._on_its_host("suspend", "tiny-a1"),
            lambda: self._virsh("hostb", "suspend", "tiny-b1"),
            lambda: self._virsh("hosta", "start", "tiny-a2"),
            lambda: self._on_its_host("resume", "tiny-a1"),
            lambda: self._virsh("hostb", "resume", "tiny-b1"),
            lambda: self._virsh("hosta", "destroy", "tiny-a2"),
            lambda: self._migrate("tiny-a1"),
            lambda: self._migrate("tiny-a1"),
        ]

    def _churn(self) -> None:
        for step in itertools.cycle(self._steps()):
            if self._stop.wait(2.0):
                return
            step()

    def _deaths(self) -> None:
        """Kills host B's libvirtd every `death_every` seconds for `death_for` seconds; it is
        always started again, even when the soak stops while it is dead."""
        while not self._stop.wait(self.death_every):
            self.deaths += 1
            self._note("stop-host b")
            self.lab.stop_host("b")
            self._stop.wait(self.death_for)
            self._note("start-host b")
            self.lab.start_host("b")
            self._note("host b answers again")


def kvmtui_command(lab: LabInfo, state: Path) -> str:
    env = f"PYTHONPATH={REPO} XDG_STATE_HOME={state} TERM=xterm-256color"
    binary = REPO / ".venv" / "bin" / "kvmtui"
    return f"env {env} {binary} --config {lab.configs['tcp']}"


def wait_for_table(lab: LabInfo, timeout: float = 60) -> None:
    """Until every lab guest's name is on screen: the fleet is listed."""
    names = [g for g in lab.guests if lab.guests[g].running]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = capture()
        if all(name in text for name in names):
            return
        time.sleep(0.5)
    raise SystemExit(f"kvmtui did not list the lab's guests in {timeout:g} s:\n{capture()}")


def log_tracebacks(state: Path) -> list[str]:
    found = []
    for path in sorted(state.rglob("*")):
        if path.is_file():
            text = path.read_text(errors="replace")
            found += [f"{path}: {line}" for line in text.splitlines() if TRACEBACK.search(line)]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument(
        "--host-death-every",
        type=float,
        default=4.0,
        help="minutes between kills of host B's libvirtd",
    )
    parser.add_argument(
        "--host-death-for", type=float, default=20.0, help="seconds host B's libvirtd stays dead"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=20.0,
        help="seconds after the first full table before the start figures",
    )
    parser.add_argument("--sample", type=float, default=0.2, help="seconds between screen captures")
    args = parser.parse_args()

    lab = LabInfo.load()
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is needed")
    run_lab("reset")
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
    state = Path(tempfile.mkdtemp(prefix="kvmtui-soak-state-"))
    tmux(
        "new-session",
        "-d",
        "-s",
        SESSION,
        "-x",
        str(SIZE[0]),
        "-y",
        str(SIZE[1]),
        kvmtui_command(lab, state),
    )
    tmux("set-option", "-t", SESSION, "remain-on-exit", "on")
    pid = int(tmux("display-message", "-p", "-t", SESSION, "#{pane_pid}"))
    screen = Screen(args.sample)
    churn = Churn(lab, args.host_death_every * 60, args.host_death_for)
    try:
        wait_for_table(lab)
        time.sleep(args.warmup)
        rss_start, fds_start = rss_kib(pid), open_fds(pid)
        screen.start()
        churn.start()
        began, began_at = time.monotonic(), time.strftime("%H:%M:%S")
        end = began + args.minutes * 60
        while time.monotonic() < end and not pane_dead():
            time.sleep(1.0)
        exited = pane_dead()
        churn_end = time.monotonic()
        rss_end = None if exited else rss_kib(pid)
        fds_end = None if exited else open_fds(pid)
        churn.stop()
        screen.stop()
        final = capture()
    finally:
        churn.stop()
        screen.stop()
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
        run_lab("start-host", "b")
        run_lab("reset")
    tracebacks = log_tracebacks(state) + [f"screen:\n{t}" for t in screen.tracebacks]
    if TRACEBACK.search(final) and not screen.tracebacks:
        tracebacks.append(f"screen:\n{final}")
    gap, gap_at = screen.largest_gap(began, churn_end)
    minutes = (churn_end - began) / 60

    growth = None if rss_end is None else 100.0 * (rss_end - rss_start) / rss_start
    verdicts = {
        "exceptions": not tracebacks and not exited,
        "rss": growth is not None and growth < TARGET_RSS_GROWTH,
        "fds": fds_end is not None and fds_end <= fds_start,
        "gap": gap < TARGET_GAP,
    }
    mark = {True: "ok  ", False: "MISS"}
    print(
        f"soak: {minutes:.1f} min on the lab, {churn.actions} virsh changes "
        f"({churn.failures} refused, e.g. while host B was down), "
        f"{churn.deaths} kills of host B's libvirtd, {screen.samples} screen captures; "
        f"churn began at {began_at}"
    )
    print(
        f"{mark[verdicts['exceptions']]} unhandled exceptions: {len(tracebacks)}"
        f"{'; kvmtui EXITED' if exited else ''}   (target 0)"
    )
    if rss_end is not None:
        print(
            f"{mark[verdicts['rss']]} RSS {rss_start / 1024:.1f} MiB -> {rss_end / 1024:.1f} MiB"
            f" ({growth:+.1f} %)   (target < {TARGET_RSS_GROWTH:g} %)"
        )
        print(f"{mark[verdicts['fds']]} open fds {fds_start} -> {fds_end}   (target: flat)")
    print(
        f"{mark[verdicts['gap']]} largest screen-update gap during churn: {gap:.2f} s, "
        f"{gap_at:.0f} s in   (target < {TARGET_GAP:g} s)"
    )
    for gap_s, when, load in screen.long_gaps:
        print(f"     a {gap_s:.2f} s gap ended at {when}, load average {load:.1f}")
    for line in tracebacks[:3]:
        print(line)
    if churn.log:
        print("churn notes (last 10):")
        for line in churn.log[-10:]:
            print(f"  {line}")
    shutil.rmtree(state, ignore_errors=True)
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
