"""The host-key and passphrase dialogs, driven with keys in the running app against host B's
real sshd: what the operator sees, and what each answer does."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmtui.app import KvmTuiApp
from kvmtui.cli import Settings
from kvmtui.core.model import HostSpec, Link
from kvmtui.screens.hostkey import HostKeyScreen
from kvmtui.screens.secret import SecretScreen
from tests.ui.helpers import keys, screen_text, wait_for

from .labinfo import LabInfo

SIZE = (100, 30)
PASSPHRASE = "correct horse 42"


def _app(uri: str) -> KvmTuiApp:
    return KvmTuiApp(Settings((HostSpec("hostb", uri),), readonly=False, refresh=1.0,
                              theme=None, demo=False))


def _host(app: KvmTuiApp):
    return app.fleet.snapshot().hosts[0]


def _fingerprint(lab: LabInfo) -> str:
    """Host B's key fingerprint as ssh-keygen prints it, to compare with the dialog."""
    line = next(entry for entry in lab.known_hosts.read_text().splitlines()
                if entry.startswith("10.213.0.2 "))
    printed = subprocess.run(["ssh-keygen", "-lf", "-"], input=line, text=True,
                             capture_output=True, check=True).stdout
    return printed.split()[1]


@pytest.mark.parametrize("moves, saved", [(["right"], False), (["right", "right"], True)],
                         ids=["accept-once", "accept-and-save"])
async def test_unknown_host_key_dialog_shows_the_fingerprint_and_trusts_on_purpose(
        lab: LabInfo, tmp_path: Path, moves: list[str], saved: bool) -> None:
    known = tmp_path / "known_hosts"
    app = _app(f"ssh://root@10.213.0.2?keyfile={lab.ssh_key}&known_hosts={known}")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HostKeyScreen)
                       and "Unknown host key" in screen_text(app), 30, "the host-key dialog")
        shown = screen_text(app)
        assert "Unknown host key for 10.213.0.2" in shown
        assert _fingerprint(lab) in shown
        await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "reject",
                       5, "Reject focused, so that Enter alone refuses")
        await pilot.press(*moves, "enter")
        await wait_for(pilot, lambda: _host(app).link is Link.CONNECTED, 30, "hostb connected")
        await wait_for(pilot, lambda: any(g.name == "tiny-b1" for g in
                                          app.fleet.snapshot().guests), 10, "hostb's guests")
    assert (known.exists() and "10.213.0.2" in known.read_text()) is saved


async def test_rejecting_the_host_key_leaves_the_host_lost_with_the_reason(
        lab: LabInfo, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    app = _app(f"ssh://root@10.213.0.2?keyfile={lab.ssh_key}&known_hosts={known}")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HostKeyScreen), 30,
                       "the host-key dialog")
        await pilot.press("enter")  # Reject has the focus
        await wait_for(pilot, lambda: _host(app).link is Link.LOST, 30, "hostb lost")
        assert "host key" in _host(app).reason.lower()
        assert "hostb" in screen_text(app)
    assert not known.exists() or "10.213.0.2" not in known.read_text()


@pytest.fixture
def locked_key(lab: LabInfo, tmp_path: Path) -> Iterator[Path]:
    """A passphrase-protected key that host B's sshd accepts for the length of one test."""
    key = tmp_path / "id_locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", PASSPHRASE, "-C",
                    "kvmtui-test-locked", "-f", str(key)], check=True)
    authorized = lab.state_dir / "ssh" / "authorized_keys"
    before = authorized.read_text()
    authorized.write_text(before + key.with_suffix(".pub").read_text())
    try:
        yield key
    finally:
        authorized.write_text(before)


async def test_passphrase_is_asked_hidden_and_unlocks_the_key(
        lab: LabInfo, locked_key: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)  # no agent to fall back on
    app = _app(f"ssh://root@10.213.0.2?keyfile={locked_key}&known_hosts={lab.known_hosts}")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SecretScreen)
                       and "Passphrase" in screen_text(app), 30, "the passphrase dialog")
        assert f"Passphrase for {locked_key}" in screen_text(app)
        await pilot.press(*keys(PASSPHRASE))
        assert PASSPHRASE not in screen_text(app)
        assert "correct" not in screen_text(app)  # typed hidden
        await pilot.press("enter")
        await wait_for(pilot, lambda: _host(app).link is not Link.CONNECTING, 30, "the login")
        assert _host(app).link is Link.CONNECTED, _host(app).reason


async def test_cancelling_the_passphrase_gives_up_with_a_clear_reason(
        lab: LabInfo, locked_key: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    app = _app(f"ssh://root@10.213.0.2?keyfile={locked_key}&known_hosts={lab.known_hosts}")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SecretScreen), 30,
                       "the passphrase dialog")
        await pilot.press("escape")
        await wait_for(pilot, lambda: _host(app).link is Link.LOST, 30, "hostb lost")
        assert _host(app).reason


async def test_password_login_is_asked_hidden_and_asked_again_when_wrong(
        lab: LabInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab's unprivileged operator logs in with a password (no key, no agent) and
    reaches libvirt through the lab group."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no identity files of our own to offer
    user = lab.raw["password_user"]
    password = Path(lab.raw["password_file"]).read_text().strip()
    app = _app(f"ssh://{user}@10.213.0.2?known_hosts={lab.known_hosts}")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SecretScreen)
                       and "Password for" in screen_text(app), 30, "the password dialog")
        assert f"Password for {user}@10.213.0.2" in screen_text(app)
        await pilot.press(*keys("not-the-password"), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SecretScreen)
                       and not app.screen.query_one("#secret-input").value, 30,
                       "the dialog again, empty, after a wrong password")
        await pilot.press(*keys(password))
        assert password not in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: _host(app).link is not Link.CONNECTING, 30, "the login")
        assert _host(app).link is Link.CONNECTED, _host(app).reason
        await wait_for(pilot, lambda: any(g.name == "linux-b1" for g in
                                          app.fleet.snapshot().guests), 10, "hostb's guests")
