"""The `kvmtui` command: arguments, config file and environment resolved into Settings.

Everything the operator can get wrong before the screen opens is caught here and reported
as one line on stderr with exit status 2, so a typo never costs a full-screen round trip.
Textual is imported only in `_run`, once there is a UI to run.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NoReturn

from kvmtui import __version__
from kvmtui.config import HOST_NAME_RE, MAX_REFRESH, ConfigError, load_config
from kvmtui.core.model import HostSpec
from kvmtui.core.uri import default_host_name, quoted, validate_uri

#: Where libvirt's own tools connect when nothing else is said; kvmtui does the same.
FALLBACK_URI = "qemu:///system"

#: The garbage collector's thresholds while the UI runs (CPython's are 700, 10, 10). A first
#: table of 10,000 guests allocates a few hundred thousand objects that live as long as
#: their host, almost none of them in reference cycles: at the defaults the collector ran
#: some 380 times before that table showed, three of them full, 0.13-0.15 s of a 0.85 s
#: start. At these, 0.01 s; cyclic garbage still goes, a few thousand allocations later.
GC_THRESHOLDS = (10_000, 20, 20)


@dataclass(frozen=True)
class Settings:
    """What the app needs to start: hosts to open (empty with `demo`) and how to show them."""

    hosts: tuple[HostSpec, ...]
    readonly: bool
    refresh: float
    theme: str | None
    demo: bool
    viewer: str | None = None  # the graphical console viewer (config `viewer`)
    #: The config's `[keys]`: binding id -> keys, for Textual's keymap.
    keys: Mapping[str, str] = field(default_factory=dict)
    #: The config's `[migrate] flags`: the migrate dialog's first ticks; None: virsh's.
    migrate_flags: frozenset[str] | None = None
    #: A `:` command to run without the screen (`kvmtui start web1 --yes`); empty: the UI.
    command: tuple[str, ...] = ()
    yes: bool = False
    json: bool = False


class UsageError(Exception):
    """Bad command-line input, config or environment; the message is one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but errors raise UsageError instead of printing usage and exiting.

    That keeps `parse_settings` testable and lets `main` print exactly one line.
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _refresh_seconds(text: str) -> float:
    """argparse type for --refresh: a positive number of seconds, at most an hour."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")  # fails the range check below, which gives the message
    if not 0 < value <= MAX_REFRESH:
        limits = f"more than 0 and at most {MAX_REFRESH:g} seconds"
        raise argparse.ArgumentTypeError(f"must be {limits}, got {quoted(text)}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kvmtui",
        description="A keyboard-driven terminal console for KVM fleets.",
        epilog="Hosts come from -c, else the config file, else $LIBVIRT_DEFAULT_URI, "
        f"else {FALLBACK_URI}. With a command, kvmtui runs it without the screen and exits: "
        "0 on success, 1 after a line saying what failed, 2 for a bad command.",
    )
    parser.add_argument(
        "-c",
        "--connect",
        action="append",
        default=[],
        metavar="URI",
        help="a host to watch, as a libvirt URI or ssh://[user@]host; NAME=URI names it; "
        "repeat for more hosts",
    )
    parser.add_argument(
        "--readonly", action="store_true", help="open every host read-only; change nothing"
    )
    parser.add_argument(
        "--refresh", type=_refresh_seconds, metavar="SECONDS", help="seconds between samples"
    )
    parser.add_argument("--config", type=Path, metavar="PATH", help="the config file to read")
    parser.add_argument("--demo", action="store_true", help="watch a built-in demo fleet")
    parser.add_argument("-y", "--yes", action="store_true",
                        help="with a command: answer yes to its confirmation (for scripts)")
    parser.add_argument("--json", action="store_true", help="with a command: print JSON")
    parser.add_argument(
        "command", nargs=argparse.REMAINDER, metavar="COMMAND ...",
        help="run one command, as on the : line (e.g. list --all, start web1), and exit")
    parser.add_argument("--version", action="version", version=f"kvmtui {__version__}")
    return parser


def parse_settings(argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """Resolve arguments, config file and environment into Settings, or raise UsageError.

    `--help` and `--version` print and raise SystemExit(0), as argparse does. The config is
    read even with `--demo`, for its refresh and theme.
    """
    options = _parser().parse_args(list(argv))
    try:
        config = load_config(options.config.expanduser() if options.config else None)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    hosts = () if options.demo else _resolve_hosts(options.connect, config.hosts, environ)
    command, yes, as_json = _command_words(options.command)
    yes, as_json = yes or options.yes, as_json or options.json
    if (yes or as_json) and not command:
        raise UsageError("--yes and --json go with a command, e.g. kvmtui list --json")
    return Settings(
        hosts=with_readonly(hosts, options.readonly),
        readonly=options.readonly,
        refresh=options.refresh if options.refresh is not None else config.refresh,
        theme=config.theme,
        demo=options.demo,
        viewer=config.viewer,
        keys=config.keys,
        migrate_flags=config.migrate_flags,
        command=command,
        yes=yes,
        json=as_json,
    )


def _command_words(words: list[str]) -> tuple[tuple[str, ...], bool, bool]:
    """(the command, --yes given, --json given): scripts put these two after the command
    (`kvmtui destroy web1 --yes`), where they are kvmtui's, not the verb's; after `--`
    every word is the command's."""
    command: list[str] = []
    yes = as_json = False
    rest = iter(words)
    for word in rest:
        if word == "--":
            command.append(word)
            command.extend(rest)
        elif word in {"-y", "--yes"}:
            yes = True
        elif word == "--json":
            as_json = True
        else:
            command.append(word)
    return tuple(command), yes, as_json


