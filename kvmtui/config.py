"""The TOML config file: which hosts to watch, how often, in which theme.

Every mistake in the file is reported as one line naming the file, the line and the key,
because the operator reads it on a jump box terminal and fixes it with `vi +LINE`.

    refresh = 2.0            # seconds between stats samples, 0 < refresh <= 3600
    theme = "nord"           # a Textual theme name, checked as the UI starts
    viewer = "remote-viewer" # graphical consoles: the viewer, {url} {host} {port} optional

    [[host]]
    name = "web"             # optional: defaults to the URI's host name
    uri = "qemu+ssh://root@web/system"
    readonly = true          # optional: never offer to change anything on this host

    [migrate]                # optional: the migrate dialog's ticked options
    flags = ["live", "persistent", "undefinesource"]   # none: virsh's (nothing ticked)

    [history]                # optional: the event timeline and audit trail kept
    max_age_days = 30        # rows older go
    max_size_mb = 64         # the database is kept under this

    [alerts]                 # optional: which events raise an alert
    rules = ["crashed", "io-error", "watchdog", "block-threshold", "host-lost", "backup-stale"]
    host_lost_after = 60     # seconds a host is lost before that is an alert

    [keys]                   # optional: binding id = keys (see kvmtui.keys)
    "guests.start" = "S"
    guests.destroy = "ctrl+x"   # a dotted key means the same

`Config` is the file's schema: each key's name, type, default and meaning are its fields
and their docstrings, which the README's table of keys is checked against. `Settings` is
what the app starts with: the file merged with the command line.

This module runs before any UI exists (one-shot commands never load Textual), so it checks
only what TOML and the core can tell. Theme names are Textual's and binding ids are the
screens': those two are checked by the UI's side when it starts (`kvmtui.cli`), through
`Config.error`, which still names this file and the line.
"""

from __future__ import annotations

import ast
import datetime
import inspect
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from pathlib import Path
from types import NoneType
from typing import Any, get_args, get_origin, get_type_hints

from platformdirs import user_config_dir

from kvmtui.core.alerts import ALERT_RULES, AlertRules
from kvmtui.core.backups import BackupSettings
from kvmtui.core.journal import Retention
from kvmtui.core.model import HostSpec
from kvmtui.core.uri import default_host_name, quoted, validate_uri
from kvmtui.core.words import did_you_mean

#: Seconds between stats samples when neither the file nor `--refresh` says otherwise.
DEFAULT_REFRESH = 2.0
#: The longest refresh accepted: beyond an hour the screen is no longer a monitor.
MAX_REFRESH = 3600.0

#: What a host may be called in the file, on the command line and after `@` in `:` commands.
HOST_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")

#: The keys of the file's `[migrate]` table.
_MIGRATE_KEYS = ("flags",)
#: What the `viewer` command may contain in braces (see core/display.py viewer_command).
_VIEWER_FIELDS = frozenset({"url", "host", "port"})

_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),  # before int: bool is a subclass of int
    (str, "a string"),
    (int, "an integer"),
    (float, "a float"),
    (list, "an array"),
    (dict, "a table"),
    (datetime.date, "a date"),
    (datetime.time, "a time"),
)


