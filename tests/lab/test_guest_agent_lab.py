"""The inside of a real guest: linux-a1 runs qemu-ga on its virtio-serial channel and the
virtio balloon (scripts/lab). Its OS, a user logged in over the serial console and its
filesystem's fill reach the guest table; a password set through the agent logs in; a
freeze holds a write until the thaw; the memory it uses moves when it allocates; and a
hostname holding an escape sequence is shown as its characters, on screen and in `kvmtui
list`."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.model import GuestSnapshot, HostSpec
from tests.ui.helpers import keys, row_line, screen_text, wait_for

from .labinfo import LabInfo

REPO = Path(__file__).resolve().parents[2]
GUEST = "linux-a1"
PROMPT = "# "  # the root shell's prompt on the console
USER_PROMPT = r"\$ "


def _kvmtui(lab: LabInfo, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvmtui", "--config", str(lab.configs["tcp"]), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
        input=stdin,
    )


def _app(lab: LabInfo) -> KvmTuiApp:
    hosts = tuple(HostSpec(h.name, h.uri_tcp) for h in lab.hosts.values())
    return KvmTuiApp(Settings(hosts=hosts, readonly=False, refresh=1.0, theme=None, demo=False))


def _row(app: KvmTuiApp) -> GuestSnapshot | None:
    return next((r for r in app.screen.table.visible_rows() if r.name == GUEST), None)


@contextmanager
def _logged_in(lab: LabInfo, user: str, password: str) -> Iterator[bool]:
    """Logs `user` in on the guest's serial console with busybox login (which writes utmp,
    the agent's list of users) for the block; whether the password was taken. Logged out,
    or the login prompt left, afterwards."""
    out = lab.guest_console(
        GUEST,
        [("\r", PROMPT), (f"login {user}\r", "Password: "), (f"{password}\r", r"\$ |ncorrect")],
    )
    taken = "ncorrect" not in out.rpartition("Password: ")[2]
    try:
        yield taken
    finally:
        # exit the user's shell; or end login's next prompt with EOF (Ctrl+D)
        lab.guest_console(GUEST, [("exit\r" if taken else "\x04", PROMPT)])
        lab.guest_shell(GUEST, ": > /var/run/utmp")  # busybox has no init to mark it dead


async def test_the_agents_os_a_logged_in_user_and_the_fs_fill_reach_the_table(
    lab_fresh: LabInfo,
) -> None:
    lab = lab_fresh
    lab.guest_shell(GUEST, "dd if=/dev/zero of=/mnt/disk/fill bs=1M count=24 2>/dev/null; sync")
    try:
        with _logged_in(lab, lab.raw["guest_user"], lab.raw["guest_password"]):
            app = _app(lab)
            async with app.run_test(size=(200, 30)) as pilot:
                await wait_for(
                    pilot,
                    lambda: (
                        (row := _row(app)) is not None
                        and row.inside is not None
                        and row.inside.user_names == ("kvmtui",)
                    ),
                    timeout=60,
                    what="linux-a1's agent answer with its user",
                )
                row = _row(app)
                assert row is not None and row.inside is not None
                fullest = row.inside.fullest
                assert fullest is not None and fullest.mountpoint == "/mnt/disk"
                assert fullest.percent is not None and 40 <= fullest.percent <= 60
                table = app.screen.table
                line = await row_line(pilot, row.key)
                cells = re.split(r"\s{2,}", line.strip())
                assert "kvmtui" in cells and f"{fullest.percent:.1f}" in cells
                assert any(c.startswith("kvmtui lab guest") for c in cells)
                await pilot.press("slash", *keys("kvmtui-lab"), "enter")  # its os.id
                assert {r.name for r in table.visible_rows()} >= {GUEST}
                assert "tiny-a1" not in {r.name for r in table.visible_rows()}
    finally:
        lab.guest_shell(GUEST, "rm -f /mnt/disk/fill; sync")


def test_a_password_set_through_the_agent_logs_in_on_the_console(lab_fresh: LabInfo) -> None:
    lab, user = lab_fresh, lab_fresh.raw["guest_user"]
    new = "N3w-pass:word"
    try:
        result = _kvmtui(lab, "set-user-password", GUEST, user, stdin=f"{new}\n{new}\n")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{GUEST} on hosta: password of {user} set"
        assert new not in result.stdout + result.stderr
        with _logged_in(lab, user, new) as taken:
            assert taken
            whoami = lab.guest_console(GUEST, [("id -un\r", USER_PROMPT)])
            assert "\nkvmtui\r" in whoami
        with _logged_in(lab, user, lab.raw["guest_password"]) as taken:
            assert not taken  # the old one no longer does
    finally:
        lab.virsh("hosta", "set-user-password", GUEST, user, lab.raw["guest_password"])


def test_a_freeze_holds_a_write_until_the_thaw(lab_fresh: LabInfo) -> None:
    lab = lab_fresh
    done: list[str] = []
    writer = threading.Thread(
        target=lambda: done.append(
            lab.guest_shell(GUEST, "echo held > /mnt/disk/frozen && sync && echo written", 90)
        )
    )
    try:
        result = _kvmtui(lab, "domfsfreeze", GUEST, "--yes")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{GUEST} on hosta: froze 1 filesystem"
        writer.start()
        time.sleep(8)
        assert writer.is_alive() and not done  # the write waits on the frozen filesystem
        result = _kvmtui(lab, "domfsthaw", GUEST)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{GUEST} on hosta: thawed 1 filesystem"
        writer.join(60)
        assert done and "written" in done[0]
    finally:
        lab.virsh("hosta", "domfsthaw", GUEST)
        if writer.is_alive():
            writer.join(60)
        lab.guest_shell(GUEST, "rm -f /mnt/disk/frozen")


async def test_used_inside_moves_when_the_guest_allocates_32_mib(lab_fresh: LabInfo) -> None:
    lab = lab_fresh
    app = _app(lab)
    async with app.run_test(size=(200, 30)) as pilot:
        await wait_for(
            pilot,
            lambda: (row := _row(app)) is not None and row.memory_used_kib is not None,
            timeout=30,
            what="linux-a1's balloon statistics",
        )
        row = _row(app)
        assert row is not None and row.memory_used_kib is not None
        before = row.memory_used_kib
        assert 0 < before < row.memory_kib
        # tmpfs pages are not reclaimable: MemAvailable drops by what is written
        lab.guest_shell(GUEST, "dd if=/dev/zero of=/tmp/ballast bs=1M count=32 2>/dev/null")
        try:
            await wait_for(
                pilot,
                lambda: (
                    (now := _row(app)) is not None
                    and (now.memory_used_kib or 0) - before >= 28 * 1024
                ),
                timeout=30,
                what="the used-inside figure to grow by about 32 MiB",
            )
            history = app.history.guest(row.key, "used")
            assert history and history[-1] is not None and history[-1] - before * 1024 > 28 << 20
        finally:
            lab.guest_shell(GUEST, "rm -f /tmp/ballast")


async def test_a_hostname_with_an_escape_sequence_is_shown_as_its_characters(
    lab_fresh: LabInfo,
) -> None:
    lab = lab_fresh
    lab.guest_shell(GUEST, "hostname \"$(printf 'evil\\033]0;pwned\\007x')\"")
    shown = "evil\\x1b]0;pwned\\x07x"
    try:
        listed = _kvmtui(lab, "list")
        assert listed.returncode == 0, listed.stderr
        assert "\x1b" not in listed.stdout and "\x07" not in listed.stdout
        line = next(line for line in listed.stdout.splitlines() if f" {GUEST} " in line)
        assert shown in line and "kvmtui lab guest" in line
        app = _app(lab)
        async with app.run_test(size=(200, 30)) as pilot:
            await wait_for(pilot, lambda: _row(app) is not None, timeout=30, what="the table")
            await pilot.press("colon", *keys(f"guestinfo {GUEST}"), "enter")
            await wait_for(
                pilot,
                lambda: shown in screen_text(app),
                timeout=30,
                what="the hostname on the Guest tab",
            )
            assert "\x1b" not in screen_text(app)
    finally:
        lab.guest_shell(GUEST, f"hostname {GUEST}")
