"""`kvmtui VERB ARGS...` without the screen, on libvirt's test:/// driver: in-process (the
exact lines and exit status) and as a subprocess (the real command, and no Textual)."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kvmtui.cli import parse_settings
from kvmtui.config import Settings
from kvmtui.core import snapshots
from kvmtui.core.migration import MigrationManager
from kvmtui.core.results import SnapshotList
from kvmtui.oneshot import CliOperator, Finished, run_command, run_to_end
from tests.nodes import WEB_UUID, connected_fleet, guest, node_specs

REPO = Path(__file__).resolve().parent.parent


class Terminal(io.StringIO):
    """stdin that says whether it is a terminal, with the answer the person types."""

    def __init__(self, text: str = "", tty: bool = False) -> None:
        super().__init__(text)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


async def _run(settings: Settings, *words: str, stdin: Terminal | None = None):
    out, err = io.StringIO(), io.StringIO()
    options = [w for w in words if w in {"--yes", "--json"}]
    settings = dataclasses.replace(
        settings,
        command=tuple(w for w in words if w not in options),
        yes="--yes" in options,
        json="--json" in options,
    )
    status = await run_command(settings, stdin=stdin or Terminal(), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


async def test_list_prints_running_guests_like_virsh(demo_settings):
    status, out, err = await _run(demo_settings, "list")
    lines = out.splitlines()
    assert status == 0 and err == ""
    assert lines[0].split() == ["Name", "Host", "State"] and set(lines[1]) == {"-"}
    states = {line.split()[-1] for line in lines[2:]}
    assert states <= {"running", "paused"} and "running" in states


async def test_list_all_json_has_every_guest(demo_settings):
    status, out, _ = await _run(demo_settings, "list", "--all", "--json")
    guests = json.loads(out)
    assert status == 0
    assert len(guests) == 35  # the demo fleet: 3 hosts, 35 guests
    assert {g["state"] for g in guests} >= {"running", "shut off"}
    assert {"name", "host", "uuid", "vcpus", "memory_kib", "autostart"} <= set(guests[0])
    # Each demo host has 8 guests or more: its first table leaves the definitions, where
    # the test driver keeps memory and vCPUs, for later; the answer waits for them.
    assert all(g["vcpus"] >= 1 and g["memory_kib"] >= 1024 for g in guests), guests


async def test_dominfo_prints_virsh_fields_and_json(demo_settings):
    status, out, _ = await _run(demo_settings, "dominfo", "web-101")
    assert status == 0
    assert "Name:" in out and "web-101" in out and "Host:         kvm01" in out
    status, out, _ = await _run(demo_settings, "dominfo", "web-101", "--json")
    info = json.loads(out)
    assert status == 0 and info["Name"] == "web-101" and info["State"] == "running"


async def test_a_change_reports_what_libvirt_did(demo_settings):
    status, out, err = await _run(demo_settings, "start", "backup-208")
    assert (status, out, err) == (0, "backup-208 on kvm02: started\n", "")


async def test_destroy_without_yes_or_a_terminal_is_refused(demo_settings):
    status, out, err = await _run(demo_settings, "destroy", "web-101")
    assert status == 1 and out == ""
    assert err == (
        "kvmtui: Destroy web-101 on kvm01? Not confirmed: add --yes to run it without asking\n"
    )


async def test_destroy_asks_on_a_terminal(demo_settings):
    status, out, err = await _run(
        demo_settings, "destroy", "web-101", stdin=Terminal("n\n", tty=True)
    )
    assert status == 1 and out == "" and err.endswith("Destroy? [y/N] kvmtui: cancelled\n")
    status, out, _ = await _run(
        demo_settings, "destroy", "web-101", stdin=Terminal("y\n", tty=True)
    )
    assert status == 0 and out == "web-101 on kvm01: destroyed (forced off)\n"


async def test_a_selector_chooses_the_guests_and_is_asked_about_by_count(demo_settings):
    """`kvmtui start tier=db --yes`: the demo's tier=db guests, one of them shut off."""
    status, out, err = await _run(demo_settings, "start", "tier=db", "host:kvm01")
    assert status == 1 and out == ""
    assert err.startswith("kvmtui: Start 1 shut off guest on 1 host? 1 already running is skip")
    status, out, err = await _run(demo_settings, "start", "tier=db", "--yes")
    assert (status, err) == (0, "")
    assert out == "started: 1 of 4 guests; 3 already running skipped\n"
    status, out, err = await _run(demo_settings, "start", "tier=dbb", "--yes")
    assert (status, out) == (1, "")
    assert err == 'kvmtui: no guest is tagged "tier=dbb" (did you mean "tier=db"?)\n'


async def test_tag_and_untag_from_the_shell(demo_settings):
    status, out, err = await _run(demo_settings, "tag", "web-101", "owner=alice")
    assert (status, out, err) == (0, "web-101 on kvm01: tags owner=alice tier=web\n", "")
    status, out, err = await _run(demo_settings, "untag", "web-101", "nosuch")
    assert (status, out) == (1, "")
    assert err == 'kvmtui: untag: web-101 on kvm01 has no tag "nosuch"\n'
    readonly = dataclasses.replace(demo_settings, readonly=True)
    status, out, err = await _run(readonly, "tag", "web-101", "x")
    assert (status, err) == (1, "kvmtui: tag: kvmtui runs read-only (--readonly)\n")


