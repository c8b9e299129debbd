"""The command line: which hosts are watched, and how bad input is reported."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from kvmtui.cli import UsageError, main, open_files_for, parse_settings
from kvmtui.config import Settings
from kvmtui.core.model import HostSpec
from kvmtui.core.store import default_path

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the default config path into tmp_path, so the tester's own file never leaks in."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "kvmtui" / "config.toml"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(
        textwrap.dedent(
            """
            refresh = 7
            theme = "gruvbox"
            [[host]]
            name = "alpha"
            uri = "qemu+ssh://root@alpha/system"
            readonly = true
            [[host]]
            uri = "qemu+ssh://root@beta/system"
            """
        ),
        encoding="utf-8",
    )
    return path


def hosts(argv: list[str], environ: dict[str, str] | None = None) -> tuple[HostSpec, ...]:
    return parse_settings(argv, environ or {}).hosts


def test_no_hosts_anywhere_means_local_system() -> None:
    assert parse_settings([], {}) == Settings(
        hosts=(HostSpec("localhost", "qemu:///system"),),
        readonly=False,
        refresh=2.0,
        theme=None,
        demo=False,
        history_path=default_path(),
    )


def test_history_is_kept_in_the_state_dir_unless_asked_or_the_demo(tmp_path: Path) -> None:
    """The event timeline and audit trail: the XDG state dir's database, the file's own,
    or none at all (in memory: --no-history, and the demo's play fleet)."""
    assert parse_settings([], {}).history_path == default_path()
    assert parse_settings(["--no-history"], {}).history_path is None
    assert parse_settings(["--demo"], {}).history_path is None
    config = tmp_path / "config.toml"
    config.write_text('[history]\ndatabase = "~/kept.db"\nmax_age_days = 7\n')
    settings = parse_settings(["--config", str(config)], {})
    assert settings.history_path == Path("~/kept.db").expanduser()
    assert settings.config.history.retention().max_age == 7 * 86400


def test_libvirt_default_uri_beats_the_fallback() -> None:
    environ = {"LIBVIRT_DEFAULT_URI": "qemu+tcp://10.0.0.1/system"}
    assert hosts([], environ) == (HostSpec("10.0.0.1", "qemu+tcp://10.0.0.1/system"),)


def test_config_hosts_beat_libvirt_default_uri(config_file: Path) -> None:
    environ = {"LIBVIRT_DEFAULT_URI": "qemu+tcp://10.0.0.1/system"}
    assert hosts(["--config", str(config_file)], environ) == (
        HostSpec("alpha", "qemu+ssh://root@alpha/system", readonly=True),
        HostSpec("beta", "qemu+ssh://root@beta/system"),
    )


def test_default_config_file_is_read(config_file: Path, no_user_config: Path) -> None:
    no_user_config.parent.mkdir(parents=True)
    config_file.rename(no_user_config)
    settings = parse_settings([], {})
    assert [host.name for host in settings.hosts] == ["alpha", "beta"]
    assert (settings.refresh, settings.theme) == (7.0, "gruvbox")


def test_connect_beats_config(config_file: Path) -> None:
    environ = {"LIBVIRT_DEFAULT_URI": "qemu+tcp://10.0.0.1/system"}
    settings = parse_settings(["--config", str(config_file), "-c", "test:///default"], environ)
    assert settings.hosts == (HostSpec("test", "test:///default"),)
    assert (settings.refresh, settings.theme) == (7.0, "gruvbox")


def test_repeated_connect_keeps_order_and_names() -> None:
    assert hosts(
        [
            "-c",
            "web=qemu+ssh://root@10.1.1.1/system",
            "--connect",
            "qemu+ssh://root@db3/system?keyfile=/k",
            "-c",
            "ssh://admin@edge:2222",
        ]
    ) == (
        HostSpec("web", "qemu+ssh://root@10.1.1.1/system"),
        HostSpec("db3", "qemu+ssh://root@db3/system?keyfile=/k"),
        HostSpec("edge", "ssh://admin@edge:2222"),
    )


def test_equals_inside_a_uri_is_not_a_name() -> None:
    uri = "qemu+ssh://h/system?keyfile=/root/k"
    assert hosts(["-c", uri]) == (HostSpec("h", uri),)


@pytest.mark.parametrize(
    "argv",
    [
        ["-c", "a=test:///default", "-c", "a=test:///default"],
        ["-c", "qemu:///system", "-c", "qemu:///session"],  # both "localhost"
    ],
)
def test_duplicate_host_names_are_refused_in_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`NAME@HOST` must mean one host: no name kvmtui made up (`a-2`)."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert err.startswith("kvmtui: -c: two hosts named ")
    assert err.endswith("give each its own name, -c NAME=URI\n")


def test_readonly_makes_every_host_readonly(config_file: Path) -> None:
    settings = parse_settings(["--config", str(config_file), "--readonly"], {})
    assert settings.readonly
    assert all(host.readonly for host in settings.hosts)


def test_host_readonly_in_config_survives_without_the_flag(config_file: Path) -> None:
    settings = parse_settings(["--config", str(config_file)], {})
    assert not settings.readonly
    assert [host.readonly for host in settings.hosts] == [True, False]


def test_refresh_overrides_config(config_file: Path) -> None:
    settings = parse_settings(["--config", str(config_file), "--refresh", "0.5"], {})
    assert settings.refresh == 0.5


def test_demo_ignores_config_hosts(config_file: Path) -> None:
    settings = parse_settings(["--demo", "--config", str(config_file), "--readonly"], {})
    assert settings.demo
    assert settings.hosts == ()
    assert settings.readonly
    assert settings.refresh == 7.0


def test_demo_with_connect_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """A demo fleet and a live host in one table: a slip of the key would be real."""
    assert main(["--demo", "-c", "qemu:///system", "list"]) == 2
    assert capsys.readouterr().err == (
        "kvmtui: --demo watches the built-in demo fleet only: leave out -c, "
        "or leave out --demo to watch those hosts\n"
    )


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        (["-c", "bogus"], {}, '-c: bad URI "bogus": no scheme'),
        (["-c", "web=qemu+foo://x/system"], {}, 'unknown transport "foo"'),
        ([], {"LIBVIRT_DEFAULT_URI": "xen+nope://h/"}, 'LIBVIRT_DEFAULT_URI: bad URI "xen+nope'),
        (["--refresh", "0"], {}, "argument --refresh: must be more than 0"),
        (["--refresh", "soon"], {}, "argument --refresh: must be more than 0 and at most 3600"),
        (["--frobnicate"], {}, "unrecognized arguments: --frobnicate"),
        (["--config", "/nonexistent/kvmtui.toml"], {}, "/nonexistent/kvmtui.toml: no such file"),
    ],
)
def test_bad_input_raises_usage_error(
    argv: list[str], environ: dict[str, str], expected: str
) -> None:
    with pytest.raises(UsageError) as caught:
        parse_settings(argv, environ)
    assert expected in str(caught.value)


