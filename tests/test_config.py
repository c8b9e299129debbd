"""The config file: what a good file yields, and that every mistake names file, line and key."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import fields
from pathlib import Path

import pytest

from kvmtui.cli import check_ui_config
from kvmtui.config import (
    Config,
    ConfigError,
    HostTable,
    Settings,
    _field_docs,
    default_config_path,
    load_config,
    reference,
)
from kvmtui.core.alerts import AlertRules
from kvmtui.core.model import HostSpec

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> str:
    """The error kvmtui stops with: reading the file, or the UI's checks of it as it starts."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        check_ui_config(load_config(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message
    return message


def test_good_file_gives_hosts_refresh_and_theme(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        refresh = 5
        theme = "nord"

        [[host]]
        name = "web"
        uri = "qemu+ssh://root@web3/system?keyfile=/root/.ssh/id"

        [[host]]
        uri = "qemu+tcp://10.0.0.1/system"
        readonly = true

        [[host]]
        uri = "test:///tmp/fleet/lab-a.xml"

        [[host]]
        uri = "ssh://admin@db1:2222"
        """,
    )
    config = load_config(path)
    assert config == Config(
        hosts=(
            HostSpec("web", "qemu+ssh://root@web3/system?keyfile=/root/.ssh/id"),
            HostSpec("10.0.0.1", "qemu+tcp://10.0.0.1/system", readonly=True),
            HostSpec("lab-a", "test:///tmp/fleet/lab-a.xml"),
            HostSpec("db1", "ssh://admin@db1:2222"),
        ),
        refresh=5.0,
        theme="nord",
        path=path,
    )
    assert isinstance(config.refresh, float)


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    assert load_config(path) == Config(hosts=(), refresh=2.0, theme=None, path=path)


def test_missing_default_file_is_an_empty_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_config_path() == tmp_path / "kvmtui" / "config.toml"
    assert load_config() == Config()


def test_default_path_is_read_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    default_config_path().parent.mkdir()
    default_config_path().write_text('theme = "dracula"\n', encoding="utf-8")
    assert load_config().theme == "dracula"


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="no such file") as caught:
        load_config(path)
    assert str(caught.value).startswith(str(path))


# A message that must end where the mistake is told: nothing may trail after it.
@pytest.mark.parametrize(
    ("text", "ending"),
    [
        pytest.param(
            """
            theme = "nord"
            refesh = 3
            """,
            ': line 2: unknown key "refesh" (did you mean "refresh"?)',
            id="unknown-top-level-key-suggests-the-right-one",
        ),
        pytest.param(
            """
            [[host]]
            name = "a"
            uri = "qemu:///system"

            [[host]]
            name = "web"
            ur = "qemu+ssh://web/system"
            """,
            ': line 7: host "web" has an unknown key "ur" (did you mean "uri"?)',
            id="unknown-host-key-names-the-host-and-its-line",
        ),
        pytest.param(
            """
            refresh = 1

            [[host]]
            name = "web"
            readonly = true
            """,
            ': line 3: host "web" has no "uri"',
            id="missing-uri-points-at-the-host-table",
        ),
        pytest.param(
            """
            [[host]]
            name = "a"
            uri = "qemu:///system"

            [[host]]
            name = "b"

            uri = "qemu+foo://x/system"
            """,
            ': line 8: host "b": bad URI "qemu+foo://x/system": unknown transport "foo"',
            id="bad-uri-gives-the-reason",
        ),
        pytest.param(
            """
            [[host]]
            name = "web"
            uri = "qemu+ssh://a/system"

            [[host]]
            name = "web"
            uri = "qemu+ssh://b/system"
            """,
            ': line 6: host name "web" is already used at line 2',
            id="duplicate-names-point-at-both-hosts",
        ),
    ],
)
def test_error_ends_with_the_line_and_the_mistake(tmp_path: Path, text: str, ending: str) -> None:
    assert error_for(tmp_path, text).endswith(ending)


# A message that must name the line and the mistake, wherever in it that stands.
@pytest.mark.parametrize(
    ("text", "part"),
    [
        pytest.param(
            """
            refresh = 2

            [[host]]
            uri = qemu:///system
            """,
            ": line 4, column 7: invalid value",
            id="toml-syntax-error-gives-line-and-column",
        ),
        pytest.param(
            """
            refresh = 3

            [[hosts]]
            uri = "qemu:///system"
            """,
            ': line 3: unknown key "hosts" (did you mean "host"?)',
            id="unknown-top-level-table-names-its-header-line",
        ),
        pytest.param(
            """
            [[host]]
            uri = "qemu:///system"
            [[host]]
            uri = "nonsense"
            """,
            ': line 4: host #2: bad URI "nonsense": no scheme',
            id="unnamed-host-is-called-by-its-position",
        ),
        pytest.param(
            """
            [[host]]
            uri = "qemu:///system"
            [[host]]
            uri = "qemu:///session"
            """,
            ': line 3: host name (taken from its URI) "localhost" is already used at line 1',
            id="duplicate-default-names-say-the-name-came-from-the-uri",
        ),
    ],
)
def test_error_names_the_line_and_the_mistake(tmp_path: Path, text: str, part: str) -> None:
    assert part in error_for(tmp_path, text)


@pytest.mark.parametrize(
    ("body", "line", "expected"),
    [
        ('refresh = "fast"', 1, '"refresh" must be a number, not a string'),
        ("refresh = true", 1, '"refresh" must be a number, not a boolean'),
        ("theme = 3", 1, '"theme" must be a string, not an integer'),
        ('theme = ""', 1, '"theme" must not be empty'),
        ('theme = "nrod"', 1, 'unknown theme "nrod" (did you mean "nord"'),
        ('theme = "[reverse]"', 1, 'unknown theme "[reverse]"'),
        ('host = "qemu:///system"', 1, '"host" must be [[host]] tables'),
        ("[[host]]\nuri = 5", 2, 'host #1: "uri" must be a string, not an integer'),
        ('[[host]]\nname = 7\nuri = "qemu:///system"', 2, 'host #1: "name" must be a string'),
        ('[[host]]\nname = "a b"\nuri = "qemu:///system"', 2, 'host "a b": "name" may only'),
        (
            '[[host]]\nname = "a"\nuri = "qemu:///system"\nreadonly = "yes"',
            4,
            'host "a": "readonly" must be true or false, not a string',
        ),
    ],
)
def test_wrong_types_name_the_key_and_the_expected_type(
    tmp_path: Path, body: str, line: int, expected: str
) -> None:
    message = error_for(tmp_path, body + "\n")
    assert f": line {line}: {expected}" in message


@pytest.mark.parametrize("value", ["0", "-1", "3601", "nan", "inf"])
def test_refresh_out_of_range(tmp_path: Path, value: str) -> None:
    message = error_for(tmp_path, f'theme = "nord"\nrefresh = {value}\n')
    assert ': line 2: "refresh" must be more than 0 and at most 3600 seconds' in message


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'theme = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(path)


def test_keys_table_maps_binding_ids_dotted_or_quoted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [keys]
        "guests.start" = "S"
        guests.destroy = "ctrl+x"

        [keys.app]
        help = "f1,question_mark"
        """,
    )
    assert load_config(path).keys == {
        "guests.start": "S",
        "guests.destroy": "ctrl+x",
        "app.help": "f1,question_mark",
    }


