"""The verbs that ask a guest's QEMU agent: `guestinfo NAME` (what the agent says of the
inside: OS, users, filesystems, hostname, timezone, interfaces).

The full screen shows it on the guest's detail screen (its Guest tab), the one-shot line
prints it as `virsh guestinfo`'s fields, with control characters made visible: everything
the agent says is chosen inside the guest.
"""

from __future__ import annotations

from kvmtui.controller import Controller
from kvmtui.core.commands import Command, CommandError, verb
from kvmtui.core.results import GuestPage


@verb("guestinfo", "show what a guest's agent says: OS, users, filesystems", guest=True)
async def _guestinfo(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    if not guest.state.is_active:
        raise CommandError(f"guestinfo: {guest.name} on {guest.host} is not running")
    await controller.operator.show(GuestPage(guest, "guest"))
