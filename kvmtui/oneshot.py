"""`kvmtui VERB ARGS...`: one `:` command run without the screen, for scripts.

The same verbs, grammar and Controller as the `:` line, so the same read-only refusal and
the same confirmation questions: asked on the terminal when there is one, answered by
`--yes`, and refused (not assumed) when neither. Output is what virsh would print, or JSON
with `--json`. Exit status (as `kvmtui --help` states it): 0 when everything
worked; 1 after one `kvmtui: ...` line per failure (a refused, declined or failed change,
a host that could not be reached) or after a FAIL finding of `validate`/`caps`; 2 for a
bad command (unknown verb, option or help topic, a missing argument) or one that needs the
full screen (a view, a graphical console). A
migration or an upload runs to its end, printing progress lines; a serial console
(`console`, `create --console`) is virsh's, in this terminal, once kvmtui is done. Nothing
here imports Textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass
from typing import IO, TYPE_CHECKING, Any, NoReturn, assert_never

from kvmtui import format as fmt
from kvmtui.controller import Controller, Question
from kvmtui.core.capabilities import Check, HostCaps, Level, facts
from kvmtui.core.commands import VERBS, CommandError, listed, lookup_verb, parse, verbs_from
from kvmtui.core.console import handover_command
from kvmtui.core.cpulist import format_cpulist
from kvmtui.core.edit import run_editor
from kvmtui.core.eventlog import TimelineEvent
from kvmtui.core.fleet import Fleet
from kvmtui.core.foresight import Foresight
from kvmtui.core.guestinfo import GuestInfo, GuestInfoBook, guest_info
from kvmtui.core.host import HostError
from kvmtui.core.migration import JobState, MigrationManager, MigrationProgress
from kvmtui.core.model import GuestSnapshot, HostSnapshot, Link
from kvmtui.core.networks import NetworkSnapshot
from kvmtui.core.placement import GuestPlacementReader
from kvmtui.core.results import (
    CapsReport,
    Console,
    CreateWizard,
    Display,
    Editor,
    Forecasts,
    GuestList,
    GuestPage,
    HostGuests,
    JobProgress,
    JobReport,
    Kept,
    Leases,
    Measuring,
    Quit,
    Result,
    SnapshotList,
    VerbHelp,
    View,
)
from kvmtui.core.services import Services
from kvmtui.core.snapshots import Snapshot, list_snapshots
from kvmtui.core.storage.service import StorageService
from kvmtui.core.store import Store
from kvmtui.core.words import visible

if TYPE_CHECKING:
    from kvmtui.config import Settings

verbs_from("kvmtui.verbs")

#: How long to wait for every host's first connection attempt to end, either way.
CONNECT_WAIT = 60.0
#: Seconds a change waits, before kvmtui closes, for the events it caused (core/eventlog.py).
EVENTS_SETTLE = 0.2
#: Seconds between the progress lines of a migration.
PROGRESS_EVERY = 1.0


class CliOperator:
    """The controller's Operator on a plain terminal: stdout for results, one stderr line
    per failure, a y/N prompt (or `--yes`) for questions."""

    def __init__(
        self,
        fleet: Fleet,
        migrations: MigrationManager,
        *,
        yes: bool,
        as_json: bool,
        stdin: IO[str],
        stdout: IO[str],
        stderr: IO[str],
        guestinfo: GuestInfoBook | None = None,
    ) -> None:
        self.fleet = fleet
        self.migrations = migrations
        #: What the guest agents say (`list` shows each guest's hostname and OS from it).
        self.guestinfo = guestinfo
        self.yes = yes
        self.as_json = as_json
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.failed = False
        #: A command to hand the terminal over to when kvmtui is done (a console).
        self.handover: list[str] | None = None

    # ---- the controller's policy --------------------------------------------------------

    async def confirm(self, question: Question) -> bool:
        if self.yes:
            return True
        if not self.stdin.isatty():
            self.error(f"{question.title} Not confirmed: add --yes to run it without asking")
            return False
        self.stderr.write(f"{question.title}\n{question.detail}\n{question.action_label}? [y/N] ")
        self.stderr.flush()
        answer = await asyncio.get_running_loop().run_in_executor(None, self.stdin.readline)
        if answer.strip().lower() in {"y", "yes"}:
            return True
        self.error("cancelled")
        return False

    async def secret(self, prompt: str) -> str | None:
        """Typed without echo on a terminal (getpass, on the controlling terminal); from a
        pipe, one line of stdin (a script hands the password over that way, never on the
        command line). None at the end of input or on Ctrl+C."""
        loop = asyncio.get_running_loop()
        if self.stdin.isatty():
            try:
                return await loop.run_in_executor(None, getpass.getpass, f"{prompt} ")
            except (EOFError, KeyboardInterrupt):
                return None
        line = await loop.run_in_executor(None, self.stdin.readline)
        return line.removesuffix("\n") if line else None

    def ok(self, message: str) -> None:
        print(_visible_lines(message), file=self.stdout)

    def error(self, message: str) -> None:
        print(f"kvmtui: {_visible_lines(message)}", file=self.stderr)
        self.failed = True

    # ---- what the show verbs print ------------------------------------------------------

    async def show(self, result: Result) -> None:
        """What virsh would print for it (or JSON); a view or a screen's dialog needs the
        full screen: a CommandError, exit status 2."""
        match result:
            case GuestList(which):
                await self._list(which)
            case HostGuests(name):
                await self._hosts(name)
            case GuestPage(guest, tab):
                await self._guest(guest, tab)
            case JobReport(guest, progress):
                await self._job(guest, progress)
            case JobProgress(job_id):
                await self._follow(job_id)
            case Measuring() as measuring:
                if not self.as_json:  # a wait explained, not data
                    print(measuring.line, file=self.stdout, flush=True)
            case Forecasts(foresights):
                self._print(
                    [_foresight_json(seen) for seen in foresights],
                    "\n".join(seen.line for seen in foresights),
                )
            case VerbHelp(verb):
                self._help(verb)
            case SnapshotList(guest):
                await self._snapshots(guest)
            case Leases(network):
                self._leases(network)
            case CapsReport(caps, findings):
                self._caps(caps, findings)
            case Console(guest, devname, _):
                # virsh's console, in this terminal, once kvmtui has closed its connections
                # (`main` hands the process over to it): `kvmtui console web1` as virsh's.
                self.handover = handover_command(self.fleet, guest, devname)
            case Editor(command):
                # The terminal kvmtui was started on is the editor's, as with virsh edit.
                await run_editor(list(command))
            case View(name):
                _needs_screen(f"the {name} view")
            case Display():
                _needs_screen("a graphical console")
            case CreateWizard():
                _needs_screen("the create wizard (give the guest's NAME and options)")
            case Kept():
                self._kept(result)
            case Quit():
                _needs_screen("quit")
            case _:
                assert_never(result)

    def _kept(self, kept: Kept) -> None:
        """The rows kept, oldest first: a time, then each row's own columns."""
        rows = [asdict(row) for row in kept.rows]
        if kept.view == "timeline":
            header: tuple[str, ...] = ("Time", "Host", "Guest", "Event", "Detail", "Alert")
            lines = [
                (fmt.moment(e.at), e.host, e.guest or "-", e.what, e.detail, _alert_word(e))
                for e in kept.rows
            ]
        else:
            header = ("Time", "User", "Via", "Guests", "Command", "Outcome")
            lines = [
                (
                    fmt.moment(a.at),
                    a.user,
                    a.via,
                    a.guests or a.hosts or "-",
                    a.args,
                    ("ok: " if a.ok else "failed: ") + a.message,
                )
                for a in kept.rows
            ]
        self._print(rows, _table(header, lines))

    def _print(self, data: Any, text: str) -> None:
        print(json.dumps(data, indent=2) if self.as_json else text, file=self.stdout)

    async def _list(self, which: str) -> None:
        """`virsh list`'s table; with the hostname and OS that the guests' agents give, when
        any of them answers."""
        guests = tuple(self.fleet.snapshot().guests)
        if self.guestinfo is not None and any(g.agent_channel for g in guests):
            await self.guestinfo.refresh()
            guests = self.guestinfo.annotate(guests)
        guests = tuple(
            sorted((g for g in guests if listed(which, g.state)), key=lambda g: (g.name, g.host))
        )
        header: tuple[str, ...] = ("Name", "Host", "State")
        rows: list[tuple[str, ...]] = [(g.name, g.host, g.state.value) for g in guests]
        if any(g.inside is not None and g.inside.answered for g in guests):
            header += ("Hostname", "OS")
            rows = [
                (*row, *(_inside_cells(g.inside) if g.inside else (fmt.DASH, fmt.DASH)))
                for row, g in zip(rows, guests, strict=True)
            ]
        self._print([_guest_json(g) for g in guests], _table(header, rows))

    async def _hosts(self, name: str) -> None:
        hosts = [h for h in self.fleet.snapshot().hosts if not name or h.name == name]
        self._print(
            [_host_json(h) for h in hosts],
            _table(
                ("Name", "URI", "Link", "Guests", "CPUs", "Memory"),
                [
                    (
                        h.name,
                        h.uri,
                        h.link.value,
                        f"{h.guests_running}/{h.guests_total}",
                        str(h.info.cpus or fmt.DASH),
                        fmt.size_kib(h.info.memory_kib or None),
                    )
                    for h in hosts
                ],
            ),
        )

    async def _guest(self, guest: GuestSnapshot, tab: str) -> None:
        host = self.fleet.host(guest.host)
        if tab == "xml":
            print(await host.domain_xml(guest.uuid), file=self.stdout, end="")
            return
        if tab == "vcpus":
            await self._show_vcpus(guest)
            return
        if tab == "guest":
            info = await guest_info(host, guest.uuid)
            if not info.answered:
                raise HostError(info.problem)
            self._print(_guest_info_json(info), _fields(info.fields()))
            return
        fields = [("Host", guest.host), *await host.dominfo(guest.uuid)]
        self._print(dict(fields), _fields(fields))

    async def _show_vcpus(self, guest: GuestSnapshot) -> None:
        """`virsh vcpuinfo`, plus the persistent pinning and the emulator threads."""
        placement = await GuestPlacementReader(self.fleet.host(guest.host), guest.uuid).read()
        rows = [
            {
                "vcpu": v.number,
                "state": v.state,
                "cpu": v.pcpu,
                "affinity": format_cpulist(v.affinity),
                "config": format_cpulist(v.affinity_config),
            }
            for v in placement.vcpus
        ]
        emulator = placement.emulator_live or placement.emulator_config
        emulator_text = format_cpulist(emulator) if emulator is not None else "-"
        blocks = [
            _fields(
                [
                    ("VCPU", str(row["vcpu"])),
                    ("CPU", "-" if row["cpu"] is None else str(row["cpu"])),
                    ("State", str(row["state"])),
                    ("CPU Affinity", str(row["affinity"])),
                    ("Config Affinity", str(row["config"])),
                ]
            )
            for row in rows
        ]
        self._print(
            {"vcpus": rows, "emulator": emulator_text},
            "\n\n".join([*blocks, f"Emulator threads: {emulator_text}"]),
        )

    async def _job(self, guest: GuestSnapshot, progress: MigrationProgress | None) -> None:
        figures = asdict(progress) if progress is not None else {}
        text = _fields(
            [
                ("Job", "running" if progress is not None else "none"),
                *((key, str(value)) for key, value in figures.items() if value is not None),
            ]
        )
        self._print({"guest": guest.name, "host": guest.host, "job": figures or None}, text)

    def _help(self, verb: str) -> None:
        verbs = [lookup_verb(verb)] if verb else list(VERBS.values())
        for each in verbs:
            note = "  (in the full screen only)" if each.screen else ""
            print(f"{each.usage}\n    {each.summary}{note}", file=self.stdout)

    async def _snapshots(self, guest: GuestSnapshot) -> None:
        """`virsh snapshot-list`'s table, with the parent, the kind and the description."""
        snaps = await list_snapshots(self.fleet.host(guest.host), guest.uuid)
        self._print(
            [_snapshot_json(s) for s in snaps],
            _table(
                ("Name", "Creation Time", "State", "Current", "Parent", "Kind", "Description"),
                [
                    (
                        s.name,
                        s.created.isoformat(" ") if s.created else "-",
                        s.state,
                        "yes" if s.current else "",
                        s.parent or "",
                        s.kind,
                        s.description,
                    )
                    for s in snaps
                ],
            ),
        )

    async def _follow(self, job_id: int) -> None:
        """A progress line at most every PROGRESS_EVERY seconds, then the outcome: so a
        script's log shows the migration moving, and its exit status says how it ended.
        Interrupting kvmtui aborts the migration (closing the fleet does)."""
        manager = self.migrations
        printed = 0.0

        def changed() -> None:
            nonlocal printed
            job = manager.job(job_id)
            now = time.monotonic()
            figures = job.latest
            if (
                job.state is JobState.RUNNING
                and figures
                and figures.data_total
                and now - printed >= PROGRESS_EVERY
            ):
                printed = now
                print(
                    f"{job.guest} {job.source} -> {job.dest}: {fmt.migration_summary(figures)}",
                    file=self.stdout,
                    flush=True,
                )

        manager.add_listener(changed)
        try:
            job = await manager.wait(job_id)
        finally:
            manager.remove_listener(changed)
        if job.state is JobState.SUCCEEDED:
            self.ok(job.message)
        else:
            self.error(job.message)

    def _leases(self, network: NetworkSnapshot) -> None:
        """`virsh net-dhcp-leases`, with the guest that holds each lease."""
        leases = network.leases or ()
        if network.leases is None:
            self.error(f"leases of {network.name} on {network.host}: {network.leases_note}")
            return
        self._print(
            [asdict(lease) for lease in leases],
            _table(
                ("MAC", "IP address", "Hostname", "Guest"),
                [(x.mac, x.ip, x.hostname or "-", x.guest or "-") for x in leases],
            ),
        )

    def _caps(self, caps: Sequence[HostCaps], findings: Sequence[Check]) -> None:
        data = {
            "hosts": [asdict(c) | {"kvm": c.kvm} for c in caps],
            "findings": [asdict(c) | {"level": c.level.value} for c in findings],
        }
        blocks = [f"{c.host}\n{_fields(facts(c))}" for c in caps]
        blocks.append(
            "\n".join(f"{c.host}  {c.level.value:<5} {c.what}: {c.detail}" for c in findings)
        )
        self._print(data, "\n\n".join(blocks))
        if any(c.level is Level.FAIL for c in findings):
            self.failed = True  # the FAIL lines above say what: exit 1, as on a failure


