"""Graphical consoles in the core: reading `<graphics>`, choosing a route, the viewer's and
the operator's commands, and kvmtui's own TCP relay carrying a VNC greeting."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kvmtui.config import ConfigError, parse_config
from kvmtui.core.display import (
    Display,
    DisplayError,
    Via,
    open_forward,
    operator_commands,
    parse_displays,
    route,
    viewer_command,
)


def _xml(devices: str) -> str:
    return f"<domain type='kvm'><name>win1</name><devices>{devices}</devices></domain>"


def test_live_xml_gives_kind_address_and_port() -> None:
    displays = parse_displays(
        _xml(
            "<graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1'>"
            "<listen type='address' address='127.0.0.1'/></graphics>"
            "<graphics type='spice' port='-1' tlsPort='5902' autoport='yes'>"
            "<listen type='network' network='default' address='192.168.122.1'/></graphics>"
            "<graphics type='vnc'><listen type='socket' socket='/run/win1.vnc'/></graphics>"
            "<graphics type='vnc'><listen type='none'/></graphics>"
            "<graphics type='sdl'/>"
        ),
        "win1",
        "kvm1",
    )
    assert [(d.kind, d.listen, d.port, d.socket) for d in displays] == [
        ("vnc", "127.0.0.1", 5901, None),
        ("spice", "192.168.122.1", 5902, None),
        ("vnc", None, None, "/run/win1.vnc"),
    ]
    assert displays[0].summary == "VNC display of win1 on kvm1: 127.0.0.1:5901 (display :1)"
    assert displays[2].address == "unix:/run/win1.vnc"


def test_a_stopped_guest_has_no_port() -> None:
    (display,) = parse_displays(
        _xml("<graphics type='vnc' port='-1' autoport='yes'/>"), "win1", "kvm1"
    )
    assert display.port is None and display.address == "no port (not running)"


def _vnc(listen: str = "127.0.0.1", port: int = 5900) -> Display:
    return Display("win1", "kvm1", "vnc", listen, port)


@pytest.mark.parametrize(
    ("uri", "listen", "via", "dest"),
    [
        ("ssh://root@kvm1", "127.0.0.1", Via.SSH_LINK, "127.0.0.1"),
        ("ssh://root@kvm1", "0.0.0.0", Via.SSH_LINK, "127.0.0.1"),
        ("qemu:///system", "127.0.0.1", Via.LOCAL, "127.0.0.1"),
        ("qemu:///system", "0.0.0.0", Via.LOCAL, "127.0.0.1"),
        ("qemu:///system", "192.168.1.5", Via.RELAY, "192.168.1.5"),
        ("qemu+ssh://root@kvm1/system", "0.0.0.0", Via.OPENSSH, "127.0.0.1"),
        ("qemu+tcp://kvm1/system", "0.0.0.0", Via.RELAY, "kvm1"),
        ("qemu+tcp://kvm1/system", "10.0.0.7", Via.RELAY, "10.0.0.7"),
        ("qemu+tcp://kvm1/system", "127.0.0.1", Via.OPENSSH, "127.0.0.1"),
    ],
)
def test_route_follows_how_the_host_is_reached(uri: str, listen: str, via: Via, dest: str) -> None:
    chosen = route(uri, _vnc(listen))
    assert (chosen.via, chosen.dest_host, chosen.dest_port) == (via, dest, 5900)


def test_openssh_route_runs_ssh_as_libvirt_would() -> None:
    uri = (
        "qemu+ssh://root@kvm1:2222/system?keyfile=/k/id&command=/opt/ssh"
        "&no_verify=1&known_hosts=/k/kh"
    )
    assert route(uri, _vnc()).ssh_args == (
        "/opt/ssh",
        "-p",
        "2222",
        "-i",
        "/k/id",
        "-o",
        "StrictHostKeyChecking=no",
        "root@kvm1",
    )


def test_a_socket_display_is_forwarded_only_over_ssh_scheme() -> None:
    socket_display = Display("win1", "kvm1", "vnc", None, None, "/run/win1.vnc")
    assert route("ssh://kvm1", socket_display).dest_socket == "/run/win1.vnc"
    with pytest.raises(DisplayError, match="unix socket"):
        route("qemu+tcp://kvm1/system", socket_display)


def test_viewer_command_fills_the_template_or_appends_the_url() -> None:
    assert viewer_command(None, "vnc", 41000) == ["remote-viewer", "vnc://127.0.0.1:41000"]
    assert viewer_command("vncviewer {host}::{port}", "vnc", 41000) == [
        "vncviewer",
        "127.0.0.1::41000",
    ]
    assert viewer_command("remote-viewer --full-screen", "spice", 5) == [
        "remote-viewer",
        "--full-screen",
        "spice://127.0.0.1:5",
    ]


async def test_relay_carries_the_vnc_greeting_and_closes() -> None:
    async def vnc_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"RFB 003.008\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(vnc_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        forward = await open_forward("qemu+tcp://127.0.0.1/system", None, _vnc("0.0.0.0", port))
        assert forward.route.via is Via.RELAY and forward.local_port != port
        reader, writer = await asyncio.open_connection("127.0.0.1", forward.local_port)
        assert await asyncio.wait_for(reader.readexactly(12), 5) == b"RFB 003.008\n"
        writer.close()
        commands = operator_commands(
            forward, {"USER": "ops", "SSH_CONNECTION": "10.9.9.9 51000 192.0.2.4 2222"}
        )
        assert commands == (
            f"ssh -N -L {port}:127.0.0.1:{forward.local_port} -p 2222 ops@192.0.2.4",
            f"remote-viewer vnc://localhost:{port}",
        )
        await forward.close()
        assert not forward.alive
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", forward.local_port)
    finally:
        server.close()


def test_config_viewer_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert parse_config('viewer = "vncviewer {host}::{port}"\n', path).viewer == (
        "vncviewer {host}::{port}"
    )
    assert parse_config("refresh = 1\n", path).viewer is None
    with pytest.raises(ConfigError, match=r'line 2.*"viewer": unknown \{hots\}'):
        parse_config('refresh = 1\nviewer = "v {hots}"\n', path)
    with pytest.raises(ConfigError, match='"viewer" must not be empty'):
        parse_config('viewer = " "\n', path)


async def test_a_failed_ssh_forward_says_what_ssh_said() -> None:
    display = _vnc()
    with pytest.raises(DisplayError) as raised:
        await open_forward("qemu+ssh://nobody@127.0.0.1:1/system", None, display)
    message = str(raised.value)
    assert message.startswith("cannot forward the display of win1 on kvm1: ssh -L 127.0.0.1:")
    assert message.endswith(
        ":127.0.0.1:5900 nobody@127.0.0.1: ssh: connect to host "
        "127.0.0.1 port 1: Connection refused"
    )