@dataclass(frozen=True)
class Config:
    """The file's settings; `path` is the file they came from, None when none was read."""

    hosts: tuple[HostSpec, ...] = ()
    """One table per host to watch, with the keys below. Unset: the hosts of `-c`, else
    `$LIBVIRT_DEFAULT_URI`, else qemu:///system."""
    refresh: float = DEFAULT_REFRESH
    """Seconds between stats samples, more than 0 and at most 3600; `--refresh` beats it."""
    theme: str | None = None
    """One of Textual's built-in themes (Ctrl+P, "Theme" lists them). Unset: Textual's."""
    viewer: str | None = None
    """The command that shows a graphical console; `{url}`, `{host}` and `{port}` in it
    are filled in, else the URL is added at the end. Unset: `remote-viewer`."""
    keys: Mapping[str, str] = field(default_factory=dict)
    """Binding id = keys, several comma-separated; `?` on any screen shows each key's id."""
    migrate_flags: frozenset[str] | None = None
    """The options the migrate dialog ticks first, in virsh migrate's words (`live`,
    `persistent` ...). Unset: virsh's own defaults, none ticked."""
    backup_pool: str = "default"
    """The storage pool (on each guest's host) backups go to when `--to` does not say."""
    backup_per_host: int = 2
    """Backups at once per host when several guests are backed up together (1 to 64)."""
    backup_max_age: float = 26.0
    """Hours after which a guest's newest backup is stale: flagged in the backups view, and
    an alert (`backup-stale`)."""
    disk_threshold: int = 85
    """Percent of a qcow2 disk's size at which its guest's row is marked (libvirt's block
    threshold; set again halfway to full each time it is passed); 0 turns it off."""
    history: HistoryTable = field(default_factory=lambda: HistoryTable())
    """How much of the event timeline and the audit trail is kept: the keys below."""
    alerts: AlertsTable = field(default_factory=lambda: AlertsTable())
    """Which events raise an alert, counted on the status line until acknowledged."""
    path: Path | None = None
    """The file these came from; None when none was read."""
    lines: Mapping[str, int | None] = field(default_factory=dict, compare=False, repr=False)
    """Where the file sets `theme` and each `keys.ID`, for `error`."""

    def backups(self) -> BackupSettings:
        """The backup keys, as the core's backup service takes them."""
        return BackupSettings(self.backup_pool, self.backup_per_host, self.backup_max_age)

    def error(self, key: str, message: str) -> ConfigError:
        """The one-line error for a value of the file (`theme`, `keys.guests.start`) found
        wrong by a check only the UI can make, naming the file and the line it is on."""
        return ConfigError(self.path or default_config_path(), message, self.lines.get(key))


@dataclass(frozen=True)
class HostTable:
    """The keys of one `[[host]]` table, which `_Checker._host` turns into a HostSpec."""

    uri: str
    """The host's libvirt URI (`qemu+ssh://root@kvm1/system`), or `ssh://[user@]host[:port]`
    for kvmtui's own SSH connection."""
    name: str | None = None
    """What the host is called on screen and after `@`: letters, digits, `_`, `.`, `-`.
    Unset: the URI's host name."""
    readonly: bool = False
    """Never offer to change anything on this host."""


@dataclass(frozen=True)
class HistoryTable:
    """The keys of `[history]`: where and how much kvmtui keeps of what happened."""

    database: str | None = None
    """The database file. Unset: `$XDG_STATE_HOME/kvmtui/kvmtui.db`; `--no-history`
    keeps nothing."""
    max_age_days: float = 30.0
    """Events and audit rows older than this many days are removed."""
    max_size_mb: float = 64.0
    """The database file and its WAL stay within this many MiB: the oldest rows are
    removed to keep them there."""

    def retention(self) -> Retention:
        return Retention(self.max_age_days * 86400, int(self.max_size_mb * 1024 * 1024))


@dataclass(frozen=True)
class AlertsTable:
    """The keys of `[alerts]`: the rules that make an event an alert."""

    rules: frozenset[str] = frozenset(ALERT_RULES)
    """The events that raise one: `crashed`, `io-error` (a guest paused on it),
    `watchdog`, `block-threshold`, `host-lost`, `backup-stale` (a guest's newest backup
    older than `backup_max_age`); `[]`: none."""
    host_lost_after: float = 60.0
    """Seconds a host must stay lost before that is an alert."""

    def alert_rules(self) -> AlertRules:
        return AlertRules(self.rules, self.host_lost_after)


