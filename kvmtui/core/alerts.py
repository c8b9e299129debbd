"""Which events raise an alert (the config's `[alerts]`): apart from the event log, so the
config can name them without loading libvirt."""

from __future__ import annotations

from dataclasses import dataclass

#: The rules an alert can come from: a guest crashed, paused on an I/O error, its watchdog
#: fired, a disk crossed its block threshold, a host stayed lost, a guest's newest backup
#: grew older than `backup_max_age`.
ALERT_RULES = ("crashed", "io-error", "watchdog", "block-threshold", "host-lost", "backup-stale")


@dataclass(frozen=True)
class AlertRules:
    """Which events raise an alert: `rules` among ALERT_RULES; a lost host once it has
    been lost for `host_lost_after` seconds."""

    rules: frozenset[str] = frozenset(ALERT_RULES)
    host_lost_after: float = 60.0
