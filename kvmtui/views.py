"""The views the operator moves between, k9s style: one registry entry per view.

An entry names the view and its `:` aliases, says what its table looks like (columns, row
key, filter text), which core reader fills it and which core publishers it follows; its
actions and keys are its screen's BINDINGS. The app builds everything that lists views
from `VIEWS`: the modes, the digit keys (in this order, 1 to 9), the `:` words that switch
view and their completion, the command palette and the help screen.

A view whose rows the fleet snapshot does not hold is fed by a core service (a `Publisher`):
`SERVICES` names each by topic, and the app makes it once, with the fleet, and follows it.
A new view (snapshots, pools, networks ...) is one screen module, one core module, one
`VIEWS` entry and, when it has its own service, one `SERVICES` entry: nothing in `app.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from kvmtui.core.addresses import AddressBook
from kvmtui.core.fleet import Fleet
from kvmtui.core.migration import MigrationManager
from kvmtui.core.networks import NetworkService
from kvmtui.core.publish import Publisher
from kvmtui.core.snapshots import SnapshotBook
from kvmtui.core.storage import StorageService
from kvmtui.screens.fleet_view import FleetView
from kvmtui.screens.guests import GuestsScreen
from kvmtui.screens.hosts import HostsScreen
from kvmtui.screens.jobs import JobsScreen, job_table
from kvmtui.screens.networks import NetworksScreen, network_table, read_networks
from kvmtui.screens.pools import PoolsScreen, pool_table
from kvmtui.screens.snapshots import SnapshotsScreen, snapshot_table
from kvmtui.screens.volumes import VolumesScreen, volume_table
from kvmtui.widgets.fleet_tables import guest_table, host_table

if TYPE_CHECKING:
    from kvmtui.app import KvmTuiApp
    from kvmtui.core.fleet import FleetSnapshot
    from kvmtui.widgets.live_table import LiveTable


@dataclass(frozen=True)
class View:
    """One view: see the module docstring."""

    name: str
    #: `:` words that show this view; the name is always one of them.
    aliases: tuple[str, ...]
    title: str
    summary: str
    #: Its screen: the actions and keys (BINDINGS) of this view.
    screen: type[FleetView]
    #: A new table for it: its columns, row key and filter text.
    table: Callable[[], LiveTable[Any]]
    #: Its rows as the core has them now (the fleet snapshot is at hand for every view).
    read: Callable[[KvmTuiApp, FleetSnapshot], Sequence[Any]]
    #: What repaints it: "fleet" and `SERVICES` topics.
    topics: tuple[str, ...] = ("fleet",)

    @property
    def binding_id(self) -> str:
        """The id of the app-wide key that shows this view (a digit unless remapped)."""
        return f"app.{self.name}"

    def make_screen(self) -> FleetView:
        return self.screen(self)


#: The core services the views follow besides the fleet, by topic: `make(fleet)`.
SERVICES: Mapping[str, Callable[[Fleet], Publisher]] = MappingProxyType(
    {"migrations": MigrationManager, "snapshots": SnapshotBook, "storage": StorageService.of,
     "networks": NetworkService.of, "addresses": AddressBook})

VIEWS: tuple[View, ...] = (
    View("guests", ("guests", "domains", "vms"), "Guests", "All guests of all hosts",
         GuestsScreen, guest_table,
         lambda app, snapshot: app.service(AddressBook).annotate(snapshot.guests),
         topics=("fleet", "addresses")),
    View("hosts", ("hosts", "nodes"), "Hosts", "The hosts, their link, load and versions",
         HostsScreen, host_table, lambda _app, snapshot: snapshot.hosts),
    View("jobs", ("jobs", "migrations"), "Jobs", "Migrations started here, running or done",
         JobsScreen, job_table, lambda app, _snapshot: app.migrations.jobs(),
         topics=("fleet", "migrations")),
    View("snapshots", ("snapshots", "snapshot"), "Snapshots",
         "Every guest's snapshots: take, revert, delete, mark current",
         SnapshotsScreen, snapshot_table,
         lambda app, _snapshot: app.service(SnapshotBook).rows(),
         topics=("fleet", "snapshots")),
    View("pools", ("pools", "pool-list"), "Pools", "Storage pools of all hosts",
         PoolsScreen, pool_table,
         lambda app, _snapshot: app.service(StorageService).pools(),
         topics=("fleet", "storage")),
    View("vols", ("vols", "volumes", "vol-list"), "Volumes",
         "Volumes of all pools, and the guests using them", VolumesScreen, volume_table,
         lambda app, _snapshot: app.service(StorageService).volumes(),
         topics=("fleet", "storage")),
    View("networks", ("networks", "nets", "net-list"), "Networks",
         "Virtual networks of all hosts, with their DHCP leases",
         NetworksScreen, network_table, read_networks, topics=("fleet", "networks")),
)

#: Each `:` word that switches view, to the view it shows.
ALIASES: Mapping[str, View] = MappingProxyType(
    {alias: view for view in VIEWS for alias in view.aliases})
