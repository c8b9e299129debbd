"""Uploading a local file into a new volume over the host's connection (`vol-upload`): the
volume made for it is deleted again if the upload fails or is cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable
from pathlib import Path

import libvirt

from kvmtui.core.commands import CommandError
from kvmtui.core.errors import HostError
from kvmtui.core.host import Host
from kvmtui.core.storage.volumes import check_new_volume, volume_xml

#: Bytes per `virStreamSend` of an upload: large enough that a remote link is kept busy,
#: small enough that progress moves and a cancel is seen within a moment.
UPLOAD_CHUNK = 4 * 1024 * 1024


class UploadCancelled(Exception):
    """The upload was stopped between chunks; its volume is deleted."""


def _send(
    stream: libvirt.virStream,
    local: Path,
    total: int,
    cancel: threading.Event,
    progress: Callable[[int], None],
) -> None:
    done = 0
    with local.open("rb") as source:
        while chunk := source.read(UPLOAD_CHUNK):
            view = memoryview(chunk)
            while view:
                if cancel.is_set():
                    raise UploadCancelled
                sent = stream.send(bytes(view))
                view = view[sent:]
                done += sent
            progress(done)
    if done != total:
        raise OSError(f"{local} changed size during the upload ({done} of {total} bytes)")


def _upload(
    conn: libvirt.virConnect,
    pool: str,
    name: str,
    local: Path,
    total: int,
    cancel: threading.Event,
    progress: Callable[[int], None],
) -> str:
    found = conn.storagePoolLookupByName(pool)
    vol = found.createXML(volume_xml(name, total, "raw"), 0)
    try:
        progress(0)
        stream = conn.newStream(0)
        vol.upload(stream, 0, total, 0)
        try:
            _send(stream, local, total, cancel, progress)
            stream.finish()
        except BaseException:
            stream.abort()
            raise
        found.refresh(0)  # libvirt reads the uploaded image's format (qcow2 ...) anew
        return str(vol.path())
    except BaseException:
        vol.delete(0)
        raise


async def upload_volume(
    host: Host,
    pool: str,
    name: str,
    local: Path,
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """Creates volume `name` in `pool` as large as the local file and sends the file into
    it over the host's own libvirt connection (a virStream, in chunks), returning its path.
    `progress(done, total)` runs on the event loop after each chunk. Cancelling the
    awaiting task stops it after the chunk in flight; on any failure the volume is deleted.
    """
    check_new_volume(name, "raw", None)
    try:
        total = local.stat().st_size
        local.open("rb").close()
    except OSError as error:
        raise CommandError(
            f"vol-upload {name}: cannot read {local}: {error.strerror or error}"
        ) from None
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()  # the caller's, which its listeners expect
    cancel = threading.Event()

    def report(done: int) -> None:
        if progress is not None:
            loop.call_soon_threadsafe(progress, done, total, context=context)

    work = asyncio.ensure_future(
        host.run_long(
            lambda conn: _upload(conn, pool, name, local, total, cancel, report),
            what=f"vol-upload {name} to {pool} on {host.name}",
        )
    )
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        cancel.set()
        with contextlib.suppress(HostError, asyncio.CancelledError):
            await work  # the thread deletes the volume before it ends: wait for that
        raise