def test_keys_of_screens_opened_later_are_known(tmp_path: Path) -> None:
    """The console and the hosts' CPU map are imported when first opened, after the config
    is read; their keys can be remapped all the same."""
    path = write(tmp_path, '[keys]\n"console.reattach" = "R"\n"cpumap.pin" = "P"\n')
    assert load_config(path).keys == {"console.reattach": "R", "cpumap.pin": "P"}


@pytest.mark.parametrize(
    ("text", "ending"),
    [
        (
            '[keys]\n"guests.strat" = "S"\n',
            'line 2: [keys]: unknown binding id "guests.strat" (did you mean "guests.start"?)',
        ),
        (
            "refresh = 1\n[keys]\nguests.start = 5\n",
            'line 3: [keys]: "guests.start" must be a string, not an integer',
        ),
        ('[keys]\n"app.help" = "f1,"\n', 'line 2: [keys]: "app.help": empty key in "f1,"'),
        (
            '[keys]\n"app.help" = "cmd+h"\n',
            'line 2: [keys]: "app.help": unknown modifier "cmd" in "cmd+h"',
        ),
        (
            '[keys]\n"app.help" = "ctrl+escpe"\n',
            'line 2: [keys]: "app.help": unknown key "escpe" (did you mean "escape"?)',
        ),
        ('keys = "S"\n', 'line 1: "keys" must be a table'),
        (
            '[keys]\n"guests.start" = "h"\n',
            'line 2: [keys]: "guests.start": "h" is also the key of "guests.shutdown" (Shut down);'
            " give that one another key",
        ),
        (
            '[keys]\n"app.quit" = "x"\n',
            'line 2: [keys]: "app.quit": "x" is also the key of "detail.xml" (XML);'
            " give that one another key",
        ),
    ],
)
def test_bad_keys_name_the_line_the_id_and_the_mistake(
    tmp_path: Path, text: str, ending: str
) -> None:
    assert error_for(tmp_path, text).endswith(ending)


