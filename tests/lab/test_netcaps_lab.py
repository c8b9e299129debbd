"""Networks and capabilities on the real lab (real libvirtd, dnsmasq, QEMU guests).

A NAT network with DHCP is defined and started on host B from the `:` line and seen
active by virsh, then stopped and undefined by the one-shot command line; a guest booted on
such a network takes a lease, shown with the guest's name; the lab's own NAT network shows
its leases named by the guests holding them; both hosts' capabilities
say whether KVM is usable as /dev/kvm really is, and the lab's TCG guests are flagged.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.model import HostSpec
from kvmtui.screens.networks import LeasesScreen, NetworksScreen
from tests.ui.helpers import fleet_ready, keys, notifications, screen_text, wait_for

from .labinfo import LabInfo

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[2]
NETWORK = "kvnc-lab"  # ours alone: the lab's own network is left as it is
SUBNET = "192.168.217.0/24"  # clear of the lab's 192.168.213/214 and the 10.213.0 link


def _kvmtui(lab: LabInfo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvmtui", "--config", str(lab.configs["tcp"]), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


@contextlib.asynccontextmanager
async def lab_app(lab: LabInfo) -> AsyncIterator[tuple[KvmTuiApp, object]]:
    hosts = tuple(HostSpec(name, h.uri_tcp) for name, h in lab.hosts.items())
    app = KvmTuiApp(Settings(hosts=hosts, readonly=False, refresh=1.0, theme=None, demo=False))
    async with app.run_test(size=(140, 40)) as pilot:
        await fleet_ready(pilot, guests=len(lab.guests))
        yield app, pilot


def _remove_network(lab: LabInfo) -> None:
    lab.virsh("hostb", "net-destroy", NETWORK)
    lab.virsh("hostb", "net-undefine", NETWORK)


async def test_a_nat_network_is_defined_started_stopped_and_undefined(lab: LabInfo) -> None:
    _remove_network(lab)  # a run that died half-way left it
    try:
        async with lab_app(lab) as (app, pilot):
            await pilot.press(
                "colon",
                *keys(
                    f"net-define {NETWORK} --subnet {SUBNET} --dhcp --bridge kvnc-br0 --host hostb"
                ),
                "enter",
            )
            await wait_for(pilot, lambda: notifications(app), 30, "net-define")
            assert notifications(app)[-1] == f"network {NETWORK} defined on hostb"
            await pilot.press("colon", *keys(f"net-start {NETWORK}"), "enter")
            await pilot.press("colon", *keys("nets"), "enter")
            await wait_for(
                pilot,
                lambda: (
                    isinstance(app.screen, NetworksScreen)
                    and app.screen.table.shown_texts().get(f"{NETWORK}@hostb", [""] * 3)[2]
                    == "active"
                ),
                60,
                "the network active in the view",
            )
            row = app.screen.table.shown_texts()[f"{NETWORK}@hostb"]
            assert row[5:9] == ["nat", "kvnc-br0", "192.168.217.1/24", "192.168.217.2-254"]
        info = lab.virsh("hostb", "net-info", NETWORK)
        assert info.returncode == 0 and "Active:         yes" in info.stdout
        assert "Bridge:         kvnc-br0" in info.stdout

        refused = _kvmtui(lab, "net-destroy", NETWORK)
        assert refused.returncode == 1 and "add --yes" in refused.stderr
        stopped = _kvmtui(lab, "net-destroy", NETWORK, "--yes")
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout == f"network {NETWORK} on hostb: stopped\n"
        undefined = _kvmtui(lab, "net-undefine", NETWORK, "--host", "hostb", "--yes")
        assert undefined.returncode == 0, undefined.stderr
        assert lab.virsh("hostb", "net-info", NETWORK).returncode != 0
    finally:
        _remove_network(lab)


GUEST = "kvnc-dhcp"  # a transient guest of ours on our network
GUEST_MAC = "52:54:00:21:7a:01"


def _guest_xml(lab: LabInfo) -> str:
    """The lab's Linux guest (kernel + busybox initrd, TCG) with one virtio NIC on our
    network: its init loads the driver and runs udhcpc, which takes a lease."""
    return f"""<domain type='qemu'>
  <name>{GUEST}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>{lab.raw["kernel"]}</kernel>
    <initrd>{lab.raw["initrd"]}</initrd>
    <cmdline>console=ttyS0 panic=-1 kvmtui.name={GUEST}</cmdline></os>
  <devices>
    <interface type='network'><mac address='{GUEST_MAC}'/><source network='{NETWORK}'/>
      <model type='virtio'/></interface>
    <serial type='pty'/><console type='pty'/>
  </devices>
