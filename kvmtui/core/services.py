"""The core services of one fleet, made once and shared by everything that uses them.

The Textual app, the controller, the views and the one-shot command line all reach a
service the same way: through the fleet's one `Services`, made where the fleet is made.
A verb asks `controller.services.storage`, a view's reader gets the container, the app's
feed follows `publishers()`. No service is made anywhere else, and none is found by its
class or by a per-fleet singleton.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kvmtui.core.addresses import AddressBook
from kvmtui.core.alerts import AlertRules
from kvmtui.core.audit import AuditTrail
from kvmtui.core.backups import BackupService, BackupSettings
from kvmtui.core.blockjobs import BlockJobs
from kvmtui.core.eventlog import EventLog
from kvmtui.core.fleet import Fleet
from kvmtui.core.guestinfo import GuestInfoBook
from kvmtui.core.journal import Retention
from kvmtui.core.migration import MigrationManager
from kvmtui.core.networks import NetworkService
from kvmtui.core.publish import Publisher
from kvmtui.core.resource import ResourceService
from kvmtui.core.snapshots import SnapshotBook
from kvmtui.core.storage.service import StorageService
from kvmtui.core.store import Store
from kvmtui.core.thresholds import DEFAULT_PERCENT, DiskThresholds


class Services:
    """Every service of `fleet`, by name; a name is also its topic for the views
    (`View.topics`)."""

    def __init__(
        self,
        fleet: Fleet,
        store: Store | None = None,
        *,
        retention: Retention | None = None,
        alert_rules: AlertRules | None = None,
        backups: BackupSettings | None = None,
        disk_threshold: int = DEFAULT_PERCENT,
    ) -> None:
        """`store`: the one database (default: in memory, as tests and the demo want);
        the rest from the config: `[history]`, `[alerts]`, the backup and disk keys."""
        self.fleet = fleet
        #: kvmtui's one database (core/store.py): the event timeline, the audit trail, the
        #: backup catalogue.
        self.store = store if store is not None else Store(None)
        self.events = EventLog(fleet, self.store, retention, alert_rules)
        self.audit = AuditTrail(self.store, retention)
        self.migrations = MigrationManager(fleet)
        self.snapshots = SnapshotBook(fleet)
        self.storage = StorageService(fleet)
        self.networks = NetworkService(fleet)
        self.addresses = AddressBook(fleet)
        self.guestinfo = GuestInfoBook(fleet)
        self.backups = BackupService(fleet, self.store, backups, events=self.events)
        self.blockjobs = BlockJobs(fleet)
        self.thresholds = DiskThresholds(fleet, disk_threshold)
        fleet.add_close_hook(self._close_store)

    async def open(self) -> None:
        """Opens the database and reads back what it keeps; before the fleet starts.
        A database that cannot be used is `store.problem`, never an exception."""
        await self.store.open()
        await self.events.open()
        await self.audit.open()

    async def _close_store(self) -> None:
        await self.backups.close()
        await self.events.close()
        await self.audit.close()
        await self.store.close()

    def publishers(self) -> Mapping[str, Publisher]:
        """What the views can follow, by topic: the fleet and each service."""
        return MappingProxyType(
            {
                "fleet": self.fleet,
                "migrations": self.migrations,
                "snapshots": self.snapshots,
                "storage": self.storage,
                "networks": self.networks,
                "addresses": self.addresses,
                "guestinfo": self.guestinfo,
                "backups": self.backups,
                "blockjobs": self.blockjobs,
                "thresholds": self.thresholds,
                "events": self.events,
                "audit": self.audit,
            }
        )

    def watchable(self, topics: tuple[str, ...]) -> list[ResourceService[object]]:
        """The services among `topics` that read only while watched: a view on screen
        watches these."""
        publishers = self.publishers()
        return [p for topic in topics if isinstance(p := publishers[topic], ResourceService)]
