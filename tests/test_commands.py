"""The `:` command line: virsh verbs and argument order, messages, completion, guest lookup."""

from __future__ import annotations

import pytest

import kvmtui.verbs  # noqa: F401  (registers the verbs these tests parse)
from kvmtui.core.commands import (
    ALIASES,
    VERBS,
    Command,
    CommandError,
    complete,
    lookup_verb,
    parse,
)
from kvmtui.core.names import resolve_guest

MIGRATE_FLAGS = "live persistent undefinesource p2p tunnelled auto-converge compressed postcopy"
MIGRATE_FLAGS += " unsafe offline"


#: One parse case per verb at least: (line, verb, args, options).
PARSE_CASES = [
    ("list", "list", (), {}),
    ("list --all", "list", (), {"all": True}),
    ("list --inactive", "list", (), {"inactive": True}),
    ("start web1", "start", ("web1",), {}),
    ("shutdown web1", "shutdown", ("web1",), {}),
    ("reboot web1", "reboot", ("web1",), {}),
    ("reset web1", "reset", ("web1",), {}),
    ("destroy web1", "destroy", ("web1",), {}),
    ("suspend web1", "suspend", ("web1",), {}),
    ("resume web1", "resume", ("web1",), {}),
    ("managedsave web1", "managedsave", ("web1",), {}),
    ("autostart web1", "autostart", ("web1",), {}),
    ("autostart web1 --disable", "autostart", ("web1",), {"disable": True}),
    ("undefine web1", "undefine", ("web1",), {}),
    ("dominfo web1@hosta", "dominfo", ("web1@hosta",), {}),
    ("dumpxml web1", "dumpxml", ("web1",), {}),
    ("host", "host", (), {}),
    ("host hosta", "host", ("hosta",), {}),
    ("migrate web1 hostb", "migrate", ("web1", "hostb"), {}),
    (
        "migrate web1 hostb --" + " --".join(MIGRATE_FLAGS.split()),
        "migrate",
        ("web1", "hostb"),
        dict.fromkeys(MIGRATE_FLAGS.split(), True),
    ),
    (
        "migrate web1 hostb --bandwidth 100 --migrateuri tcp://10.0.0.2:49152",
        "migrate",
        ("web1", "hostb"),
        {"bandwidth": "100", "migrateuri": "tcp://10.0.0.2:49152"},
    ),
    ("domjobabort web1", "domjobabort", ("web1",), {}),
    ("migrate-setspeed web1 500", "migrate-setspeed", ("web1", "500"), {}),
    ("migrate-setmaxdowntime web1 300", "migrate-setmaxdowntime", ("web1", "300"), {}),
    ("migrate-postcopy web1", "migrate-postcopy", ("web1",), {}),
    ("domjobinfo web1", "domjobinfo", ("web1",), {}),
    ("console web1", "console", ("web1",), {}),
    ("console web1 serial1 --force", "console", ("web1", "serial1"), {"force": True}),
    ("vcpupin web1", "vcpupin", ("web1",), {}),
    ("vcpupin web1 0", "vcpupin", ("web1", "0"), {}),
    (
        "vcpupin web1 0 2-3 --live --config",
        "vcpupin",
        ("web1", "0", "2-3"),
        {
            "live": True,
            "config": True,
        },
    ),
    ("vcpupin web1 1 0-3,^2", "vcpupin", ("web1", "1", "0-3,^2"), {}),
    ("emulatorpin web1", "emulatorpin", ("web1",), {}),
    ("emulatorpin web1 0-1 --live", "emulatorpin", ("web1", "0-1"), {"live": True}),
    ("vcpuinfo web1", "vcpuinfo", ("web1",), {}),
    ("vncdisplay win1", "vncdisplay", ("win1",), {}),
    ("viewer win1@hostb", "viewer", ("win1@hostb",), {}),
    ("setvcpus web1 4 --live --config", "setvcpus", ("web1", "4"), {"live": True, "config": True}),
    (
        "setvcpus web1 8 --maximum --config",
        "setvcpus",
        ("web1", "8"),
        {"maximum": True, "config": True},
    ),
    ("setmem web1 2G --current", "setmem", ("web1", "2G"), {"current": True}),
    ("setmaxmem web1 4194304 --config", "setmaxmem", ("web1", "4194304"), {"config": True}),
    (
        "attach-disk web1 /var/lib/images/d.qcow2 vdb --subdriver qcow2 --live",
        "attach-disk",
        ("web1", "/var/lib/images/d.qcow2", "vdb"),
        {"subdriver": "qcow2", "live": True},
    ),
    (
        "attach-disk web1 images/cd.iso sdb --cdrom --targetbus sata --driver qemu --type cdrom",
        "attach-disk",
        ("web1", "images/cd.iso", "sdb"),
        {"cdrom": True, "targetbus": "sata", "driver": "qemu", "type": "cdrom"},
    ),
    ("detach-disk web1 vdb --config", "detach-disk", ("web1", "vdb"), {"config": True}),
    (
        "attach-interface web1 network default --model virtio --mac 52:54:00:aa:bb:cc",
        "attach-interface",
        ("web1", "network", "default"),
        {"model": "virtio", "mac": "52:54:00:aa:bb:cc"},
    ),
    (
        "detach-interface web1 bridge --mac 52:54:00:aa:bb:cc",
        "detach-interface",
        ("web1", "bridge"),
        {"mac": "52:54:00:aa:bb:cc"},
    ),
    (
        "change-media web1 sda /isos/a.iso --insert --force",
        "change-media",
        ("web1", "sda", "/isos/a.iso"),
        {"insert": True, "force": True},
    ),
    ("change-media web1 sda --eject", "change-media", ("web1", "sda"), {"eject": True}),
    (
        "change-media web1 sda b.iso --update",
        "change-media",
        ("web1", "sda", "b.iso"),
        {"update": True},
    ),
    ("boot-order web1 vda,net0", "boot-order", ("web1", "vda,net0"), {}),
    ("edit web1", "edit", ("web1",), {}),
    ("domifaddr web1 --source lease", "domifaddr", ("web1",), {"source": "lease"}),
    ("guestinfo web1", "guestinfo", ("web1",), {}),
    ("events --since 2h --guest web1", "events", (), {"since": "2h", "guest": "web1"}),
    ("audit --host kvm01", "audit", (), {"host": "kvm01"}),
    ("domfsfreeze web1 db1@kvm2", "domfsfreeze", ("web1", "db1@kvm2"), {}),
    ("domfsthaw web1", "domfsthaw", ("web1",), {}),
    ("domfstrim web1", "domfstrim", ("web1",), {}),
    ("domtime web1 --sync", "domtime", ("web1",), {"sync": True}),
    ("set-user-password web1 root", "set-user-password", ("web1", "root"), {}),
    (
        "set-user-password web1 db1 --user ops",
        "set-user-password",
        ("web1", "db1"),
        {"user": "ops"},
    ),
    ("shutdown web1 --mode agent", "shutdown", ("web1",), {"mode": "agent"}),
    ("help", "help", (), {}),
    ("help migrate", "help", ("migrate",), {}),
    ("quit", "quit", (), {}),
    ("clone web1 web2 --linked", "clone", ("web1", "web2"), {"linked": True}),
    ("undefine web1 --storage vda,vdb", "undefine", ("web1",), {"storage": "vda,vdb"}),
    ("undefine web1 --remove-all-storage", "undefine", ("web1",), {"remove-all-storage": True}),
    ("domrename web1 web9", "domrename", ("web1", "web9"), {}),
    ("desc web1 --title 'a b' c", "desc", ("web1", "a b", "c"), {"title": True}),
    (
        "send-key web1 KEY_LEFTCTRL KEY_LEFTALT KEY_DELETE",
        "send-key",
        ("web1", "KEY_LEFTCTRL", "KEY_LEFTALT", "KEY_DELETE"),
        {},
    ),
    ("inject-nmi web1", "inject-nmi", ("web1",), {}),
    ("snapshot-create-as web1", "snapshot-create-as", ("web1",), {}),
    (
        "snapshot-create-as web1 pre-patch --description 'before 6.6' --disk-only --atomic",
        "snapshot-create-as",
        ("web1", "pre-patch"),
        {"description": "before 6.6", "disk-only": True, "atomic": True},
    ),
    ("snapshot-list web1", "snapshot-list", ("web1",), {}),
    ("snapshot-revert web1 s1 --running", "snapshot-revert", ("web1", "s1"), {"running": True}),
    (
        "snapshot-revert web1 s1 --paused --force",
        "snapshot-revert",
        ("web1", "s1"),
        {"paused": True, "force": True},
    ),
    ("snapshot-delete web1 s1 --children", "snapshot-delete", ("web1", "s1"), {"children": True}),
    ("snapshot-current web1", "snapshot-current", ("web1",), {}),
    ("snapshot-current web1 s1", "snapshot-current", ("web1", "s1"), {}),
    # storage (#14.1)
    (
        "pool-define-as nfs1 netfs --target /mnt/nfs1 --source-host filer "
        "--source-path /export --host hosta",
        "pool-define-as",
        ("nfs1", "netfs"),
        {"target": "/mnt/nfs1", "source-host": "filer", "source-path": "/export", "host": "hosta"},
    ),
    (
        "pool-define-as vg0 logical --source-dev /dev/sdb --build",
        "pool-define-as",
        ("vg0", "logical"),
        {"source-dev": "/dev/sdb", "build": True},
    ),
    ("pool-build images", "pool-build", ("images",), {}),
    ("pool-start images --host hosta", "pool-start", ("images",), {"host": "hosta"}),
    ("pool-destroy images", "pool-destroy", ("images",), {}),
    ("pool-autostart images --disable", "pool-autostart", ("images",), {"disable": True}),
    ("pool-refresh images", "pool-refresh", ("images",), {}),
    ("pool-undefine images", "pool-undefine", ("images",), {}),
    (
        "vol-create-as images web.qcow2 10G --format qcow2 --backing-vol base.qcow2",
        "vol-create-as",
        ("images", "web.qcow2", "10G"),
        {"format": "qcow2", "backing-vol": "base.qcow2"},
    ),
    (
        "vol-delete /var/lib/images/web.qcow2 --force",
        "vol-delete",
        ("/var/lib/images/web.qcow2",),
        {"force": True},
    ),
    (
        "vol-resize web.qcow2 20G --pool images --shrink",
        "vol-resize",
        ("web.qcow2", "20G"),
        {"pool": "images", "shrink": True},
    ),
    (
        "vol-clone web.qcow2 web2.qcow2 --pool images",
        "vol-clone",
        ("web.qcow2", "web2.qcow2"),
        {"pool": "images"},
    ),
    (
        "vol-upload images disk.img ./disk.img --host hostb",
        "vol-upload",
        ("images", "disk.img", "./disk.img"),
        {"host": "hostb"},
    ),
    (
        "net-define lab --subnet 192.168.150.0/24 --forward route --bridge br-lab --dhcp "
        "--host hostb",
        "net-define",
        ("lab",),
        {
            "subnet": "192.168.150.0/24",
            "forward": "route",
            "bridge": "br-lab",
            "dhcp": True,
            "host": "hostb",
        },
    ),
    ("net-start lab", "net-start", ("lab",), {}),
    ("net-destroy lab --host hostb", "net-destroy", ("lab",), {"host": "hostb"}),
    ("net-autostart lab --disable", "net-autostart", ("lab",), {"disable": True}),
    ("net-undefine lab", "net-undefine", ("lab",), {}),
    ("net-dhcp-leases default --host hosta", "net-dhcp-leases", ("default",), {"host": "hosta"}),
    ("caps", "caps", (), {}),
    ("caps hostb", "caps", ("hostb",), {}),
    ("validate", "validate", (), {}),
    ("create", "create", (), {}),
    (
        "create --memory 1G --kernel /k --start -- -odd[name]",
        "create",
        ("-odd[name]",),
        {"memory": "1G", "kernel": "/k", "start": True},
    ),
    ("evacuate hosta", "evacuate", ("hosta",), {}),
    ("tag web1 web tier=web", "tag", ("web1", "web", "tier=web"), {}),
    ("untag tag:web,host:a tier", "untag", ("tag:web,host:a", "tier"), {}),
    # A selector's terms are one guest argument where the verb has room for no more words.
    ("shutdown tag:web state:running", "shutdown", ("tag:web state:running",), {}),
    (
        "autostart tier=db host:kvm01 --disable",
        "autostart",
        ("tier=db host:kvm01",),
        {"disable": True},
    ),
    ("backup web1", "backup", ("web1",), {}),
    (
        "backup web1 web2@kvm2 --full --to backups --quiesce --keep 7",
        "backup",
        ("web1", "web2@kvm2"),
        {"full": True, "to": "backups", "quiesce": True, "keep": "7"},
    ),
    (
        "restore web1 20261207-010203 --as web1-copy --host kvm2",
        "restore",
        ("web1", "20261207-010203"),
        {"as": "web1-copy", "host": "kvm2"},
    ),
    ("restore web1@kvm1 latest", "restore", ("web1@kvm1", "latest"), {}),
    ("backup-verify web1", "backup-verify", ("web1",), {}),
    ("backup-prune web1 --keep 3", "backup-prune", ("web1",), {"keep": "3"}),
    (
        "blockcopy web1 vda --pool fast --pivot",
        "blockcopy",
        ("web1", "vda"),
        {"pool": "fast", "pivot": True},
    ),
    ("blockcopy web1 vda --dest /x.qcow2", "blockcopy", ("web1", "vda"), {"dest": "/x.qcow2"}),
    ("blockpull web1 vda", "blockpull", ("web1", "vda"), {}),
    (
        "blockcommit web1 vda --active --pivot",
        "blockcommit",
        ("web1", "vda"),
        {"active": True, "pivot": True},
    ),
    ("blockresize web1 vda 20G", "blockresize", ("web1", "vda", "20G"), {}),
    ("blockjob web1 vda --pivot", "blockjob", ("web1", "vda"), {"pivot": True}),
]


