"""The audit trail: every change kvmtui made, who asked, how, and how it ended.

Nothing in libvirt records what an operator changed. Every change kvmtui makes goes
through the controller's one mutation path (`Controller.change`), whether it came from a
key, a dialog, the `:` line or the one-shot command line, so that is where it is recorded,
once (a change refused there as read-only too, not ok: who tried counts): when, the
local user, how it was asked (`via`), the hosts and guests, the verb and its arguments,
and the outcome (the success sentence, or libvirt's error). A verb's secret
arguments (`Verb.secret`: a password) are never recorded, only that one was given.

The rows go to the one database through the journal (`core/journal.py`), as the events do.
"""

from __future__ import annotations

import getpass
import os
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from kvmtui.core.commands import VERBS, Command
from kvmtui.core.journal import Journal, new_key
from kvmtui.core.store import Table

if TYPE_CHECKING:
    from kvmtui.core.model import GuestSnapshot

#: What stands for a secret argument's value in the trail.
HIDDEN = "***"


@dataclass(frozen=True)
class AuditEntry:
    """One change: `via` is "key" (a key or a dialog), "line" (the `:` line) or "cli"
    (the one-shot command line); `hosts` and `guests` are comma-separated (`NAME@HOST`),
    `args` the command as typed, secrets hidden; `message` what the operator was told."""

    key: str
    at: float
    user: str
    via: str
    hosts: str
    guests: str
    verb: str
    args: str
    ok: bool
    message: str

    @property
    def words(self) -> str:
        """What the `/` filter matches (see `TimelineEvent.words`)."""
        guests = " ".join(f"guest:{ref}" for ref in self.guests.split(", ") if ref)
        hosts = " ".join(f"host:{host}" for host in self.hosts.split(", ") if host)
        outcome = "ok" if self.ok else "failed"
        return f"{guests} {hosts} user:{self.user} verb:{self.verb} {outcome} {self.message}"


AUDIT_TABLE = Table(
    "audit",
    1,
    (
        "CREATE TABLE IF NOT EXISTS audit (key TEXT PRIMARY KEY, at REAL, user TEXT, "
        "via TEXT, hosts TEXT, guests TEXT, verb TEXT, args TEXT, ok INTEGER, message TEXT)",
        "CREATE INDEX IF NOT EXISTS audit_at ON audit (at)",
    ),
    time_column="at",
)


def local_user() -> str:
    """Who runs kvmtui on this machine (the jump box's account, not libvirt's)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        return f"uid {os.getuid()}"


def command_words(command: Command, secret: frozenset[str]) -> str:
    """The command as it would be typed, each value named in `secret` (a positional's
    name or an option's) replaced by HIDDEN."""
    verb = VERBS[command.verb]
    names = verb.positionals + verb.optional_positionals
    # A variadic verb's words past its last positional are that positional's.
    args = [
        HIDDEN if names and names[min(i, len(names) - 1)] in secret else arg
        for i, arg in enumerate(command.args)
    ]
    options: list[str] = []
    for name, value in command.options.items():
        if value is True:
            options.append(f"--{name}")
        else:
            options += [f"--{name}", HIDDEN if name in secret else str(value)]
    return shlex.join([command.verb, *args, *options])


class AuditTrail(Journal[AuditEntry]):
    """See the module docstring."""

    ROW: ClassVar[type[Any]] = AuditEntry
    TABLE: ClassVar[Table] = AUDIT_TABLE

    def record(
        self,
        what: str,
        *,
        command: Command | None,
        via: str,
        guests: Sequence[GuestSnapshot],
        hosts: Sequence[str],
        ok: bool,
        message: str,
    ) -> None:
        """One change that ran, or was refused as read-only, as the controller saw it:
        `what` is the verb when no command was parsed (a lifecycle key)."""
        verb = command.verb if command is not None else what
        args = command_words(command, VERBS[command.verb].secret) if command else what
        self.add(
            AuditEntry(
                new_key(),
                time.time(),
                local_user(),
                via,
                ", ".join(sorted({g.host for g in guests} | set(hosts))),
                ", ".join(g.ref for g in guests),
                verb,
                args,
                ok,
                message,
            )
        )
