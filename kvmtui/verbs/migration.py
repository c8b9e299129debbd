"""`:migrate` and the verbs that steer a running migration, in virsh's words and order."""

from __future__ import annotations

from kvmtui.controller import Controller, handles
from kvmtui.core.commands import Command
from kvmtui.core.migration import MigrationOptions, migrations
from kvmtui.core.model import GuestSnapshot
from kvmtui.screens.migrate import open_progress, progress_summary

_OPTION_FLAGS = ("live", "offline", "persistent", "undefinesource", "p2p", "tunnelled",
                 "auto-converge", "compressed", "postcopy", "unsafe")


def _writable_guest(controller: Controller, command: Command) -> GuestSnapshot | None:
    guest = controller.guest(command.args[0])
    return None if controller.refuse_if_readonly(command.verb, [guest]) else guest


@handles("migrate")
async def _migrate(controller: Controller, command: Command) -> None:
    guest = _writable_guest(controller, command)
    if guest is None:
        return
    options = MigrationOptions.from_flags(
        {flag for flag in _OPTION_FLAGS if command.flag(flag)},
        bandwidth_mib=int(command.value("bandwidth") or 0),
        migrate_uri=command.value("migrateuri") or "")
    job = migrations(controller.fleet).start(guest, command.args[1], options)
    controller.ok(f"migrating {guest.name} from {guest.host} to {job.dest}")
    open_progress(controller.app, job.id)


@handles("domjobabort")
async def _abort(controller: Controller, command: Command) -> None:
    guest = _writable_guest(controller, command)
    if guest is None:
        return
    if await controller.confirm(f"Abort the job of {guest.name} on {guest.host}?",
                                "A migration stops; the guest stays on its host.", "Abort"):
        controller.ok(await migrations(controller.fleet).abort(guest.host, guest.uuid))


@handles("migrate-setspeed")
async def _setspeed(controller: Controller, command: Command) -> None:
    guest = _writable_guest(controller, command)
    if guest is not None:
        manager = migrations(controller.fleet)
        controller.ok(await manager.set_speed(guest.host, guest.uuid, int(command.args[1])))


@handles("migrate-setmaxdowntime")
async def _setmaxdowntime(controller: Controller, command: Command) -> None:
    guest = _writable_guest(controller, command)
    if guest is not None:
        manager = migrations(controller.fleet)
        controller.ok(await manager.set_max_downtime(guest.host, guest.uuid,
                                                     int(command.args[1])))


@handles("migrate-postcopy")
async def _postcopy(controller: Controller, command: Command) -> None:
    guest = _writable_guest(controller, command)
    if guest is not None:
        controller.ok(await migrations(controller.fleet).start_postcopy(guest.host, guest.uuid))


@handles("domjobinfo")
async def _jobinfo(controller: Controller, command: Command) -> None:
    """Our own job opens its progress screen; a job started elsewhere is summed up."""
    guest = controller.guest(command.args[0])
    manager = migrations(controller.fleet)
    job = manager.active_job_for(guest.host, guest.uuid)
    if job is not None:
        open_progress(controller.app, job.id)
        return
    progress = await manager.job_info(guest.host, guest.uuid)
    if progress is None:
        controller.ok(f"{guest.name} on {guest.host}: no job running")
        return
    controller.ok(f"{guest.name} on {guest.host}: {progress_summary(progress)}")