def test_main_prints_one_line_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", "qemu+ssh://root@h:99999/system"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        'kvmtui: -c: bad URI "qemu+ssh://root@h:99999/system": bad port "99999"'
    ]


def test_main_reports_config_errors_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.toml"
    path.write_text('refresh = 1\n[[host]]\nname = "x"\nur = "qemu:///system"\n', "utf-8")
    assert main(["--config", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f'kvmtui: {path}: line 4: host "x" has an unknown key "ur" (did you mean "uri"?)'
    ]


def test_main_rejects_bad_refresh(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--refresh", "-3"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        'kvmtui: argument --refresh: must be more than 0 and at most 3600 seconds, got "-3"'
    ]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == "kvmtui 0.1.0\n"


def test_main_runs_the_app_with_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """main hands the resolved Settings to KvmTuiApp; a stand-in app records them."""
    seen: list[Settings] = []

    class FakeApp:
        return_code = None

        def __init__(self, settings: Settings) -> None:
            seen.append(settings)

        def run(self) -> None:
            pass

    fake_module = types.ModuleType("kvmtui.app")
    fake_module.KvmTuiApp = FakeApp  # type: ignore[attr-defined]  # a bare module object
    monkeypatch.setitem(sys.modules, "kvmtui.app", fake_module)
    assert main(["-c", "test:///default", "--refresh", "3"]) == 0
    assert seen == [
        Settings(
            hosts=(HostSpec("test", "test:///default"),),
            readonly=False,
            refresh=3.0,
            theme=None,
            demo=False,
            history_path=default_path(),
        )
    ]


def test_python_dash_m_reports_a_bad_uri_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kvmtui", "-c", "bogus"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        'kvmtui: -c: bad URI "bogus": no scheme (expected e.g. qemu:///system or '
        "qemu+ssh://host/system)"
    ]


