"""`clone`, `undefine` (with its storage), `domrename`, `desc`, `send-key` and `inject-nmi`.

The guest table's keys for clone and undefine open a dialog that ends in one of these
commands, so a change reads, asks and reports the same from a key, the `:` line or the
one-shot command line.
"""

from __future__ import annotations

import time

from kvmtui import format as fmt
from kvmtui.controller import Controller, Question
from kvmtui.core import clone, guest_config
from kvmtui.core.commands import Command, CommandError, verb, with_more_than
from kvmtui.core.model import GuestSnapshot

#: Seconds between two progress lines of a clone's copy: a quicker copy shows none.
PROGRESS_EVERY = 3.0


@verb(
    "clone",
    "copy a guest to a new guest (new UUID and MACs, its own disks)",
    guest=True,
    positionals=("NEWNAME",),
    flags=("linked",),
    valued=("host",),
    mutating=True,
)
async def _clone(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    new_name = command.args[1]
    target = command.value("host")
    dest = controller.fleet.host(target) if target is not None else None  # unknown: by name
    host = controller.fleet.host(guest.host)
    linked = command.flag("linked")
    await controller.change(
        "clone",
        lambda: clone.clone_guest(
            host,
            guest.uuid,
            new_name,
            linked=linked,
            dest=dest,
            progress=_progress(controller, f"clone {guest.name} to {new_name}"),
        ),
        guests=[guest],
        hosts=[dest.name] if dest is not None else [],
    )


def _progress(controller: Controller, what: str) -> clone.Progress:
    """A progress line at most every PROGRESS_EVERY seconds while a copy runs, with the time
    it has taken: libvirt may not tell a new figure for a while (see clone._watch_copy), and
    the time moving on says the copy still goes."""
    started = last = time.monotonic()

    def report(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if done < total and now - last >= PROGRESS_EVERY:
            last = now
            controller.operator.ok(
                f"{what}: {fmt.size(done)} of {fmt.size(total)} copied "
                f"({100 * done // max(total, 1)}%) in "
                f"{fmt.duration(now - started)}"
            )

    return report


@verb(
    "undefine",
    "remove a guest's definition (and, when asked, its storage volumes)",
    guest=True,
    flags=("remove-all-storage",),
    valued=("storage",),
    mutating=True,
    variadic=True,
)
async def _undefine(controller: Controller, command: Command) -> None:
    """Several guests are undefined together keeping their storage; removing storage is
    asked for one guest at a time, naming its volumes."""
    storage = command.value("storage")
    if storage is None and not command.flag("remove-all-storage"):
        await controller.lifecycle("undefine", controller.guests(command.args))
        return
    if len(command.args) > 1:
        raise CommandError("undefine: storage is removed for one guest at a time")
    guest = controller.guest(command.args[0])
    if storage is not None and command.flag("remove-all-storage"):
        raise CommandError("undefine: --storage and --remove-all-storage exclude each other")
    if controller.refused("undefine", [guest]):
        return
    host = controller.fleet.host(guest.host)
    chosen = [word for word in storage.split(",") if word] if storage is not None else None
    disks = guest_config.storage_to_remove(
        await guest_config.guest_disks(host, guest.uuid),
        chosen,
        f"undefine {guest.name} on {guest.host}",
    )
    users = await guest_config.other_users(host, guest.uuid, disks)
    await controller.change(
        "undefine",
        lambda: guest_config.undefine(host, guest.uuid, disks),
        guests=[guest],
        question=_undefine_question(guest, disks, users),
    )


def _undefine_question(
    guest: GuestSnapshot, disks: list[guest_config.GuestDisk], users: dict[str, list[str]]
) -> Question:
    """Names every volume that will be deleted, by its path, and any other guest whose disk
    it also is: the operator confirms files, knowing what else loses them."""
    if not disks:
        return Question(
            f"Undefine {guest.name} on {guest.host}?",
            "No storage is deleted. This cannot be undone.",
            "Undefine",
        )
    paths = "\n".join(
        f"  {disk.target}  {disk.volume}"
        + (f"  (also a disk of {', '.join(users[disk.target])}!)" if disk.target in users else "")
        for disk in disks
    )
    return Question(
        f"Undefine {guest.name} on {guest.host} and delete {fmt.plural(len(disks), 'volume')}?",
        f"Deletes, for good:\n{paths}\nThis cannot be undone.",
        "Undefine and delete",
    )


@verb("domrename", "rename a shut-off guest", guest=True, positionals=("NEWNAME",), mutating=True)
async def _domrename(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    host = controller.fleet.host(guest.host)
    await controller.change(
        "domrename", lambda: guest_config.rename(host, guest.uuid, command.args[1]), guests=[guest]
    )


@verb(
    "desc",
    "show or set a guest's description (or --title)",
    guest=True,
    optional=("TEXT",),
    flags=("title", "live", "config"),
    mutating=with_more_than(1),
    variadic=True,
)
async def _desc(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    host = controller.fleet.host(guest.host)
    where = {
        "title": command.flag("title"),
        "live": command.flag("live"),
        "config": command.flag("config"),
    }
    if len(command.args) == 1:
        text = await guest_config.description(host, guest.uuid, **where)
        word = "title" if where["title"] else "description"
        controller.operator.ok(
            f"{guest.name} {word}: {text}" if text else f"{guest.name} has no {word}"
        )
        return
    text = " ".join(command.args[1:])
    await controller.change(
        "desc",
        lambda: guest_config.set_description(host, guest.uuid, text, **where),
        guests=[guest],
    )


@verb(
    "send-key",
    "press keys on a guest's keyboard (Linux key names or codes)",
    guest=True,
    positionals=("KEY",),
    valued=("holdtime",),
    numeric=("holdtime",),
    mutating=True,
    variadic=True,
)
async def _send_key(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    host = controller.fleet.host(guest.host)
    holdtime = int(command.value("holdtime") or 0)
    await controller.change(
        "send-key",
        lambda: guest_config.send_key(host, guest.uuid, command.args[1:], holdtime),
        guests=[guest],
    )


@verb("inject-nmi", "send a non-maskable interrupt to a guest", guest=True, mutating=True)
async def _inject_nmi(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    host = controller.fleet.host(guest.host)
    question = Question(
        f"Inject an NMI into {guest.name} on {guest.host}?",
        "A guest may answer with a crash dump or a kernel panic.",
        "Inject NMI",
    )
    await controller.change(
        "inject-nmi",
        lambda: guest_config.inject_nmi(host, guest.uuid),
        guests=[guest],
        question=question,
    )
