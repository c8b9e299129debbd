"""Serial consoles against the lab, driven as an operator would: keys in, screen read."""

from __future__ import annotations

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.model import HostSpec
from kvmtui.screens.console import ConsoleScreen
from kvmtui.screens.guests import GuestsScreen
from kvmtui.widgets.terminal import TerminalView
from tests.ui.helpers import guest, keys, select, wait_for

from .labinfo import LabInfo


def _app(lab: LabInfo) -> KvmTuiApp:
    hosts = (
        HostSpec("hosta", lab.host("hosta").uri_tcp),
        HostSpec(
            "hostb", f"ssh://root@10.213.0.2?keyfile={lab.ssh_key}&known_hosts={lab.known_hosts}"
        ),
    )
    return KvmTuiApp(Settings(hosts=hosts, readonly=False, refresh=1.0, theme=None, demo=False))


def _screen_lines(app: KvmTuiApp) -> list[str]:
    return [line.rstrip() for line in app.screen.query_one(TerminalView).display_lines()]


async def _attach(pilot, ref: str, command: str = "") -> None:
    """Opens the console with `c` on the guest's row, or with a `:` command line."""
    app = pilot.app
    name, host = ref.split("@")
    await wait_for(
        pilot,
        lambda: any(r.name == name and r.host == host for r in app.screen.table.visible_rows()),
        timeout=30,
        what=f"{ref} in the list",
    )
    if command:
        app.controller.run_command(command)
    else:
        await select(pilot, ref)
        await pilot.press("c")
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, ConsoleScreen) and app.screen.terminal.live,
        timeout=20,
        what="the console to attach",
    )
    status = str(app.screen.query_one("#console-status").render())
    assert name in status and host in status and "Ctrl+]" in status


async def _type(pilot, text: str) -> None:
    await pilot.press(*keys(text), "enter")


async def test_console_over_ssh_host(lab_fresh: LabInfo) -> None:
    app = _app(lab_fresh)
    async with app.run_test(size=(80, 24)) as pilot:
        await _attach(pilot, "linux-b1@hostb", "console linux-b1 --force")
        # Typed at once, before the remote virsh owns its PTY (which would flush them): the
        # keys wait for it instead of being lost.
        await pilot.press("enter")
        await _type(pilot, "echo hello-$((6*7))")
        await wait_for(
            pilot,
            lambda: "hello-42" in _screen_lines(app),
            timeout=20,
            what="hello-42 on the console",
        )
        await _type(pilot, "seq 1 20000")
        await wait_for(
            pilot,
            lambda: "20000" in _screen_lines(app),
            timeout=90,
            what="the last line of seq 1 20000",
        )
        lines = _screen_lines(app)
        assert lines[lines.index("20000") - 1] == "19999"
        await pilot.press("ctrl+right_square_bracket")
        await wait_for(
            pilot, lambda: isinstance(app.screen, GuestsScreen), what="Ctrl+] back to the list"
        )


async def test_console_over_libvirt_stream_and_guest_stop(lab_fresh: LabInfo) -> None:
    app = _app(lab_fresh)
    async with app.run_test(size=(80, 24)) as pilot:
        await _attach(pilot, "linux-a1@hosta")
        await pilot.press("enter")
        await _type(pilot, "echo hello-$((6*7))")
        await wait_for(
            pilot,
            lambda: "hello-42" in _screen_lines(app),
            timeout=20,
            what="hello-42 on the console",
        )
        lab_fresh.virsh("hosta", "destroy", "linux-a1")
        screen = app.screen
        await wait_for(
            pilot,
            lambda: not screen.terminal.live,
            timeout=20,
            what="the console to end when the guest stops",
        )
        status = str(screen.query_one("#console-status").render())
        assert "linux-a1 stopped on hosta" in status and "r reattach" in status
        lab_fresh.virsh("hosta", "start", "linux-a1")
        await wait_for(
            pilot,
            lambda: guest(app, "linux-a1", "hosta").state.is_active,
            timeout=20,
            what="linux-a1 running again",
        )
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.terminal.live, timeout=20, what="reattach")
        await pilot.press("ctrl+right_square_bracket")
        await wait_for(pilot, lambda: isinstance(app.screen, GuestsScreen), what="detach")


async def test_attach_failure_is_a_message(lab_fresh: LabInfo) -> None:
    app = _app(lab_fresh)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot, lambda: any(g.name == "tiny-a2" for g in app.fleet.snapshot().guests), timeout=30
        )
        app.open_console(guest(app, "tiny-a2", "hosta"))  # shut off
        await wait_for(
            pilot,
            lambda: any("tiny-a2 on hosta" in str(n.message) for n in app._notifications),
            what="the error",
        )
        await wait_for(pilot, lambda: isinstance(app.screen, GuestsScreen), what="no console")
