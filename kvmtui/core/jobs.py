"""What the jobs view shows of any job kvmtui started, whatever its kind.

Migrations (`core/migration.py`) and backups (`core/backups.py`) keep their own records and
steering; each frozen snapshot of theirs also answers this one `Job` shape, so the jobs view
lists them together, in one table with one set of columns, rather than a list per kind.
"""

from __future__ import annotations

from typing import Protocol

from kvmtui.core.migration import JobState


class Job(Protocol):
    """One job as the jobs view reads it."""

    @property
    def key(self) -> str:
        """Unique among all jobs of every kind (the table's row key)."""

    @property
    def guest(self) -> str: ...

    @property
    def uuid(self) -> str: ...

    @property
    def state(self) -> JobState: ...

    @property
    def what(self) -> str:
        """Its kind in words: `migration`, `full backup` ..."""

    @property
    def route(self) -> str:
        """Where it goes: `kvm1 -> kvm2`, `kvm1 -> pool backups`."""

    @property
    def where(self) -> str:
        """The host libvirt runs it on (where it is aborted)."""

    @property
    def percent(self) -> float | None: ...

    @property
    def throughput_bps(self) -> float | None: ...

    @property
    def label(self) -> str:
        """Its state in words, with what only this kind knows (`running (post-copy)`)."""

    @property
    def message(self) -> str: ...

    @property
    def describe(self) -> str:
        """What it was started with, shown until it has an outcome."""

    @property
    def elapsed(self) -> float | None: ...