def test_keys_may_be_swapped(tmp_path: Path) -> None:
    path = write(tmp_path, '[keys]\n"guests.start" = "h"\n"guests.shutdown" = "s"\n')
    assert load_config(path).keys == {"guests.start": "h", "guests.shutdown": "s"}


def test_reading_a_file_with_a_theme_and_keys_loads_no_textual(tmp_path: Path) -> None:
    """The file is read before any UI exists, and a one-shot command (`kvmtui list`) never
    starts one: the theme and `[keys]` are checked as the UI starts, not here."""
    path = write(tmp_path, 'theme = "nord"\n[keys]\n"guests.start" = "S"\n')
    code = (
        "import sys; from pathlib import Path; from kvmtui.config import load_config; "
        f"config = load_config(Path({str(path)!r})); "
        "print(config.keys, 'textual' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert result.stdout.split() == ["{'guests.start':", "'S'}", "False"], result.stderr


def test_the_readme_lists_every_key_as_the_schema_defines_it() -> None:
    """The README's table of keys is `reference()`: name, type, default and meaning come
    from the dataclasses the file is checked against, so neither can drift from the other."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- config-keys -->\n")[1].split("<!-- /config-keys -->")[0]
    assert table.rstrip("\n") == reference(), "run `python -m kvmtui.config` for the table"
    assert "| `[[host]] uri` | string | required |" in table


@pytest.mark.parametrize("schema", [Config, HostTable, Settings])
def test_every_setting_says_what_it_means(schema: type) -> None:
    assert set(_field_docs(schema)) == {each.name for each in fields(schema)}


def test_migrate_flags_are_the_dialogs_first_ticks(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")).migrate_flags is None  # virsh's: none
    path = write(tmp_path, '[migrate]\nflags = ["live", "persistent"]\n')
    assert load_config(path).migrate_flags == {"live", "persistent"}
    assert load_config(write(tmp_path, "[migrate]\nflags = []\n")).migrate_flags == set()


@pytest.mark.parametrize(
    ("text", "ending"),
    [
        (
            '[migrate]\nflags = ["lvie"]\n',
            'line 2: [migrate]: unknown flag "lvie" (did you mean "live"?)',
        ),
        ('[migrate]\nflags = "live"\n', 'line 2: [migrate]: "flags" must be an array of strings'),
        (
            '[migrate]\nflag = ["live"]\n',
            'line 2: [migrate]: unknown key "flag" (did you mean "flags"?)',
        ),
        ("migrate = 1\n", 'line 1: "migrate" must be a table'),
    ],
)
def test_bad_migrate_flags_name_the_line_and_the_mistake(
    tmp_path: Path, text: str, ending: str
) -> None:
    assert error_for(tmp_path, text).endswith(ending)


def test_history_and_alerts_tables_set_retention_and_rules(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.alerts.alert_rules().rules == {
        "crashed", "io-error", "watchdog", "block-threshold", "host-lost", "backup-stale"
    }  # fmt: skip
    path = write(
        tmp_path,
        '[history]\nmax_size_mb = 1\n[alerts]\nrules = ["crashed"]\nhost_lost_after = 5\n',
    )
    config = load_config(path)
    assert config.history.retention().max_bytes == 1024 * 1024
    assert config.alerts.alert_rules() == AlertRules(frozenset({"crashed"}), 5.0)


@pytest.mark.parametrize(
    ("text", "ending"),
    [
        ("[history]\nmax_age = 3\n", 'line 2: [history]: unknown key "max_age"'),
        (
            "[history]\nmax_size_mb = 0\n",
            'line 2: [history]: "max_size_mb" must be a number above 0',
        ),
        (
            '[alerts]\nrules = ["crash"]\n',
            'line 2: [alerts]: unknown rule "crash" (did you mean "crashed"?)',
        ),
        ("history = 1\n", 'line 1: "history" must be a table'),
    ],
)
def test_bad_history_and_alerts_keys_name_the_line(tmp_path: Path, text: str, ending: str) -> None:
    assert ending in error_for(tmp_path, text)
