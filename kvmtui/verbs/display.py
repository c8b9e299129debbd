"""`:vncdisplay NAME` (virsh's verb: where the display listens) and `:viewer NAME` (open it:
a forward and a viewer, or the commands for the operator's own machine)."""

from __future__ import annotations

from kvmtui.controller import Controller
from kvmtui.core.commands import Command, CommandError, verb
from kvmtui.core.display import DisplayError, one_display, read_displays
from kvmtui.core.results import Display


@verb("vncdisplay", "show where a guest's graphical display listens", guest=True)
async def _vncdisplay(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    displays = await read_displays(controller.fleet.host(guest.host), guest.uuid, guest.name)
    try:
        controller.operator.ok(one_display(displays, guest.name, guest.host).summary)
    except DisplayError as error:
        raise CommandError(str(error)) from None


@verb(
    "viewer", "open a guest's graphical display (VNC or SPICE) in a viewer", guest=True, screen=True
)
async def _viewer(controller: Controller, command: Command) -> None:
    await controller.operator.show(Display(controller.guest(command.args[0])))