def _resolve_hosts(
    connect: list[str], configured: tuple[HostSpec, ...], environ: Mapping[str, str]
) -> tuple[HostSpec, ...]:
    """`-c` hosts if any; else the config's; else $LIBVIRT_DEFAULT_URI; else qemu:///system."""
    if connect:
        return _unique_names(_connect_host(argument) for argument in connect)
    if configured:
        return configured
    uri = environ.get("LIBVIRT_DEFAULT_URI") or FALLBACK_URI
    _check_uri(uri, "LIBVIRT_DEFAULT_URI")
    return (HostSpec(default_host_name(uri), uri),)


def _connect_host(argument: str) -> HostSpec:
    """The host one `-c [NAME=]URI` names."""
    name, equals, uri = argument.partition("=")
    if not (equals and HOST_NAME_RE.fullmatch(name) and ":" in uri):
        name, uri = "", argument
    _check_uri(uri, "-c")
    return HostSpec(name or default_host_name(uri), uri)


def _check_uri(uri: str, source: str) -> None:
    reason = validate_uri(uri)
    if reason is not None:
        raise UsageError(f"{source}: bad URI {quoted(uri)}: {reason}")


def _unique_names(hosts: Iterable[HostSpec]) -> tuple[HostSpec, ...]:
    """Hosts renamed `name-2`, `name-3`... where a name repeats, so `NAME@HOST` stays exact."""
    taken: set[str] = set()
    unique: list[HostSpec] = []
    for host in hosts:
        name, suffix = host.name, 2
        while name in taken:
            name, suffix = f"{host.name}-{suffix}", suffix + 1
        taken.add(name)
        unique.append(replace(host, name=name))
    return tuple(unique)


def with_readonly(hosts: Iterable[HostSpec], readonly: bool) -> tuple[HostSpec, ...]:
    """`hosts`, all made read-only when `readonly`; a host already read-only stays so."""
    return tuple(replace(host, readonly=host.readonly or readonly) for host in hosts)


def main(argv: Sequence[str] | None = None) -> int:
    """Run kvmtui; the exit status: 0, or 2 after one `kvmtui: ...` line on stderr."""
    try:
        settings = parse_settings(sys.argv[1:] if argv is None else argv, os.environ)
    except UsageError as error:
        print(f"kvmtui: {error}", file=sys.stderr)
        return 2
    except SystemExit as stop:  # --help, --version: already printed
        return stop.code if isinstance(stop.code, int) else 0
    run = _run_command if settings.command else _run
    if not settings.demo:
        return run(settings)
    from kvmtui.core.demo import build_demo_fleet

    # The demo's test-driver files must outlive every connection: keep the directory
    # until the app (or the command) has finished.
    with tempfile.TemporaryDirectory(prefix="kvmtui-demo-") as directory:
        hosts = build_demo_fleet(Path(directory))
        return run(replace(settings, hosts=with_readonly(hosts, settings.readonly)))


def _run_command(settings: Settings) -> int:
    """Run one command without the screen (kvmtui.oneshot, which never imports Textual)."""
    from kvmtui import oneshot

    return oneshot.main(settings)


def _run(settings: Settings) -> int:
    """Start the UI; Textual is imported here so that argument errors never load it."""
    # What the import makes (modules, classes, Textual's CSS) lives as long as the process:
    # collecting it while importing, and walking it in every full collection later, is
    # waste (30 ms of the import). It is moved out of the collector's sight instead.
    gc.disable()
    try:
        from kvmtui.app import KvmTuiApp
    finally:
        gc.freeze()
        gc.enable()
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        app = KvmTuiApp(settings)
        app.run()
    finally:
        gc.set_threshold(*thresholds)  # as it was, for a caller that goes on (the tests)
    return app.return_code or 0
