"""How kvmtui copes with a large fleet, measured as a user meets it: in a real terminal.

kvmtui runs as its own process in a pty at 120x40 on generated libvirt `test:///` fleets
whose figures never change, and the screen it draws is read back with pyte. Each fleet is
measured twice: served by libvirtds of the benchmark's own, one per host with its guests
defined and started before kvmtui starts (`test+unix://`), as kvmtui meets real hosts, and
in-process (`test:///FILE`), where libvirt parses and holds the whole fleet inside the
kvmtui process at every start. In the same run two floors are measured on the same
machine: a bare Textual app drawing a 1,000-row DataTable (what a Textual screen costs at
all), and the raw polling cost (one getAllDomainStats per host per tick and nothing else).
Figures are reported beside their targets and as ratios to those floors, because the
machine is shared and only ratios taken in one run compare.

kvmtui runs as a user has it: with its history on (the event log and the audit in their
database, under a scratch `XDG_STATE_HOME`), and every guest carries two tags in its
definition's kvmtui metadata (`write_fleet(tag_every=True)`); the report says how many
events the log kept and what its database holds on disk.

Stats calls are counted in the kvmtui process by wrapping libvirt's own
`virConnect.getAllDomainStats` (a sitecustomize put on its PYTHONPATH), not by a counter
inside the product.

Run: .venv/bin/python benchmarks/fleet.py [--fleets 4x250,10x1000,1x5000,200x20,1000x10]
     [--idle 60] [--libvirt daemon,in-process] [--json fleet.json]      (a few minutes)
     .venv/bin/python benchmarks/fleet.py --smoke                   (a few seconds, for CI)
"""

from __future__ import annotations

import argparse
import codecs
import compileall
import concurrent.futures
import contextlib
import fcntl
import json
import os
import re
import signal
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pyte

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kvmtui.core.demo import write_fleet  # noqa: E402
from kvmtui.core.model import HostSpec  # noqa: E402

COLUMNS, LINES = 120, 40
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SETTLE = 0.25  # seconds of terminal silence that end the answer to a keystroke
RUNNING, PAUSED = 1, 3  # the test driver's run states in a node file (test:runstate)

# Put first on the measured process's PYTHONPATH: counts the bulk stats calls per host, the
# connections opened and refused per host, and the most opens ever in flight at once.
SITECUSTOMIZE = """
import json, os, threading, time
import libvirt

_path = os.environ["KVMTUI_BENCH_COUNTS"]
_counts = {"stats": {}, "opens": 0, "open_failures": {}, "in_flight": 0, "max_in_flight": 0}
_lock = threading.Lock()
_real = libvirt.virConnect.getAllDomainStats


def getAllDomainStats(self, *args, **kwargs):
    result = _real(self, *args, **kwargs)
    uri = getattr(self, "_bench_uri", None)
    if uri is None:
        uri = self._bench_uri = self.getURI()
    with _lock:
        _counts["stats"][uri] = _counts["stats"].get(uri, 0) + 1
    return result


def _counted(real):
    def open(uri=None, *args, **kwargs):
        with _lock:
            _counts["opens"] += 1
            _counts["in_flight"] += 1
            _counts["max_in_flight"] = max(_counts["max_in_flight"], _counts["in_flight"])
        try:
            return real(uri, *args, **kwargs)
        except libvirt.libvirtError:
            with _lock:
                failures = _counts["open_failures"]
                failures[uri] = failures.get(uri, 0) + 1
            raise
        finally:
            with _lock:
                _counts["in_flight"] -= 1

    return open


def _write():
    last = None
    while True:
        time.sleep(0.5)
        with _lock:
            now = json.dumps(_counts)
        if now != last:
            with open(_path + ".tmp", "w") as out:
                out.write(now)
            os.replace(_path + ".tmp", _path)
            last = now


libvirt.virConnect.getAllDomainStats = getAllDomainStats
libvirt.open = _counted(libvirt.open)
libvirt.openReadOnly = _counted(libvirt.openReadOnly)
threading.Thread(target=_write, daemon=True, name="bench-counts").start()
"""

