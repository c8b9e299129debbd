"""`:console NAME [DEVNAME] [--force]`, as virsh spells it."""

from __future__ import annotations

from kvmtui.controller import Controller
from kvmtui.core.commands import Command, verb
from kvmtui.core.results import Console


@verb(
    "console", "open a guest's serial console", guest=True, optional=("DEVNAME",), flags=("force",)
)
async def _console(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    devname = command.args[1] if len(command.args) > 1 else None
    await controller.operator.show(Console(guest, devname, force=command.flag("force")))
