"""The host-key review and the passphrase dialogs, driven with keys in the running app against
the lab's real sshds: what the operator sees, and what each answer does (a refused key stays
refused until the operator reconnects)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.model import HostSpec, Link
from kvmtui.screens.hostkey import HostKeyReviewScreen
from kvmtui.screens.secret import SecretScreen
from tests.ui.helpers import keys, screen_text, wait_for

from .labinfo import LabInfo

SIZE = (100, 30)
PASSPHRASE = "correct horse 42"


def _app(uri: str, *more: tuple[str, str]) -> KvmTuiApp:
    hosts = (HostSpec("hostb", uri), *(HostSpec(name, other) for name, other in more))
    return KvmTuiApp(Settings(hosts, readonly=False, refresh=1.0, theme=None, demo=False))


def _host(app: KvmTuiApp, name: str = "hostb"):
    return next(h for h in app.fleet.snapshot().hosts if h.name == name)


def _ssh_uri(lab: LabInfo, host: str, known: Path) -> str:
    return f"ssh://root@{lab.host(host).address}?keyfile={lab.ssh_key}&known_hosts={known}"


def _fingerprint(lab: LabInfo, address: str = "10.213.0.2") -> str:
    """A lab host's key fingerprint as ssh-keygen prints it, to compare with the screen."""
    line = next(
        entry
        for entry in lab.known_hosts.read_text().splitlines()
        if entry.startswith(f"{address} ")
    )
    printed = subprocess.run(
        ["ssh-keygen", "-lf", "-"], input=line, text=True, capture_output=True, check=True
    ).stdout
    return printed.split()[1]


def _review(app: KvmTuiApp) -> HostKeyReviewScreen | None:
    screen = app.screen
    return screen if isinstance(screen, HostKeyReviewScreen) else None


def _asking(app: KvmTuiApp, count: int = 1) -> bool:
    review = _review(app)
    return review is not None and len(review.questions) == count


async def _holds(pilot, predicate, seconds: float, what: str) -> None:
    """Fails as soon as `predicate()` stops holding within `seconds`: for what must NOT
    happen (a retry, a new prompt), watched for longer than the back-off would take."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        assert predicate(), what
        await pilot.pause(0.05)


def _links(app: KvmTuiApp, name: str = "hostb") -> list[Link]:
    """Every link state the host passes through from now on, in order."""
    seen: list[Link] = []

    def note() -> None:
        link = _host(app, name).link
        if not seen or seen[-1] is not link:
            seen.append(link)

    app.fleet.add_listener(note)
    return seen


@pytest.mark.parametrize(
    "moves, saved",
    [(["right"], False), (["right", "right"], True)],
    ids=["accept-once", "accept-and-save"],
)
async def test_unknown_host_key_is_shown_with_its_fingerprint_and_trusted_on_purpose(
    lab: LabInfo, tmp_path: Path, moves: list[str], saved: bool
) -> None:
    known = tmp_path / "known_hosts"
    app = _app(_ssh_uri(lab, "b", known))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot,
            lambda: _asking(app) and "Unknown host key" in screen_text(app),
            30,
            "the host-key review",
        )
        shown = screen_text(app)
        assert "10.213.0.2: ssh-ed25519 key fingerprint is" in shown
        assert _fingerprint(lab) in shown
        await wait_for(
            pilot,
            lambda: app.focused is not None and app.focused.id == "reject",
            5,
            "Reject focused, so that Enter alone refuses",
        )
        await pilot.press(*moves, "enter")
        await wait_for(pilot, lambda: _host(app).link is Link.CONNECTED, 30, "hostb connected")
        await wait_for(
            pilot,
            lambda: any(g.name == "tiny-b1" for g in app.fleet.snapshot().guests),
            10,
            "hostb's guests",
        )
    assert (known.exists() and "10.213.0.2" in known.read_text()) is saved


@pytest.mark.parametrize("answer", ["enter", "escape"], ids=["reject", "esc"])
async def test_a_rejected_host_key_stays_rejected_until_the_operator_reconnects(
    lab: LabInfo, tmp_path: Path, answer: str
) -> None:
    known = tmp_path / "known_hosts"
    app = _app(_ssh_uri(lab, "b", known))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: _asking(app), 30, "the host-key review")
        await pilot.press(answer)  # Enter: Reject has the focus; Esc: reject all
        await wait_for(pilot, lambda: _host(app).link is Link.LOST, 30, "hostb lost")
        assert _host(app).reason == "host key rejected: 10.213.0.2"
        assert _host(app).retry_in is None
        await wait_for(
            pilot,
            lambda: (
                "hostb lost: host key rejected" in screen_text(app)
                and "not retried; c on the hosts view retries" in screen_text(app)
            ),
            5,
            "the reason on screen",
        )
        links = _links(app)
        # The back-off would have retried after 1 s and 2 s: nothing may ask again.
        await _holds(
            pilot,
            lambda: _review(app) is None and not links,
            4.0,
            "a rejected key was asked about again / the host retried on its own",
        )
        await pilot.press("2")
        await wait_for(pilot, lambda: app.current_mode == "hosts", what="the hosts view")
        await pilot.press("c")
        await wait_for(pilot, lambda: _asking(app), 30, "the question again, on request")
        await pilot.press("right", "enter")
        await wait_for(pilot, lambda: _host(app).link is Link.CONNECTED, 30, "hostb connected")
    assert not known.exists() or "10.213.0.2" not in known.read_text()


async def test_a_changed_host_key_is_refused_without_a_prompt_and_not_retried(
    lab: LabInfo, tmp_path: Path
) -> None:
    impostor = tmp_path / "impostor"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(impostor)], check=True)
    known = tmp_path / "known_hosts"
    algorithm, blob = impostor.with_suffix(".pub").read_text().split()[:2]
    known.write_text(f"10.213.0.2 {algorithm} {blob}\n")
    app = _app(_ssh_uri(lab, "b", known))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: _host(app).link is Link.LOST, 30, "hostb lost")
        assert "host key of 10.213.0.2 has CHANGED" in _host(app).reason
        assert _host(app).retry_in is None
        await wait_for(
            pilot,
            lambda: (
                "hostb lost: WARNING: the host key of 10.213.0.2 has CHANGED" in screen_text(app)
            ),
            5,
            "the warning on screen",
        )
        links = _links(app)
        await _holds(
            pilot,
            lambda: _review(app) is None and not links,
            4.0,
            "a changed key prompted or was retried",
        )
    assert known.read_text() == f"10.213.0.2 {algorithm} {blob}\n"


async def test_many_new_hosts_are_reviewed_on_one_screen(lab: LabInfo, tmp_path: Path) -> None:
    """Two hosts with unknown keys: one list, answered per host (reject B) then for all the
    rest at once (save): A connects and is saved, B stays rejected."""
    known = tmp_path / "known_hosts"
    app = _app(_ssh_uri(lab, "b", known), ("hosta", _ssh_uri(lab, "a", known)))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot,
            lambda: _asking(app, 2) and "2 unknown host keys" in screen_text(app),
            30,
            "both keys on one review screen",
        )
        assert sum(isinstance(s, HostKeyReviewScreen) for s in app.screen_stack) == 1
        review = _review(app)
        assert review is not None
        hosts = [q.host for q in review.questions]
        assert sorted(hosts) == ["10.213.0.1", "10.213.0.2"]
        for _ in range(hosts.index("10.213.0.2")):
            await pilot.press("down")
        await wait_for(
            pilot,
            lambda: _fingerprint(lab, "10.213.0.2") in screen_text(app),
            5,
            "host B's fingerprint shown for the selected row",
        )
        await pilot.press("enter")  # Reject, for the selected host only
        await wait_for(pilot, lambda: _asking(app, 1), 5, "host A's key still asked")
        assert _fingerprint(lab, "10.213.0.1") in screen_text(app)
        await pilot.press("S")  # accept and save all the rest
        await wait_for(
            pilot, lambda: _host(app, "hosta").link is Link.CONNECTED, 30, "hosta connected"
        )
        await wait_for(pilot, lambda: _host(app).link is Link.LOST, 30, "hostb lost")
        assert _host(app).reason == "host key rejected: 10.213.0.2"
        assert _review(app) is None
    saved = known.read_text()
    assert "10.213.0.1 " in saved and "10.213.0.2" not in saved


@pytest.fixture
def locked_key(lab: LabInfo, tmp_path: Path) -> Iterator[Path]:
    """A passphrase-protected key that host B's sshd accepts for the length of one test."""
    key = tmp_path / "id_locked"
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            PASSPHRASE,
            "-C",
            "kvmtui-test-locked",
            "-f",
            str(key),
        ],
        check=True,
    )
    authorized = lab.state_dir / "ssh" / "authorized_keys"
    before = authorized.read_text()
    authorized.write_text(before + key.with_suffix(".pub").read_text())
    try:
        yield key
    finally:
        authorized.write_text(before)


