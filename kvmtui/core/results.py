"""What a verb shows, as data: each front-end renders it its own way.

A verb that changes something ends in one ok or error line; a verb that shows something
(`list`, `dominfo`, `net-dhcp-leases`, `caps`, `console` ...) hands the operator one of
these. The Textual app opens a view, a screen or a page for it; the one-shot command line
prints a table, fields or JSON, or says the thing needs the full screen. So the verb is
written once, knows neither front-end, and the `Operator` protocol stays four methods
however many verbs show things. A new kind of thing to show is a new dataclass here and
one case in each operator's `show` (mypy checks both are exhaustive).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kvmtui.core.capabilities import Check, HostCaps
from kvmtui.core.foresight import Foresight
from kvmtui.core.migration import MigrationProgress
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.networks import NetworkSnapshot
from kvmtui.core.numbers import plural


@dataclass(frozen=True)
class GuestList:
    """The guests, as `virsh list` narrows them: "running", "all" or "inactive"."""

    which: str


@dataclass(frozen=True)
class HostGuests:
    """One host and its guests, or every host when `name` is empty (`:host`)."""

    name: str


@dataclass(frozen=True)
class GuestPage:
    """A guest's "info", "xml", "vcpus" or "guest" (what its agent says)."""

    guest: GuestSnapshot
    tab: str


@dataclass(frozen=True)
class JobReport:
    """A guest's job as libvirt reports it (`domjobinfo`); None: no job runs."""

    guest: GuestSnapshot
    progress: MigrationProgress | None


@dataclass(frozen=True)
class JobProgress:
    """A migration kvmtui started: the screen shows its progress and returns; a terminal
    prints progress lines until it ends."""

    job_id: int


@dataclass(frozen=True)
class Measuring:
    """Guests' dirty rates being measured before they migrate, for `seconds`: shown as it
    starts, so the wait is explained."""

    guests: Sequence[GuestSnapshot]
    seconds: int

    @property
    def line(self) -> str:
        """`measuring the dirty rate of web1 on kvm01 (1 s)`: both front-ends' words."""
        what = self.guests[0].name if len(self.guests) == 1 else plural(len(self.guests), "guest")
        hosts = ", ".join(sorted({g.host for g in self.guests}))
        return f"measuring the dirty rate of {what} on {hosts} ({self.seconds} s)"


@dataclass(frozen=True)
class Forecasts:
    """What migrating each guest is foreseen to do (or why there is no forecast)."""

    foresights: Sequence[Foresight]


@dataclass(frozen=True)
class VerbHelp:
    """The help on one verb, or on all of them when `verb` is empty."""

    verb: str


@dataclass(frozen=True)
class SnapshotList:
    """A guest's snapshots (`snapshot-list`)."""

    guest: GuestSnapshot


@dataclass(frozen=True)
class Leases:
    """A network's DHCP leases (`net-dhcp-leases`)."""

    network: NetworkSnapshot


@dataclass(frozen=True)
class CapsReport:
    """Hosts' capabilities (none for `validate`) and the fleet check's findings."""

    caps: Sequence[HostCaps]
    findings: Sequence[Check]


@dataclass(frozen=True)
class Console:
    """A guest's serial console (`console NAME [DEVNAME] [--force]`)."""

    guest: GuestSnapshot
    devname: str | None = None
    force: bool = False


@dataclass(frozen=True)
class Display:
    """A guest's graphical display, opened in a viewer (or how to open it)."""

    guest: GuestSnapshot


@dataclass(frozen=True)
class Editor:
    """An editor run on the operator's terminal until it exits (`edit`); the operator
    raises ValueError when it cannot run or fails."""

    command: Sequence[str]


@dataclass(frozen=True)
class View:
    """A view by its registry name (`jobs`), unscoped."""

    name: str


@dataclass(frozen=True)
class CreateWizard:
    """The create wizard (`create` with no arguments)."""


@dataclass(frozen=True)
class Kept:
    """What `events` and `audit` found: the rows since `since` (`since_text` as the
    operator gave it) that hold every filter word of `words` (core/journal.py), for the
    registry view `view` ("timeline", "changes")."""

    view: str
    rows: tuple[Any, ...]
    words: tuple[str, ...] = ()
    since: float | None = None
    since_text: str = ""


@dataclass(frozen=True)
class Quit:
    """The end of the session, as asked (`quit`)."""


Result = (
    GuestList
    | HostGuests
    | GuestPage
    | JobReport
    | JobProgress
    | Measuring
    | Forecasts
    | VerbHelp
    | SnapshotList
    | Leases
    | CapsReport
    | Console
    | Display
    | Editor
    | View
    | CreateWizard
    | Kept
    | Quit
)
