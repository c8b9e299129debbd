"""The event timeline: every event of every host, and what kvmtui saw itself, kept.

`virsh event` shows events only while it runs; kvmtui watches every host's events anyway
(`Poller.handlers`), so it keeps them: each `DomainEvent` the fleet passes on becomes a
`TimelineEvent` in words (what happened, and why: "crashed", "stopped: failed"), as do the
fleet's own observations of its hosts (lost, frozen, host key rejected, back). They go to
the one database through the journal (`core/journal.py`): batched, bounded, read back at
the next start.

Alerts are rows an operator must see even if nothing was on screen when they came: a rule
of the config (`AlertRules`) marks an event as an alert (a guest crashed, paused on an I/O
error, a watchdog fired, a disk crossed its block threshold, a host lost for longer than
`host_lost_after`, a guest's newest backup older than `backup_max_age`: the backup service
notes that one, once per point), and it stays one, counted on every view's status line,
until it is acknowledged; the unacknowledged ones of the last run come back at start. They
are the core's state, not a screen's: none is lost while another view is on screen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from kvmtui.core.alerts import AlertRules
from kvmtui.core.errors import HostError
from kvmtui.core.journal import Journal, Retention, new_key
from kvmtui.core.model import Link
from kvmtui.core.numbers import size
from kvmtui.core.store import Store, Table
from kvmtui.core.words import (
    AGENT_REASONS,
    AGENT_STATES,
    IO_ERROR_ACTIONS,
    METADATA_TYPES,
    WATCHDOG_ACTIONS,
    lifecycle_words,
    word,
)

if TYPE_CHECKING:
    from kvmtui.core.fleet import Fleet
    from kvmtui.core.host import DomainEvent


@dataclass(frozen=True)
class TimelineEvent:
    """One event, in words. `guest` is "" for a host's own (lost, back ...); `kind` is
    the `DomainEvent` kind ("lifecycle", "io-error", "host-lost" ...), `what` what
    happened ("crashed", "stopped", "frozen") and `detail` why, or with what."""

    key: str
    at: float
    host: str
    guest: str
    uuid: str
    kind: str
    what: str
    detail: str
    alert: bool = False
    acked: bool = False
    #: The guest's tags when the event came (`web tier=db`), for the filter's `tag:`.
    tags: str = ""

    @property
    def ref(self) -> str:
        """The guest as the `:` line names it, or the host for a host's own event."""
        return f"{self.guest}@{self.host}" if self.guest else self.host

    @property
    def words(self) -> str:
        """What the `/` filter and `kvmtui events --guest/--host/--type` match: every word
        of a filter must be in it (`guest:web1@`, `host:kvm01`, `type:lifecycle`)."""
        guest = f"guest:{self.guest}@{self.host} " if self.guest else ""
        alert = " alert" if self.alerting else ""
        tags = "".join(f" tag:{t} {t}" for t in self.tags.split())
        return f"{guest}host:{self.host} type:{self.kind} {self.what} {self.detail}{alert}{tags}"

    @property
    def alerting(self) -> bool:
        """An alert not acknowledged yet."""
        return self.alert and not self.acked


EVENTS_TABLE = Table(
    "events",
    1,
    (
        "CREATE TABLE IF NOT EXISTS events (key TEXT PRIMARY KEY, at REAL, host TEXT, "
        "guest TEXT, uuid TEXT, kind TEXT, what TEXT, detail TEXT, alert INTEGER, "
        "acked INTEGER, tags TEXT)",
        "CREATE INDEX IF NOT EXISTS events_at ON events (at)",
    ),
    time_column="at",
)

#: Lifecycle (event, detail) words that mean the guest died: its QEMU killed or ended on
#: its own ("stopped: failed"), a crash libvirt saw ("stopped: crashed"), a panic.
_CRASHES = frozenset({("stopped", "failed"), ("stopped", "crashed")})


