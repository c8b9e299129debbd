"""`:nets`: every host's virtual networks, and (Enter) the DHCP leases of one of them.

The keys run the same net-* verbs as the `:` line, so a key and a typed command read,
refuse and confirm alike.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static
from textual.widgets.input import Selection

from kvmtui import format as fmt
from kvmtui.core.commands import Command
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.networks import Lease, NetworkSnapshot
from kvmtui.core.words import visible
from kvmtui.feed import Published
from kvmtui.screens.fleet_view import FleetView, sort_bindings
from kvmtui.widgets.command_line import PromptLine
from kvmtui.widgets.footer import KeysFooter
from kvmtui.widgets.guards import GuardsChanges
from kvmtui.widgets.live_table import Column, LiveTable

if TYPE_CHECKING:
    from kvmtui.app import KvmTuiApp


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _state(network: NetworkSnapshot) -> Text:
    return Text(network.state, style="green" if network.active else "dim")


def _leases(network: NetworkSnapshot) -> str:
    return fmt.DASH if network.leases is None else str(len(network.leases))


NETWORK_COLUMNS: list[Column[NetworkSnapshot]] = [
    Column("name", "Name", lambda n: n.name, lambda n: n.name.lower(), "N", max_width=20),
    Column("host", "Host", lambda n: n.host, lambda n: n.host, "H", max_width=12),
    Column("state", "State", _state, lambda n: n.state, "T"),
    Column("autostart", "Auto", lambda n: _yes(n.autostart), lambda n: n.autostart, "A"),
    Column("leases", "Leases", _leases, lambda n: len(n.leases or ()), "L", numeric=True),
    Column("forward", "Forward", lambda n: n.forward, lambda n: n.forward, "F"),
    Column("bridge", "Bridge", lambda n: n.bridge or fmt.DASH, lambda n: n.bridge, "B"),
    Column("address", "Address", lambda n: n.address or fmt.DASH, lambda n: n.address, None),
    Column("dhcp", "DHCP range", lambda n: n.dhcp or fmt.DASH, lambda n: n.dhcp, None),
]


#: What `n` puts on the `:` line before the name.
DEFINE = "net-define "


def network_table() -> LiveTable[NetworkSnapshot]:
    return LiveTable(
        NETWORK_COLUMNS,
        lambda n: n.key,
        lambda n: f"{n.name} {n.host} {n.state} {n.forward} {n.bridge}",
        sort_column="name",
        id="networks",
    )


class NetworksScreen(GuardsChanges, FleetView):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "leases", "Leases", id="networks.leases"),
        Binding("s", "net('net-start')", "Start", id="networks.start"),
        Binding("ctrl+k", "net('net-destroy')", "Destroy", id="networks.destroy"),
        Binding("a", "toggle_autostart", "Autostart", id="networks.autostart"),
        Binding("ctrl+d", "net('net-undefine')", "Undefine", show=False, id="networks.undefine"),
        Binding("n", "define", "New network", show=False, id="networks.define"),
        *sort_bindings("networks", NETWORK_COLUMNS),
    ]

    MUTATING = MappingProxyType(
        {"net": "", "toggle_autostart": "net-autostart", "define": "net-define"}
    )

    def change_targets(self, action: str) -> tuple[Sequence[GuestSnapshot], Sequence[str]]:
        """A new network's host is typed on the line; the others act on the row's."""
        network = self.table.current
        return (), [network.host] if network is not None and action != "define" else []

    def _run(self, verb: str, network: NetworkSnapshot, **options: str | bool) -> None:
        self.app.controller.submit(Command(verb, (network.key,), options))

    def action_net(self, verb: str) -> None:
        network = self.table.current
        if network is not None:
            self._run(verb, network)

    def action_toggle_autostart(self) -> None:
        network = self.table.current
        if network is not None:
            self._run("net-autostart", network, **({"disable": True} if network.autostart else {}))

    def action_define(self) -> None:
        """The `:` line with net-define's short form to fill in, the cursor where the name
        goes (the subnet follows at the end)."""
        line = self.query_one(PromptLine)
        line.open(":", f"{DEFINE} --dhcp --subnet ")
        # Taking focus selects the whole line (typing would replace it): after that, only
        # the cursor, where the name goes.
        self.call_after_refresh(setattr, line, "selection", Selection.cursor(len(DEFINE)))

    def action_leases(self) -> None:
        network = self.table.current
        if network is not None:
            self.app.push_screen(LeasesScreen(network.key))

    def on_live_table_row_selected(self, _event: object) -> None:
        self.action_leases()


def _expires(lease: Lease) -> str:
    """`51m05s`, `2h03m`: short, so the column stays narrow."""
    if not lease.expires:
        return "never"
    minutes, seconds = divmod(max(0, int(lease.expires - time.time())), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


LEASE_COLUMNS: list[Column[Lease]] = [
    Column("mac", "MAC", lambda x: x.mac, lambda x: x.mac, "M"),
    Column("ip", "IP address", lambda x: x.ip, lambda x: x.ip, "I"),
    Column(
        "hostname",
        "Hostname",
        # the name the guest sent in its DHCP request: chosen inside the guest
        lambda x: visible(x.hostname) if x.hostname else fmt.DASH,
        lambda x: x.hostname,
        "H",
        max_width=20,
    ),
    Column(
        "guest",
        "Guest",
        lambda x: x.guest or Text("not a guest here", style="dim"),
        lambda x: x.guest,
        "G",
        max_width=24,
    ),
    Column("expires", "Expires in", _expires, lambda x: x.expires, "E", numeric=True),
]


class LeasesScreen(Screen[None]):
    """One network's DHCP leases, followed as the network service reads them again."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back", id="leases.back"),
        Binding("r", "reread", "Read again", id="leases.reread"),
        *sort_bindings("leases", LEASE_COLUMNS),
    ]

    app: KvmTuiApp

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.table: LiveTable[Lease] = LiveTable(
            LEASE_COLUMNS,
            lambda x: x.mac,
            lambda x: f"{x.mac} {x.ip} {x.hostname} {x.guest}",
            sort_column="ip",
            id="leases",
        )

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield self.table
        yield Static(id="note")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.show()
        self.table.focus()

    def on_screen_resume(self) -> None:
        """The leases are the network service's rows: it reads while they are shown."""
        self.app.services.networks.watch()

    def on_screen_suspend(self) -> None:
        self.app.services.networks.unwatch()

    def on_published(self, message: Published) -> None:
        if message.about("networks"):
            self.show()

    def action_sort(self, column: str) -> None:
        self.table.sort_by(column)

    def action_reread(self) -> None:
        self.app.services.networks.refresh_soon()

    def _network(self) -> NetworkSnapshot | None:
        found: Mapping[str, NetworkSnapshot] = {
            n.key: n for n in self.app.services.networks.networks()
        }
        return found.get(self.key)

    def show(self) -> None:
        network = self._network()
        name, _, host = self.key.rpartition("@")
        title = Text(f" DHCP leases: {name} on {host} ", style="bold reverse")
        note = Text()
        if network is None:
            note.append(" This network is gone.", style="bold red")
        elif network.leases is None:
            note.append(f" Leases not readable: {network.leases_note}", style="yellow")
        elif not network.leases:
            note.append(" No leases yet.", style="dim")
        if network is not None:
            title.append(
                f"  {network.state}, {network.forward}, {network.address or '-'}, "
                f"DHCP {network.dhcp or 'off'}"
            )
        self.query_one("#title", Static).update(title)
        self.query_one("#note", Static).update(note)
        self.table.show(network.leases or () if network is not None else ())