def test_cli_and_config_do_not_import_textual() -> None:
    """Argument errors must print at once, without loading the UI toolkit."""
    code = "import sys, kvmtui.cli, kvmtui.core.commands; print('textual' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        ("qemu:///system", "localhost"),
        ("qemu:///session", "localhost"),
        ("test:///default", "test"),
        ("test:///abs/path/lab-b.xml", "lab-b"),
        ("qemu+ssh://root@web3/system?keyfile=/x", "web3"),
        ("qemu+tcp://10.0.0.1/system", "10.0.0.1"),
        ("qemu+tls://h.example.com:16514/system", "h.example.com"),
        ("qemu+libssh2://u@h/system?known_hosts_verify=ignore", "h"),
        ("qemu+unix:///system?socket=/run/libvirt/libvirt-sock", "localhost"),
        ("lxc:///", "localhost"),
        ("xen+ssh://root@dom0/", "dom0"),
        ("esx://vsphere1/?no_verify=1", "vsphere1"),
        ("ssh://alias", "alias"),
        ("ssh://root@h:2222", "h"),
        ("ssh://root@h/session", "h"),
        ("qemu+ssh://root@[fd00::1]:22/system", "fd00::1"),
    ],
)
def test_connect_accepts_libvirt_and_ssh_uris(uri: str, name: str) -> None:
    assert hosts(["-c", uri]) == (HostSpec(name, uri),)


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("", "empty URI"),
        ("foo bar", "a URI cannot contain spaces"),
        ("localhost", "no scheme"),
        ("qemu:/system", "no scheme"),
        ("kvm:///system", 'unknown driver "kvm"'),
        ("qemu+foo://x/system", 'unknown transport "foo"'),
        ("qemu://", "no path (expected e.g. qemu:///system)"),
        ("qemu+ssh://h", "no path"),
        ("qemu:///", "no instance path"),
        ("qemu+ssh://h:0/system", 'bad port "0"'),
        ("qemu+ssh://h:ssh/system", 'bad port "ssh"'),
        ("qemu+ssh://h:70000/system", 'bad port "70000"'),
        ("qemu+ssh://@h/system", "empty user name"),
        ("qemu+ssh://h!/system", 'bad host name "h!"'),
        ("qemu+ssh://[fd00::1/system", "bad IPv6 address"),
        ("ssh://", "ssh:// needs a host"),
        ("ssh:///system", "ssh:// needs a host"),
    ],
)
def test_connect_rejects_bad_uris_with_the_reason(uri: str, reason: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_settings(["-c", uri], {})
    assert str(caught.value).startswith(f"-c: bad URI {json.dumps(uri)}: {reason}")


def test_main_rejects_an_unknown_binding_id_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[keys]\n"guests.start" = "S"\n"hosts.reconect" = "n"\n', "utf-8")
    assert main(["--demo", "--config", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f'kvmtui: {path}: line 3: [keys]: unknown binding id "hosts.reconect"'
        ' (did you mean "hosts.reconnect"?)'
    ]


def test_main_passes_the_keys_to_the_app(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[keys]\n"app.help" = "f1"\n', "utf-8")
    assert parse_settings(["--config", str(path)], {}).keys == {"app.help": "f1"}


#: What the first view does without, each loaded by the first use that needs it (the
#: statement here). Libraries: asyncssh (with the crypto libraries it probes for, a fifth
#: of the start) by the first `ssh://` host, pyte by the first serial console, pycdlib by
#: the first cloud-init seed image, pygments by the first guest XML shown. kvmtui's own
#: modules: the `:` verbs by the first verb looked up, another view's screen by the view
#: (together a tenth of the time to a first table at 10 hosts x 1,000 guests).
LOADED_ON_FIRST_USE = {
    "asyncssh": "import kvmtui.core.ssh_dial",
    "pyte": "import kvmtui.screens.console",
    "pycdlib": "from kvmtui.core.provision import CloudInit, seed_iso; "
    "seed_iso(CloudInit('u', 'ssh-ed25519 AAAA k', 'h'), 'i')",
    "pygments": "import rich.syntax",
    "kvmtui.verbs": "from kvmtui.core.commands import lookup_verb; lookup_verb('start')",
    "kvmtui.screens.snapshots": "from kvmtui.views import ALIASES; "
    "ALIASES['snapshots'].screen_class",
    "kvmtui.screens.detail": "import kvmtui.screens.detail",
}


@pytest.mark.parametrize("module", sorted(LOADED_ON_FIRST_USE))
def test_the_app_starts_without_what_only_a_feature_needs(module: str) -> None:
    code = (
        f"import sys, kvmtui.app; print({module!r} in sys.modules); "
        f"{LOADED_ON_FIRST_USE[module]}; print({module!r} in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert result.stdout.split() == ["False", "True"], result.stderr


def test_a_thousand_hosts_get_the_open_files_they_need_up_to_the_hard_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        open_files_for(10)
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 1024  # enough already
        open_files_for(1000)
        raised = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert raised == (4256 if hard == resource.RLIM_INFINITY else min(4256, hard))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
