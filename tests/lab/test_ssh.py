"""kvmtui's own SSH transport against the lab: host keys, jump hosts, libvirt carried."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kvmtui.core import ssh
from kvmtui.core.fleet import Fleet
from kvmtui.core.model import HostSpec, Link

from .labinfo import LabInfo


def _uri(lab: LabInfo, known_hosts: Path, extra: str = "") -> str:
    return f"ssh://root@10.213.0.2?keyfile={lab.ssh_key}&known_hosts={known_hosts}{extra}"


class _Operator:
    """Answers the prompts as a test tells it to, and remembers what it was asked."""

    def __init__(self, answer: ssh.HostKeyAnswer) -> None:
        self.answer = answer
        self.asked: list[ssh.HostKeyQuestion] = []

    async def host_key(self, question: ssh.HostKeyQuestion) -> ssh.HostKeyAnswer:
        self.asked.append(question)
        return self.answer

    async def secret(self, prompt: str) -> str | None:
        raise AssertionError(f"no password expected, asked {prompt!r}")

    @property
    def prompts(self) -> ssh.SshPrompts:
        return ssh.SshPrompts(self.host_key, self.secret)


async def _guests_over(uri: str, prompts: ssh.SshPrompts) -> tuple[Link, str, set[str]]:
    fleet = Fleet([HostSpec("hostb", uri)], 1.0, prompts)
    await fleet.start()
    try:
        # Settled: refused for good, or connected with the guests of its first tick listed.
        for _ in range(200):
            snap = fleet.snapshot()
            if snap.hosts[0].link is Link.LOST or snap.guests:
                break
            await asyncio.sleep(0.1)
        return snap.hosts[0].link, snap.hosts[0].reason, {g.name for g in snap.guests}
    finally:
        await fleet.close()


async def test_libvirt_over_kvmtui_ssh(lab: LabInfo) -> None:
    operator = _Operator(ssh.HostKeyAnswer.REJECT)
    link, reason, names = await _guests_over(_uri(lab, lab.known_hosts), operator.prompts)
    assert link is Link.CONNECTED, reason
    assert {"linux-b1", "tiny-b1"} <= names
    assert operator.asked == []


@pytest.mark.parametrize("answer", [ssh.HostKeyAnswer.ONCE, ssh.HostKeyAnswer.SAVE])
async def test_unknown_host_key_asks(
    lab: LabInfo, tmp_path: Path, answer: ssh.HostKeyAnswer
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    operator = _Operator(answer)
    link, reason, names = await _guests_over(_uri(lab, known), operator.prompts)
    assert link is Link.CONNECTED, reason
    assert "linux-b1" in names
    assert operator.asked[0].host == "10.213.0.2"
    assert operator.asked[0].fingerprint.startswith("SHA256:")
    saved = known.read_text()
    assert ("10.213.0.2 ssh-ed25519 " in saved) == (answer is ssh.HostKeyAnswer.SAVE)


async def test_rejected_host_key_is_not_trusted(lab: LabInfo, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    operator = _Operator(ssh.HostKeyAnswer.REJECT)
    link, reason, _ = await _guests_over(_uri(lab, known), operator.prompts)
    assert link is Link.LOST
    assert "rejected" in reason and operator.asked


async def test_changed_host_key_is_refused(lab: LabInfo, tmp_path: Path) -> None:
    hosta_key = next(
        line.split(" ", 1)[1]
        for line in lab.known_hosts.read_text().splitlines()
        if line.startswith("10.213.0.1 ")
    )
    known = tmp_path / "known_hosts"
    known.write_text(f"10.213.0.2 {hosta_key}\n")  # someone else's key for host B
    operator = _Operator(ssh.HostKeyAnswer.SAVE)
    link, reason, names = await _guests_over(_uri(lab, known), operator.prompts)
    assert link is Link.LOST and not names
    assert "CHANGED" in reason and "10.213.0.2" in reason
    assert operator.asked == []  # never offered to the operator


async def test_host_b_through_host_a_as_jump_host(lab: LabInfo, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host *\n"
        f"  IdentityFile {lab.ssh_key}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {lab.known_hosts}\n"
        "Host hostb-via-a\n  HostName 10.213.0.2\n  User root\n  ProxyJump root@10.213.0.1\n"
    )
    operator = _Operator(ssh.HostKeyAnswer.REJECT)
    link, reason, names = await _guests_over(
        f"ssh://hostb-via-a?ssh_config={config}", operator.prompts
    )
    assert link is Link.CONNECTED, reason
    assert "linux-b1" in names


async def test_jump_host_keys_are_checked_too(lab: LabInfo, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    operator = _Operator(ssh.HostKeyAnswer.ONCE)
    uri = _uri(lab, known, "&jump=root@10.213.0.1")
    link, reason, names = await _guests_over(uri, operator.prompts)
    assert link is Link.CONNECTED, reason
    assert "linux-b1" in names
    assert [q.host for q in operator.asked] == ["10.213.0.1", "10.213.0.2"]


@pytest.mark.parametrize("case", ["rejected", "changed", "jump-host-rejected"])
async def test_refused_host_keys_raise_host_key_rejected(
    lab: LabInfo, tmp_path: Path, case: str
) -> None:
    """HostKeyRejected is what tells a host's reconnect loop to stop asking (a plain
    SshError, a network failure, is retried with back-off)."""
    hosta_key = next(
        line.split(" ", 1)[1]
        for line in lab.known_hosts.read_text().splitlines()
        if line.startswith("10.213.0.1 ")
    )
    known = tmp_path / "known_hosts"
    known.write_text(f"10.213.0.2 {hosta_key}\n" if case == "changed" else "")
    operator = _Operator(ssh.HostKeyAnswer.REJECT)
    uri = _uri(lab, known, "&jump=root@10.213.0.1" if case.startswith("jump") else "")
    with pytest.raises(ssh.HostKeyRejected):
        await ssh.open_link(uri, False, operator.prompts)
    expected = {"rejected": ["10.213.0.2"], "changed": [], "jump-host-rejected": ["10.213.0.1"]}[
        case
    ]
    assert [q.host for q in operator.asked] == expected