@dataclass(frozen=True)
class Settings:
    """What the app needs to start: the config file merged with the command line."""

    hosts: tuple[HostSpec, ...]
    """The hosts to open: `-c`, else the file's, else `$LIBVIRT_DEFAULT_URI`, else
    qemu:///system; with `--demo`, the demo fleet's."""
    readonly: bool
    """`--readonly`: every host read-only."""
    refresh: float
    """Seconds between stats samples: `--refresh`, else the file's `refresh`."""
    theme: str | None
    """The file's `theme`; None: Textual's default."""
    demo: bool
    """`--demo`: watch the built-in demo fleet."""
    viewer: str | None = None
    """The file's `viewer`, the graphical console viewer."""
    keys: Mapping[str, str] = field(default_factory=dict)
    """The file's `[keys]`: binding id -> keys, for Textual's keymap."""
    migrate_flags: frozenset[str] | None = None
    """The file's `[migrate] flags`: the migrate dialog's first ticks; None: virsh's."""
    command: tuple[str, ...] = ()
    """A `:` command to run without the screen (`kvmtui start web1 --yes`); empty: the UI."""
    yes: bool = False
    """`--yes`: the command's confirmation answered yes."""
    json: bool = False
    """`--json`: the command's output as JSON."""
    config: Config = field(default_factory=Config, compare=False, repr=False)
    """The file as read: its `theme` and `[keys]` are checked when the UI starts, and a
    mistake found then names its line."""
    history_path: Path | None = None
    """The database the event timeline and audit trail are kept in; None: in memory only
    (`--demo`, `--no-history`, tests)."""


#: Config fields the file does not set, and the one whose key differs from its name.
_NOT_IN_FILE = frozenset({"path", "lines"})
_KEY_OF_FIELD = {"hosts": "host", "migrate_flags": "migrate"}
#: How the reference names a key that is one setting of a table.
_KEY_SHOWN = {"migrate": "[migrate] flags"}


def _file_fields(schema: type[Any]) -> list[tuple[str, Field[Any]]]:
    """The keys a table of the file may hold, each with its field of the dataclass `schema`."""
    return [
        (_KEY_OF_FIELD.get(f.name, f.name), f) for f in fields(schema) if f.name not in _NOT_IN_FILE
    ]


class ConfigError(Exception):
    """A config file that cannot be used; str() is one line: `PATH: line N: what is wrong`."""

    def __init__(
        self, path: Path, message: str, line: int | None = None, column: int | None = None
    ) -> None:
        where = [str(path)]
        if line is not None:
            where.append(f"line {line}" if column is None else f"line {line}, column {column}")
        super().__init__(": ".join([*where, message]))
        self.path = path
        self.line = line


def default_config_path() -> Path:
    """`$XDG_CONFIG_HOME/kvmtui/config.toml` (or the platform's equivalent)."""
    return Path(user_config_dir("kvmtui")) / "config.toml"


def load_config(path: Path | None = None) -> Config:
    """Read and check the config file at `path`, or at the default path when None.

    A missing file at the default path is the normal first run and gives an empty Config;
    a missing file the operator named explicitly is a mistake and raises ConfigError.
    """
    explicit = path is not None
    path = path if path is not None else default_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise ConfigError(path, "no such file") from None
        return Config()
    except UnicodeDecodeError:
        raise ConfigError(path, "not UTF-8 text") from None
    except OSError as error:
        raise ConfigError(path, f"cannot read: {error.strerror or error}") from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> Config:
    """Check the TOML `text` read from `path` and build the Config it describes."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise _syntax_error(path, text, error) from None
    return _Checker(path, _Locator(text)).config(data)


_TOP_KEYS = tuple(key for key, _ in _file_fields(Config))
_HOST_KEYS = tuple(key for key, _ in _file_fields(HostTable))
#: The small tables of plain keys, by their key in the file.
_TABLES: Mapping[str, type[Any]] = {"history": HistoryTable, "alerts": AlertsTable}

_TOML_POSITION_RE = re.compile(
    r"^(?P<msg>.*) \(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$"
)


def _syntax_error(path: Path, text: str, error: tomllib.TOMLDecodeError) -> ConfigError:
    """Turn tomllib's `Message (at line L, column C)` into `PATH: line L, column C: message`."""
    found = _TOML_POSITION_RE.match(str(error))
    if found is None:
        return ConfigError(path, str(error))
    message = found["msg"][:1].lower() + found["msg"][1:]
    if found["line"] is None:
        return ConfigError(path, f"{message} at end of file", len(text.splitlines()) or 1)
    return ConfigError(path, message, int(found["line"]), int(found["col"]))