def _background(make: Callable[[], Coroutine[Any, Any, Any]]) -> asyncio.Future[Any]:
    return asyncio.ensure_future(make())


def _visible_lines(message: str) -> str:
    """`message` with control characters made visible, line by line (its own line breaks
    stay): a guest's name or an agent's words may hold an escape sequence."""
    return "\n".join(visible(line) for line in message.split("\n"))


def _inside_cells(inside: GuestInfo) -> tuple[str, str]:
    if not inside.answered:
        return (fmt.DASH, fmt.DASH)
    return (inside.hostname or fmt.DASH, inside.os_name or fmt.DASH)


def _needs_screen(what: str) -> NoReturn:
    raise CommandError(f"{what} needs the full screen: run kvmtui without a command")


def _foresight_json(seen: Foresight) -> dict[str, Any]:
    """A forecast's figures in bytes, seconds and ms (None where there is none)."""
    f = seen.forecast
    return {
        "guest": seen.guest,
        "line": seen.describe(),
        "converges": f.converges if f else None,
        "seconds": f.seconds if f else None,
        "downtime_ms": f.downtime_ms if f else None,
        "dirty_bytes_per_second": f.dirty_bps if f else None,
        "bandwidth_mib": f.bandwidth_mib if f else None,
        "suggested_bandwidth_mib": f.suggested_mib if f and not f.converges else None,
    }


