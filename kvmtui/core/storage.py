"""Storage volumes on a host: create, delete, upload (the contract other features use).

Minimal version for guest creation: the storage helper's module (pools and volumes views,
the pool-*/vol-* verbs) replaces it with the same signatures. Every call runs on the
host's lane and fails as a HostError naming the host.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree as ET

import libvirt

from kvmtui.core.host import Host

#: How much of a local file one stream write sends.
_CHUNK = 256 * 1024


def volume_xml(name: str, capacity: int, fmt: str, backing: str | None = None,
               backing_fmt: str = "raw") -> str:
    """A volume definition; names reach libvirt escaped, whatever they hold."""
    vol = ET.Element("volume")
    ET.SubElement(vol, "name").text = name
    ET.SubElement(vol, "capacity", unit="bytes").text = str(capacity)
    target = ET.SubElement(vol, "target")
    ET.SubElement(target, "format", type=fmt)
    if backing is not None:
        store = ET.SubElement(vol, "backingStore")
        ET.SubElement(store, "path").text = backing
        ET.SubElement(store, "format", type=backing_fmt)
    return ET.tostring(vol, encoding="unicode")


async def create_volume(host: Host, pool: str, name: str, capacity: int, *,
                        fmt: str = "qcow2", backing: str | None = None) -> str:
    """Creates volume `name` of `capacity` bytes in `pool`; returns its path. A `backing`
    image (an overlay's base) is named with its own format, which qemu-img needs."""

    def create(conn: libvirt.virConnect) -> str:
        backing_fmt = _format(conn, backing) if backing is not None else "raw"
        xml = volume_xml(name, capacity, fmt, backing, backing_fmt)
        return str(conn.storagePoolLookupByName(pool).createXML(xml, 0).path())

    return await host.run(create, what=f"vol-create-as {name} in {pool} on {host.name}")


def _format(conn: libvirt.virConnect, path: str) -> str:
    """The format libvirt knows the volume at `path` by (raw when it names none)."""
    target = ET.fromstring(conn.storageVolLookupByPath(path).XMLDesc(0)).find("target/format")
    return target.get("type", "raw") if target is not None else "raw"


async def delete_volume(host: Host, path: str) -> None:
    """Deletes the volume at `path` (its storage too)."""
    await host.run(lambda conn: conn.storageVolLookupByPath(path).delete(0),
                   what=f"vol-delete {path} on {host.name}")


async def upload_volume(host: Host, pool: str, name: str, local: Path,
                        progress: Callable[[int, int], None] | None = None) -> str:
    """Uploads local file `local` as new raw volume `name` in `pool`, over the host's own
    connection (a stream), so a remote host needs no shared filesystem; returns its path.
    A failed upload deletes the volume it created. `progress(sent, total)` is called on
    the host's thread."""
    size = local.stat().st_size
    path = await create_volume(host, pool, name, size, fmt="raw")

    def upload(conn: libvirt.virConnect) -> None:
        vol = conn.storageVolLookupByPath(path)
        stream = conn.newStream(0)
        vol.upload(stream, 0, size, 0)
        sent = 0
        try:
            with local.open("rb") as source:
                while chunk := source.read(_CHUNK):
                    view = memoryview(chunk)
                    while view:
                        written = stream.send(view.tobytes())
                        view = view[written:]
                    sent += len(chunk)
                    if progress is not None:
                        progress(sent, size)
            stream.finish()
        except BaseException:
            stream.abort()
            raise

    try:
        await host.run_long(upload, what=f"vol-upload {name} to {pool} on {host.name}")
    except BaseException:
        await delete_volume(host, path)
        raise
    return path