class _Locator:
    """Finds the line a key was written on: tomllib keeps no positions, so scan the text.

    Best effort by design: it understands `key = ...` lines and `[table]` / `[[host]]`
    headers, which is what a hand-written kvmtui config contains.
    """

    _HEADER_RE = re.compile(r"\s*\[")
    _HOST_HEADER_RE = re.compile(r"""\s*\[\[\s*("?)host\1\s*\]\]""")

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()
        # Found once: every host's keys are located, and scanning for the headers each
        # time made a fleet of hundreds of hosts quadratic to load.
        self._host_headers = [
            n for n, line in enumerate(self._lines) if self._HOST_HEADER_RE.match(line)
        ]

    def top_key(self, key: str) -> int | None:
        """The line of top-level `key = ...`, or of a `[key]` / `[[key]]` table header."""
        assignment = _assignment_re(key)
        header = re.compile(rf"""\s*\[\[?\s*("?){re.escape(key)}\1\s*[\].]""")
        in_top = True
        for number, line in enumerate(self._lines, start=1):
            if header.match(line):
                return number
            in_top = in_top and not self._HEADER_RE.match(line)
            if in_top and assignment.match(line):
                return number
        return None

    def table_key(self, table: str, dotted: str) -> int | None:
        """The line in `[table]` (or a `[table.sub]`) that sets `dotted`, written as
        `"a.b" =`, `a.b =` or `b =` under `[table.a]`; else the table's header line."""
        header = re.compile(rf"""\s*\[\s*("?){re.escape(table)}\1\s*[\].]""")
        whole = re.compile(rf"""\s*(["']?){re.escape(dotted)}\1\s*=""")
        last = _assignment_re(dotted.rpartition(".")[2])
        first_header: int | None = None
        inside = False
        candidates: list[int] = []
        for number, line in enumerate(self._lines, start=1):
            if self._HEADER_RE.match(line):
                inside = bool(header.match(line))
                first_header = first_header or (number if inside else None)
            elif inside and whole.match(line):
                return number
            elif inside and last.match(line):
                candidates.append(number)
        return candidates[0] if candidates else first_header

    def host_key(self, index: int, key: str | None = None) -> int | None:
        """The line of `key` in the `index`-th `[[host]]` table, else of its header."""
        headers = self._host_headers
        if index >= len(headers):
            return self.top_key("host")
        start = headers[index]
        if key is not None:
            assignment = _assignment_re(key)
            for number in range(start + 1, len(self._lines)):
                line = self._lines[number]
                if self._HEADER_RE.match(line):
                    break
                if assignment.match(line):
                    return number + 1
        return start + 1


def _assignment_re(key: str) -> re.Pattern[str]:
    """Matches `key = `, `"key" = ` and `'key' = ` at the start of a line."""
    return re.compile(rf"""\s*(["']?){re.escape(key)}\1\s*=""")


def _type_name(value: object) -> str:
    """TOML's word for the type of `value`, for `must be X, not Y` messages."""
    return next((name for kind, name in _TYPE_NAMES if isinstance(value, kind)), "a value")


def _flatten(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, object]]:
    """`{"guests": {"start": "S"}}` as `("guests.start", "S")`: TOML reads an unquoted
    `guests.start = "S"` as nested tables."""
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


