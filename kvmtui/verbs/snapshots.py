"""virsh's snapshot verbs (`snapshot-create-as`, `-list`, `-revert`, `-delete`, `-current`)
which the snapshots view's keys submit as commands: one function per change, each through
`Controller.change` and the fleet's `SnapshotBook`, so a key and a typed line ask the same
question and report the same line.

Reverting and deleting lose state, so both name the snapshot as libvirt has it (read first:
an unknown name is one line, asked nothing) and ask. An external snapshot is reverted or
deleted only by libvirt: when it refuses, its reason is what the operator reads.
"""

from __future__ import annotations

from collections.abc import Sequence

from kvmtui.controller import Controller, Question
from kvmtui.core.commands import Command, CommandError, verb, with_more_than
from kvmtui.core.host import HostError
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.results import SnapshotList
from kvmtui.core.snapshots import Snapshot, created_sentence, current_snapshot


def _when(snap: Snapshot) -> str:
    return (
        snap.created.astimezone().strftime("%Y-%m-%d %H:%M %Z")
        if snap.created
        else "at an unknown time"
    )


async def take(
    controller: Controller,
    guests: Sequence[GuestSnapshot],
    name: str | None,
    *,
    description: str = "",
    disk_only: bool = False,
    atomic: bool = False,
) -> bool:
    """A snapshot of one guest (libvirt names it when `name` is None), or the snapshot `name`
    of every guest given: one summary line, and one error line per guest that failed."""
    if not guests:
        controller.operator.error("snapshot: no guest selected")
        return False
    book = controller.services.snapshots
    if len(guests) == 1:
        guest = guests[0]

        async def one() -> str:
            return created_sentence(
                await book.create(
                    guest, name, description=description, disk_only=disk_only, atomic=atomic
                )
            )

        return await controller.change("snapshot-create-as", one, guests=guests)

    async def every() -> str:
        bulk = await book.snapshot_guests(
            guests, name or "", description=description, disk_only=disk_only, atomic=atomic
        )
        for failed in bulk.failed:
            controller.operator.error(failed.error)
        if len(bulk.failed) == len(bulk.outcomes):
            raise CommandError(bulk.summary)
        return bulk.summary

    return await controller.change("snapshot", every, guests=guests)


async def _asked_about(
    controller: Controller, what: str, guest: GuestSnapshot, name: str
) -> Snapshot | None:
    """The snapshot a question is about, read from libvirt before asking: a read-only
    refusal or an unknown name is one line, and nothing is asked."""
    if controller.refused(what, [guest]):
        return None
    try:
        return await controller.services.snapshots.lookup(what, guest, name)
    except HostError as error:
        controller.failed(what, error)
        return None


async def revert(
    controller: Controller,
    guest: GuestSnapshot,
    name: str,
    *,
    running: bool = False,
    paused: bool = False,
    force: bool = False,
) -> bool:
    """Back to the snapshot, asked first: whatever the guest did since is lost."""
    what = "snapshot-revert"
    if running and paused:
        controller.operator.error(f"{what}: choose --running or --paused, not both")
        return False
    snap = await _asked_about(controller, what, guest, name)
    if snap is None:
        return False
    saved = "disks and memory" if snap.memory else "disks"
    question = Question(
        f"Revert {guest.name} on {guest.host} to snapshot {name}?",
        f"Snapshot taken {_when(snap)} ({snap.kind}). The guest's {saved} go back to then: "
        "everything it wrote since is lost.",
        "Revert",
    )
    return await controller.change(
        what,
        lambda: controller.services.snapshots.revert(
            guest, name, running=running, paused=paused, force=force
        ),
        guests=[guest],
        question=question,
    )


async def delete(
    controller: Controller, guest: GuestSnapshot, name: str, *, children: bool = False
) -> bool:
    """Drops the snapshot (and with `children` those taken from it), asked first."""
    what = "snapshot-delete"
    snap = await _asked_about(controller, what, guest, name)
    if snap is None:
        return False
    below = " and every snapshot taken from it" if children else ""
    question = Question(
        f"Delete snapshot {name}{below} of {guest.name} on {guest.host}?",
        f"Snapshot taken {_when(snap)} ({snap.kind}). The guest can no longer go back to it.",
        "Delete",
    )
    return await controller.change(
        what,
        lambda: controller.services.snapshots.delete(guest, name, children=children),
        guests=[guest],
        question=question,
    )


async def make_current(controller: Controller, guest: GuestSnapshot, name: str) -> bool:
    """Marks the snapshot current without reverting (nothing is lost: not asked)."""
    return await controller.change(
        "snapshot-current",
        lambda: controller.services.snapshots.set_current(guest, name),
        guests=[guest],
    )


# ---- the verbs -------------------------------------------------------------------------


@verb(
    "snapshot-create-as",
    "take a snapshot of a guest (libvirt names it if you do not); of several with --name",
    guest=True,
    optional=("SNAPSHOT",),
    valued=("description", "name"),
    flags=("disk-only", "atomic"),
    mutating=True,
    variadic=True,
)
async def _create(controller: Controller, command: Command) -> None:
    """virsh's two spellings of the name: `snapshot-create-as web1 snap1` and
    `snapshot-create-as web1 --name snap1`. With `--name` every word is a guest (the
    snapshots view's `n` on marked guests submits that), so one name goes to all of them."""
    name = command.value("name")
    if name is not None:
        guests = controller.guests(command.args)
    elif len(command.args) > 2:
        raise CommandError("snapshot-create-as: a snapshot of several guests needs --name NAME")
    else:
        guests = [controller.guest(command.args[0])]
        name = command.args[1] if len(command.args) > 1 else None
    await take(
        controller,
        guests,
        name,
        description=command.value("description") or "",
        disk_only=command.flag("disk-only"),
        atomic=command.flag("atomic"),
    )


@verb("snapshot-list", "list a guest's snapshots", guest=True)
async def _list(controller: Controller, command: Command) -> None:
    await controller.operator.show(SnapshotList(controller.guest(command.args[0])))


@verb(
    "snapshot-revert",
    "return a guest to a snapshot (what it did since is lost)",
    guest=True,
    positionals=("SNAPSHOT",),
    flags=("running", "paused", "force"),
    mutating=True,
)
async def _revert(controller: Controller, command: Command) -> None:
    await revert(
        controller,
        controller.guest(command.args[0]),
        command.args[1],
        running=command.flag("running"),
        paused=command.flag("paused"),
        force=command.flag("force"),
    )


@verb(
    "snapshot-delete",
    "delete a guest's snapshot",
    guest=True,
    positionals=("SNAPSHOT",),
    flags=("children",),
    mutating=True,
)
async def _delete(controller: Controller, command: Command) -> None:
    await delete(
        controller,
        controller.guest(command.args[0]),
        command.args[1],
        children=command.flag("children"),
    )


@verb(
    "snapshot-current",
    "show a guest's current snapshot, or make another one current",
    guest=True,
    optional=("SNAPSHOT",),
    mutating=with_more_than(1),
)
async def _current(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    if len(command.args) > 1:
        await make_current(controller, guest, command.args[1])
        return
    current = await current_snapshot(controller.fleet.host(guest.host), guest.uuid)
    controller.operator.ok(
        f"{guest.name} on {guest.host}: "
        + (f"current snapshot {current.name}" if current else "no current snapshot")
    )