@pytest.mark.parametrize(("line", "verb", "args", "options"), PARSE_CASES)
def test_every_verb_parses_in_virsh_order(
    line: str, verb: str, args: tuple[str, ...], options: dict[str, object]
) -> None:
    assert parse(line) == Command(verb, args, options)


def test_every_verb_the_parser_knows_has_a_parse_case() -> None:
    """The verbs come from the parser's own table (and its aliases), not a copy of it: a
    verb added there without a case in PARSE_CASES fails here."""
    known = set(VERBS) | {ALIASES[alias] for alias in ALIASES}
    covered = {verb for _line, verb, _args, _options in PARSE_CASES}
    assert known - covered == set()


def test_read_only_verbs_are_not_mutating() -> None:
    quiet = {name for name, verb in VERBS.items() if not verb.mutating}
    assert quiet == {
        "list", "dominfo", "dumpxml", "host", "domjobinfo", "console", "vcpuinfo",
        "help", "quit", "vncdisplay", "viewer", "snapshot-list",
        "net-dhcp-leases", "caps", "validate",
        "domifaddr", "guestinfo", "events", "audit",
    }  # fmt: skip
    assert VERBS["vcpupin"].mutating and VERBS["emulatorpin"].mutating


def test_guest_arg_marks_verbs_whose_first_argument_is_a_guest() -> None:
    assert VERBS["migrate"].guest_arg and VERBS["console"].guest_arg
    assert not VERBS["host"].guest_arg and not VERBS["help"].guest_arg


