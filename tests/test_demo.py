"""The demo fleet tells the truth: every CPU figure libvirt gives about a demo host agrees
with every other (the test driver's getCPUMap is fixed, so the node files must match it)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

from kvmtui.core.cpulist import from_cpumap
from kvmtui.core.demo import build_demo_fleet


def test_each_demo_host_reports_one_consistent_set_of_cpus(tmp_path: Path) -> None:
    for spec in build_demo_fleet(tmp_path):
        conn = libvirt.open(spec.uri)
        try:
            model, _mem, active, _mhz, nodes, sockets, cores, threads = conn.getInfo()
            count, online_map, online = conn.getCPUMap()
            online_cpus = from_cpumap(online_map)
            assert nodes * sockets * cores * threads == count, spec.name
            assert active == online == len(online_cpus), spec.name
            # The hosts view's CPU model is getInfo's; `:caps` gives the capabilities' arch.
            caps = ET.fromstring(conn.getCapabilities())
            assert model == caps.findtext("host/cpu/arch"), spec.name
            offered = {a.get("name") for a in caps.iterfind("guest/arch")}
            for dom in conn.listAllDomains():
                arch = ET.fromstring(dom.XMLDesc()).find("os/type").get("arch")
                assert arch in offered, f"{dom.name()}: {arch} not in {offered}"
            running = [d for d in conn.listAllDomains() if d.isActive()]
            assert running, spec.name
            for dom in running:
                info, pins = dom.vcpus()
                for number, _state, _time, cpu in info:
                    assert cpu in online_cpus, f"{dom.name()} vCPU {number} on CPU {cpu}"
                    assert from_cpumap(pins[number]) <= online_cpus
        finally:
            conn.close()
