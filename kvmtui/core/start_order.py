"""Bulk start and shutdown in the order the guests' `start-order=N` tags say.

The database before the application servers, the application servers before the web
tier: a bulk start runs the lowest `start-order` first and waits, step by step, until that
step's guests run before it starts the next; a bulk shutdown goes the other way and waits
until they are off. Guests without the tag come last up and first down (they depend on
nothing that is ordered, as far as kvmtui knows). A step that does not get there within
`STEP_TIMEOUT` stops the sequence, and the line says which guests and which steps remain.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

from kvmtui.core.fleet import Fleet
from kvmtui.core.model import GuestSnapshot, GuestState
from kvmtui.core.tags import value_of

KEY = "start-order"
#: Seconds a step may take to come up or go down before the sequence stops.
STEP_TIMEOUT = 180.0

#: The lifecycle verbs that follow the order, and the state each step waits for.
WAITS: dict[str, Callable[[GuestState], bool]] = {
    "start": lambda state: state.is_active,
    "shutdown": lambda state: not state.is_active,
}
_REACHED = {"start": "running", "shutdown": "shut off"}


def start_order(guest: GuestSnapshot) -> int | None:
    """The guest's `start-order=N`; None without one (or with one that is no number)."""
    value = value_of(guest.tags, KEY)
    return int(value) if value is not None and value.lstrip("-").isdigit() else None


def steps(verb: str, guests: Sequence[GuestSnapshot]) -> list[list[GuestSnapshot]]:
    """`guests` in the steps `verb` takes them: one step when none is ordered (or the verb
    follows no order), else one per `start-order`, lowest first (highest for shutdown)."""
    if verb not in WAITS:
        return [list(guests)]
    by_order: dict[int | None, list[GuestSnapshot]] = {}
    for guest in guests:
        by_order.setdefault(start_order(guest), []).append(guest)
    if list(by_order) == [None]:
        return [list(guests)]
    up = sorted(by_order, key=lambda n: (n is None, n or 0))
    return [by_order[n] for n in (up if verb == "start" else reversed(up))]


async def until_reached(
    fleet: Fleet, verb: str, guests: Sequence[GuestSnapshot], timeout: float = STEP_TIMEOUT
) -> list[GuestSnapshot]:
    """Waits until every guest is as `verb` leaves it (running, shut off), as the fleet
    sees it; those that are not after `timeout` seconds (or are gone)."""
    reached = WAITS[verb]
    changed = asyncio.Event()
    fleet.add_listener(changed.set)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            now = {g.key: fleet.find_guest(g.key) for g in guests}
            late = [g for g in guests if (n := now[g.key]) is None or not reached(n.state)]
            if not late or loop.time() >= deadline:
                return late
            changed.clear()
            with contextlib.suppress(TimeoutError):  # the loop's check says who is late
                await asyncio.wait_for(changed.wait(), deadline - loop.time())
    finally:
        fleet.remove_listener(changed.set)


def late_line(verb: str, late: Sequence[GuestSnapshot], left: int, timeout: float) -> str:
    """Why an ordered sequence stopped: who did not get there, and what was not done."""
    names = ", ".join(g.ref for g in late[:4]) + (" ..." if len(late) > 4 else "")
    return (
        f"{verb}: {names} not {_REACHED[verb]} after {timeout:.0f}s; "
        f"stopped before the next {KEY} step ({left} more guests)"
    )