async def test_destroy_yes_runs_and_readonly_refuses(demo_settings):
    status, out, _ = await _run(demo_settings, "destroy", "web-101", "--yes")
    assert status == 0 and out == "web-101 on kvm01: destroyed (forced off)\n"
    readonly = dataclasses.replace(demo_settings, readonly=True)
    status, out, err = await _run(readonly, "destroy", "web-101", "--yes")
    assert (status, out, err) == (1, "", "kvmtui: destroy: kvmtui runs read-only (--readonly)\n")


async def test_migrate_says_the_dirty_rate_cannot_be_measured_and_still_migrates(
    demo_settings,
):
    """test:/// has no dirty rate: one line where the forecast would be, then the migration
    as before (which that driver cannot do either: it fails, the guest stays)."""
    status, out, err = await _run(demo_settings, "migrate", "build-104", "kvm02")
    assert out.splitlines() == [
        "measuring the dirty rate of build-104 on kvm01 (1 s)",
        "build-104: dirty rate: not measurable on kvm01 (this function is not supported by "
        "the connection driver: virDomainStartDirtyRateCalc)",
        "migrating build-104 from kvm01 to kvm02",
    ]
    assert status == 1 and "build-104 is still running on kvm01" in err
    status, out, _ = await _run(demo_settings, "migrate", "build-104", "kvm02", "--skip-forecast")
    assert out.splitlines()[0] == "build-104: dirty rate: not measured (skipped)"


@pytest.mark.parametrize(
    ("words", "line"),
    [
        (("quit",), "kvmtui: quit needs the full screen: run kvmtui and type :quit\n"),
        (("strat", "web-101"), 'kvmtui: unknown command "strat" (did you mean "start"?)\n'),
        (
            ("vcpupin", "web-101", "x"),
            "kvmtui: vcpupin: vCPU number must be a whole number from 0 to 2147483647\n",
        ),
    ],
)
async def test_bad_or_screen_commands_exit_2_with_one_line(demo_settings, words, line):
    assert await _run(demo_settings, *words) == (2, "", line)


async def test_an_unknown_guest_and_a_bad_cpu_list_exit_1(demo_settings):
    status, _, err = await _run(demo_settings, "start", "web-1O1")
    assert status == 1 and err.startswith('kvmtui: no guest named "web-1O1"')
    status, _, err = await _run(demo_settings, "vcpupin", "web-101", "0", "99")
    assert status == 1 and err == (
        "kvmtui: vcpupin web-101: CPU 99 does not exist on kvm01 (it has 8 CPUs: 0-7)\n"
    )


@pytest.mark.parametrize(
    ("words", "status", "said"),
    [
        (("help", "list"), 0, ""),
        (("validate",), 1, ""),  # the demo's test driver offers no KVM: FAIL findings
        (("start", "no-such-guest"), 1, 'kvmtui: no guest named "no-such-guest"\n'),
        (("nosuch",), 2, 'kvmtui: unknown command "nosuch"\n'),
        (("help", "nosuch"), 2, 'kvmtui: help: unknown command "nosuch"\n'),
        (("list", "--nosuch"), 2, 'kvmtui: list: unexpected option "--nosuch"\n'),
        (("dominfo",), 2, "kvmtui: dominfo: missing guest name\n"),
    ],
)
async def test_exit_status_says_success_failure_or_bad_command(demo_settings, words, status, said):
    """0 success; 1 a failure or a FAIL finding; 2 a bad command, whatever is bad in it."""
    result, out, err = await _run(demo_settings, *words)
    assert (result, err) == (status, said)
    if words == ("validate",):
        assert " FAIL " in out


def test_help_states_the_exit_statuses(capsys):
    from kvmtui.cli import main

    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "exits with 0 on success; 1 on a failure (a line on stderr says what) or a FAIL "
        "finding of validate or caps; 2 for a bad command: an unknown command, option or "
        "help topic, a missing argument"
    ) in text


async def test_an_unreachable_host_is_one_line_and_exit_1(tmp_path):
    settings = parse_settings(["-c", f"test://{tmp_path}/missing.xml", "list"], {})
    status, _, err = await _run(settings, "list")
    assert status == 1
    assert err.startswith("kvmtui: host ") and "is not reachable" in err
    assert len(err.splitlines()) == 1


def test_parse_settings_takes_yes_and_json_after_the_command():
    settings = parse_settings(["--demo", "destroy", "web1", "--yes", "--json"], {})
    assert settings.command == ("destroy", "web1") and settings.yes and settings.json
    settings = parse_settings(["--demo", "list", "--", "--yes"], {})
    assert settings.command == ("list", "--", "--yes") and not settings.yes