def describe(event: DomainEvent) -> tuple[str, str]:
    """(what happened, detail) of a libvirt event, in words."""
    p: Any = event.params
    if event.kind == "lifecycle":
        what, why = lifecycle_words(event.event, event.detail)
        if what == "crashed" or (what, why) in _CRASHES:
            return "crashed", f"{what}: {why}"
        return what, why
    if event.kind in ("pool", "network"):
        what, _ = lifecycle_words(event.event, event.detail)
        return f"{event.kind} {event.name} {what}", ""
    if event.kind == "io-error":
        path, device, action, reason = p
        return "I/O error", f"disk {device} ({path}): {word(IO_ERROR_ACTIONS, action)}" + (
            f", {reason}" if reason else ""
        )
    if event.kind == "watchdog":
        return "watchdog", f"action: {word(WATCHDOG_ACTIONS, p[0])}"
    if event.kind == "block-threshold":
        device, path, threshold, excess = p
        return (
            "block threshold",
            f"disk {device} ({path}): over {size(threshold)} by {size(excess)}",
        )
    if event.kind in ("device-added", "device-removed"):
        return event.kind.replace("-", " "), str(p[0])
    if event.kind == "agent-lifecycle":
        return f"agent {word(AGENT_STATES, p[0])}", word(AGENT_REASONS, p[1])
    if event.kind == "metadata-change":
        return "metadata changed", word(METADATA_TYPES, event.detail) + (f" {p}" if p else "")
    if event.kind == "reboot":
        return "rebooted", ""
    if event.kind == "migration-iteration":
        return "migration iteration", f"pass {event.detail}"
    if event.kind == "job-completed":
        return "job completed", _job_words(p or {})
    if event.kind == "tunable":
        return "tunables changed", ", ".join(sorted(p or {}))
    if event.kind == "host-lost":
        return "host lost", str(p or "")
    if event.kind == "host-back":
        return "host back", ""
    if event.kind == "backup-stale":
        return "backup stale", str(p or "")
    return event.kind, str(p or "")


def _job_words(stats: dict[str, Any]) -> str:
    done = stats.get("data_processed") or stats.get("disk_processed")
    return f"{size(done)} moved" if isinstance(done, int) else ""


def _frozen(reason: str) -> bool:
    """A lost host that stopped answering (keepalive, a timed-out call), rather than one
    whose daemon went or whose link broke."""
    return "keepalive" in reason or "no answer" in reason


