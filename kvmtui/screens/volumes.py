"""The volumes view: every volume of every active pool, which guest uses it (unused ones
flagged: what an operator looks for before deleting), uploads under way with their
progress; Enter on a pool shows only that pool's volumes."""

from __future__ import annotations

from types import MappingProxyType
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from kvmtui import format as fmt
from kvmtui.core.commands import Command
from kvmtui.core.storage.readings import VolumeSnapshot
from kvmtui.screens.fleet_view import sort_bindings
from kvmtui.screens.pools import StorageView
from kvmtui.widgets.live_table import Column, LiveTable


def users_text(volume: VolumeSnapshot) -> str | Text:
    """Who needs the volume: an upload into it, guests, overlays on it; else "unused"."""
    if volume.uploading is not None:
        return Text(f"uploading {volume.uploading:.0f}%", style="cyan")
    if volume.used_by:
        return ", ".join(volume.used_by)
    if volume.backs:
        return "backs " + ", ".join(volume.backs)
    return Text("unused", style="yellow")


VOLUME_COLUMNS: list[Column[VolumeSnapshot]] = [
    Column("name", "Name", lambda v: v.name, lambda v: (v.name.lower(), v.host), "N", max_width=24),
    Column("pool", "Pool", lambda v: v.pool, lambda v: v.pool.lower(), "O", max_width=14),
    Column("host", "Host", lambda v: v.host, lambda v: v.host, "H", max_width=12),
    Column("format", "Format", lambda v: v.format or fmt.DASH, lambda v: v.format, "Y"),
    Column(
        "capacity",
        "Size",
        lambda v: fmt.compact(v.capacity),
        lambda v: v.capacity,
        "S",
        numeric=True,
    ),
    Column(
        "allocation",
        "Alloc",
        lambda v: fmt.compact(v.allocation),
        lambda v: v.allocation,
        "A",
        numeric=True,
    ),
    Column(
        "users",
        "Used by",
        users_text,
        lambda v: (not v.unused, ", ".join(v.used_by or v.backs)),
        "U",
        max_width=24,
    ),
    Column("path", "Path", lambda v: v.path, lambda v: v.path, "P", max_width=48),
]


def volume_table() -> LiveTable[VolumeSnapshot]:
    return LiveTable(
        VOLUME_COLUMNS,
        lambda v: v.key,
        lambda v: " ".join(
            [v.name, v.pool, v.host, v.format, v.path, *v.used_by, "unused" if v.unused else ""]
        ),
        sort_column="name",
        id="vols",
    )


class VolumesScreen(StorageView):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+d", "delete", "Delete", id="vols.delete"),
        Binding("c", "cancel_upload", "Cancel upload", show=False, id="vols.cancel_upload"),
        *sort_bindings("vols", VOLUME_COLUMNS),
    ]
    MUTATING = MappingProxyType({"delete": "vol-delete"})

    def scope_keys(self, row: VolumeSnapshot) -> tuple[str, ...]:
        """Enter on a pool limits the volumes to that pool's."""
        return (row.pool_key,)

    def action_delete(self) -> None:
        volume = self.table.current
        if volume is not None:
            self.app.controller.submit(
                Command("vol-delete", (volume.path,), {"host": volume.host, "pool": volume.pool})
            )

    def action_cancel_upload(self) -> None:
        volume = self.table.current
        upload = self.storage().uploads().get(volume.key) if volume is not None else None
        if upload is None:
            self.app.controller.operator.error("no upload under way into this volume")
        else:
            upload.cancel()
