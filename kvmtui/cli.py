"""The `kvmtui` command: arguments, config file and environment resolved into Settings.

Everything the operator can get wrong before the screen opens is caught here and reported
as one line on stderr with exit status 2, so a typo never costs a full-screen round trip.
Textual is imported only in `_run`, once there is a UI to run; what only the UI can tell
of the config file (its theme, its `[keys]`) is checked there, before the app starts.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import gc
import logging
import os
import resource
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from kvmtui import __version__
from kvmtui.config import (
    HOST_NAME_RE,
    MAX_REFRESH,
    Config,
    ConfigError,
    Settings,
    load_config,
)
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
        f"else {FALLBACK_URI}. With a command, kvmtui runs it without the screen and exits "
        "with 0 on success; 1 on a failure (a line on stderr says what) or a FAIL finding "
        "of validate or caps; 2 for a bad command: an unknown command, option or help "
        "topic, a missing argument, or a command that needs the full screen.",
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
    parser.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="with a command: answer yes to its confirmation (for scripts)",
    )
    parser.add_argument("--json", action="store_true", help="with a command: print JSON")
    parser.add_argument(
        "--no-history",
        action="store_true",
        help="keep no event timeline or audit trail on disk (only for this run)",
    )
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="COMMAND ...",
        help="run one command, as on the : line (e.g. list --all, start web1), and exit",
    )
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
    if options.demo and options.connect:
        # The demo's hosts are files kvmtui writes: a real host beside them would mix a
        # play fleet with a live one in one table, where a slip of the key is real.
        raise UsageError(
            "--demo watches the built-in demo fleet only: leave out -c, "
            "or leave out --demo to watch those hosts"
        )
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
        config=config,
        history_path=None if options.demo or options.no_history else history_path(config),
    )


def history_path(config: Config) -> Path:
    """The database of the event timeline and audit trail: the file's `[history]
    database`, else the XDG state directory's."""
    from kvmtui.core.store import default_path

    given = config.history.database
    return Path(given).expanduser() if given else default_path()


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
    """The hosts, or UsageError where a name repeats: `NAME@HOST` and `:host NAME` must mean
    one host, and a name kvmtui made up (`a-2`) would be one the operator never gave."""
    taken: dict[str, HostSpec] = {}
    for host in hosts:
        if host.name in taken:
            raise UsageError(
                f"-c: two hosts named {quoted(host.name)} ({taken[host.name].uri} and "
                f"{host.uri}): give each its own name, -c NAME=URI"
            )
        taken[host.name] = host
    return tuple(taken.values())


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
    open_files_for(len(settings.hosts))
    run = _run_command if settings.command else _run
    if not settings.demo:
        return run(settings)
    from kvmtui.core.demo import build_demo_fleet

    with demo_directory() as directory:
        hosts = build_demo_fleet(directory)
        return run(replace(settings, hosts=with_readonly(hosts, settings.readonly)))


#: Open files a host's connection holds at most (its socket and libvirt's wake-up pipe,
#: measured: 2,010 for 1,000 hosts; an ssh:// host also its tunnel), and the rest's.
FILES_PER_HOST, FILES_BESIDE = 4, 256


def open_files_for(hosts: int) -> None:
    """Raises the soft limit of open files, up to the hard one, to what `hosts` hosts need:
    the usual soft limit of 1,024 refused connections from about the 500th host on (each
    such host lost with "Too many open files"), while the hard limit, often far higher, is
    there for the asking. Where the hard limit is lower, what breaks first is that."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = FILES_BESIDE + FILES_PER_HOST * hosts
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


#: What ends kvmtui from outside: the terminal closed (SIGHUP), `kill` (SIGTERM).
ENDING_SIGNALS = (signal.SIGHUP, signal.SIGTERM)


@contextlib.contextmanager
def demo_directory() -> Iterator[Path]:
    """A directory for the demo's test-driver files, which must outlive every connection,
    removed however kvmtui ends: after the app (or the command), and on SIGHUP or SIGTERM,
    whose default action ends the process running no cleanup at all (a closed terminal
    left a /tmp/kvmtui-demo-* behind each time). Such a signal still ends kvmtui, as it
    would have: the directory goes, then the signal's own default action is taken."""
    with tempfile.TemporaryDirectory(prefix="kvmtui-demo-") as directory:

        def remove_then_end(signum: int, _frame: object) -> None:
            shutil.rmtree(directory, ignore_errors=True)
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

        previous = {signum: signal.signal(signum, remove_then_end) for signum in ENDING_SIGNALS}
        try:
            yield Path(directory)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


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
    try:
        check_ui_config(settings.config)
    except ConfigError as error:
        print(f"kvmtui: {error}", file=sys.stderr)
        return 2
    from kvmtui.safety import log_path

    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        app = KvmTuiApp(settings)
        with stderr_to_log(log_path()):
            app.run()
    finally:
        gc.set_threshold(*thresholds)  # as it was, for a caller that goes on (the tests)
    return app.return_code or 0


def check_ui_config(config: Config) -> None:
    """Raises ConfigError, naming the file's line, for what only the UI can tell wrong in
    the file: a theme that is not one of Textual's, a `[keys]` entry (kvmtui.keys)."""
    from textual.theme import BUILTIN_THEMES

    from kvmtui.app import KvmTuiApp
    from kvmtui.keys import check_keymap

    if config.theme is not None and config.theme not in BUILTIN_THEMES:
        close = difflib.get_close_matches(config.theme, sorted(BUILTIN_THEMES), n=3)
        hint = f" (did you mean {', '.join(quoted(t) for t in close)}?)" if close else ""
        raise config.error("theme", f"unknown theme {quoted(config.theme)}{hint}")
    check_keymap(config, KvmTuiApp)


@contextlib.contextmanager
def stderr_to_log(path: Path) -> Iterator[None]:
    """While the screen is up, whatever is written to fd 2 goes to the log at `path`:
    libvirt's C library and libxml2 write there directly (`I/O warning : failed to load
    external entity` at each retry of a host whose file is missing), across the screen.
    libvirt's error reports (kvmtui.core.errors) go to the same log. Textual draws on
    `sys.__stderr__`, which meanwhile is a copy of the terminal's fd 2, as is `sys.stderr`:
    Textual captures that while the screen is up and prints its exit lines there once it
    has closed (`kvmtui: internal error, details in ...`), which must be seen. All is put
    back on the way out."""
    from kvmtui.core.errors import LIBVIRT_LOG

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        log = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError:  # no log to write to: stderr stays the terminal
        yield
        return
    original, python_stderr = sys.__stderr__, sys.stderr
    sys.stderr.flush()
    terminal = os.dup(2)
    screen = os.fdopen(
        terminal,
        "w",
        encoding=getattr(original, "encoding", None) or "utf-8",
        errors="backslashreplace",
        buffering=1,
    )
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    LIBVIRT_LOG.addHandler(handler)
    LIBVIRT_LOG.setLevel(logging.INFO)
    os.dup2(log, 2)
    os.close(log)
    sys.__stderr__ = screen  # type: ignore[misc]  # what Textual's driver draws on
    sys.stderr = screen
    try:
        yield
    finally:
        sys.__stderr__ = original  # type: ignore[misc]  # as it was
        sys.stderr = python_stderr
        screen.flush()
        os.dup2(terminal, 2)
        screen.close()
        LIBVIRT_LOG.removeHandler(handler)
        handler.close()
