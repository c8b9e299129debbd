"""The pools view: every storage pool of every host, with the pool verbs on keys, and what
the pools and volumes views share (the storage service they follow, keys that run verbs).

Keys run the same `:` verbs a user could type (`pool-start images@kvm1`), so a key and a
command line take one path: the verb's handler, then the controller.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from types import MappingProxyType
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from kvmtui import format as fmt
from kvmtui.core.commands import Command
from kvmtui.core.fleet import FleetSnapshot
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.storage.readings import PoolSnapshot
from kvmtui.core.storage.service import StorageService
from kvmtui.screens.fleet_view import FleetView, Scope, sort_bindings
from kvmtui.widgets.guards import GuardsChanges
from kvmtui.widgets.live_table import Column, LiveTable

_STATE_STYLE = {
    "running": "green",
    "inactive": "dim",
    "degraded": "yellow",
    "inaccessible": "bold red",
    "building": "cyan",
}


def _state(pool: PoolSnapshot) -> Text:
    return Text(pool.state, style=_STATE_STYLE.get(pool.state, ""))


def _used(pool: PoolSnapshot) -> str:
    """How full the pool is, as a percentage of its capacity."""
    return f"{100 * pool.allocation / pool.capacity:.0f}%" if pool.capacity else fmt.DASH


def _size(value: int, pool: PoolSnapshot) -> str:
    return fmt.compact(value) if pool.active else fmt.DASH


POOL_COLUMNS: list[Column[PoolSnapshot]] = [
    Column("name", "Name", lambda p: p.name, lambda p: (p.name.lower(), p.host), "N", max_width=20),
    Column("host", "Host", lambda p: p.host, lambda p: p.host, "H", max_width=12),
    Column("type", "Type", lambda p: p.type, lambda p: p.type, "Y"),
    Column("state", "State", _state, lambda p: p.state, "T"),
    Column(
        "autostart", "Auto", lambda p: "yes" if p.autostart else "no", lambda p: p.autostart, "A"
    ),
    Column(
        "capacity", "Size", lambda p: _size(p.capacity, p), lambda p: p.capacity, "S", numeric=True
    ),
    Column(
        "allocation",
        "Used",
        lambda p: _size(p.allocation, p),
        lambda p: p.allocation,
        "U",
        numeric=True,
    ),
    Column(
        "full",
        "Use%",
        _used,
        lambda p: p.allocation / p.capacity if p.capacity else 0,
        None,
        numeric=True,
    ),
    Column(
        "available",
        "Free",
        lambda p: _size(p.available, p),
        lambda p: p.available,
        "F",
        numeric=True,
    ),
    Column(
        "volumes",
        "Vols",
        lambda p: fmt.DASH if p.volumes is None else str(p.volumes),
        lambda p: p.volumes or 0,
        "V",
        numeric=True,
    ),
    Column("path", "Path", lambda p: p.target, lambda p: p.target, "P", max_width=40),
]


def pool_table() -> LiveTable[PoolSnapshot]:
    return LiveTable(
        POOL_COLUMNS,
        lambda p: p.key,
        lambda p: f"{p.name} {p.host} {p.type} {p.state} {p.target}",
        sort_column="name",
        id="pools",
    )


class StorageView(GuardsChanges, FleetView):
    """A view fed by the storage service, whose keys run the storage verbs."""

    def storage(self) -> StorageService:
        return self.app.services.storage

    def rows(self, snapshot: FleetSnapshot) -> Sequence[Any]:
        return self.scoped(self.view.read(self.app.services, snapshot))

    def fill_table(self, snapshot: FleetSnapshot) -> None:
        """Rows, and the keys that need a row shown once the first one arrives."""
        had_row = self.table.current is not None
        self.table.show(self.rows(snapshot))
        if (self.table.current is not None) != had_row:
            self.refresh_bindings()

    def host_of_current(self) -> str | None:
        row: Any = self.table.current
        return row.host if row is not None else None

    def change_targets(self, action: str) -> tuple[Sequence[GuestSnapshot], Sequence[str]]:
        host = self.host_of_current()
        return (), [host] if host is not None else []

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that change storage need a row; see `GuardsChanges` for the rest."""
        if action in self.MUTATING and self.host_of_current() is None:
            return False
        return super().check_action(action, parameters)

    def run_verb(self, verb: str, row: Any, **options: str | bool) -> None:
        """Runs `verb` on the pool or volume `row`, named `NAME@HOST`, as `:verb` would."""
        self.app.controller.submit(Command(verb, (f"{row.name}@{row.host}",), options))


class PoolsScreen(StorageView):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "volumes", "Volumes", id="pools.volumes"),
        Binding("s", "pool('pool-start')", "Start", id="pools.start"),
        Binding("ctrl+k", "pool('pool-destroy')", "Stop", id="pools.destroy"),
        Binding("a", "autostart", "Autostart", show=False, id="pools.autostart"),
        Binding("r", "pool('pool-refresh')", "Refresh", show=False, id="pools.refresh"),
        Binding("b", "pool('pool-build')", "Build", show=False, id="pools.build"),
        Binding("ctrl+d", "pool('pool-undefine')", "Undefine", show=False, id="pools.undefine"),
        *sort_bindings("pools", POOL_COLUMNS),
    ]
    MUTATING = MappingProxyType({"pool": "", "autostart": "pool-autostart"})

    def action_volumes(self) -> None:
        pool = self.table.current
        if pool is not None:
            self.app.show_view(
                "vols",
                Scope(
                    f"pool: {pool.name}@{pool.host}",
                    frozenset({pool.key}),
                    back=partial(self.app.show_view, "pools"),
                ),
            )

    def on_live_table_row_selected(self, _event: object) -> None:
        self.action_volumes()

    def action_pool(self, verb: str) -> None:
        pool = self.table.current
        if pool is not None:
            self.run_verb(verb, pool)

    def action_autostart(self) -> None:
        pool = self.table.current
        if pool is not None:
            self.run_verb("pool-autostart", pool, **({"disable": True} if pool.autostart else {}))
