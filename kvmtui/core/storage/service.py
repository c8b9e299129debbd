"""The storage service the pools and volumes views follow (on the resource-service base),
and the uploads under way into volumes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path

from kvmtui.core.commands import CommandError
from kvmtui.core.fleet import Fleet
from kvmtui.core.host import Host
from kvmtui.core.resource import ResourceService
from kvmtui.core.storage.readings import HostStorage, PoolSnapshot, VolumeSnapshot, read_storage
from kvmtui.core.storage.upload import upload_volume


class StorageService(ResourceService[HostStorage]):
    """The fleet's pools and volumes as last read, on the resource-service base
    (kvmtui.core.resource): read while a view shows storage, on libvirt's pool events and
    at once after a change made here. Volumes have no events, so a volume made by another
    tool shows on the next pool event or change; `r` on the pools view reads again."""

    EVENTS = frozenset({"pool"})

    def __init__(self, fleet: Fleet) -> None:
        super().__init__(fleet)
        self._uploads: dict[str, Upload] = {}

    async def read_host(self, host: Host) -> HostStorage:
        return await host.run(
            lambda conn: read_storage(conn, host.name), what=f"storage of {host.name}"
        )

    # ---- what the views read ----------------------------------------------------------

    def pools(self) -> list[PoolSnapshot]:
        return [pool for storage in self.readings() for pool in storage.pools]

    def volumes(self) -> list[VolumeSnapshot]:
        """Every volume as last read, with the progress of uploads into them."""
        uploads = self._uploads
        return [
            replace(vol, uploading=uploads[vol.key].percent) if vol.key in uploads else vol
            for storage in self.readings()
            for vol in storage.volumes
        ]

    def uploads(self) -> dict[str, Upload]:
        """Uploads under way, by the key of the volume they fill."""
        return dict(self._uploads)

    async def close(self) -> None:
        await super().close()
        for upload in list(self._uploads.values()):
            upload.cancel()

    # ---- uploads ------------------------------------------------------------------------

    async def upload(self, host: Host, pool: str, name: str, local: Path) -> str:
        """`upload_volume`, followed by the views (progress in the volume's row) and
        cancellable with `Upload.cancel`; a cancelled upload raises CommandError after its
        volume is deleted."""
        key = f"{pool}/{name}@{host.name}"
        if key in self._uploads:
            raise CommandError(f"vol-upload: {name} in {pool} on {host.name} is uploading already")
        upload = Upload()

        def progress(done: int, total: int) -> None:
            first = upload.total is None
            upload.done, upload.total = done, total
            if first:  # the volume now exists: show its row
                self.refresh_soon([host.name])
            self.publish()

        upload.task = asyncio.ensure_future(upload_volume(host, pool, name, local, progress))
        self._uploads[key] = upload
        try:
            return await asyncio.shield(upload.task)
        except asyncio.CancelledError:
            if not upload.task.cancelled():  # we are cancelled, not the upload: stop it too
                upload.cancel()
                await asyncio.wait([upload.task])  # until its volume is deleted
                raise
            raise CommandError(
                f"vol-upload {name}: cancelled; the partial volume was deleted"
            ) from None
        finally:
            del self._uploads[key]
            await self.refresh([host.name])


@dataclass
class Upload:
    """An upload under way, as the volumes view shows it."""

    done: int = 0
    total: int | None = None  # None until the volume exists
    task: asyncio.Future[str] | None = None

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 0.0

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