</domain>"""


async def test_a_guest_on_the_new_network_has_its_lease_shown(lab: LabInfo, tmp_path: Path) -> None:
    lab.virsh("hostb", "destroy", GUEST)
    _remove_network(lab)
    try:
        made = _kvmtui(lab, "net-define", NETWORK, "--subnet", SUBNET, "--dhcp", "--host", "hostb")
        assert made.returncode == 0, made.stderr
        started_ = _kvmtui(lab, "net-start", NETWORK)
        assert started_.returncode == 0, started_.stderr
        xml = tmp_path / "guest.xml"
        xml.write_text(_guest_xml(lab))
        created = lab.virsh("hostb", "create", str(xml))
        assert created.returncode == 0, created.stderr
        deadline = time.monotonic() + 120  # boot under TCG, then udhcpc
        while True:
            result = _kvmtui(lab, "net-dhcp-leases", NETWORK, "--json")
            assert result.returncode == 0, result.stderr
            leases = json.loads(result.stdout)
            if leases or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert [(x["mac"], x["guest"], x["hostname"]) for x in leases] == [
            (GUEST_MAC, GUEST, GUEST)
        ]
        assert leases[0]["ip"].startswith("192.168.217.") and leases[0]["ip"].endswith("/24")
    finally:
        lab.virsh("hostb", "destroy", GUEST)
        _remove_network(lab)


def _nics(lab: LabInfo, host: str, guest: str) -> dict[str, str]:
    """MAC -> network of a guest's NICs on a network, as libvirt has them (virsh domiflist)."""
    listed = lab.virsh(host, "domiflist", guest).stdout.splitlines()
    return {
        cols[4]: cols[2]
        for line in listed
        if len(cols := line.split()) == 5 and cols[1] == "network"
    }


async def test_the_lab_networks_leases_name_their_guests(lab: LabInfo) -> None:
    on_a: dict[str, str] = {}
    networks: set[str] = set()
    for guest in lab.guests_on("hosta"):
        if guest.kind == "linux" and guest.running:
            nics = _nics(lab, "hosta", guest.name)
            on_a.update(dict.fromkeys(nics, guest.name))
            networks.update(nics.values())
    assert len(networks) == 1, f"the lab's Linux guests on host A share one network: {networks}"
    network = networks.pop()
    deadline = time.monotonic() + 90  # a busy TCG guest may take its lease late
    while True:
        result = _kvmtui(lab, "net-dhcp-leases", network, "--host", "hosta", "--json")
        assert result.returncode == 0, result.stderr
        leases = {lease["mac"]: lease for lease in json.loads(result.stdout)}
        held = {mac: leases[mac]["guest"] for mac in on_a if mac in leases}
        if held or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert held, f"no lab guest took a lease within 90 s: {leases}"
    assert held == {mac: on_a[mac] for mac in held}
    virsh = lab.virsh("hosta", "net-dhcp-leases", network).stdout
    for mac in held:
        line = next(line for line in virsh.splitlines() if mac in line)
        assert leases[mac]["ip"] in line.split()

    async with lab_app(lab) as (app, pilot):
        await pilot.press("colon", *keys(f"net-dhcp-leases {network} --host hosta"), "enter")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, LeasesScreen) and app.screen.table.row_count >= len(held)
            ),
            60,
            "the leases screen",
        )
        shown = app.screen.table.shown_texts()
        assert {mac: shown[mac][3] for mac in held} == held
        assert f"DHCP leases: {network} on hosta" in screen_text(app)


async def test_caps_of_both_hosts_and_the_tcg_guests_flagged(lab: LabInfo) -> None:
    kvm = os.access("/dev/kvm", os.R_OK | os.W_OK)
    result = _kvmtui(lab, "validate", "--json")
    assert result.returncode == 0, result.stderr
    findings = json.loads(result.stdout)["findings"]
    for host in lab.hosts:
        levels = {f["what"]: f["level"] for f in findings if f["host"] == host}
        assert levels["connection"] == "PASS"
        assert levels["KVM"] == ("PASS" if kvm else "FAIL")
    emulated = {name for name, g in lab.guests.items() if g.domain_type == "qemu"}
    if kvm and emulated:
        flagged = " ".join(f["detail"] for f in findings if f["what"] == "TCG guests")
        assert all(name in flagged for name in emulated)

    caps = _kvmtui(lab, "caps", "hosta", "--json")
    facts = json.loads(caps.stdout)["hosts"][0]
    assert facts["kvm"] is kvm and facts["arch"] == "x86_64" and facts["cells"]
    assert facts["libvirt_version"] and facts["emulator"].endswith("qemu-system-x86_64")

    async with lab_app(lab) as (app, pilot):
        index = [c.key for c in app.screen.table.columns_spec].index("virt")
        await wait_for(
            pilot,
            lambda: all(texts[index] != "-" for texts in app.screen.table.shown_texts().values()),
            30,
            "every guest's type",
        )
        shown = {key.split("@")[0]: texts for key, texts in app.screen.table.shown_texts().items()}
        by_name = {texts[0]: texts[index] for texts in shown.values()}
        for name, guest in lab.guests.items():
            assert by_name[name] == ("TCG" if guest.domain_type == "qemu" else "kvm"), name
        await pilot.press("2")
        await wait_for(pilot, lambda: len(app.screen.table.shown_texts()) == 2)
        kvm_index = [c.key for c in app.screen.table.columns_spec].index("kvm")
        assert {t[kvm_index] for t in app.screen.table.shown_texts().values()} == {
            "yes" if kvm else "NO"
        }