BARE_APP = """
from textual.app import App
from textual.widgets import DataTable


class Bare(App):
    def compose(self):
        yield DataTable()

    def on_mount(self):
        table = self.query_one(DataTable)
        table.add_columns("Name", "Host", "State", "vCPU", "CPU%", "Mem")
        table.add_rows((f"row-{i:04d}", f"kvm{i % 10:02d}", "running", "2", "0.0%", "2.0 GiB")
                       for i in range(1000))


Bare().run()
"""

RAW_POLL = """
import sys, time
import libvirt
from kvmtui.core.host import STATS_FLAGS, STATS_GROUPS

refresh, seconds, uris = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
began = time.monotonic()
conns = [libvirt.open(uri) for uri in uris]
for conn in conns:
    conn.getAllDomainStats(STATS_GROUPS, STATS_FLAGS)
opened = time.monotonic() - began
start_cpu, start = time.process_time(), time.monotonic()
ticks = 0
while time.monotonic() - start < seconds:
    for conn in conns:
        conn.getAllDomainStats(STATS_GROUPS, STATS_FLAGS)
    ticks += 1
    time.sleep(max(0.0, start + ticks * refresh - time.monotonic()))
cpu = time.process_time() - start_cpu
rss = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
print(cpu / (time.monotonic() - start) * 60, opened, rss)
"""


#: Hosts one of the benchmark's daemons serves at most: beyond, a fleet shares daemons.
HOSTS_PER_DAEMON = 250
#: The benchmark's daemons' own config: room for every host of a shared daemon (libvirtd
#: refuses a client beyond max_clients, and holds at most max_queued_clients not yet
#: accepted), and the workers to answer them.
DAEMON_CONFIG = """
max_clients = {clients}
max_anonymous_clients = {clients}
max_queued_clients = {clients}
min_workers = 2
max_workers = 8
"""


