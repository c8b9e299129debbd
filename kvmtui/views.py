"""The views the operator moves between, k9s style: one registry entry per view.

An entry names the view and its `:` aliases, says what its table looks like (columns, row
key, filter text), which core reader fills it and which core publishers it follows; its
actions and keys are its screen's BINDINGS. The app builds everything that lists views
from `VIEWS`: the modes, the digit keys (in this order, 1 to 9), the `:` words that switch
view and their completion, the command palette and the help screen.

A view whose rows the fleet snapshot does not hold is fed by a core service: the fleet's
one `Services` container (kvmtui.core.services) holds each by topic; the app makes it once,
with the fleet, and follows it, and a view on screen watches the services it shows (a
hidden view costs nothing). A new view (snapshots, pools, networks ...) is one screen module,
one `VIEWS` entry and, when it has its own service, one service on the resource base
(kvmtui.core.resource) added to `Services`: nothing in `app.py`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kvmtui.core.fleet import FleetSnapshot
    from kvmtui.core.services import Services
    from kvmtui.screens.fleet_view import FleetView
    from kvmtui.widgets.live_table import LiveTable


def _named(path: str) -> Any:
    """What the dotted `path` names (`kvmtui.screens.jobs.JobsScreen`), its module imported
    now if it was not yet."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class View:
    """One view: see the module docstring."""

    name: str
    #: `:` words that show this view; the name is always one of them.
    aliases: tuple[str, ...]
    title: str
    summary: str
    #: Its screen class, by dotted path: the actions and keys (BINDINGS) of this view. A
    #: view's screen and table are imported when it is first shown, not at start-up: the
    #: start shows one view, and importing every view's modules took a tenth of it.
    screen: str
    #: What makes a new table for it (its columns, row key and filter text), by dotted path.
    table: str
    #: Its rows as the core has them now (the fleet snapshot is at hand for every view).
    read: Callable[[Services, FleetSnapshot], Sequence[Any]]
    #: What repaints it: "fleet" and the `Services` topics it shows.
    topics: tuple[str, ...] = ("fleet",)
    #: What its table reads with no row at all, and what one row is ("No guest matches
    #: filter 'xyz'"): an empty table is said to be empty, not left blank.
    empty: tuple[str, str] = ("Nothing here", "row")

    @property
    def binding_id(self) -> str:
        """The id of the app-wide key that shows this view (a digit unless remapped)."""
        return f"app.{self.name}"

    @property
    def screen_class(self) -> type[FleetView]:
        screen: type[FleetView] = _named(self.screen)
        return screen

    def make_screen(self) -> FleetView:
        return self.screen_class(self)

    def make_table(self) -> LiveTable[Any]:
        table: LiveTable[Any] = _named(self.table)()
        table.empty_text, table.row_noun = self.empty
        return table


VIEWS: tuple[View, ...] = (
    View(
        "guests",
        ("guests", "domains", "vms"),
        "Guests",
        "All guests of all hosts",
        "kvmtui.screens.guests.GuestsScreen",
        "kvmtui.widgets.fleet_tables.guest_table",
        lambda services, snapshot: services.thresholds.annotate(
            services.guestinfo.annotate(services.addresses.annotate(snapshot.guests))
        ),
        topics=("fleet", "addresses", "guestinfo", "thresholds"),
        empty=("No guests on the connected hosts", "guest"),
    ),
    View(
        "hosts",
        ("hosts", "nodes"),
        "Hosts",
        "The hosts, their link, load and versions",
        "kvmtui.screens.hosts.HostsScreen",
        "kvmtui.widgets.fleet_tables.host_table",
        lambda _services, snapshot: snapshot.hosts,
        empty=("No hosts", "host"),
    ),
    View(
        "jobs",
        ("jobs", "migrations"),
        "Jobs",
        "Migrations, backups and block jobs started here, running or done",
        "kvmtui.screens.jobs.JobsScreen",
        "kvmtui.screens.jobs.job_table",
        lambda services, _snapshot: [
            *services.migrations.jobs(),
            *services.backups.jobs(),
            *services.blockjobs.jobs(),
        ],
        topics=("fleet", "migrations", "backups", "blockjobs"),
        empty=("No jobs started here yet", "job"),
    ),
    View(
        "snapshots",
        ("snapshots", "snapshot"),
        "Snapshots",
        "Every guest's snapshots: take, revert, delete, mark current",
        "kvmtui.screens.snapshots.SnapshotsScreen",
        "kvmtui.screens.snapshots.snapshot_table",
        lambda services, _snapshot: services.snapshots.rows(),
        topics=("fleet", "snapshots"),
        empty=("No snapshots", "snapshot"),
    ),
    View(
        "pools",
        ("pools", "pool-list"),
        "Pools",
        "Storage pools of all hosts",
        "kvmtui.screens.pools.PoolsScreen",
        "kvmtui.screens.pools.pool_table",
        lambda services, _snapshot: services.storage.pools(),
        topics=("fleet", "storage"),
        empty=("No storage pools", "pool"),
    ),
    View(
        "vols",
        ("vols", "volumes", "vol-list"),
        "Volumes",
        "Volumes of all pools, and the guests using them",
        "kvmtui.screens.volumes.VolumesScreen",
        "kvmtui.screens.volumes.volume_table",
        lambda services, _snapshot: services.storage.volumes(),
        topics=("fleet", "storage"),
        empty=("No volumes", "volume"),
    ),
    View(
        "networks",
        ("networks", "nets", "net-list"),
        "Networks",
        "Virtual networks of all hosts, with their DHCP leases",
        "kvmtui.screens.networks.NetworksScreen",
        "kvmtui.screens.networks.network_table",
        lambda services, _snapshot: services.networks.networks(),
        topics=("fleet", "networks"),
        empty=("No virtual networks", "network"),
    ),
    View(
        "backups",
        ("backups", "backup-list"),
        "Backups",
        "Every guest's chain of backup points: restore, verify, prune",
        "kvmtui.screens.backups.BackupsScreen",
        "kvmtui.screens.backups.backup_table",
        lambda services, _snapshot: services.backups.rows(),
        topics=("fleet", "backups"),
        empty=("No backups yet (:backup NAME, or B on the guest list)", "backup point"),
    ),
    View(
        "timeline",
        ("timeline",),
        "Timeline",
        "Every host's events and kvmtui's own, kept; alerts until acknowledged",
        "kvmtui.screens.history.EventsScreen",
        "kvmtui.screens.history.event_table",
        lambda services, _snapshot: services.events.rows(),
        topics=("events",),
        empty=("No events kept yet", "event"),
    ),
    View(
        "changes",
        ("changes", "audit-trail"),
        "Changes",
        "Every change made with kvmtui: when, who, what, how it ended",
        "kvmtui.screens.history.AuditScreen",
        "kvmtui.screens.history.audit_table",
        lambda services, _snapshot: services.audit.rows(),
        topics=("audit",),
        empty=("No change made with kvmtui yet", "change"),
    ),
)

#: The keys that show the views, in VIEWS' order: 1 to 9, then 0 for the tenth.
VIEW_DIGITS = "1234567890"

#: Each `:` word that switches view, to the view it shows.
ALIASES: Mapping[str, View] = MappingProxyType(
    {alias: view for view in VIEWS for alias in view.aliases}
)
