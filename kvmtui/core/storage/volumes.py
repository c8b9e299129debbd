"""Creating, deleting, resizing and cloning volumes, in virsh's words: each one blocking
libvirt sequence on the host's threads, undoing its own half-done work on failure."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import libvirt

from kvmtui.core.commands import CommandError
from kvmtui.core.host import Host
from kvmtui.core.storage.readings import xml_bytes
from kvmtui.core.uri import quoted

#: Volume formats `vol-create-as --format` takes: what qemu reads and libvirt creates in
#: every file-based pool.
VOLUME_FORMATS = ("qcow2", "raw")


def volume_xml(name: str, capacity: int, fmt: str, backing: tuple[str, str] | None = None) -> str:
    """The XML of a new volume; `backing` is (path, format) of the file it overlays."""
    root = ET.Element("volume")
    ET.SubElement(root, "name").text = name
    ET.SubElement(root, "capacity", unit="bytes").text = str(capacity)
    ET.SubElement(root, "allocation", unit="bytes").text = "0"
    ET.SubElement(ET.SubElement(root, "target"), "format", type=fmt)
    if backing is not None:
        store = ET.SubElement(root, "backingStore")
        ET.SubElement(store, "path").text = backing[0]
        ET.SubElement(store, "format", type=backing[1])
    return ET.tostring(root, encoding="unicode")


def _backing(
    conn: libvirt.virConnect, pool: libvirt.virStoragePool, backing: str
) -> tuple[str, str]:
    """(path, format) of a backing volume named by path or by name in `pool`."""
    vol = (
        conn.storageVolLookupByPath(backing)
        if backing.startswith("/")
        else pool.storageVolLookupByName(backing)
    )
    fmt = ET.fromstring(vol.XMLDesc(0)).find("target/format")
    return vol.path(), fmt.get("type", "raw") if fmt is not None else "raw"


def check_new_volume(name: str, fmt: str, backing: str | None) -> None:
    if fmt not in VOLUME_FORMATS:
        raise CommandError(
            f"vol-create-as {name}: unknown format {quoted(fmt)} "
            f"(use {' or '.join(VOLUME_FORMATS)})"
        )
    if backing is not None and fmt != "qcow2":
        raise CommandError(f"vol-create-as {name}: a backing volume needs --format qcow2")
    if not name or "/" in name or not name.isprintable():
        raise CommandError(
            f"vol-create-as: {quoted(name)} is not a volume name (no '/', no control characters)"
        )


async def create_volume(
    host: Host,
    pool: str,
    name: str,
    capacity: int,
    *,
    fmt: str = "qcow2",
    backing: str | None = None,
) -> str:
    """Creates a volume of `capacity` bytes in `pool` and returns its path. `backing` (a
    path, or a volume of the same pool by name) makes it a qcow2 overlay of that file."""
    check_new_volume(name, fmt, backing)

    def create(conn: libvirt.virConnect) -> str:
        found = conn.storagePoolLookupByName(pool)
        base = _backing(conn, found, backing) if backing is not None else None
        return str(found.createXML(volume_xml(name, capacity, fmt, base), 0).path())

    return await host.run(create, what=f"vol-create-as {name} in {pool} on {host.name}")


async def delete_volume(host: Host, path: str) -> None:
    """Deletes the volume at `path` (its data is gone)."""
    await host.run(
        lambda conn: conn.storageVolLookupByPath(path).delete(0),
        what=f"vol-delete {path} on {host.name}",
    )


async def resize_volume(host: Host, path: str, capacity: int, *, shrink: bool) -> str:
    flags = libvirt.VIR_STORAGE_VOL_RESIZE_SHRINK if shrink else 0
    await host.run(
        lambda conn: conn.storageVolLookupByPath(path).resize(capacity, flags),
        what=f"vol-resize {path} on {host.name}",
    )
    return path


async def clone_volume(host: Host, path: str, new_name: str) -> str:
    """A full copy of the volume at `path`, named `new_name`, in the same pool and format;
    returns the copy's path."""

    def clone(conn: libvirt.virConnect) -> str:
        source = conn.storageVolLookupByPath(path)
        root = ET.fromstring(source.XMLDesc(0))
        fmt = root.find("target/format")
        xml = volume_xml(
            new_name,
            xml_bytes(root, "capacity"),
            fmt.get("type", "raw") if fmt is not None else "raw",
        )
        return str(source.storagePoolLookupByVolume().createXMLFrom(xml, source, 0).path())

    check_new_volume(new_name, "raw", None)
    return await host.run_long(clone, what=f"vol-clone {path} on {host.name}")