class HostDaemons:
    """One libvirtd of the benchmark's own per host, each serving its host's guests from
    the test driver's shared `test:///default`, defined and started before kvmtui comes:
    kvmtui connects as it does to real hosts, whose daemons have their guests loaded long
    before any client asks. (Served from a `test://FILE` URI instead, a daemon parses the
    whole file again for every connection, 0.2 s a host of 1,000 guests that no real host
    spends.) Libvirt's memory for the fleet is the daemons', not kvmtui's (the in-process
    mode holds the whole fleet inside the measured process). Run in session mode, as user
    nobody when started as root, so they touch no system state and no lab daemon.

    A fleet of more than `per_daemon` hosts (1000x10) is served instead by a few
    daemons, each host one `test+unix:///FILE` connection to one of them (its node file,
    parsed by the daemon as the host connects: ten guests, a few milliseconds), with the
    daemon's client limits raised in its own config: a thousand daemons would measure the
    machine, not kvmtui, and one jump box meets a thousand hosts as a thousand sockets."""

    def __init__(
        self, directory: Path, specs: tuple[HostSpec, ...], per_daemon: int = HOSTS_PER_DAEMON
    ) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.sockets: list[Path] = []
        self._loaders: list[Any] = []  # a connection each: `test:///default` lives on
        self._specs = specs
        self.per_daemon = per_daemon
        self.shared = len(specs) > per_daemon
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o777)
        cache = directory / "cache"  # shared: each daemon probes the same capabilities
        cache.mkdir(exist_ok=True)
        cache.chmod(0o777)
        try:
            if self.shared:
                for index in range(-(-len(specs) // per_daemon)):
                    self._start(directory / f"daemon{index}", cache)
                for socket in self.sockets:
                    self._loaders.append(self._open(socket))  # up before kvmtui comes
                return
            for index in range(len(specs)):
                self._start(directory / f"host{index}", cache)
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                self._loaders = list(pool.map(self._load, self.sockets, specs))
        except BaseException:
            self.stop()
            raise

    def _start(self, home: Path, cache: Path) -> None:
        run = home / "run"
        run.mkdir(parents=True)
        for path in (home, run):
            path.chmod(0o777)
        config = home / "libvirtd.conf"
        config.write_text(DAEMON_CONFIG.format(clients=max(self.per_daemon * 2, 20)))
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin"),
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(run),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_CACHE_HOME": str(cache),
        }
        user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        argv = [
            *(user if os.geteuid() == 0 else []),
            "/usr/sbin/libvirtd",
            "--timeout",
            "0",
            "--config",
            str(config),
        ]
        self.processes.append(
            subprocess.Popen(
                argv,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        self.sockets.append(run / "libvirt" / "libvirt-sock")

    def _open(self, socket: Path) -> Any:
        """A connection to the daemon at `socket` once it answers."""
        import libvirt

        uri = f"test+unix:///default?socket={socket}"
        deadline = time.monotonic() + 30
        while True:
            try:
                return libvirt.open(uri)
            except libvirt.libvirtError as error:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the benchmark's libvirtd at {socket} did not start"
                    ) from error
                time.sleep(0.05)

    def _load(self, socket: Path, spec: HostSpec) -> Any:
        """Defines and starts the host's guests, in the states its node file gives them."""

        conn = self._open(socket)
        for dom in conn.listAllDomains():  # the driver's own sample guest
            if dom.isActive():
                dom.destroy()
            dom.undefine()
        node = Path(spec.uri.removeprefix("test://")).read_text()
        for xml in re.findall(r"<domain .*?</domain>", node, re.S):
            state = int(re.search(r"<test:runstate>(\d+)</test:runstate>", xml).group(1))
            dom = conn.defineXML(re.sub(r"\s*<test:runstate>.*?</test:runstate>", "", xml))
            if state in (RUNNING, PAUSED):
                dom.create()
            if state == PAUSED:
                dom.suspend()
        return conn

    def uri(self, index: int) -> str:
        if self.shared:
            node = self._specs[index].uri.removeprefix("test://")
            return f"test+unix://{node}?socket={self.sockets[index // self.per_daemon]}"
        return f"test+unix:///default?socket={self.sockets[index]}"

    def __enter__(self) -> HostDaemons:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for conn in self._loaders:
            with contextlib.suppress(Exception):
                conn.close()
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Terminal:
    """A process in a pty of COLUMNS x LINES, its output counted and kept as a pyte screen."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self._fd = master
        self._lock = threading.Lock()
        self.screen = pyte.Screen(COLUMNS, LINES)
        self._stream = pyte.Stream(self.screen)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.bytes = 0
        self.last_output = self.started
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self.bytes += len(chunk)
                self._stream.feed(self._decoder.decode(chunk))
                self.last_output = time.monotonic()

    def lines(self) -> list[str]:
        with self._lock:
            return list(self.screen.display)

    def write(self, text: str) -> float:
        os.write(self._fd, text.encode())
        return time.monotonic()

    def wait(self, condition: Callable[[list[str]], bool], timeout: float) -> float:
        """When the output that made `condition(screen lines)` true arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if condition(list(self.screen.display)):
                    return self.last_output
            time.sleep(0.005)
        raise TimeoutError("the screen never showed what was awaited:\n" + "\n".join(self.lines()))

    def answer_time(self, keys: str, timeout: float = 10.0) -> float:
        """Seconds from writing `keys` to the last output of the answer (then SETTLE quiet)."""
        with self._lock:
            before = self.bytes
        sent = self.write(keys)
        deadline = sent + timeout
        while time.monotonic() < deadline:
            time.sleep(0.01)
            with self._lock:
                answered, last = self.bytes > before, self.last_output
            if answered and time.monotonic() - last >= SETTLE:
                return last - sent
        raise TimeoutError(f"no answer to {keys!r}")

    def output_bytes(self) -> int:
        with self._lock:
            return self.bytes

    def proc(self, field_name: str) -> int:
        """A figure of /proc/PID/status (VmRSS in KiB, Threads)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
        raise KeyError(field_name)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def stop(self) -> None:
        if self.process.poll() is None:
            self.write("q")
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        os.close(self._fd)
        self._reader.join(2)


@dataclass
class Idle:
    cpu_s_per_min: float
    kb_per_min: float


#: The start-up tail is over once kvmtui spends less than this share of a core (idle is
#: 0.05-0.2 at the benchmark's shapes, the tail 0.7-1.0).
TAIL_CORES = 0.3


@dataclass
class Tail:
    ends_s: float  # when the quiet began, in seconds from the launch
    kb: float
    cpu_s: float


def measure_tail(term: Terminal, quiet: float, limit: float = 120.0) -> Tail:
    """The start-up tail: from now (the full table on screen) until, for `quiet` seconds,
    the terminal has been written nothing and kvmtui has spent less than TAIL_CORES of a
    core; what was written and the CPU spent until the quiet began. The idle window comes
    after it, so it measures idle and not the end of the start (at 1000x10 the reads
    after the first tables write nothing for seconds, then more)."""
    cpu, out, start = term.cpu_seconds(), term.output_bytes(), time.monotonic()
    samples: deque[tuple[float, float]] = deque([(start, cpu)])
    while True:
        time.sleep(0.25)
        now, used = time.monotonic(), term.cpu_seconds()
        samples.append((now, used))
        while len(samples) > 1 and samples[1][0] <= now - quiet:
            samples.popleft()
        since, used_then = samples[0]
        calm = now - since >= quiet and used - used_then < TAIL_CORES * (now - since)
        if (calm and now - max(term.last_output, start) >= quiet) or now - start >= limit:
            break
    return Tail(since - term.started, (term.output_bytes() - out) / 1024, used_then - cpu)


def measure_idle(term: Terminal, seconds: float) -> Idle:
    cpu, out, start = term.cpu_seconds(), term.output_bytes(), time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - start
    return Idle(
        (term.cpu_seconds() - cpu) / wall * 60, (term.output_bytes() - out) / 1024 / wall * 60
    )


def environment(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL")}
    env.update(TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(LINES), **extra)
    return env


@dataclass
class FleetResult:
    fleet: str
    libvirt: str  # "daemon": served by a libvirtd; "in-process": test:/// inside kvmtui
    hosts: int
    guests: int
    first_rows_s: float
    first_table_s: float
    idle_cpu_s_per_min: float
    idle_kb_per_min: float
    rss_mb: float
    threads: int
    filter_ms: float
    cursor_ms: float
    sort_ms: float
    stats_calls_per_host_tick: float
    stats_calls_max_host_tick: float
    all_up_s: float  # until the status line counts every host up
    start_cpu_s: float  # CPU-s kvmtui spent until its full table (the last start)
    tail_ends_s: float  # when the start-up tail was over (see measure_tail), from the launch
    tail_kb: float  # written meanwhile
    tail_cpu_s: float  # spent meanwhile
    fds: int  # open file descriptors while idle
    opens_max_in_flight: int  # the most libvirt opens running at once (the last start)
    open_failures: int  # libvirt opens refused or failed (the last start)
    hosts_refused: int  # hosts with at least one of them
    raw_poll_cpu_s_per_min: float
    raw_open_s: float
    raw_rss_mb: float
    tags_per_guest: float  # kvmtui tags in each guest's definition (metadata)
    history_events: int  # rows in the event log's database after the run (history on)
    history_kb: float  # that database on disk, WAL included
    profile: str = ""
    #: --hold: RSS (MB) once a minute while kvmtui ran on with guests changing under it.
    hold_rss_mb: list[float] = field(default_factory=list)
    hold_changes: int = 0


@dataclass
class BareResult:
    first_paint_s: float
    idle_cpu_s_per_min: float
    idle_kb_per_min: float
    rss_mb: float


@dataclass
class Run:
    refresh: float
    idle_s: float
    load_average: list[float]
    starts: int  # of each app, for its first paint or table (the median is shown)
    bare: BareResult | None = None
    fleets: list[FleetResult] = field(default_factory=list)


Screen = Callable[[list[str]], bool]


def started(
    argv: list[str], env: dict[str, str], marks: list[Screen], starts: int
) -> tuple[Terminal, list[float]]:
    """Starts `argv` `starts` times, each until the screen has shown every one of `marks`
    in turn: the last start, still running, and the median seconds from start to each mark.

    One start moves by 10-15 % from the next on this machine, and a ratio of two starts
    (kvmtui's first table over the bare app's first paint) by twice that: the median of
    several is what a user meets."""
    seconds: list[list[float]] = [[] for _ in marks]
    for attempt in range(starts):
        term = Terminal(argv, env)
        try:
            for found, mark in zip(seconds, marks, strict=True):
                found.append(term.wait(mark, 300) - term.started)
        except BaseException:
            term.stop()
            raise
        if attempt < starts - 1:
            term.stop()
    return term, [statistics.median(found) for found in seconds]


def bare_app(idle: float, starts: int) -> BareResult:
    term, (first_paint,) = started(
        [sys.executable, "-c", BARE_APP],
        environment({}),
        [lambda lines: any("row-0000" in line for line in lines)],
        starts,
    )
    try:
        term.answer_time("\x1b[B")  # wake it once, as in the fleet runs, then leave it
        result = measure_idle(term, idle)
        return BareResult(
            first_paint, result.cpu_s_per_min, result.kb_per_min, term.proc("VmRSS") / 1024
        )
    finally:
        term.stop()


def raw_poll(uris: list[str], refresh: float, seconds: float) -> tuple[float, float, float]:
    """(CPU-s/min of the bulk calls alone, seconds to open the hosts and take the first
    stats, RSS MB): what the libvirt side costs, over the same URIs kvmtui opened."""
    out = subprocess.run(
        [sys.executable, "-c", RAW_POLL, str(refresh), str(seconds), *uris],
        capture_output=True,
        text=True,
        check=True,
        env=environment({"PYTHONPATH": str(ROOT)}),
    )
    cpu, opened, rss = (float(figure) for figure in out.stdout.split())
    return cpu, opened, rss


def _guest_names(xml: Path) -> list[str]:
    return re.findall(r"<name>(.*?)</name>", xml.read_text())


def _status(lines: list[str]) -> str:
    return next((line for line in lines if "kvmtui:" in line), "")


def _rows_after_header(lines: list[str]) -> list[str]:
    header = next(
        (i for i, line in enumerate(lines) if " Name " in line and " State " in line), None
    )
    if header is None:
        return []
    rows = []
    for line in lines[header + 1 :]:
        if not line.strip() or line.lstrip().startswith(("/", "?")):
            break
        rows.append(line)
    return rows


def measure_fleet(
    spec: str,
    directory: Path,
    refresh: float,
    idle: float,
    profile: bool,
    served: bool,
    starts: int,
    hold_minutes: float = 0.0,
    per_daemon: int = HOSTS_PER_DAEMON,
) -> FleetResult:
    hosts, guests = (int(n) for n in spec.split("x"))
    fleet_dir = directory / spec
    nodes = write_fleet(fleet_dir, hosts=hosts, guests_per_host=guests, tag_every=True)
    tags = sum(
        len(re.findall(r"<kvmtui:tag>", (fleet_dir / f"{s.name}.xml").read_text())) for s in nodes
    )
    state = directory / f"{spec}-state"  # the event log's database: history on, as a user has it
    with (
        HostDaemons(directory / f"{spec}-daemons", nodes, per_daemon)
        if served
        else contextlib.nullcontext()
    ) as daemons:
        specs = nodes
        if daemons is not None:
            specs = tuple(replace(s, uri=daemons.uri(i)) for i, s in enumerate(nodes))
        total = hosts * guests + min(hosts, 2)  # write_fleet adds one shared name on two hosts
        config = directory / f"{spec}.toml"
        config.write_text(
            f"refresh = {refresh}\n"
            + "".join(f'[[host]]\nname = "{s.name}"\nuri = "{s.uri}"\n' for s in specs)
        )
        counts = directory / f"{spec}.counts.json"
        site = directory / "site"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        env = environment(
            {
                "PYTHONPATH": f"{site}:{ROOT}",
                "KVMTUI_BENCH_COUNTS": str(counts),
                "XDG_CONFIG_HOME": str(directory),
                "XDG_STATE_HOME": str(state),
            }
        )
        term, (first_rows, all_up, first_table) = started(
            [sys.executable, "-m", "kvmtui", "--config", str(config)],
            env,
            [
                lambda lines: len(_rows_after_header(lines)) > 10,
                lambda lines: f"hosts {hosts}/{hosts} up" in _status(lines),
                lambda lines: (
                    f"/{total} running" in _status(lines) and len(_rows_after_header(lines)) > 10
                ),
            ],
            starts,
        )
        start_cpu = term.cpu_seconds()
        opened = _read_counts(counts)
        profile_path = ""
        try:
            # The first rates (two ticks), the definitions and the addresses: until the
            # terminal is quiet for longer than two ticks.
            tail = measure_tail(term, quiet=2 * refresh + 1)
            before = _read_counts(counts)
            spy = None
            if profile:
                profile_path = str(directory / f"{spec}.profile.txt")
                spy = subprocess.Popen(
                    [
                        str(Path(sys.executable).with_name("py-spy")),
                        "record",
                        "-p",
                        str(term.process.pid),
                        "-d",
                        str(int(idle)),
                        "-f",
                        "raw",
                        "-o",
                        profile_path,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            result = measure_idle(term, idle)
            if spy is not None:
                spy.wait()
            after = _read_counts(counts)
            per_tick = [
                (after["stats"].get(s.uri, 0) - before["stats"].get(s.uri, 0)) / (idle / refresh)
                for s in specs
            ]
            rss, threads = term.proc("VmRSS") / 1024, term.proc("Threads")
            fds = len(os.listdir(f"/proc/{term.process.pid}/fd"))

            names = _guest_names(fleet_dir / f"{nodes[min(6, hosts - 1)].name}.xml")
            target = [name for name in names if name != "shared-tools"][-1]  # a unique name
            # `/` first, then the name at once: keys typed on the heels of `/` itself can still
            # be lost to a busy app (a known race, reported), which is not what is timed here.
            term.write("/")
            term.wait(lambda lines: any("─ filter ─" in line for line in lines), 30)
            sent = term.write(target)
            shown = term.wait(
                lambda lines: (
                    f"filter: {target}" in _status(lines)
                    and [target in row for row in _rows_after_header(lines)] == [True]
                ),
                30,
            )
            filter_ms = (shown - sent) * 1000
            term.answer_time("\x1b")  # Esc: the filter is cleared, every row back
            term.wait(lambda lines: "filter:" not in _status(lines), 30)
            cursor_ms = term.answer_time("\x1b[B") * 1000
            sort_ms = term.answer_time("N") * 1000
            held: tuple[list[float], int] = ([], 0)
            if hold_minutes and served:  # in-process, the guests live inside kvmtui
                held = hold(term, [s.uri for s in specs], hold_minutes)
        finally:
            term.stop()
        events, history_kb = _history(state)
        raw_cpu, raw_open, raw_rss = raw_poll([s.uri for s in specs], refresh, idle)
        where = "daemon" if daemons is not None else "in-process"
        return FleetResult(
            spec,
            where,
            hosts,
            total,
            first_rows,
            first_table,
            result.cpu_s_per_min,
            result.kb_per_min,
            rss,
            threads,
            filter_ms,
            cursor_ms,
            sort_ms,
            sum(per_tick) / len(per_tick),
            max(per_tick),
            all_up,
            start_cpu,
            tail.ends_s,
            tail.kb,
            tail.cpu_s,
            fds,
            opened.get("max_in_flight", 0),
            sum(opened.get("open_failures", {}).values()),
            len(opened.get("open_failures", {})),
            raw_cpu,
            raw_open,
            raw_rss,
            tags / total,
            events,
            history_kb,
            profile_path,
            *held,
        )


def hold(term: Terminal, uris: list[str], minutes: float) -> tuple[list[float], int]:
    """Keeps kvmtui running `minutes` while one guest of each host is suspended and resumed
    in turn through libvirt (a change kvmtui must show, every 5 s); kvmtui's RSS once a
    minute, and the number of changes made. Memory that grows with time shows here."""
    import libvirt

    conns = [libvirt.open(uri) for uri in uris]
    guests = [next(d for d in c.listAllDomains() if d.isActive()) for c in conns]
    rss = [term.proc("VmRSS") / 1024]
    changes = 0
    began = time.monotonic()
    try:
        while time.monotonic() - began < minutes * 60:
            for guest in guests:
                if guest.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
                    guest.resume()
                else:
                    guest.suspend()
                changes += 1
            time.sleep(5)
            if time.monotonic() - began >= 60 * len(rss):
                rss.append(term.proc("VmRSS") / 1024)
    finally:
        for guest in guests:
            if guest.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
                guest.resume()
        for conn in conns:
            conn.close()
    return rss, changes


def _history(state: Path) -> tuple[int, float]:
    """(events kept, KB on disk with its WAL) of the event log kvmtui kept under `state`:
    the run had history on, as a user's kvmtui has it (no `--no-history`)."""
    database = state / "kvmtui" / "kvmtui.db"
    if not database.exists():
        return 0, 0.0
    with contextlib.closing(sqlite3.connect(database)) as db:
        events = db.execute("SELECT count(*) FROM events").fetchone()[0]
    files = database.parent.glob(f"{database.name}*")
    return events, sum(f.stat().st_size for f in files) / 1024


def _read_counts(path: Path) -> dict[str, Any]:
    time.sleep(0.6)  # the counter writes twice a second
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {"stats": {}}


def _row(label: str, value: float, unit: str, target: str, ratio: str = "") -> str:
    return f"  {label:<34}{value:>10.2f} {unit:<11}{target:<34}{ratio}"


def report(run: Run) -> str:
    bare = run.bare
    lines = [
        f"refresh {run.refresh:g} s, idle windows of {run.idle_s:g} s, "
        f"first paint and tables: median of {run.starts} starts, "
        f"load average before the run {run.load_average}"
    ]
    if bare is not None:
        lines += [
            "bare Textual app, 1,000-row DataTable (the floor)",
            _row("first paint", bare.first_paint_s, "s", ""),
            _row("idle CPU", bare.idle_cpu_s_per_min, "CPU-s/min", ""),
            _row("terminal output while idle", bare.idle_kb_per_min, "KB/min", ""),
            _row("RSS", bare.rss_mb, "MB", ""),
        ]
    for f in run.fleets:
        big = f.fleet == "10x1000"
        many = f.fleet == "1000x10"
        floor = bare.first_paint_s if bare else 0.0
        cpu_target = (
            "<= 2x raw polling"
            if f.fleet in ("10x1000", "200x20", "1000x10")
            else ("<= 0.5 CPU-s/min" if f.fleet == "4x250" else "")
        )
        lines += [
            f"kvmtui {f.fleet}: {f.hosts} hosts, {f.guests} guests, "
            f"libvirt {'in a daemon' if f.libvirt == 'daemon' else 'in-process (test:///)'}",
            f"  {'event log on, tags on every guest':<34}{f.history_events:>10} events     "
            f"{f.history_kb:.0f} KB on disk, {f.tags_per_guest:.1f} tags a guest",
            _row("first rows (first host to answer)", f.first_rows_s, "s", ""),
            _row(
                "every host up",
                f.all_up_s,
                "s",
                "<= 10 s" if many else "",
                f"{f.all_up_s / f.raw_open_s:.1f}x raw open" if f.raw_open_s else "",
            ),
            _row("CPU until the full table", f.start_cpu_s, "CPU-s", ""),
            _row(
                "start-up tail: over at",
                f.tail_ends_s,
                "s",
                "<= first rows + 10 s" if big or many else "",
                f"{f.tail_kb:.0f} KB, {f.tail_cpu_s:.2f} CPU-s after the full table",
            ),
            _row(
                "libvirt opens in flight, at most",
                f.opens_max_in_flight,
                "",
                "bounded as hosts are added",
            ),
            _row(
                "opens refused or failed",
                f.open_failures,
                "",
                "0",
                f"on {f.hosts_refused} hosts",
            ),
            _row(
                "first full table",
                f.first_table_s,
                "s",
                "<= 2.5x bare first paint" if big else "",
                f"{f.first_table_s / floor:.1f}x bare, "
                f"{f.first_table_s / (floor + f.raw_open_s):.1f}x (bare + raw open)"
                if floor
                else "",
            ),
            _row(
                "idle CPU",
                f.idle_cpu_s_per_min,
                "CPU-s/min",
                cpu_target,
                f"{f.idle_cpu_s_per_min / f.raw_poll_cpu_s_per_min:.1f}x raw polling"
                if f.raw_poll_cpu_s_per_min
                else "",
            ),
            _row("raw polling (bulk calls alone)", f.raw_poll_cpu_s_per_min, "CPU-s/min", ""),
            _row("raw: open hosts + first stats", f.raw_open_s, "s", "(libvirt alone)"),
            _row("raw: RSS", f.raw_rss_mb, "MB", "(libvirt alone)"),
            _row(
                "terminal output while idle",
                f.idle_kb_per_min,
                "KB/min",
                "<= 10 KB/min",
                f"{f.idle_kb_per_min / 10:.2f}x target",
            ),
            _row(
                "RSS",
                f.rss_mb,
                "MB",
                "<= 100 MB" if big else ("<= 150 MB" if many else ""),
                f"{f.rss_mb / bare.rss_mb:.1f}x bare" if bare else "",
            ),
            _row("RSS above libvirt alone", f.rss_mb - f.raw_rss_mb, "MB", "(kvmtui's own)"),
            _row("filter typed at once", f.filter_ms, "ms", "<= 100 ms after the last key"),
            _row("cursor move", f.cursor_ms, "ms", "<= 50 ms"),
            _row("sort", f.sort_ms, "ms", "<= 50 ms"),
            _row("threads", f.threads, "", "bounded as hosts are added"),
            _row("open file descriptors", f.fds, "", "ulimit -n above it"),
            _row(
                "stats calls per host per tick",
                f.stats_calls_per_host_tick,
                "",
                "exactly 1",
                f"max {f.stats_calls_max_host_tick:.2f}",
            ),
        ]
        if f.hold_rss_mb:
            first, last = f.hold_rss_mb[0], f.hold_rss_mb[-1]
            lines.append(
                _row(
                    f"RSS after {len(f.hold_rss_mb) - 1} min, {f.hold_changes} changes",
                    last,
                    "MB",
                    "does not grow",
                    f"{(last - first) / first:+.1%} (from {first:.1f} MB, "
                    f"max {max(f.hold_rss_mb):.1f})",
                )
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fleets",
        default="4x250,10x1000,1x5000,200x20,1000x10",
        help="HOSTSxGUESTS, comma-separated",
    )
    parser.add_argument(
        "--hosts-per-daemon",
        type=int,
        default=HOSTS_PER_DAEMON,
        help="a served fleet of more hosts shares daemons, this many hosts each",
    )
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of each idle window")
    parser.add_argument("--refresh", type=float, default=2.0, help="kvmtui's refresh, seconds")
    parser.add_argument(
        "--json", type=Path, default=Path("fleet.json"), help="where to write the figures"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the idle window of each fleet (raw stacks beside the JSON)",
    )
    parser.add_argument(
        "--libvirt",
        default="daemon,in-process",
        help="where libvirt holds the fleet, comma-separated: 'daemon' (a "
        "libvirtd serves it, as real hosts do) and/or 'in-process' "
        "(test:/// inside kvmtui)",
    )
    parser.add_argument(
        "--starts",
        type=int,
        default=5,
        help="starts of each app whose first paint or table is timed (median)",
    )
    parser.add_argument(
        "--hold",
        type=float,
        default=0.0,
        metavar="MINUTES",
        help="then keep kvmtui running this long on each served fleet, its "
        "guests changing, and report its RSS (not in CI)",
    )
    parser.add_argument("--no-bare", action="store_true", help="skip the bare Textual floor")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="one small fleet and short windows: checks the benchmark runs",
    )
    args = parser.parse_args()
    if args.smoke:
        # 2x20 one daemon per host, 5x4 five hosts on two shared daemons (as 1000x10).
        args.fleets, args.idle, args.refresh, args.starts = "2x20,5x4", 2.0, 0.5, 2
        args.hosts_per_daemon = 3
    run = Run(args.refresh, args.idle, [round(x, 2) for x in os.getloadavg()], args.starts)
    # kvmtui's bytecode, as an install has it (pip compiles at install time) and as the bare
    # app's Textual has it: a checkout edited since its last run, under
    # PYTHONDONTWRITEBYTECODE, would otherwise compile the edited modules at every start.
    compileall.compile_dir(ROOT / "kvmtui", quiet=1)
    modes = args.libvirt.split(",")
    with tempfile.TemporaryDirectory(prefix="kvmtui-bench-") as directory:
        Path(directory).chmod(0o755)  # the daemons run as nobody, in folders under it
        if not args.no_bare:
            run.bare = bare_app(args.idle, args.starts)
        for spec in args.fleets.split(","):
            for mode in modes:
                run.fleets.append(
                    measure_fleet(
                        spec,
                        Path(directory) / mode,
                        args.refresh,
                        args.idle,
                        args.profile,
                        served=mode == "daemon",
                        starts=args.starts,
                        hold_minutes=args.hold,
                        per_daemon=args.hosts_per_daemon,
                    )
                )
                if args.profile:
                    kept = args.json.with_name(f"{args.json.stem}-{spec}-{mode}.profile.txt")
                    kept.write_text(Path(run.fleets[-1].profile).read_text())
                    run.fleets[-1].profile = str(kept)
    print(report(run))
    args.json.write_text(json.dumps(asdict(run), indent=2) + "\n")
    print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
