"""`tag NAME TAG...` and `untag NAME TAG...`: a guest's tags, kept in its own XML
(`kvmtui.core.tags`). NAME may be a selector (`:tag tag:web owner=alice` tags every guest
tagged web). `tag NAME... --add TAGS --remove TAGS` (comma-separated) names several guests
and changes both ways at once: the guest list's `#` key submits that for the marked
guests."""

from __future__ import annotations

from collections.abc import Sequence

from kvmtui.controller import Controller, Question
from kvmtui.core.commands import Command, CommandError, verb
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.numbers import plural
from kvmtui.core.selectors import by_selector, chosen_phrase
from kvmtui.core.tags import change_tags, check_tag, has_tag
from kvmtui.core.uri import quoted


def _listed(tags: Sequence[str]) -> str:
    return " ".join(tags) if tags else "none"


async def tag_guests(
    controller: Controller,
    guests: Sequence[GuestSnapshot],
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    *,
    chosen: bool = False,
) -> bool:
    """Adds `add` to and removes `remove` from each guest's tags, through the one mutation
    path; several guests, or guests a selector `chosen`, are asked about first. A tag to
    remove that none of them has is one line, and nothing changes."""
    what = "untag" if remove and not add else "tag"
    if not guests:
        controller.operator.error(f"{what}: no guest selected")
        return False
    try:
        for tag in (*add, *remove):
            check_tag(tag)
    except CommandError as error:
        controller.operator.error(f"{what}: {error}")
        return False
    # Before a host's definitions are read its guests show no tags yet: libvirt decides.
    known = all(controller.fleet.host(g.host).settled for g in guests)
    for tag in remove:
        if known and not any(has_tag(g.tags, tag) for g in guests):
            whose = (
                f"{guests[0].name} on {guests[0].host} has no tag"
                if len(guests) == 1
                else f"none of the {len(guests)} guests has the tag"
            )
            controller.operator.error(f"{what}: {whose} {quoted(tag)}")
            return False
    fleet = controller.fleet
    said = " ".join([*(f"+{t}" for t in add), *(f"-{t}" for t in remove)])
    if len(guests) == 1 and not chosen:
        guest = guests[0]

        async def one() -> str:
            change = await change_tags(fleet.host(guest.host), guest.uuid, add, remove)
            return f"{guest.name} on {guest.host}: tags {_listed(change.after)}"

        return await controller.change(what, one, guests=guests)

    question = Question(
        f"{'Untag' if what == 'untag' else 'Tag'} {chosen_phrase(guests)}?",
        f"{said}: " + ", ".join(g.ref for g in guests[:8]) + (" ..." if len(guests) > 8 else ""),
        "Untag" if what == "untag" else "Tag",
    )

    async def every() -> str:
        done = await controller.each(
            what, guests, lambda g: change_tags(fleet.host(g.host), g.uuid, add, remove)
        )
        return f"{said}: {done} of {plural(len(guests), 'guest')}"

    return await controller.change(what, every, guests=guests, question=question)


@verb(
    "tag",
    "tag a guest (or the guests a selector chooses): web, tier=web ...; "
    "with --add/--remove, every word is a guest",
    guest=True,
    optional=("TAG",),
    valued=("add", "remove"),
    mutating=True,
    variadic=True,
)
@verb(
    "untag",
    "remove tags from a guest (a bare KEY removes KEY=anything)",
    guest=True,
    positionals=("TAG",),
    mutating=True,
    variadic=True,
)
async def _tag(controller: Controller, command: Command) -> None:
    add_list, remove_list = command.value("add"), command.value("remove")
    if add_list is not None or remove_list is not None:
        guests = controller.guests(command.args)
        chosen = len(command.args) == 1 and by_selector(command.args[0], guests)
        await tag_guests(controller, guests, _split(add_list), _split(remove_list), chosen=chosen)
        return
    token, *tags = command.args
    if not tags:
        raise CommandError(f"{command.verb}: missing tag")
    guests = controller.chosen(token)
    chosen = by_selector(token, guests)
    if command.verb == "tag":
        await tag_guests(controller, guests, add=tags, chosen=chosen)
    else:
        await tag_guests(controller, guests, remove=tags, chosen=chosen)


def _split(tags: str | None) -> list[str]:
    return [tag for tag in (tags or "").split(",") if tag]
