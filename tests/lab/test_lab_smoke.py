"""The lab itself works: both hosts answer over TCP and SSH, guests are where they should be,
and a guest live-migrates A -> B -> A. If these fail, every other lab test is meaningless."""

from __future__ import annotations

import re
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from .labinfo import READY_LINE, LabInfo

libvirt = pytest.importorskip("libvirt")
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors arrive as exceptions

MIGRATE_FLAGS = (
    libvirt.VIR_MIGRATE_LIVE
    | libvirt.VIR_MIGRATE_PERSIST_DEST
    | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
)


def _open(uri: str):
    conn = libvirt.open(uri)
    assert conn is not None, uri
    return conn


def _host_uuid(conn) -> str:
    return ET.fromstring(conn.getCapabilities()).findtext("host/uuid")


@pytest.mark.parametrize("transport", ["tcp", "ssh"])
def test_both_hosts_answer(lab: LabInfo, transport: str) -> None:
    seen = {}
    for name, host in lab.hosts.items():
        uri = host.uri_tcp if transport == "tcp" else host.uri_ssh
        conn = _open(uri)
        try:
            assert conn.isAlive()
            assert conn.getType() == "QEMU"
            assert host.address in conn.getURI()
            seen[name] = (conn.getHostname(), _host_uuid(conn))
        finally:
            conn.close()
        # and the CLI a user would type
        cp = subprocess.run(
            ["virsh", "-c", uri, "hostname"], capture_output=True, text=True, timeout=60
        )
        assert cp.returncode == 0, cp.stderr
        assert cp.stdout.strip() == seen[name][0]
    assert seen["hostb"][0] == "hostb"
    assert seen["hosta"][0] != "hostb"
    assert seen["hosta"][1] == lab.hosts["hosta"].host_uuid
    assert seen["hostb"][1] == lab.hosts["hostb"].host_uuid
    assert seen["hosta"][1] != seen["hostb"][1]


def test_ssh_uses_the_lab_known_hosts(lab: LabInfo) -> None:
    text = lab.known_hosts.read_text()
    for host in lab.hosts.values():
        assert re.search(rf"^{re.escape(host.address)} ssh-ed25519 ", text, re.M), text
        assert f"keyfile={lab.ssh_key}" in host.uri_ssh
    assert lab.ssh_key.exists()


def test_kvmtui_configs(lab: LabInfo) -> None:
    import tomllib

    for transport, path in lab.configs.items():
        cfg = tomllib.loads(path.read_text())
        assert cfg["refresh"] == 1.0
        hosts = {h["name"]: h["uri"] for h in cfg["host"]}
        key = "uri_tcp" if transport == "tcp" else "uri_ssh"
        assert hosts == {n: getattr(h, key) for n, h in lab.hosts.items()}


def test_expected_guests_are_there(lab: LabInfo) -> None:
    lab.reset_guests()  # a previous test may have left something moved
    for name in lab.hosts:
        conn = _open(lab.hosts[name].uri_tcp)
        try:
            doms = {d.name(): d for d in conn.listAllDomains()}
            expected = lab.guests_on(name)
            assert {g.name for g in expected} <= set(doms), sorted(doms)
            for g in expected:
                dom = doms[g.name]
                state, maxmem, _mem, vcpus, _cpu = dom.info()
                want = libvirt.VIR_DOMAIN_RUNNING if g.running else libvirt.VIR_DOMAIN_SHUTOFF
                assert state == want, (g.name, state)
                assert dom.isPersistent()
                assert maxmem == g.memory_kib
                assert vcpus == g.vcpus
                assert ET.fromstring(dom.XMLDesc()).get("type") == g.domain_type
        finally:
            conn.close()
    assert lab.guests["tiny-a1"].domain_type == lab.domain_type_os_less
    assert {"tiny-a1", "tiny-a2", "linux-a1", "smp-a1", "busy-a1"} <= {
        g.name for g in lab.guests_on("a")
    }
    assert {"tiny-b1", "linux-b1"} <= {g.name for g in lab.guests_on("b")}


def test_linux_guests_booted(lab: LabInfo) -> None:
    for g in lab.guests.values():
        if g.kind == "linux" and g.running:
            assert g.serial_log is not None
            log = g.serial_log.read_text(errors="replace")
            assert READY_LINE in log, f"{g.name}: {log[-500:]}"
            assert f"kvmtui.name={g.name}" in log
    assert "smp: Brought up 1 node, 4 CPUs" in lab.guests["smp-a1"].serial_log.read_text(
        errors="replace"
    )


def test_busy_guest_burns_cpu(lab: LabInfo) -> None:
    conn = _open(lab.hosts["hosta"].uri_tcp)
    try:
        busy, idle = conn.lookupByName("busy-a1"), conn.lookupByName("linux-a1")
        t0 = time.monotonic()
        b0, i0 = busy.info()[4], idle.info()[4]
        time.sleep(1.5)
        wall = (time.monotonic() - t0) * 1e9
        b1, i1 = busy.info()[4], idle.info()[4]
    finally:
        conn.close()
    busy_share, idle_share = (b1 - b0) / wall, (i1 - i0) / wall
    # ~0.4 (it spins 40 ms of every 100) vs ~0.0; loose bounds for a loaded box
    assert busy_share > 0.2, f"busy-a1 should spin its vCPU, used {busy_share:.0%}"
    assert busy_share > 4 * idle_share, (
        f"busy-a1 {busy_share:.0%} vs idle linux-a1 {idle_share:.0%}"
    )


def test_live_migration_there_and_back(lab_fresh: LabInfo) -> None:
    lab = lab_fresh
    a, b = _open(lab.hosts["hosta"].uri_tcp), _open(lab.hosts["hostb"].uri_tcp)
    try:
        for src, dst, dst_name in ((a, b, "hostb"), (b, a, "hosta")):
            dom = src.lookupByName("tiny-a1")
            t0 = time.monotonic()
            moved = dom.migrate3(
                dst, {libvirt.VIR_MIGRATE_PARAM_URI: lab.hosts[dst_name].migrate_uri}, MIGRATE_FLAGS
            )
            assert moved.name() == "tiny-a1"
            assert time.monotonic() - t0 < 60
            on_dst = dst.lookupByName("tiny-a1")
            assert on_dst.state()[0] == libvirt.VIR_DOMAIN_RUNNING
            assert on_dst.isPersistent()
            assert "tiny-a1" not in src.listDefinedDomains()
            assert "tiny-a1" not in {d.name() for d in src.listAllDomains()}
    finally:
        a.close()
        b.close()


def test_stop_and_start_host_keeps_guests(lab_fresh: LabInfo) -> None:
    lab = lab_fresh
    before = sorted(lab.virsh("b", "list", "--name").stdout.split())
    lab.stop_host("b")
    try:
        cp = lab.virsh("b", "list", timeout=30)
        assert cp.returncode != 0  # its libvirtd is gone ...
        assert lab.virsh("a", "list").returncode == 0  # ... host A's is not
    finally:
        lab.start_host("b")
    assert sorted(lab.virsh("b", "list", "--name").stdout.split()) == before  # guests survived
    assert lab.virsh("b", "hostname").stdout.strip() == "hostb"  # same namespaces as before
