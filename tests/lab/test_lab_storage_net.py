"""What the lab offers for storage, networks and guest configuration is real: the shared pool
carries a guest's disk data across a live migration, DHCP leases show up in libvirt, linux-a1
can grow a vCPU live, and `reset` puts a deleted guest disk back."""

from __future__ import annotations

import re
import secrets
import time

import pytest

from .labinfo import LabInfo

libvirt = pytest.importorskip("libvirt")
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors arrive as exceptions

MIGRATE_FLAGS = (
    libvirt.VIR_MIGRATE_LIVE
    | libvirt.VIR_MIGRATE_PERSIST_DEST
    | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
)


def _wait(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def test_pool_and_network_exist_on_both_hosts(lab: LabInfo) -> None:
    assert lab.pool_name and lab.pool_path.is_dir()
    subnets = set()
    for host in lab.hosts.values():
        conn = libvirt.open(host.uri_tcp)
        try:
            pool = conn.storagePoolLookupByName(lab.pool_name)
            assert pool.isActive()
            pool.refresh()
            assert f"<path>{lab.pool_path}</path>" in pool.XMLDesc()
            vols = set(pool.listVolumes())
            for g in lab.guests_on(host.name):
                if g.disk is not None:
                    assert g.disk.name in vols
            assert host.network is not None
            net = conn.networkLookupByName(host.network.name)
            assert net.isActive() and net.bridgeName() == host.network.bridge
            subnets.add(host.network.subnet)
        finally:
            conn.close()
    assert len(subnets) == len(lab.hosts)  # one subnet per host: no address seen twice


def test_guest_disk_data_survives_live_migration(lab_fresh: LabInfo) -> None:
    g = lab_fresh.guests["linux-a1"]
    token = secrets.token_hex(6)
    lab_fresh.guest_shell(g.name, f"echo {token} > {g.disk_mount}/mig && sync")
    src = libvirt.open(lab_fresh.host("a").uri_tcp)
    dst = libvirt.open(lab_fresh.host("b").uri_tcp)
    try:
        dom = src.lookupByName(g.name)
        dom.migrate3(
            dst, {libvirt.VIR_MIGRATE_PARAM_URI: lab_fresh.host("b").migrate_uri}, MIGRATE_FLAGS
        )
        assert lab_fresh.where(g.name) == "hostb"
        # the guest on host B reads what it wrote on host A: the same disk, shared storage
        assert token in lab_fresh.guest_shell(g.name, f"cat {g.disk_mount}/mig")
    finally:
        src.close()
        dst.close()


def _lease_line(lab: LabInfo, host: str, network: str, mac: str) -> str | None:
    out = lab.virsh(host, "net-dhcp-leases", network).stdout
    return next((ln for ln in out.splitlines() if mac in ln), None)


@pytest.mark.parametrize("guest", ["linux-a1", "linux-b1"])
def test_dhcp_lease_matches_the_guests_mac(lab: LabInfo, guest: str) -> None:
    g = lab.guests[guest]
    host = lab.where(g.name)
    assert host is not None and g.mac
    net = lab.host(host).network
    assert net is not None
    line = _wait(lambda: _lease_line(lab, host, net.name, g.mac), 60, f"a lease for {g.name}")
    m = re.search(r"(\d+\.\d+\.\d+\.\d+)/24", line)
    assert m is not None, line
    assert m.group(1).rsplit(".", 1)[0] == net.gateway.rsplit(".", 1)[0]  # the host's subnet
    assert g.name in line  # udhcpc sends the hostname
    assert m.group(1) in lab.guest_shell(g.name, "ip -4 addr show eth0")


def test_linux_a1_takes_a_vcpu_live(lab_fresh: LabInfo) -> None:
    g = lab_fresh.guests["linux-a1"]
    assert g.max_vcpus > g.vcpus
    conn = libvirt.open(lab_fresh.host("a").uri_tcp)
    try:
        dom = conn.lookupByName(g.name)
        dom.setVcpusFlags(g.vcpus + 1, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        assert dom.info()[3] == g.vcpus + 1
        # the guest's kernel sees the new CPU (hotplugged, then onlined by the kernel)
        _wait(
            lambda: (
                str(g.vcpus + 1)
                in lab_fresh.guest_shell(g.name, "grep -c ^processor /proc/cpuinfo")
            ),
            30,
            "the new vCPU in the guest",
        )
    finally:
        conn.close()


def test_reset_puts_a_deleted_guest_disk_back(lab_fresh: LabInfo) -> None:
    g = lab_fresh.guests["linux-b1"]
    assert g.disk is not None
    lab_fresh.virsh("hostb", "destroy", g.name)
    assert lab_fresh.virsh("hostb", "vol-delete", str(g.disk)).returncode == 0
    assert not g.disk.exists()
    lab_fresh.reset_guests()
    assert g.disk.exists()
    assert "/mnt/disk" in lab_fresh.guest_shell(g.name, "grep /mnt/disk /proc/mounts")
