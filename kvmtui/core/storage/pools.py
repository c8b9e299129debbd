"""Defining and changing storage pools, in virsh's words (`pool-define-as`, `pool-start`
...): each one blocking libvirt sequence on the host's threads."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

import libvirt

from kvmtui.core.commands import CommandError
from kvmtui.core.host import Host
from kvmtui.core.storage.readings import xml_text
from kvmtui.core.uri import quoted

#: Pool types `pool-define-as` builds, with the source each needs.
POOL_TYPES = ("dir", "netfs", "logical")


@dataclass(frozen=True)
class PoolSource:
    """Where a pool's data comes from, as `pool-define-as` takes it."""

    target: str | None = None  # dir, netfs, logical: the path on the host
    source_host: str | None = None  # netfs: the NFS server
    source_path: str | None = None  # netfs: the export
    source_dev: str | None = None  # logical: the physical volume


def pool_xml(name: str, kind: str, source: PoolSource) -> str:
    """The XML of a new pool, after checking it has what its type needs; every value goes
    through ElementTree, so a hostile string stays a string."""
    if not name or "/" in name or not name.isprintable():
        raise CommandError(
            f"pool-define-as: {quoted(name)} is not a pool name (no '/', no control characters)"
        )
    if kind not in POOL_TYPES:
        raise CommandError(
            f"pool-define-as: unsupported pool type {quoted(kind)} (use {', '.join(POOL_TYPES)})"
        )
    needs = {
        "dir": ("target",),
        "netfs": ("target", "source_host", "source_path"),
        "logical": ("source_dev",),
    }[kind]
    missing = [field for field in needs if not getattr(source, field)]
    if missing:
        words = ", ".join("--" + field.replace("_", "-") for field in missing)
        raise CommandError(f"pool-define-as: a {kind} pool needs {words}")
    if source.target and not source.target.startswith("/"):
        raise CommandError(
            f"pool-define-as: --target must be an absolute path, not {quoted(source.target)}"
        )
    root = ET.Element("pool", type=kind)
    ET.SubElement(root, "name").text = name
    src = ET.SubElement(root, "source")
    if source.source_host:
        ET.SubElement(src, "host", name=source.source_host)
    if source.source_path:
        ET.SubElement(src, "dir", path=source.source_path)
    if source.source_dev:
        ET.SubElement(src, "device", path=source.source_dev)
    if kind == "logical":
        ET.SubElement(src, "name").text = name
    target = source.target or (f"/dev/{name}" if kind == "logical" else "")
    ET.SubElement(ET.SubElement(root, "target"), "path").text = target
    return ET.tostring(root, encoding="unicode")


def _define_pool(conn: libvirt.virConnect, xml: str, kind: str, build: bool) -> str:
    """Defines the pool; a directory pool whose path is missing is refused first (unless
    `build` makes it), by starting it once as a transient pool, which is how libvirt
    looks at the host's own file system. A build that fails undefines it again."""
    if kind == "dir" and not build:
        probe = conn.storagePoolCreateXML(xml, 0)
        probe.destroy()
    pool = conn.storagePoolDefineXML(xml, 0)
    if build:
        try:
            pool.build(0)
        except libvirt.libvirtError:
            pool.undefine()
            raise
    return xml_text(ET.fromstring(pool.XMLDesc(0)), "target/path")


async def define_pool(
    host: Host, name: str, kind: str, source: PoolSource, *, build: bool = False
) -> str:
    xml = pool_xml(name, kind, source)
    target = await host.run(
        lambda conn: _define_pool(conn, xml, kind, build),
        what=f"pool-define-as {name} on {host.name}",
    )
    built = " and built" if build else ""
    return f"pool {name} ({kind}, {target}) defined{built} on {host.name}"


#: The pool verbs that are one call on the pool: libvirt's call and the sentence after it.
POOL_ACTIONS: dict[str, tuple[Callable[[libvirt.virStoragePool], object], str]] = {
    "pool-build": (lambda pool: pool.build(0), "built"),
    "pool-start": (lambda pool: pool.create(0), "started"),
    "pool-destroy": (lambda pool: pool.destroy(), "stopped"),
    "pool-refresh": (lambda pool: pool.refresh(0), "refreshed"),
    "pool-undefine": (lambda pool: pool.undefine(), "undefined"),
    "pool-autostart": (lambda pool: pool.setAutostart(1), "marked to start with its host"),
    "pool-autostart --disable": (
        lambda pool: pool.setAutostart(0),
        "no longer starts with its host",
    ),
}


async def pool_action(host: Host, name: str, action: str) -> str:
    call, done = POOL_ACTIONS[action]
    await host.run(
        lambda conn: call(conn.storagePoolLookupByName(name)),
        what=f"{action.split()[0]} {name} on {host.name}",
    )
    return f"pool {name} on {host.name}: {done}"