def test_leading_colon_and_spaces_are_tolerated() -> None:
    assert parse("  :start web1 ") == Command("start", ("web1",))


def test_options_in_both_spellings_and_anywhere_on_the_line() -> None:
    spaced = parse("migrate --live web1 --bandwidth 50 hostb")
    joined = parse("migrate web1 hostb --bandwidth=50 --live")
    assert spaced == joined
    assert spaced.args == ("web1", "hostb")
    assert spaced.flag("live") and not spaced.flag("p2p")
    assert spaced.value("bandwidth") == "50"
    assert spaced.value("migrateuri") is None


def test_quotes_and_double_dash_pass_odd_guest_names() -> None:
    assert parse('start "my guest"').args == ("my guest",)
    assert parse("start -- -weird").args == ("-weird",)


def test_aliases_parse_as_their_verb() -> None:
    assert parse("q").verb == "quit"
    assert parse("exit").verb == "quit"
    assert lookup_verb("?").name == "help"


def test_command_options_cannot_be_changed_after_parsing() -> None:
    command = parse("list --all")
    with pytest.raises(TypeError):
        command.options["all"] = False  # type: ignore[index]  # read-only, as tested


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("strat web1", 'unknown command "strat" (did you mean "start"?)'),
        ("frobnicate", 'unknown command "frobnicate"'),
        ("", "no command given"),
        (":", "no command given"),
        ("start", "start: missing guest name"),
        ("migrate web1", "migrate: missing destination host"),
        ("migrate-setspeed web1", "migrate-setspeed: missing bandwidth (MiB/s)"),
        ("migrate web1 hostb --foo", 'migrate: unexpected option "--foo"'),
        ("migrate web1 hostb --liv", 'migrate: unexpected option "--liv" (did you mean "--live"?)'),
        ("start web1 -f", 'start: unexpected option "-f"'),
        ("migrate web1 hostb --bandwidth", "migrate: --bandwidth needs a value"),
        ("migrate web1 hostb --bandwidth --live", "migrate: --bandwidth needs a value"),
        ("migrate web1 hostb --bandwidth=", "migrate: --bandwidth needs a value"),
        ("migrate web1 hostb --bandwidth fast", "migrate: --bandwidth must be a whole number"),
        ("migrate web1 hostb --bandwidth=-5", "migrate: --bandwidth must be a whole number"),
        ("migrate-setspeed web1 1.5", "migrate-setspeed: bandwidth (MiB/s) must be a whole number"),
        ("migrate-setmaxdowntime web1 x", "migrate-setmaxdowntime: downtime (ms) must be a whole"),
        ("vcpupin web1 first", "vcpupin: vCPU number must be a whole number"),
        # Digits int() refuses, and numbers no C int holds, are refused before int() sees them.
        ("vcpupin web1 ² 0", "vcpupin: vCPU number must be a whole number from 0 to 2147483647"),
        (
            "migrate-setspeed web1 99999999999999999999",
            "migrate-setspeed: bandwidth (MiB/s) must be a whole number from 0 to 2147483647",
        ),
        ("vcpupin web1 0 two", "vcpupin: CPU list must look like"),
        ("list --all=yes", "list: --all takes no value"),
        ("list --all --all", "list: --all given twice"),
        ("dominfo a b", 'dominfo: too many arguments (unexpected "b"); usage: dominfo NAME'),
        ("quit now", 'quit: too many arguments (unexpected "now")'),
        ('start "web1', "cannot parse the line: no closing quotation"),
    ],
)
def test_errors_speak_virsh(line: str, message: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse(line)
    assert str(caught.value).startswith(message)


def test_usage_lists_positionals_and_options() -> None:
    usage = VERBS["vcpupin"].usage
    assert usage == "vcpupin NAME [VCPU] [CPULIST] [--config] [--live]"
    assert "[--bandwidth BANDWIDTH]" in VERBS["migrate"].usage


GUESTS = ["db", "web1@hosta", "web1@hostb", "web2"]
HOSTS = ["hosta", "hostb", "backup"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("mig", ["migrate", "migrate-postcopy", "migrate-setmaxdowntime", "migrate-setspeed"]),
        (":sh", ["shutdown"]),
        ("st", ["start"]),
        ("zz", []),
        ("start ", ["db", "web1@hosta", "web1@hostb", "web2"]),
        ("start w", ["web1@hosta", "web1@hostb", "web2"]),
        ("console web1@hostb ", []),
        ("migrate --live w", ["web1@hosta", "web1@hostb", "web2"]),
        ("migrate web2 ", ["backup", "hosta", "hostb"]),
        ("migrate web2 host", ["hosta", "hostb"]),
        ("migrate web2 --bandwidth 10 h", ["hosta", "hostb"]),
        ("migrate web2 --bandwidth ", []),
        ("host ", ["backup", "hosta", "hostb"]),
        ("host b", ["backup"]),
        ("help mi", ["migrate", "migrate-postcopy", "migrate-setmaxdowntime", "migrate-setspeed"]),
        ("list --", ["--all", "--inactive"]),
        ("list --all --", ["--inactive"]),
        ("migrate web1 hostb --b", ["--bandwidth"]),
        ("migrate web1 hostb --p", ["--p2p", "--persistent", "--postcopy"]),
        ("vcpupin web2 -", ["--config", "--live"]),
        ("start web2 ", []),
        ("bogus ", []),
    ],
)
def test_completion(line: str, expected: list[str]) -> None:
    assert complete(line, GUESTS, HOSTS) == expected


