"""`:vncdisplay NAME` (virsh's verb: where the display listens) and `:viewer NAME` (open it:
a forward and a viewer, or the commands for the operator's own machine)."""

from __future__ import annotations

from kvmtui.controller import Controller, handles
from kvmtui.core.commands import Command
from kvmtui.core.display import DisplayError, one_display, read_displays


@handles("vncdisplay")
async def _vncdisplay(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    displays = await read_displays(controller.fleet.host(guest.host), guest.uuid, guest.name)
    try:
        controller.ok(one_display(displays, guest.name, guest.host).summary)
    except DisplayError as error:
        controller.error(str(error))


@handles("viewer")
async def _viewer(controller: Controller, command: Command) -> None:
    controller.app.open_display(controller.guest(command.args[0]), open_now=True)
