"""The TOML config file: which hosts to watch, how often, in which theme.

Every mistake in the file is reported as one line naming the file, the line and the key,
because the operator reads it on a jump box terminal and fixes it with `vi +LINE`.

    refresh = 2.0            # seconds between stats samples, 0 < refresh <= 3600
    theme = "nord"           # a Textual theme name, checked when the file is read

    [[host]]
    name = "web"             # optional: defaults to the URI's host name
    uri = "qemu+ssh://root@web/system"
    readonly = true          # optional: never offer to change anything on this host
"""

from __future__ import annotations

import datetime
import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir

from kvmtui.core.model import HostSpec
from kvmtui.core.uri import default_host_name, quoted, validate_uri

#: Seconds between stats samples when neither the file nor `--refresh` says otherwise.
DEFAULT_REFRESH = 2.0
#: The longest refresh accepted: beyond an hour the screen is no longer a monitor.
MAX_REFRESH = 3600.0

#: What a host may be called in the file, on the command line and after `@` in `:` commands.
HOST_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")

_TOP_KEYS = ("refresh", "theme", "host")
_HOST_KEYS = ("name", "uri", "readonly")

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
    refresh: float = DEFAULT_REFRESH
    theme: str | None = None
    path: Path | None = None


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


def _theme_names() -> list[str]:
    """Textual's built-in themes, the ones the app can switch to. Imported here, only when
    a file names a theme: the app imports Textual right after anyway, and checking now turns
    a typo into the one-line error with exit status 2 instead of a traceback at start-up."""
    from textual.theme import BUILTIN_THEMES

    return sorted(BUILTIN_THEMES)


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

    def host_key(self, index: int, key: str | None = None) -> int | None:
        """The line of `key` in the `index`-th `[[host]]` table, else of its header."""
        headers = [n for n, line in enumerate(self._lines) if self._HOST_HEADER_RE.match(line)]
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


def _did_you_mean(word: str, choices: tuple[str, ...]) -> str:
    """` (did you mean "x"?)` for a near miss, else nothing."""
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {quoted(close[0])}?)" if close else ""


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
                message = f"unknown key {quoted(key)}{_did_you_mean(key, _TOP_KEYS)}"
                raise self._fail(self._where.top_key(key), message)
        return Config(
            hosts=self._hosts(data.get("host", [])),
            refresh=self._refresh(data.get("refresh", DEFAULT_REFRESH)),
            theme=self._theme(data.get("theme")),
            path=self._path,
        )

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
        themes = _theme_names()
        if value not in themes:
            close = difflib.get_close_matches(value, themes, n=3)
            hint = f" (did you mean {', '.join(quoted(t) for t in close)}?)" if close else ""
            raise self._fail(line, f"unknown theme {quoted(value)}{hint}")
        return value

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
                hint = _did_you_mean(key, _HOST_KEYS)
                message = f"{label} has an unknown key {quoted(key)}{hint}"
                raise self._fail(self._where.host_key(index, key), message)
        uri = self._host_uri(index, table, label)
        return HostSpec(
            name=self._host_name(index, name, label) if "name" in table else default_host_name(uri),
            uri=uri,
            readonly=self._host_readonly(index, table.get("readonly", False), label),
        )

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
