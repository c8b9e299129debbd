"""`:migrate` and the verbs that steer a running migration, in virsh's words and order.

Starting and steering are changes, so each goes through `Controller.change`; how a
front-end follows a job (a progress screen, progress lines) is the operator's business.
The flags come from the one definition in `core/migration.py`. Before a guest moves, its
dirty rate is measured and the forecast said (`core/foresight.py`); `--skip-forecast` goes
without.
"""

from __future__ import annotations

from kvmtui.controller import Controller, Question
from kvmtui.core.commands import Command, CommandError, verb
from kvmtui.core.foresight import Foresight
from kvmtui.core.migration import FLAG_WORDS, MigrationOptions
from kvmtui.core.results import Forecasts, JobProgress, JobReport
from kvmtui.verbs.shared import SKIP_FORECAST, foresee


@verb(
    "migrate",
    "move a guest to another host",
    guest=True,
    positionals=("DESTHOST",),
    flags=sorted(FLAG_WORDS | {SKIP_FORECAST}),
    valued=("bandwidth", "migrateuri"),
    numeric=("bandwidth",),
    mutating=True,
)
async def _migrate(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    try:
        # Every boolean option given but one is a migration flag: the grammar accepts no other.
        options = MigrationOptions.from_flags(
            {
                name
                for name, value in command.options.items()
                if value is True and name != SKIP_FORECAST
            },
            bandwidth_mib=int(command.value("bandwidth") or 0),
            migrate_uri=command.value("migrateuri") or "",
        )
    except ValueError as error:  # a bandwidth out of range
        raise CommandError(f"migrate: {error}") from error
    started: list[int] = []
    if controller.refused("migrate", [guest], [command.args[1]]):
        return
    if command.flag(SKIP_FORECAST):
        seen = Foresight.skipped(guest)
    else:
        seen = (await foresee(controller, [guest], options))[guest.key]
    await controller.operator.show(Forecasts((seen,)))

    async def start() -> str:
        job = controller.services.migrations.start(guest, command.args[1], options, seen)
        started.append(job.id)
        return f"migrating {guest.name} from {guest.host} to {job.dest}"

    if await controller.change("migrate", start, guests=[guest], hosts=[command.args[1]]):
        await controller.operator.show(JobProgress(started[0]))


@verb("domjobabort", "abort a guest's running job (e.g. a migration)", guest=True, mutating=True)
async def _abort(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    manager = controller.services.migrations
    await controller.change(
        "domjobabort",
        lambda: manager.abort(guest.host, guest.uuid),
        guests=[guest],
        question=Question(
            f"Abort the job of {guest.name} on {guest.host}?",
            "A migration stops; the guest stays on its host.",
            "Abort",
        ),
    )


@verb(
    "migrate-setspeed",
    "set a running migration's bandwidth in MiB/s",
    guest=True,
    positionals=("BANDWIDTH",),
    numeric=("BANDWIDTH",),
    mutating=True,
)
async def _setspeed(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    manager = controller.services.migrations
    await controller.change(
        "migrate-setspeed",
        lambda: manager.set_speed(guest.host, guest.uuid, int(command.args[1])),
        guests=[guest],
    )


@verb(
    "migrate-setmaxdowntime",
    "set a running migration's tolerable downtime in ms",
    guest=True,
    positionals=("DOWNTIME",),
    numeric=("DOWNTIME",),
    mutating=True,
)
async def _setmaxdowntime(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    manager = controller.services.migrations
    await controller.change(
        "migrate-setmaxdowntime",
        lambda: manager.set_max_downtime(guest.host, guest.uuid, int(command.args[1])),
        guests=[guest],
    )


@verb("migrate-postcopy", "switch a running migration to post-copy", guest=True, mutating=True)
async def _postcopy(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    manager = controller.services.migrations
    await controller.change(
        "migrate-postcopy", lambda: manager.start_postcopy(guest.host, guest.uuid), guests=[guest]
    )


@verb("domjobinfo", "show a guest's running job", guest=True)
async def _jobinfo(controller: Controller, command: Command) -> None:
    """Our own job opens its progress; a job started elsewhere is summed up."""
    guest = controller.guest(command.args[0])
    manager = controller.services.migrations
    job = manager.active_job_for(guest.host, guest.uuid)
    if job is not None:
        await controller.operator.show(JobProgress(job.id))
        return
    await controller.operator.show(JobReport(guest, await manager.job_info(guest.host, guest.uuid)))
