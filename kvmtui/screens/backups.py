"""The backups view (`:backups`): every guest's chain of backup points, oldest first, with
each point's time, kind, size, checkpoint and whether it was verified; on the newest point
of a chain, the chain's size and the point's age, flagged STALE when older than the config's
`backup_max_age`.

Its rows come from the catalogue (`BackupService`, kept in kvmtui's store), repainted when a
point is added, verified or pruned. Keys: `v` verifies the point under the cursor; `r` puts
`:restore GUEST POINT --as NAME` on the command line, to be edited and run; `p` puts
`:backup-prune GUEST --keep ` there, for the count to keep.
"""

from __future__ import annotations

import time
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from kvmtui import format as fmt
from kvmtui.core.backups import BackupRow
from kvmtui.core.commands import Command
from kvmtui.screens.fleet_view import FleetView, sort_bindings
from kvmtui.widgets.command_line import PromptLine
from kvmtui.widgets.live_table import Column, LiveTable


def _verified(row: BackupRow) -> str:
    verified = row.point.verified
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(verified)) if verified else "no"


def _chain(row: BackupRow) -> Text:
    """On the newest point: how many points and bytes the chain holds, and its age."""
    if not row.newest:
        return Text("")
    age = fmt.age(time.time() - row.point.time)
    text = Text(f"{fmt.plural(row.points, 'point')}, {fmt.size(row.total)}, {age} old")
    if row.stale:
        text.append(" STALE", style="bold red")
    return text


BACKUP_COLUMNS: list[Column[BackupRow]] = [
    Column(
        "guest",
        "Guest",
        lambda r: r.point.guest,
        lambda r: (r.point.guest.lower(), r.point.host, r.point.time),
        "N",
        max_width=24,
    ),
    Column("host", "Host", lambda r: r.point.host, lambda r: r.point.host, "H", max_width=16),
    Column("point", "Point", lambda r: r.point.name, lambda r: r.point.time, "T"),
    Column("kind", "Kind", lambda r: r.point.kind, lambda r: r.point.kind, "K"),
    Column(
        "size",
        "Size",
        lambda r: fmt.size(r.point.size),
        lambda r: r.point.size,
        "S",
        numeric=True,
    ),
    Column("chain", "Chain", _chain, lambda r: (not r.stale, r.total), "C"),
    Column("verified", "Verified", _verified, lambda r: r.point.verified or 0.0, "V"),
    Column("checkpoint", "Checkpoint", lambda r: r.point.checkpoint, lambda r: r.point.checkpoint),
    Column("pool", "Pool", lambda r: r.point.pool, lambda r: r.point.pool, None),
]


def backup_table() -> LiveTable[BackupRow]:
    return LiveTable(
        BACKUP_COLUMNS,
        lambda r: r.key,
        lambda r: (
            f"{r.point.guest} {r.point.host} {r.point.name} {r.point.kind}"
            + (" stale" if r.stale else "")
        ),
        sort_column="guest",
        id="backups",
    )


class BackupsScreen(FleetView):
    """Repainted by the catalogue's notices."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "verify", "Verify", id="backups.verify"),
        Binding("r", "restore", "Restore", id="backups.restore"),
        Binding("p", "prune", "Prune", id="backups.prune"),
        *sort_bindings("backups", BACKUP_COLUMNS),
    ]

    def on_screen_resume(self) -> None:
        """The catalogue read again as the view comes up: points a one-shot `backup` (cron)
        added since show."""
        super().on_screen_resume()
        self.app.run_worker(self.app.services.backups.refresh(), group="store")

    def action_verify(self) -> None:
        row = self.table.current
        if row is not None:
            point = row.point
            self.app.controller.submit(Command("backup-verify", (point.ref, point.name)))

    def action_restore(self) -> None:
        """The restore line, for the new guest's name to be typed (or `--as` removed to
        restore over the guest itself)."""
        row = self.table.current
        if row is not None:
            self.query_one(PromptLine).open(
                ":", f"restore {row.point.ref} {row.point.name} --as {row.point.guest}-restored"
            )

    def action_prune(self) -> None:
        row = self.table.current
        if row is not None:
            self.query_one(PromptLine).open(":", f"backup-prune {row.point.ref} --keep ")
