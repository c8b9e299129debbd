"""virsh's block job verbs: `blockcopy`, `blockpull`, `blockcommit`, `blockresize` and
`blockjob` (pivot or abort a running one). A job started here is a job of the jobs view
(`core/blockjobs.py`); the verb waits for it to end (or to be ready for its pivot) and says
how it went, so the one-shot line ends when the work does."""

from __future__ import annotations

from kvmtui.controller import Controller, Question
from kvmtui.core.blockjobs import BlockJobSnapshot
from kvmtui.core.commands import Command, CommandError, verb
from kvmtui.core.migration import JobState
from kvmtui.core.numbers import size
from kvmtui.core.sizes import parse_size


def _outcome(job: BlockJobSnapshot) -> str:
    if job.state is JobState.SUCCEEDED:
        return f"{job.guest} on {job.host}: {job.message}"
    if job.state.finished:
        raise CommandError(
            f"{job.guest} on {job.host}: {job.kind} {job.state.value}: {job.message}"
        )
    return (
        f"{job.guest} on {job.host}: {job.disk} {job.kind} in step, mirroring: pivot it "
        f"(p in the jobs view, or blockjob {job.guest} {job.disk} --pivot) or abort it"
    )


@verb(
    "blockcopy",
    "copy a running guest's disk to a new file or pool, and pivot onto it",
    guest=True,
    positionals=("DISK",),
    valued=("dest", "pool"),
    flags=("pivot",),
    mutating=True,
)
async def _blockcopy(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    jobs = controller.services.blockjobs

    async def work() -> str:
        job = await jobs.copy(
            guest,
            command.args[1],
            dest=command.value("dest"),
            pool=command.value("pool"),
            pivot=command.flag("pivot"),
        )
        return _outcome(await jobs.wait(job.key))

    await controller.change("blockcopy", work, guests=[guest])


@verb(
    "blockpull",
    "fill a disk's top image from its backing chain",
    guest=True,
    positionals=("DISK",),
    mutating=True,
)
async def _blockpull(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    jobs = controller.services.blockjobs

    async def work() -> str:
        job = await jobs.pull(guest, command.args[1])
        return _outcome(await jobs.wait(job.key))

    await controller.change("blockpull", work, guests=[guest])


@verb(
    "blockcommit",
    "merge a disk's top overlay into its backing file (--active: the one in use)",
    guest=True,
    positionals=("DISK",),
    flags=("active", "pivot"),
    mutating=True,
)
async def _blockcommit(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    jobs = controller.services.blockjobs

    async def work() -> str:
        job = await jobs.commit(
            guest, command.args[1], active=command.flag("active"), pivot=command.flag("pivot")
        )
        return _outcome(await jobs.wait(job.key))

    await controller.change("blockcommit", work, guests=[guest])


@verb(
    "blockresize",
    "change the size of a running guest's disk",
    guest=True,
    positionals=("DISK", "SIZE"),
    mutating=True,
)
async def _blockresize(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    disk = command.args[1]
    try:
        new_size = parse_size(command.args[2])
    except ValueError as error:
        raise CommandError(f"blockresize: {error}") from error
    question = Question(
        f"Resize {disk} of {guest.name} on {guest.host} to {size(new_size)}?",
        "Shrinking a disk below what its filesystems use destroys their data.",
        "Resize",
    )
    await controller.change(
        "blockresize",
        lambda: controller.services.blockjobs.resize(guest, disk, new_size),
        guests=[guest],
        question=question,
    )


@verb(
    "blockjob",
    "pivot or abort a running block job of a guest's disk",
    guest=True,
    positionals=("DISK",),
    flags=("pivot", "abort"),
    mutating=True,
)
async def _blockjob(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    disk = command.args[1]
    jobs = controller.services.blockjobs
    if command.flag("pivot") == command.flag("abort"):
        raise CommandError("blockjob: say --pivot or --abort")
    step = jobs.pivot if command.flag("pivot") else jobs.abort
    await controller.change("blockjob", lambda: step(guest.host, guest.uuid, disk), guests=[guest])
