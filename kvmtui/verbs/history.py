"""What kvmtui kept: `events` (the event timeline) and `audit` (the changes made here).

The Textual app shows the view (`timeline`, `changes`), following new rows as they come,
narrowed by the same words its `/` filter takes; the one-shot line prints the rows the
database keeps (`kvmtui events --since 2h --guest web1 --json`).
"""

from __future__ import annotations

from kvmtui.controller import Controller
from kvmtui.core.commands import Command, CommandError, verb
from kvmtui.core.journal import Journal, filter_words, matches, parse_since
from kvmtui.core.results import Kept


async def _kept(controller: Controller, view: str, journal: Journal, command: Command) -> None:
    """The rows of `journal` the command asks for, shown as registry view `view`."""
    since_text = command.value("since") or ""
    try:
        since = parse_since(since_text) if since_text else None
    except ValueError as error:
        raise CommandError(f"{command.verb}: {error}") from None
    words = filter_words(
        command.value("guest"), command.value("host"), command.value("type"), command.value("tag")
    )
    problem = controller.services.store.problem
    if problem:
        controller.operator.error(problem)
    rows = [row for row in await journal.query(since) if matches(row, words)]
    await controller.operator.show(Kept(view, tuple(rows), words, since, since_text))


@verb(
    "events",
    "the event timeline of every host, kept across runs (--since 2h, --guest, --host, --type, "
    "--tag)",
    valued=("since", "guest", "host", "type", "tag"),
)
async def _events(controller: Controller, command: Command) -> None:
    await _kept(controller, "timeline", controller.services.events, command)


@verb(
    "audit",
    "every change made with kvmtui: who, what, how it ended (--since 2h, --guest, --host)",
    valued=("since", "guest", "host"),
)
async def _audit(controller: Controller, command: Command) -> None:
    await _kept(controller, "changes", controller.services.audit, command)
