"""Graphical consoles against the lab's real QEMU VNC servers (on each host's loopback):
kvmtui forwards the display to a local port, and what answers there is QEMU's RFB greeting."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.display import Forwards, Via, one_display, read_displays
from kvmtui.core.fleet import Fleet
from kvmtui.core.model import HostSpec, Link
from kvmtui.screens.display import DisplayScreen
from tests.ui.helpers import keys, screen_text, wait_for

from .labinfo import LabInfo

GREETING = b"RFB 003.0"  # "RFB 003.008\n": the version QEMU's VNC server offers


def _ssh_scheme_uri(lab: LabInfo) -> str:
    return f"ssh://root@10.213.0.2?keyfile={lab.ssh_key}&known_hosts={lab.known_hosts}"


def _vnc_guest_on_b(lab: LabInfo) -> str:
    return next(g.name for g in lab.guests.values() if g.vnc and g.host == "hostb")


async def _greeting(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await asyncio.wait_for(reader.readexactly(12), 10)
    finally:
        writer.close()


async def _forward_and_read(uri: str, guest: str, via: Via) -> None:
    fleet = Fleet([HostSpec("hostb", uri)], 1.0)
    forwards = Forwards()
    await fleet.start()
    try:
        for _ in range(150):
            if any(g.name == guest for g in fleet.snapshot().guests):
                break
            await asyncio.sleep(0.2)
        assert fleet.snapshot().hosts[0].link is Link.CONNECTED, fleet.snapshot().hosts[0]
        found = next(g for g in fleet.snapshot().guests if g.name == guest)
        host = fleet.host("hostb")
        display = one_display(await read_displays(host, found.uuid, guest), guest, "hostb")
        assert display.kind == "vnc" and display.listen == "127.0.0.1" and display.port
        forward = await forwards.open(host, found.uuid, display)
        assert forward.route.via is via
        assert (await _greeting(forward.local_port)).startswith(GREETING)
        # A second open reuses the same forward while it is alive.
        assert await forwards.open(host, found.uuid, display) is forward
    finally:
        await forwards.close()
        await fleet.close()
    assert not forward.alive or forward.route.via is Via.SSH_LINK


async def test_vnc_forwarded_over_kvmtuis_own_ssh_connection(lab_fresh: LabInfo) -> None:
    await _forward_and_read(_ssh_scheme_uri(lab_fresh), _vnc_guest_on_b(lab_fresh), Via.SSH_LINK)


async def test_vnc_forwarded_by_ssh_dash_l_for_qemu_ssh_hosts(lab_fresh: LabInfo) -> None:
    await _forward_and_read(
        lab_fresh.host("hostb").uri_ssh, _vnc_guest_on_b(lab_fresh), Via.OPENSSH
    )


async def test_viewer_key_path_reaches_qemu_through_the_forward(
    lab_fresh: LabInfo, tmp_path: Path, monkeypatch
) -> None:
    """`:viewer` on a desktop: the viewer kvmtui starts connects to the forward and is
    greeted by the guest's QEMU (the stand-in viewer records the first bytes)."""
    monkeypatch.setenv("DISPLAY", ":99")
    seen = tmp_path / "greeting"
    viewer = tmp_path / "viewer.py"
    viewer.write_text(
        "import socket, sys, pathlib\n"
        "s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)\n"
        "data = b''\n"
        "while len(data) < 12:\n"
        "    data += s.recv(12 - len(data)) or b'!' * 12\n"
        f"pathlib.Path({str(seen)!r}).write_bytes(data)\n"
    )
    guest = _vnc_guest_on_b(lab_fresh)
    settings = Settings(
        hosts=(HostSpec("hostb", _ssh_scheme_uri(lab_fresh)),),
        readonly=False,
        refresh=1.0,
        theme=None,
        demo=False,
        viewer=f"{sys.executable} {viewer} {{host}} {{port}}",
    )
    app = KvmTuiApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(
            pilot,
            lambda: any(g.name == guest for g in app.fleet.snapshot().guests),
            timeout=30,
            what=f"{guest} listed",
        )
        await pilot.press("colon", *keys(f"viewer {guest}"), "enter")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, DisplayScreen) and "Viewer started" in screen_text(app),
            timeout=20,
            what="the viewer started",
        )
        assert "Forwarded through kvmtui's SSH connection" in screen_text(app)
        await wait_for(pilot, lambda: seen.exists(), timeout=20, what="the viewer's greeting")
        assert seen.read_bytes().startswith(GREETING)