async def test_passphrase_is_asked_hidden_and_unlocks_the_key(
    lab: LabInfo, locked_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)  # no agent to fall back on
    app = _app(f"ssh://root@10.213.0.2?keyfile={locked_key}&known_hosts={lab.known_hosts}")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, SecretScreen) and "Passphrase" in screen_text(app),
            30,
            "the passphrase dialog",
        )
        assert f"Passphrase for {locked_key}" in screen_text(app)
        await pilot.press(*keys(PASSPHRASE))
        assert PASSPHRASE not in screen_text(app)
        assert "correct" not in screen_text(app)  # typed hidden
        await pilot.press("enter")
        await wait_for(pilot, lambda: _host(app).link is not Link.CONNECTING, 30, "the login")
        assert _host(app).link is Link.CONNECTED, _host(app).reason


async def test_cancelling_the_passphrase_gives_up_with_a_clear_reason(
    lab: LabInfo, locked_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    app = _app(f"ssh://root@10.213.0.2?keyfile={locked_key}&known_hosts={lab.known_hosts}")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, SecretScreen), 30, "the passphrase dialog"
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: _host(app).link is Link.LOST, 30, "hostb lost")
        assert _host(app).reason


async def test_password_login_is_asked_hidden_and_asked_again_when_wrong(
    lab: LabInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lab's unprivileged operator logs in with a password (no key, no agent) and
    reaches libvirt through the lab group."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no identity files of our own to offer
    user = lab.raw["password_user"]
    password = Path(lab.raw["password_file"]).read_text().strip()
    app = _app(f"ssh://{user}@10.213.0.2?known_hosts={lab.known_hosts}")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, SecretScreen) and "Password for" in screen_text(app),
            30,
            "the password dialog",
        )
        assert f"Password for {user}@10.213.0.2" in screen_text(app)
        await pilot.press(*keys("not-the-password"), "enter")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, SecretScreen)
                and not app.screen.query_one("#secret-input").value
            ),
            30,
            "the dialog again, empty, after a wrong password",
        )
        await pilot.press(*keys(password))
        assert password not in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: _host(app).link is not Link.CONNECTING, 30, "the login")
        assert _host(app).link is Link.CONNECTED, _host(app).reason
        await wait_for(
            pilot,
            lambda: any(g.name == "linux-b1" for g in app.fleet.snapshot().guests),
            10,
            "hostb's guests",
        )