def _alert_word(event: TimelineEvent) -> str:
    return ("acknowledged" if event.acked else "ALERT") if event.alert else ""


def _guest_json(guest: GuestSnapshot) -> dict[str, Any]:
    return {
        "name": guest.name,
        "host": guest.host,
        "uuid": guest.uuid,
        "state": guest.state.value,
        "vcpus": guest.vcpus,
        "memory_kib": guest.memory_kib,
        "max_memory_kib": guest.max_memory_kib,
        "persistent": guest.persistent,
        "autostart": guest.autostart,
        "memory_used_kib": guest.memory_used_kib,
        **({"agent": _guest_info_json(guest.inside)} if guest.inside is not None else {}),
    }


def _guest_info_json(info: GuestInfo) -> dict[str, Any]:
    """As the agent said it: JSON escapes control characters itself."""
    if not info.answered:
        return {"reason": info.reason}
    return {
        "os": info.os_name,
        "os_id": info.os_id,
        "kernel": info.kernel,
        "machine": info.machine,
        "hostname": info.hostname,
        "timezone": info.timezone,
        "users": [
            {"name": u.name, "domain": u.domain, "login_time": u.login_time} for u in info.users
        ],
        "filesystems": [
            {
                "mountpoint": fs.mountpoint,
                "name": fs.name,
                "fstype": fs.fstype,
                "used_bytes": fs.used_bytes,
                "total_bytes": fs.total_bytes,
            }
            for fs in info.filesystems
        ],
        "interfaces": [
            {"name": nic.name, "hwaddr": nic.hwaddr, "addresses": list(nic.addresses)}
            for nic in info.interfaces
        ],
    }


