"""How the guest list groups its guests (`z`): by host, by state, or by a tag's key
(`tier` groups `tier=web`, `tier=db` and the guests without one), each group under a
header line with its figures: guests, running, vCPUs and memory in use."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.text import Text

from kvmtui import format as fmt
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.tags import key_of, value_of

#: The groupings always offered, before those by the fleet's tag keys.
FIXED = ("host", "state")


def groupings(guests: Iterable[GuestSnapshot]) -> list[str]:
    """What the list can be grouped by now: host, state, and each `KEY` of the fleet's
    `KEY=VALUE` tags (as `tag:KEY`)."""
    keys = {key_of(t) for g in guests for t in g.tags if "=" in t}
    return [*FIXED, *(f"tag:{key}" for key in sorted(keys))]


def order(by: str) -> Callable[[str], tuple[bool, str]]:
    """Groups by name, the guests without the tag key last."""
    missing = f"no {by.removeprefix('tag:')}"
    return lambda group: (by.startswith("tag:") and group == missing, group)


def group_of(by: str) -> Callable[[GuestSnapshot], str]:
    """A guest's group under grouping `by`."""
    if by == "host":
        return lambda g: g.host
    if by == "state":
        return lambda g: g.state.value
    key = by.removeprefix("tag:")
    missing = f"no {key}"
    return lambda g: value_of(g.tags, key) or missing


def summary(by: str) -> Callable[[str, list[GuestSnapshot], bool], Text]:
    """A group header: `▾ tier=web  4 guests, 3 running, 6 vCPUs, 12G in use`."""
    label = by.removeprefix("tag:")

    def line(group: str, guests: list[GuestSnapshot], folded: bool) -> Text:
        running = [g for g in guests if g.state.is_active]
        text = Text(f" {'▸' if folded else '▾'} ")
        tagged = by.startswith("tag:") and group != f"no {label}"
        text.append(f"{label}={group}" if tagged else group)  # literal: a name, a tag
        text.append(
            f"   {fmt.plural(len(guests), 'guest')}, {len(running)} running, "
            f"{fmt.plural(sum(g.vcpus for g in running), 'vCPU')}, "
            f"{fmt.kib(sum(g.memory_kib for g in running))} in use"
        )
        return text

    return line
