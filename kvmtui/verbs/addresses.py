"""`:domifaddr NAME [--source lease|agent|arp]`: where a guest can be reached, as virsh says.

Without --source every source is asked and merged (virsh asks only the leases): an operator
wants the address, wherever libvirt can find it. Each address names the sources that gave
it, and a source that could not answer says why, on the same line.
"""

from __future__ import annotations

from kvmtui.controller import Controller
from kvmtui.core.addresses import ALL_SOURCES, AddressSource, guest_addresses
from kvmtui.core.commands import Command, CommandError, verb

_SOURCES = {source.value: source for source in AddressSource}


@verb(
    "domifaddr",
    "show a guest's network addresses and where they come from",
    guest=True,
    valued=("source",),
)
async def _domifaddr(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    word = command.value("source")
    if word is not None and word not in _SOURCES:
        raise CommandError(f"domifaddr: --source must be one of {', '.join(_SOURCES)}")
    if not guest.state.is_active:
        raise CommandError(f"domifaddr: {guest.name} on {guest.host} is not running")
    sources = (_SOURCES[word],) if word is not None else ALL_SOURCES
    found = await guest_addresses(controller.fleet.host(guest.host), guest.uuid, sources)
    controller.operator.ok(found.line())