def _snapshot_json(snap: Snapshot) -> dict[str, Any]:
    return {
        "name": snap.name,
        "created": snap.created.isoformat() if snap.created else None,
        "state": snap.state,
        "current": snap.current,
        "parent": snap.parent,
        "description": snap.description,
        "memory": snap.memory,
        "external": snap.external,
    }


def _host_json(host: HostSnapshot) -> dict[str, Any]:
    return {
        "name": host.name,
        "uri": host.uri,
        "link": host.link.value,
        "readonly": host.readonly,
        "reason": host.reason,
        "guests_running": host.guests_running,
        "guests_total": host.guests_total,
        "cpus": host.info.cpus,
        "memory_kib": host.info.memory_kib,
    }


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """`virsh list`'s layout: a header, a rule, left-aligned columns; control characters
    made visible (a cell may come from inside a guest)."""
    rows = [[visible(cell) for cell in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(header)]
    lines = [
        " " + "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
    lines.insert(1, "-" * (sum(widths) + 3 * len(widths)))
    return "\n".join(lines)


def _fields(pairs: Sequence[tuple[str, str]]) -> str:
    """`virsh dominfo`'s layout: `Key:` padded to one column, then the value; control
    characters made visible (a value may come from inside a guest)."""
    pairs = [(visible(key), visible(value)) for key, value in pairs]
    width = max((len(key) for key, _ in pairs), default=0) + 2
    return "\n".join(f"{key + ':':<{width}}{value}" for key, value in pairs)


async def _connected(fleet: Fleet, operator: CliOperator) -> None:
    """Waits until every host's first connection attempt has ended and, where it is up,
    every guest's facts are in (`Host.settled`: what is printed once must not be a first
    table's zeros); each host that could not be reached is one error line (its guests are
    then simply not found)."""
    settled = asyncio.Event()

    def check() -> None:
        if all(host.settled for host in fleet.hosts):
            settled.set()

    fleet.add_listener(check)
    await fleet.start()
    check()
    with contextlib.suppress(TimeoutError):  # said below, host by host
        await asyncio.wait_for(settled.wait(), CONNECT_WAIT)
    for host in fleet.snapshot().hosts:
        if host.link is Link.LOST:
            operator.error(f"host {host.name} ({host.uri}) is not reachable: {host.reason}")
        elif host.link is Link.CONNECTING:
            operator.error(
                f"host {host.name} ({host.uri}): no connection after {CONNECT_WAIT:.0f} s"
            )


def _upload_progress(storage: StorageService, stdout: IO[str]) -> Callable[[], None]:
    """`vol-upload`'s progress as a line at most every PROGRESS_EVERY seconds, as `migrate`
    prints its own: a script's log shows a long upload moving."""
    printed = 0.0

    def changed() -> None:
        nonlocal printed
        now = time.monotonic()
        if now - printed < PROGRESS_EVERY:
            return
        for key, upload in storage.uploads().items():
            if upload.done and upload.total:
                printed = now
                print(
                    f"{key}: {fmt.size(upload.done)} of {fmt.size(upload.total)} "
                    f"({upload.percent:.0f}%)",
                    file=stdout,
                    flush=True,
                )

    return changed


@dataclass(frozen=True)
class Finished:
    status: int  # the exit status (module doc)
    #: What the terminal goes to next (a console's `virsh console`), if anything.
    handover: list[str] | None = None


async def run_command(
    settings: Settings,
    *,
    stdin: IO[str] = sys.stdin,
    stdout: IO[str] = sys.stdout,
    stderr: IO[str] = sys.stderr,
) -> int:
    """Runs `settings.command` against `settings.hosts`; the exit status (module doc)."""
    return (await run_to_end(settings, stdin=stdin, stdout=stdout, stderr=stderr)).status


async def run_to_end(
    settings: Settings,
    *,
    stdin: IO[str] = sys.stdin,
    stdout: IO[str] = sys.stdout,
    stderr: IO[str] = sys.stderr,
) -> Finished:
    """`run_command`, and what the terminal is to be handed over to afterwards."""
    try:
        command = parse(shlex.join(settings.command))
    except CommandError as error:
        print(f"kvmtui: {error}", file=stderr)
        return Finished(2)
    if VERBS[command.verb].screen:
        print(
            f"kvmtui: {command.verb} needs the full screen: run kvmtui and type "
            f":{shlex.join(settings.command)}",
            file=stderr,
        )
        return Finished(2)
    fleet = Fleet(settings.hosts, settings.refresh)
    config = settings.config
    services = Services(
        fleet,
        Store(settings.history_path),
        retention=config.history.retention(),
        alert_rules=config.alerts.alert_rules(),
        backups=config.backups(),
        disk_threshold=config.disk_threshold,
    )
    services.storage.add_listener(_upload_progress(services.storage, stdout))
    operator = CliOperator(
        fleet,
        services.migrations,
        guestinfo=services.guestinfo,
        yes=settings.yes,
        as_json=settings.json,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
    )
    controller = Controller(
        services, operator, readonly=settings.readonly, spawn=_background, via="cli"
    )
    try:
        await services.open()
        await _connected(fleet, operator)
        await controller.run(command)
        if VERBS[command.verb].changes(command):
            # The events a change causes come just after libvirt's answer: the timeline
            # keeps them only if they arrive before the connections close.
            await asyncio.sleep(EVENTS_SETTLE)
    finally:
        await fleet.close()  # and, by its close hooks, the database
    if operator.failed:
        return Finished(1)
    return Finished(0, operator.handover)


def main(settings: Settings) -> int:
    finished = asyncio.run(run_to_end(settings))
    if finished.handover is not None:
        try:
            os.execvp(finished.handover[0], finished.handover)
        except OSError as error:
            print(
                f"kvmtui: cannot run {finished.handover[0]}: {error.strerror or error}",
                file=sys.stderr,
            )
            return 1
    return finished.status
