"""The volumes view: every volume of every active pool, which guest uses it (unused ones
flagged: what an operator looks for before deleting), uploads under way with their
progress; Enter on a pool shows only that pool's volumes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from kvmtui import format as fmt
from kvmtui.core.commands import Command
from kvmtui.core.fleet import FleetSnapshot
from kvmtui.core.storage.readings import VolumeSnapshot
from kvmtui.screens.fleet_view import sort_bindings
from kvmtui.screens.pools import StorageView
from kvmtui.widgets.live_table import Column, LiveTable

if TYPE_CHECKING:
    from kvmtui.views import View


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
    Column("name", "Name", lambda v: v.name, lambda v: (v.name.lower(), v.host), "N",
           max_width=24),
    Column("pool", "Pool", lambda v: v.pool, lambda v: v.pool.lower(), "O", max_width=14),
    Column("host", "Host", lambda v: v.host, lambda v: v.host, "H", max_width=12),
    Column("format", "Format", lambda v: v.format or fmt.DASH, lambda v: v.format, "Y"),
    Column("capacity", "Size", lambda v: fmt.compact(v.capacity), lambda v: v.capacity, "S",
           numeric=True),
    Column("allocation", "Alloc", lambda v: fmt.compact(v.allocation),
           lambda v: v.allocation, "A", numeric=True),
    Column("users", "Used by", users_text,
           lambda v: (not v.unused, ", ".join(v.used_by or v.backs)), "U", max_width=24),
    Column("path", "Path", lambda v: v.path, lambda v: v.path, "P", max_width=48),
]


def volume_table() -> LiveTable[VolumeSnapshot]:
    return LiveTable(
        VOLUME_COLUMNS, lambda v: v.key,
        lambda v: " ".join([v.name, v.pool, v.host, v.format, v.path, *v.used_by,
                            "unused" if v.unused else ""]),
        sort_column="name", id="vols")


class VolumesScreen(StorageView):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+d", "delete", "Delete", id="vols.delete"),
        Binding("c", "cancel_upload", "Cancel upload", show=False, id="vols.cancel_upload"),
        *sort_bindings("vols", VOLUME_COLUMNS),
    ]
    MUTATING = frozenset({"delete"})

    def __init__(self, view: View) -> None:
        super().__init__(view)
        self.pool_filter = ""  # "pool@host" when Enter on a pool chose one

    def narrow_to_pool(self, key: str) -> None:
        """Shows only pool `key`'s volumes ("" for all); a screen shown for the first time
        fills itself when it mounts."""
        self.pool_filter = key
        if self.is_mounted:
            self.refill()

    def rows(self, snapshot: FleetSnapshot) -> Sequence[VolumeSnapshot]:
        volumes: Sequence[VolumeSnapshot] = self.view.read(self.app.services, snapshot)
        if self.pool_filter:
            return [v for v in volumes if v.pool_key == self.pool_filter]
        return volumes

    def status_line(self, snapshot: FleetSnapshot) -> Text:
        line = super().status_line(snapshot)
        if self.pool_filter:
            line.append(f"   pool: {self.pool_filter}", style="bold cyan")
        return line

    def action_clear(self) -> None:
        """Escape: the filter first, then the pool chosen, then the marks."""
        if not self.table.filter_text and self.pool_filter:
            self.narrow_to_pool("")
        else:
            super().action_clear()

    def action_delete(self) -> None:
        volume = self.table.current
        if volume is not None:
            self.app.controller.submit(Command("vol-delete", (volume.path,),
                                               {"host": volume.host, "pool": volume.pool}))

    def action_cancel_upload(self) -> None:
        volume = self.table.current
        upload = self.storage().uploads().get(volume.key) if volume is not None else None
        if upload is None:
            self.app.controller.operator.error("no upload under way into this volume")
        else:
            upload.cancel()