class EventLog(Journal[TimelineEvent]):
    """See the module docstring: the fleet's events, in words, kept; and the alerts."""

    ROW: ClassVar[type[Any]] = TimelineEvent
    TABLE: ClassVar[Table] = EVENTS_TABLE

    def __init__(
        self,
        fleet: Fleet,
        store: Store,
        retention: Retention | None = None,
        rules: AlertRules | None = None,
    ) -> None:
        super().__init__(store, retention)
        self.fleet = fleet
        self.rules = rules or AlertRules()
        self._lost: dict[str, asyncio.TimerHandle] = {}  # hosts lost, until the alert
        self._open: set[str] = set()  # the keys of the alerts not acknowledged
        fleet.add_event_listener(self.note)

    # ---- alerts -------------------------------------------------------------------------

    def alerts(self) -> list[TimelineEvent]:
        """The alerts not acknowledged yet, oldest first."""
        return [row for row in self._rows if row.alerting]

    @property
    def open_alerts(self) -> int:
        """How many alerts wait to be acknowledged: every view's status line shows it."""
        return len(self._open)

    def acknowledge(self, rows: Iterable[TimelineEvent]) -> int:
        """Acknowledges these alerts (others are left as they are); how many."""
        acked = [replace(row, acked=True) for row in rows if row.alerting]
        self.replace(acked)
        return len(acked)

    async def noted(self, kind: str, uuid: str, host: str, since: float, detail: str) -> bool:
        """Whether an event of `kind` about the guest `uuid` on `host`, its detail starting
        with `detail`, came at or after `since`, in this run or an earlier one (the
        database): what kvmtui observes on a timer of its own (a stale backup) is noted
        once, not at every look or start."""
        if any(
            r.kind == kind
            and r.uuid == uuid
            and r.host == host
            and r.at >= since
            and r.detail.startswith(detail)
            for r in self._rows
        ):
            return True
        await self.flush()
        found = await self.store.read(
            f"SELECT 1 FROM {self.TABLE.name} WHERE at >= ? AND kind = ? AND uuid = ? "
            "AND host = ? AND substr(detail, 1, ?) = ? LIMIT 1",
            (since, kind, uuid, host, len(detail), detail),
        )
        return bool(found)

    # ---- the journal's, counting the open alerts -----------------------------------------

    async def open(self) -> None:
        await super().open()
        self._open = {row.key for row in self._rows if row.alerting}

    def add(self, row: TimelineEvent) -> None:
        if row.alerting:
            self._open.add(row.key)
        super().add(row)

    def replace(self, rows: Iterable[TimelineEvent]) -> None:
        rows = list(rows)
        for row in rows:
            if row.alerting:
                self._open.add(row.key)
            else:
                self._open.discard(row.key)
        super().replace(rows)

    # ---- inside -------------------------------------------------------------------------

    def note(self, event: DomainEvent) -> None:
        """One event the fleet passed on (or one of its own observations), kept."""
        what, detail = describe(event)
        kind = event.kind
        if kind == "host-lost":
            what = self._host_lost_words(event.host, detail)
        guest = "" if kind.startswith("host-") or kind in ("pool", "network") else event.name
        row = TimelineEvent(
            new_key(),
            time.time(),
            event.host,
            guest,
            event.uuid,
            kind,
            what,
            detail,
            self._alerts(what, event),
            tags=self._tags(event),
        )
        if kind == "host-lost" and "host-lost" in self.rules.rules:
            self._watch_lost(row)
        elif kind == "host-back":
            handle = self._lost.pop(event.host, None)
            if handle is not None:
                handle.cancel()
        self.add(row)

    def _tags(self, event: DomainEvent) -> str:
        guest = self.fleet.find_guest(f"{event.uuid}@{event.host}") if event.uuid else None
        return " ".join(guest.tags) if guest is not None else ""

    def _host_lost_words(self, host: str, reason: str) -> str:
        """ "host lost", "host frozen" (it stopped answering) or "host key rejected" (an
        SSH host whose key the operator refused: not retried until asked)."""
        try:
            snapshot = self.fleet.host(host).snapshot()
        except HostError:  # no such host (any more)
            snapshot = None
        if snapshot is not None and snapshot.link is Link.LOST and snapshot.retry_in is None:
            return "host key rejected"
        return "host frozen" if _frozen(reason) else "host lost"

    def _alerts(self, what: str, event: DomainEvent) -> bool:
        """Whether a rule (other than a lost host's, which waits) makes the event an
        alert; `what` is what happened, in words."""
        rules = self.rules.rules
        if what == "crashed":
            return "crashed" in rules
        if event.kind == "io-error":
            return "io-error" in rules and event.params[2] == 1  # the guest was paused
        return event.kind in ("watchdog", "block-threshold", "backup-stale") and event.kind in rules

    def _watch_lost(self, row: TimelineEvent) -> None:
        """A lost host raises its alert only when it has stayed lost `host_lost_after`
        seconds: a daemon restart is no alert."""
        previous = self._lost.pop(row.host, None)
        if previous is not None:
            previous.cancel()

        def still_lost() -> None:
            self._lost.pop(row.host, None)
            try:
                if self.fleet.host(row.host).connected:
                    return
            except HostError:
                return
            after = f"lost for more than {self.rules.host_lost_after:g} s"
            detail = f"{row.detail}; {after}" if row.detail else after
            self.replace([replace(row, alert=True, detail=detail)])

        loop = asyncio.get_running_loop()
        self._lost[row.host] = loop.call_later(self.rules.host_lost_after, still_lost)

    async def close(self) -> None:
        for handle in self._lost.values():
            handle.cancel()
        self._lost.clear()
        self.fleet.remove_event_listener(self.note)
        await super().close()
