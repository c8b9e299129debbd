"""`backup`, `restore`, `backup-verify` and `backup-prune`: live backups of guests (a shut-off
one started paused for it) and their catalogue (`core/backups.py`), each change through
`Controller.change`.

A backup of several guests (the guest list's `B` on marked guests, or several NAMEs) asks
once, naming how many on how many hosts, and runs at most the configured number at a time
per host; each guest's failure is its own line. A restore over the guest itself asks,
naming the disks it replaces; a restore as a new guest makes only new things, and does not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence

from kvmtui.controller import Controller, Question
from kvmtui.core.backups import BackupPoint, disk_paths
from kvmtui.core.commands import Command, CommandError, verb
from kvmtui.core.model import GuestSnapshot, GuestState
from kvmtui.core.names import split_ref
from kvmtui.core.numbers import plural


async def back_up(
    controller: Controller,
    guests: Sequence[GuestSnapshot],
    *,
    pool: str | None = None,
    incremental: bool | None = None,
    quiesce: bool = False,
    keep: int | None = None,
) -> bool:
    """Backs each guest up: one line for one guest; for several, asked first, one line per
    failure and a summary."""
    if not guests:
        controller.operator.error("backup: no guest selected")
        return False
    service = controller.services.backups
    where = pool or service.pool

    def one(guest: GuestSnapshot) -> Awaitable[str]:
        return service.backup(
            guest, pool=where, incremental=incremental, quiesce=quiesce, keep=keep
        )

    if len(guests) == 1:
        return await controller.change("backup", lambda: one(guests[0]), guests=guests)

    hosts = {g.host for g in guests}
    question = Question(
        f"Back up {plural(len(guests), 'guest')} on {plural(len(hosts), 'host')}?",
        ", ".join(g.ref for g in guests[:8])
        + (" ..." if len(guests) > 8 else "")
        + f". At most {service.per_host} at a time per host, into pool {where}.",
        "Back up",
    )

    async def every() -> str:
        results = await asyncio.gather(*(one(g) for g in guests), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            controller.failed("backup", failure)
        if len(failures) == len(guests):
            raise CommandError(f"backup: failed on all {len(guests)} guests")
        return f"backed up {len(guests) - len(failures)} of {plural(len(guests), 'guest')}"

    return await controller.change("backup", every, guests=guests, question=question)


def _point(controller: Controller, token: str, name: str, host: str | None) -> BackupPoint:
    """The point a command names: `NAME[@HOST]` and a point as listed, or `latest`."""
    service = controller.services.backups
    guest, at = split_ref(token, host, {p.guest for p in service.points()})
    return service.find_point(guest, at, name)


async def restore(
    controller: Controller, point: BackupPoint, new_name: str | None, dest: str | None
) -> bool:
    """The point as a new guest, or over the guest itself, asked first (naming what is
    overwritten)."""
    service = controller.services.backups
    what = "restore"
    question = None
    if new_name is None:
        replaced = ", ".join(f.disk for f in point.files)
        current = controller.fleet.host(point.host).guest(point.uuid)
        paths: list[str] = []
        if current is not None and current.state is not GuestState.SHUTOFF:
            controller.operator.error(
                f"restore: {current.name} on {current.host} is {current.state.value}; shut it "
                "down to restore over it, or restore as a new guest (--as NEWNAME)"
            )
            return False
        if current is not None:
            xml = await controller.fleet.host(point.host).domain_xml(point.uuid)
            paths = disk_paths(xml, [f.disk for f in point.files])
        question = Question(
            f"Restore {point.guest} on {point.host} from backup {point.name}?",
            f"Its disks ({replaced}) are replaced by the backup's of {point.name} "
            f"({point.kind}); the old disk volumes are deleted: "
            f"{', '.join(paths) or 'none found'}. Everything written since is lost.",
            "Restore",
        )
    return await controller.change(
        what,
        lambda: service.restore(point, new_name, dest=dest),
        hosts=[point.host, *([dest] if dest else [])],
        question=question,
    )


# ---- the verbs -------------------------------------------------------------------------


@verb(
    "backup",
    "back up guests (running or shut off): full, then incremental since the last checkpoint",
    guest=True,
    optional=("NAME",),
    flags=("incremental", "full", "quiesce"),
    valued=("to", "keep"),
    numeric=("keep",),
    mutating=True,
    variadic=True,
)
async def _backup(controller: Controller, command: Command) -> None:
    if command.flag("incremental") and command.flag("full"):
        raise CommandError("backup: choose --incremental or --full, not both")
    keep = command.value("keep")
    if keep is not None and int(keep) < 1:
        raise CommandError("backup: --keep must be at least 1")
    await controller.services.backups.load()
    await back_up(
        controller,
        controller.guests(command.args),
        pool=command.value("to"),
        incremental=_mode(command),
        quiesce=command.flag("quiesce"),
        keep=int(keep) if keep is not None else None,
    )


def _mode(command: Command) -> bool | None:
    """--incremental: incremental or nothing; --full: full; neither: whichever fits."""
    if command.flag("incremental"):
        return True
    return False if command.flag("full") else None


@verb(
    "restore",
    "restore a backup point (or latest) as a new guest (--as), or over a shut-off guest",
    positionals=("NAME", "POINT"),
    valued=("as", "host"),
    mutating=True,
)
async def _restore(controller: Controller, command: Command) -> None:
    await controller.services.backups.load()
    point = _point(controller, command.args[0], command.args[1], None)
    await restore(controller, point, command.value("as"), command.value("host"))


@verb(
    "backup-verify",
    "check a backup point: qemu-img check of its files, a read of every block",
    positionals=("NAME",),
    optional=("POINT",),
    mutating=True,
)
async def _verify(controller: Controller, command: Command) -> None:
    await controller.services.backups.load()
    name = command.args[1] if len(command.args) > 1 else "latest"
    point = _point(controller, command.args[0], name, None)
    await controller.change(
        "backup-verify", lambda: controller.services.backups.verify(point), hosts=[point.host]
    )


@verb(
    "backup-prune",
    "keep a guest's newest N backup points; older ones merged or removed",
    positionals=("NAME",),
    valued=("keep",),
    numeric=("keep",),
    mutating=True,
)
async def _prune(controller: Controller, command: Command) -> None:
    keep = command.value("keep")
    if keep is None:
        raise CommandError("backup-prune: say how many points to keep (--keep N)")
    service = controller.services.backups
    await service.load()
    point = _point(controller, command.args[0], "latest", None)
    count = len(service.chain_of(point.uuid, point.host))
    question = Question(
        f"Prune the backups of {point.guest} on {point.host} to the newest {keep}?",
        f"{plural(max(0, count - int(keep)), 'older point')} of {count} are deleted from pool "
        f"{point.pool}; a kept incremental point standing on them is merged into a full one.",
        "Prune",
    )

    async def prune() -> str:
        said = await service.prune(point.uuid, point.host, int(keep))
        return said or f"{point.guest} has {plural(count, 'backup point')}: nothing to prune"

    await controller.change("backup-prune", prune, hosts=[point.host], question=question)