class _Checker:
    """Checks the parsed TOML tree key by key, raising ConfigError at the first mistake."""

    def __init__(self, path: Path, where: _Locator) -> None:
        self._path = path
        self._where = where

    def _fail(self, line: int | None, message: str) -> ConfigError:
        return ConfigError(self._path, message, line)

    def config(self, data: Mapping[str, Any]) -> Config:
        for key in data:
            if key not in _TOP_KEYS:
                message = f"unknown key {quoted(key)}{did_you_mean(key, _TOP_KEYS)}"
                raise self._fail(self._where.top_key(key), message)
        keys = self._keys(data.get("keys", {}))
        lines = {
            f"keys.{binding_id}": self._where.table_key("keys", binding_id) for binding_id in keys
        }
        return Config(
            hosts=self._hosts(data.get("host", [])),
            refresh=self._refresh(data.get("refresh", DEFAULT_REFRESH)),
            theme=self._theme(data.get("theme")),
            viewer=self._viewer(data.get("viewer")),
            path=self._path,
            keys=keys,
            lines={"theme": self._where.top_key("theme"), **lines},
            migrate_flags=self._migrate(data.get("migrate")),
            backup_pool=self._text("backup_pool", data.get("backup_pool", "default")),
            backup_per_host=int(
                self._number("backup_per_host", data.get("backup_per_host", 2), 1, 64)
            ),
            disk_threshold=int(
                self._number("disk_threshold", data.get("disk_threshold", 85), 0, 99)
            ),
            backup_max_age=self._number(
                "backup_max_age", data.get("backup_max_age", 26.0), 0.01, 24 * 366
            ),
            history=self._plain_table("history", data.get("history")),
            alerts=self._plain_table("alerts", data.get("alerts")),
        )

    def _number(self, key: str, value: object, low: float, high: float) -> float:
        """A number from `low` to `high`; an integer when `low` is one."""
        line = self._where.top_key(key)
        whole = isinstance(low, int)
        kind = int if whole else int | float
        if isinstance(value, bool) or not isinstance(value, kind):
            want = "an integer" if whole else "a number"
            raise self._fail(line, f'"{key}" must be {want}, not {_type_name(value)}')
        if not low <= value <= high:
            raise self._fail(line, f'"{key}" must be {low:g} to {high:g}, got {value}')
        return float(value)

    def _text(self, key: str, value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self._fail(self._where.top_key(key), f'"{key}" must be a non-empty string')
        return value

    def _plain_table(self, name: str, table: object) -> Any:
        """`[history]` or `[alerts]`: each key one of its schema's fields, a positive
        number, a string, or (`rules`) an array of known words."""
        schema = _TABLES[name]
        if table is None:
            return schema()
        if not isinstance(table, dict):
            raise self._fail(self._where.top_key(name), f'"{name}" must be a table')
        hints = get_type_hints(schema)
        values: dict[str, object] = {}
        for key, value in table.items():
            line = self._where.table_key(name, key)
            if key not in hints:
                hint = did_you_mean(key, hints)
                raise self._fail(line, f"[{name}]: unknown key {quoted(key)}{hint}")
            kind = _toml_type(hints[key])
            if kind == "number":
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise self._fail(line, f'[{name}]: "{key}" must be a number above 0')
                values[key] = float(value)
            elif kind == "string":
                if not isinstance(value, str) or not value.strip():
                    raise self._fail(line, f'[{name}]: "{key}" must be a string')
                values[key] = value
            else:  # the alert rules
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise self._fail(line, f'[{name}]: "{key}" must be an array of strings')
                for each in value:
                    if each not in ALERT_RULES:
                        hint = did_you_mean(each, ALERT_RULES)
                        raise self._fail(line, f"[{name}]: unknown rule {quoted(each)}{hint}")
                values[key] = frozenset(value)
        return schema(**values)

    def _refresh(self, value: object) -> float:
        line = self._where.top_key("refresh")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._fail(line, f'"refresh" must be a number, not {_type_name(value)}')
        if not 0 < value <= MAX_REFRESH:
            limits = f"more than 0 and at most {MAX_REFRESH:g} seconds"
            raise self._fail(line, f'"refresh" must be {limits}, got {value}')
        return float(value)

    def _theme(self, value: object) -> str | None:
        if value is None:
            return None
        line = self._where.top_key("theme")
        if not isinstance(value, str):
            raise self._fail(line, f'"theme" must be a string, not {_type_name(value)}')
        if not value.strip():
            raise self._fail(line, '"theme" must not be empty')
        return value  # a theme of that name is the UI's to check: the module doc

    def _viewer(self, value: object) -> str | None:
        """A command line whose braces name only what kvmtui fills in."""
        if value is None:
            return None
        line = self._where.top_key("viewer")
        if not isinstance(value, str):
            raise self._fail(line, f'"viewer" must be a string, not {_type_name(value)}')
        try:
            words = shlex.split(value)
        except ValueError as error:
            raise self._fail(line, f'"viewer": {error}') from None
        if not words:
            raise self._fail(line, '"viewer" must not be empty')
        for name in sorted({f for w in words for f in re.findall(r"{([^{}]*)}", w)}):
            if name not in _VIEWER_FIELDS:
                known = ", ".join(f"{{{f}}}" for f in sorted(_VIEWER_FIELDS))
                raise self._fail(line, f'"viewer": unknown {{{name}}} (known: {known})')
        return value

    def _migrate(self, table: object) -> frozenset[str] | None:
        """`[migrate] flags`: a list of virsh migrate's flag words."""
        if table is None:
            return None
        if not isinstance(table, dict):
            raise self._fail(self._where.top_key("migrate"), '"migrate" must be a table')
        for key in table:
            if key not in _MIGRATE_KEYS:
                hint = did_you_mean(key, _MIGRATE_KEYS)
                raise self._fail(
                    self._where.table_key("migrate", key),
                    f"[migrate]: unknown key {quoted(key)}{hint}",
                )
        if "flags" not in table:
            return None
        from kvmtui.core.migration import FLAG_WORDS  # loads libvirt: only when asked

        line = self._where.table_key("migrate", "flags")
        flags = table["flags"]
        if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
            raise self._fail(line, '[migrate]: "flags" must be an array of strings')
        for word in flags:
            if word not in FLAG_WORDS:
                hint = did_you_mean(word, sorted(FLAG_WORDS))
                raise self._fail(line, f"[migrate]: unknown flag {quoted(word)}{hint}")
        return frozenset(flags)

    def _keys(self, table: object) -> dict[str, str]:
        """`[keys]` flattened to `{"guests.start": "S"}`, every value a string. The ids and
        the keys themselves are the UI's to check: the module doc."""
        if not isinstance(table, dict):
            raise self._fail(self._where.top_key("keys"), '"keys" must be a table')
        keymap: dict[str, str] = {}
        for binding_id, keys in _flatten(table):
            if not isinstance(keys, str):
                message = f"[keys]: {quoted(binding_id)} must be a string, not {_type_name(keys)}"
                raise self._fail(self._where.table_key("keys", binding_id), message)
            keymap[binding_id] = keys
        return keymap

    def _hosts(self, tables: object) -> tuple[HostSpec, ...]:
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise self._fail(self._where.top_key("host"), '"host" must be [[host]] tables')
        hosts: list[HostSpec] = []
        first_line: dict[str, int | None] = {}
        for index, table in enumerate(tables):
            host = self._host(index, table)
            line = self._where.host_key(index, "name")
            if host.name in first_line:
                given = "name" if "name" in table else "name (taken from its URI)"
                message = f"host {given} {quoted(host.name)} is already used at line"
                raise self._fail(line, f"{message} {first_line[host.name]}")
            first_line[host.name] = line
            hosts.append(host)
        return tuple(hosts)

    def _host(self, index: int, table: Mapping[str, Any]) -> HostSpec:
        name = table.get("name")
        label = f"host {quoted(name)}" if isinstance(name, str) else f"host #{index + 1}"
        for key in table:
            if key not in _HOST_KEYS:
                hint = did_you_mean(key, _HOST_KEYS)
                message = f"{label} has an unknown key {quoted(key)}{hint}"
                raise self._fail(self._where.host_key(index, key), message)
        host = HostTable(
            uri=self._host_uri(index, table, label),
            name=self._host_name(index, name, label) if "name" in table else None,
            readonly=self._host_readonly(index, table.get("readonly", HostTable.readonly), label),
        )
        return HostSpec(host.name or default_host_name(host.uri), host.uri, host.readonly)

    def _host_uri(self, index: int, table: Mapping[str, Any], label: str) -> str:
        line = self._where.host_key(index, "uri")
        if "uri" not in table:
            raise self._fail(line, f'{label} has no "uri"')
        uri = table["uri"]
        if not isinstance(uri, str):
            raise self._fail(line, f'{label}: "uri" must be a string, not {_type_name(uri)}')
        reason = validate_uri(uri)
        if reason is not None:
            raise self._fail(line, f"{label}: bad URI {quoted(uri)}: {reason}")
        return uri

    def _host_name(self, index: int, name: object, label: str) -> str:
        line = self._where.host_key(index, "name")
        if not isinstance(name, str):
            raise self._fail(line, f'{label}: "name" must be a string, not {_type_name(name)}')
        if not HOST_NAME_RE.fullmatch(name):
            message = f'{label}: "name" may only hold letters, digits, "_", "." and "-"'
            raise self._fail(line, message)
        return name

    def _host_readonly(self, index: int, value: object, label: str) -> bool:
        if not isinstance(value, bool):
            line = self._where.host_key(index, "readonly")
            wrong = _type_name(value)
            raise self._fail(line, f'{label}: "readonly" must be true or false, not {wrong}')
        return value


# ---- the reference of the file's keys (README: "The config file") ----------------------


def reference() -> str:
    """The README's table of the file's keys, from `Config` and `HostTable`: each key's
    name, TOML type, default and docstring, so the docs cannot drift from the code
    (tests/test_config.py compares; `python -m kvmtui.config` prints it)."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    tables = ((Config, ""), (HostTable, "[[host]] "))
    tables += tuple((schema, f"[{key}] ") for key, schema in _TABLES.items())
    for schema, prefix in tables:
        hints, docs = get_type_hints(schema), _field_docs(schema)
        for key, each in _file_fields(schema):
            kind = _toml_type(hints[each.name])
            name = _KEY_SHOWN.get(key) or {"tables": f"[[{key}]]", "table": f"[{key}]"}.get(
                kind, f"{prefix}{key}"
            )
            rows.append(f"| `{name}` | {kind} | {_default(each)} | {docs[each.name]} |")
    return "\n".join(rows)


def _field_docs(schema: type[Any]) -> dict[str, str]:
    """The docstring under each field of the dataclass `schema`, on one line. Python keeps
    such attribute docstrings only in the source, so they are read from there."""
    (tree,) = ast.parse(inspect.getsource(schema)).body
    assert isinstance(tree, ast.ClassDef)
    docs: dict[str, str] = {}
    for node, after in zip(tree.body, tree.body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _toml_type(hint: Any) -> str:
    """How the file writes a value of the Python type `hint`."""
    if get_origin(hint) is tuple:
        return "tables"
    if is_dataclass(hint):
        return "table"
    if get_origin(hint) is frozenset:
        return "array"
    if get_origin(hint) is Mapping:
        return "table"
    present = [arg for arg in get_args(hint) if arg is not NoneType]
    if present:  # X | None: an X that may be left out
        return _toml_type(present[0])
    return {bool: "boolean", int: "integer", float: "number", str: "string"}[hint]


def _default(each: Field[Any]) -> str:
    """What a key left out means, as the table shows it."""
    if each.default is not MISSING:
        value = each.default
    elif callable(each.default_factory):
        value = each.default_factory()
    else:
        return "required"
    if value is None or value in ((), {}):
        return "unset"
    if is_dataclass(value):
        return "see below"
    if isinstance(value, frozenset):
        return "`[" + ", ".join(f'"{v}"' for v in sorted(value)) + "]`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


if __name__ == "__main__":
    print(reference())
