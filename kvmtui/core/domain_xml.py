"""The facts of a domain XML that the guest table needs and a bulk stats record may lack:
its domain type, whether it has a guest agent channel, its memory and vCPUs, its tags.

Pure parsing, shared by the poller (which reads them for thousands of guests, so it parses
each document once and nothing else) and the hardware views.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from kvmtui.core.tags import read_tags

#: The channel a QEMU guest agent talks through, as named in a domain's XML.
_AGENT_CHANNEL = "org.qemu.guest_agent.0"

_KIB = {
    "b": 1 / 1024,
    "bytes": 1 / 1024,
    "k": 1,
    "kib": 1,
    "kb": 1000 / 1024,
    "m": 1024,
    "mib": 1024,
    "mb": 1000**2 / 1024,
    "g": 1024**2,
    "gib": 1024**2,
    "gb": 1000**3 / 1024,
    "t": 1024**3,
    "tib": 1024**3,
    "tb": 1000**4 / 1024,
}


def _memory_kib(element: ET.Element | None) -> int:
    """A memory element in KiB, whatever unit it was written in (libvirt emits KiB)."""
    if element is None or not (element.text or "").strip():
        return 0
    return round(int(element.text or "0") * _KIB[element.get("unit", "KiB").lower()])


@dataclass(frozen=True, slots=True)
class Sizes:
    """A guest's memory and vCPUs as its domain XML gives them."""

    memory_kib: int  # the maximum
    current_memory_kib: int
    vcpus_max: int
    vcpus: int  # the vCPUs it has (current)


def sizes(root: ET.Element) -> Sizes:
    vcpu = root.find("vcpu")
    vcpus_max = int((vcpu.text or "1").strip()) if vcpu is not None else 1
    memory = _memory_kib(root.find("memory"))
    current = root.find("currentMemory")
    return Sizes(
        memory_kib=memory,
        current_memory_kib=_memory_kib(current) if current is not None else memory,
        vcpus_max=vcpus_max,
        vcpus=int(vcpu.get("current", vcpus_max)) if vcpu is not None else vcpus_max,
    )


@dataclass(frozen=True, slots=True)
class TableFacts:
    """What the guest table takes from a domain XML."""

    virt_type: str  # "kvm" runs accelerated, "qemu" under TCG emulation, "test" ...
    agent: bool  # has a QEMU guest agent channel
    sizes: Sizes
    tags: tuple[str, ...] = ()  # kvmtui's tags in its <metadata> (core/tags.py)


def table_facts(xml: str) -> TableFacts:
    root = ET.fromstring(xml)
    tags = read_tags(root) if "<metadata" in xml else ()
    # the type interned: "kvm" or "qemu" on every guest, a string each as parsed
    return TableFacts(sys.intern(root.get("type") or ""), _AGENT_CHANNEL in xml, sizes(root), tags)
