"""`:migrate` and the verbs that steer a running migration, in virsh's words and order.

Each change goes through the controller's one mutation path, as the keys on the progress
screen do; the flags come from the one definition in `core/migration.py`.
"""

from __future__ import annotations

from kvmtui.controller import Controller, Question, handles
from kvmtui.core.commands import Command, CommandError
from kvmtui.core.migration import FLAG_WORDS, MigrationOptions
from kvmtui.screens.migration_progress import open_progress, start_migrations
from kvmtui.widgets.migration import progress_summary


@handles("migrate")
async def _migrate(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    try:
        options = MigrationOptions.from_flags(
            {flag for flag in FLAG_WORDS if command.flag(flag)},
            bandwidth_mib=int(command.value("bandwidth") or 0),
            migrate_uri=command.value("migrateuri") or "")
    except ValueError as error:  # a bandwidth out of range
        raise CommandError(f"migrate: {error}") from error
    await start_migrations(controller.app, [guest], command.args[1], options)


@handles("domjobabort")
async def _abort(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    manager = controller.app.migrations
    await controller.change(
        "domjobabort", lambda: manager.abort(guest.host, guest.uuid), guests=[guest],
        question=Question(f"Abort the job of {guest.name} on {guest.host}?",
                          "A migration stops; the guest stays on its host.", "Abort"))


@handles("migrate-setspeed")
async def _setspeed(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    manager = controller.app.migrations
    await controller.change(
        "migrate-setspeed",
        lambda: manager.set_speed(guest.host, guest.uuid, int(command.args[1])),
        guests=[guest])


@handles("migrate-setmaxdowntime")
async def _setmaxdowntime(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    manager = controller.app.migrations
    await controller.change(
        "migrate-setmaxdowntime",
        lambda: manager.set_max_downtime(guest.host, guest.uuid, int(command.args[1])),
        guests=[guest])


@handles("migrate-postcopy")
async def _postcopy(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    manager = controller.app.migrations
    await controller.change(
        "migrate-postcopy", lambda: manager.start_postcopy(guest.host, guest.uuid),
        guests=[guest])


@handles("domjobinfo")
async def _jobinfo(controller: Controller, command: Command) -> None:
    """Our own job opens its progress screen; a job started elsewhere is summed up."""
    guest = controller.guest(command.args[0])
    manager = controller.app.migrations
    job = manager.active_job_for(guest.host, guest.uuid)
    if job is not None:
        open_progress(controller.app, job.id)
        return
    progress = await manager.job_info(guest.host, guest.uuid)
    if progress is None:
        controller.ok(f"{guest.name} on {guest.host}: no job running")
        return
    controller.ok(f"{guest.name} on {guest.host}: {progress_summary(progress)}")


@handles("jobs")
async def _jobs(controller: Controller, command: Command) -> None:
    controller.app.show_view("jobs")