def _kvmtui(*args: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys; from kvmtui.cli import main; status = main(sys.argv[1:]); "
        "print('textual' in sys.modules, file=sys.stderr); sys.exit(status)"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_the_command_runs_as_a_process_without_textual():
    result = _kvmtui("--demo", "list", "--all", "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 35
    assert result.stderr == "False\n"


def test_a_process_refusal_exits_non_zero_with_one_line():
    result = _kvmtui("--demo", "undefine", "web-101")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "kvmtui: Undefine web-101 on kvm01? Not confirmed: add --yes to run it without asking",
        "False",
    ]


async def test_vcpuinfo_prints_each_vcpu_and_json(demo_settings):
    status, out, _ = await _run(demo_settings, "vcpuinfo", "web-101")
    assert status == 0
    assert out.count("CPU Affinity:") == 2 and "Emulator threads: " in out
    status, out, _ = await _run(demo_settings, "vcpuinfo", "web-101", "--json")
    info = json.loads(out)
    assert status == 0 and [v["vcpu"] for v in info["vcpus"]] == [0, 1]


async def test_snapshot_verbs_without_the_screen(demo_settings):
    """Each one-shot run is a new connection to the demo's test:/// files, which keep no
    snapshot between connections: so the list is read within one run's limits."""
    status, out, err = await _run(
        demo_settings,
        "snapshot-create-as",
        "web-101",
        "pre-patch",
        "--description",
        "before the update",
    )
    assert (status, err) == (0, "")
    assert out == "web-101 on kvm01: snapshot pre-patch created (internal, disk+memory)\n"
    status, out, err = await _run(demo_settings, "snapshot-list", "web-101", "--json")
    assert (status, err, json.loads(out)) == (0, "", [])
    status, out, _ = await _run(demo_settings, "snapshot-list", "web-101")
    assert out.split()[:7] == ["Name", "Creation", "Time", "State", "Current", "Parent", "Kind"]
    # Reverting loses state: asked, and refused without a terminal or --yes (here the
    # snapshot does not exist, which is said before anything is asked).
    status, _, err = await _run(demo_settings, "snapshot-revert", "web-101", "gone", "--yes")
    assert status == 1
    assert err == 'kvmtui: snapshot-revert web-101 on kvm01: no snapshot "gone" (it has none)\n'


async def test_snapshot_list_prints_virsh_columns_and_json(tmp_path):
    async with connected_fleet(node_specs(tmp_path)) as fleet:
        (host,) = fleet.hosts
        await snapshots.create_snapshot(host, WEB_UUID, "one", description="first")
        await snapshots.create_snapshot(host, WEB_UUID, "two")
        printed = {}
        for as_json in (False, True):
            out = io.StringIO()
            operator = CliOperator(
                fleet,
                MigrationManager(fleet),
                yes=False,
                as_json=as_json,
                stdin=Terminal(),
                stdout=out,
                stderr=io.StringIO(),
            )
            await operator.show(SnapshotList(guest(host, WEB_UUID)))
            printed[as_json] = out.getvalue()
    lines = printed[False].splitlines()
    assert lines[2].split()[:1] == ["one"] and lines[2].rstrip().endswith("first")
    assert lines[3].split()[0] == "two" and " yes " in lines[3] and " one " in lines[3]
    listed = json.loads(printed[True])
    assert [(s["name"], s["current"], s["parent"], s["memory"], s["external"]) for s in listed] == [
        ("one", False, None, True, False),
        ("two", True, "one", True, False),
    ]


async def test_console_hands_the_terminal_to_virsh_once_kvmtui_is_done(demo_settings):
    """`kvmtui console web-101` is `virsh console` in the same terminal: the one-shot closes
    its connections and names the command `main` then replaces the process with."""
    settings = dataclasses.replace(demo_settings, command=("console", "web-101"))
    finished = await run_to_end(
        settings, stdin=Terminal(), stdout=io.StringIO(), stderr=io.StringIO()
    )
    uri = next(h.uri for h in demo_settings.hosts if h.name == "kvm01")
    assert finished == Finished(0, ["virsh", "-c", uri, "console", "web-101", "--force"])


async def test_create_with_console_hands_over_to_the_new_guests_console(demo_settings):
    settings = dataclasses.replace(
        demo_settings,
        yes=True,
        command=(
            "create",
            "fresh",
            "--host",
            "kvm02",
            "--memory",
            "64M",
            "--pxe",
            "--network",
            "default",
            "--start",
            "--console",
        ),
    )
    finished = await run_to_end(
        settings, stdin=Terminal(), stdout=io.StringIO(), stderr=io.StringIO()
    )
    assert finished.status == 0
    assert finished.handover is not None and finished.handover[-2:] == ["fresh", "--force"]


async def test_guestinfo_where_the_driver_has_no_agent_is_one_line_naming_guest_and_host(
    demo_settings,
):
    _, out, _ = await _run(demo_settings, "list", "--json")
    first = json.loads(out)[0]
    status, out, err = await _run(demo_settings, "guestinfo", f"{first['name']}@{first['host']}")
    assert status == 1 and out == ""
    assert err == (
        f"kvmtui: guestinfo {first['name']} on {first['host']}: this function is not supported"
        " by the connection driver: virDomainGetGuestInfo\n"
    )