def test_empty_line_completes_to_every_verb() -> None:
    assert complete("", GUESTS, HOSTS) == sorted(VERBS)


FLEET = [("web1", "hosta"), ("web1", "hostb"), ("db", "hosta"), ("cache", "hostb")]


def test_resolve_unique_name() -> None:
    assert resolve_guest("db", FLEET) == ("db", "hosta")


def test_resolve_name_at_host() -> None:
    assert resolve_guest("web1@hostb", FLEET) == ("web1", "hostb")


def test_resolve_ambiguous_name_says_how_to_pick() -> None:
    with pytest.raises(CommandError) as caught:
        resolve_guest("web1", FLEET)
    assert str(caught.value) == 'guest "web1" is on several hosts (hosta, hostb): say web1@hosta'


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("web9", 'no guest named "web9" (did you mean "web1"?)'),
        ("zzz", 'no guest named "zzz"'),
        ("db@hostb", 'no guest "db" on host "hostb"'),
        ("cashe@hostb", 'no guest "cashe" on host "hostb" (did you mean "cache"?)'),
        ("db@hostc", 'no host named "hostc" (did you mean "hostb"?)'),
        ("db@elsewhere", 'no host named "elsewhere"'),
    ],
)
def test_resolve_unknown(token: str, message: str) -> None:
    with pytest.raises(CommandError) as caught:
        resolve_guest(token, FLEET)
    assert str(caught.value) == message


def test_resolve_knows_hosts_without_guests() -> None:
    with pytest.raises(CommandError, match='no guest "db" on host "empty"'):
        resolve_guest("db@empty", FLEET, hosts=["hosta", "hostb", "empty"])
