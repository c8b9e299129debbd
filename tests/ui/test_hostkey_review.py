"""The host-key review screen on its own, fed the questions the SSH layer asks (the lab tests
in tests/lab/test_ssh_dialogs.py drive it against real sshds): keys asked together are listed
together, keys asked while it is open join it, and every answer reaches the one who asked."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kvmtui.core.ssh import HostKeyAnswer, HostKeyQuestion
from kvmtui.screens.hostkey import HostKeyReviewScreen, ask_host_key
from tests.ui.helpers import screen_text, started, wait_for

SIZE = (100, 30)


def _question(host: str, port: int = 22) -> HostKeyQuestion:
    fingerprint = f"SHA256:{host.encode().hex()[:43]:0<43}"
    return HostKeyQuestion(host, port, "ssh-ed25519", fingerprint, Path("/tmp/known_hosts"))


def _review(app) -> HostKeyReviewScreen | None:
    return app.screen if isinstance(app.screen, HostKeyReviewScreen) else None


async def test_keys_asked_together_or_meanwhile_share_one_screen(demo_settings) -> None:
    async with started(demo_settings, SIZE) as (app, pilot):
        first = [
            asyncio.create_task(ask_host_key(app, _question(host)))
            for host in ("kvm-new1", "[bold]kvm-new2[/bold]")
        ]
        await wait_for(
            pilot, lambda: "2 unknown host keys" in screen_text(app), what="both keys listed"
        )
        late = asyncio.create_task(ask_host_key(app, _question("kvm-new3", 2222)))
        await wait_for(
            pilot,
            lambda: "3 unknown host keys" in screen_text(app),
            what="the key asked meanwhile joining the list",
        )
        assert sum(isinstance(s, HostKeyReviewScreen) for s in app.screen_stack) == 1
        assert "kvm-new1: ssh-ed25519 key fingerprint is" in screen_text(app)
        await pilot.press("down")
        await wait_for(
            pilot,
            lambda: "[bold]kvm-new2[/bold]: ssh-ed25519" in screen_text(app),
            what="the second host, its name shown literally",
        )
        await pilot.press("enter")  # Reject is focused: rejects the selected key only
        assert await first[1] is HostKeyAnswer.REJECT
        assert not first[0].done() and not late.done()
        await wait_for(
            pilot, lambda: "2 unknown host keys" in screen_text(app), what="two keys left"
        )
        await pilot.press("O")  # accept all the rest, once
        assert await first[0] is HostKeyAnswer.ONCE
        assert await late is HostKeyAnswer.ONCE
        await wait_for(pilot, lambda: _review(app) is None, what="the screen closed")

        again = asyncio.create_task(ask_host_key(app, _question("kvm-new4")))
        await wait_for(
            pilot,
            lambda: _review(app) is not None and "Unknown host key" in screen_text(app),
            what="a fresh screen",
        )
        await pilot.press("escape")  # rejects everything listed
        assert await again is HostKeyAnswer.REJECT


async def test_accept_and_save_for_one_key_by_moving_off_reject(demo_settings) -> None:
    async with started(demo_settings, SIZE) as (app, pilot):
        answer = asyncio.create_task(ask_host_key(app, _question("kvm-new1", 2222)))
        await wait_for(
            pilot,
            lambda: "[kvm-new1]:2222: ssh-ed25519" in screen_text(app),
            what="the key, with its port",
        )
        await wait_for(
            pilot,
            lambda: app.focused is not None and app.focused.id == "reject",
            what="Reject focused",
        )
        await pilot.press("right", "right", "enter")
        assert await answer is HostKeyAnswer.SAVE
        await wait_for(pilot, lambda: _review(app) is None, what="the screen closed")
