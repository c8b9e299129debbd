"""The hosts: link state, versions, CPUs, memory and load, one row each."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType

from kvmtui.core.fleet import FleetSnapshot
from kvmtui.core.model import HostSnapshot
from kvmtui.screens.fleet_view import FleetView, sort_bindings
from kvmtui.widgets.fleet_tables import HOST_COLUMNS, host_table
from kvmtui.widgets.live_table import LiveTable


class HostsScreen(FleetView):
    VIEW_NAME = "hosts"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "guests_of_host", "Its guests"),
        Binding("c", "reconnect", "Reconnect now"),
        Binding("p", "cpu_map", "CPU map"),
        *sort_bindings(HOST_COLUMNS),
    ]

    def make_table(self) -> LiveTable[HostSnapshot]:
        return host_table()

    def fill_table(self, snapshot: FleetSnapshot) -> None:
        self.table.show(snapshot.hosts)

    def action_guests_of_host(self) -> None:
        host = self.table.current
        if host is not None:
            self.app.show_view("guests")
            self.app.screen.narrow_to_host(host.name)  # type: ignore[attr-defined]  # guests, just shown

    def action_cpu_map(self) -> None:
        host = self.table.current
        if host is not None:
            self.app.open_cpu_map(host.name)

    def action_reconnect(self) -> None:
        host = self.table.current
        if host is not None:
            self.app.fleet.host(host.name).reconnect_now()
            self.app.notify(f"{host.name}: reconnecting now")

    def on_live_table_row_selected(self, _event: Any) -> None:
        self.action_guests_of_host()
