"""The verbs that ask a guest's QEMU agent: `guestinfo NAME` (what it says of the inside:
OS, users, filesystems, hostname, timezone, interfaces), and the actions, each on one guest
or several (`domfsfreeze web1 web2@kvm02`; a palette entry on marked guests writes them all
in) with one outcome line per guest: `domfsfreeze`, `domfsthaw`, `domfstrim`, `domtime
[--sync]`, `set-user-password`. `shutdown --mode agent` and `reboot --mode agent` are the
lifecycle verbs' (kvmtui/verbs/lifecycle.py).

`guestinfo` shows on the guest's detail screen (its Guest tab) or, on the one-shot line, as
`virsh guestinfo`'s fields, with control characters made visible: everything the agent
says is chosen inside the guest.

`set-user-password` never takes the password on the line (it would stay in the shell's
history, the process list and any record of commands): the operator is asked for it twice,
in a hidden field on screen, without echo on a terminal (one line each from a pipe).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from kvmtui.controller import Controller, Question
from kvmtui.core import agent
from kvmtui.core.commands import Command, CommandError, verb
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.numbers import plural
from kvmtui.core.results import GuestPage
from kvmtui.verbs.shared import change

One = Callable[[GuestSnapshot], Awaitable[str]]


@verb("guestinfo", "show what a guest's agent says: OS, users, filesystems", guest=True)
async def _guestinfo(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    if not guest.state.is_active:
        raise CommandError(f"guestinfo: {guest.name} on {guest.host} is not running")
    await controller.operator.show(GuestPage(guest, "guest"))


async def on_each(
    controller: Controller,
    command: Command,
    guests: Sequence[GuestSnapshot],
    one: One,
    question: Question | None = None,
) -> None:
    """`one(guest)` on every running guest of `guests` through the controller's mutation
    path, with one line per guest: its sentence, or its error naming it. Several guests are
    asked about first (as every bulk action is), and end with a count; a guest that does
    not run is one line and passed over (it has no agent to ask)."""
    running = [g for g in guests if g.state.is_active]
    for guest in guests:
        if not guest.state.is_active:
            controller.operator.error(
                f"{command.verb}: {guest.name} on {guest.host} is not running"
            )
    if not running:
        return
    if len(running) == 1:
        await change(
            controller, command, lambda: one(running[0]), guests=running, question=question
        )
        return

    async def on_all() -> str:
        results = await asyncio.gather(*(one(g) for g in running), return_exceptions=True)
        failures = 0
        for result in results:
            if isinstance(result, BaseException):
                failures += 1
                controller.failed(command.verb, result)
            else:
                controller.operator.ok(result)
        if failures == len(running):
            raise CommandError(f"{command.verb}: failed on all {len(running)} guests")
        done = len(running) - failures
        return f"{command.verb}: done on {done} of {plural(len(running), 'guest')}"

    names = ", ".join(g.ref for g in running[:8]) + (" ..." if len(running) > 8 else "")
    title = question.title if question else f"{command.verb} on {plural(len(running), 'guest')}?"
    await change(
        controller,
        command,
        on_all,
        guests=running,
        question=Question(title, names, question.action_label if question else command.verb),
    )


def _each(name: str, summary: str, action: Callable[..., Awaitable[str]]) -> None:
    """Registers a verb that runs `action(host, uuid)` on each guest it names."""

    async def handler(controller: Controller, command: Command) -> None:
        guests = controller.guests(command.args)
        question = None
        if name == "domfsfreeze":
            where = "these guests" if len(guests) > 1 else f"{guests[0].name} on {guests[0].host}"
            question = Question(
                f"Freeze the filesystems of {where}?",
                "Every write inside the guest waits until domfsthaw (or the agent's own "
                "timeout): thaw them soon.",
                "Freeze",
            )
        await on_each(
            controller,
            command,
            guests,
            lambda g: action(controller.fleet.host(g.host), g.uuid),
            question,
        )

    verb(name, summary, guest=True, mutating=True, variadic=True)(handler)


_each("domfsfreeze", "freeze a guest's filesystems through its agent", agent.fsfreeze)
_each("domfsthaw", "thaw a guest's frozen filesystems", agent.fsthaw)
_each("domfstrim", "discard a guest's unused filesystem blocks", agent.fstrim)


@verb(
    "domtime",
    "show a guest's clock, or set it from its hardware clock (--sync)",
    guest=True,
    flags=("sync",),
    mutating=lambda command: command.flag("sync"),
    variadic=True,
)
async def _domtime(controller: Controller, command: Command) -> None:
    guests = controller.guests(command.args)
    if command.flag("sync"):
        await on_each(
            controller,
            command,
            guests,
            lambda g: agent.sync_time(controller.fleet.host(g.host), g.uuid),
        )
        return
    for guest in guests:
        try:
            controller.operator.ok(
                await agent.guest_time(controller.fleet.host(guest.host), guest.uuid)
            )
        except Exception as error:
            controller.failed(command.verb, error)


@verb(
    "set-user-password",
    "set a user's password through the agent, asked twice (NAME... USER, or --user USER)",
    guest=True,
    valued=("user",),
    mutating=True,
    variadic=True,
)
async def _set_user_password(controller: Controller, command: Command) -> None:
    words = list(command.args)
    user = command.value("user")
    if user is None:
        if len(words) < 2:
            raise CommandError("set-user-password: missing user (NAME... USER, or --user USER)")
        user = words.pop()
    guests = controller.guests(words)
    if controller.refused(command.verb, guests):
        return
    where = (
        f"{guests[0].name} on {guests[0].host}"
        if len(guests) == 1
        else plural(len(guests), "guest")
    )
    password = await controller.operator.secret(f"New password for {user} on {where}:")
    if password is None:
        controller.operator.error(f"{command.verb}: cancelled")
        return
    again = await controller.operator.secret(f"The same password again, for {user}:")
    if again is None:
        controller.operator.error(f"{command.verb}: cancelled")
        return
    if again != password:
        controller.operator.error(f"{command.verb}: the two passwords differ; nothing set")
        return
    if not password:
        controller.operator.error(f"{command.verb}: an empty password; nothing set")
        return
    await on_each(
        controller,
        command,
        guests,
        lambda g: agent.set_user_password(controller.fleet.host(g.host), g.uuid, user, password),
    )
