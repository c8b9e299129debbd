"""The hosts: link state, versions, CPUs, memory and load, one row each."""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

from textual.binding import Binding, BindingType

from kvmtui.core.commands import Command
from kvmtui.screens.fleet_view import FleetView, Scope, sort_bindings
from kvmtui.screens.host_load import ShowsHostLoad
from kvmtui.widgets.fleet_tables import HOST_COLUMNS


class HostsScreen(ShowsHostLoad, FleetView):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "guests_of_host", "Its guests", id="hosts.guests"),
        Binding("c", "reconnect", "Reconnect now", id="hosts.reconnect"),
        # As on the guest list: k shows CPUs (a guest's vCPUs), d describes (its Info).
        Binding("k", "cpu_map", "CPU map", id="hosts.cpu_map"),
        Binding("d,i", "caps", "Capabilities", id="hosts.caps"),
        *sort_bindings("hosts", HOST_COLUMNS),
    ]

    def action_guests_of_host(self) -> None:
        host = self.table.current
        if host is not None:
            self.app.show_view(
                "guests", Scope.host(host.name, back=partial(self.app.show_view, "hosts"))
            )

    def action_cpu_map(self) -> None:
        host = self.table.current
        if host is not None:
            self.app.open_cpu_map(host.name)

    def action_caps(self) -> None:
        """`:caps` of the host under the cursor."""
        host = self.table.current
        if host is not None:
            self.app.controller.submit(Command("caps", (host.name,)))

    def action_reconnect(self) -> None:
        host = self.table.current
        if host is not None:
            self.app.fleet.host(host.name).reconnect_now()
            self.app.notify(f"{host.name}: reconnecting now")

    def on_live_table_row_selected(self, _event: Any) -> None:
        self.action_guests_of_host()
