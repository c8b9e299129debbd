"""What the verb modules share: the path of a verb's change, the host a verb that
creates something on one host is for, and the forecast of the verbs that migrate guests
(`migrate`, `evacuate`). It registers no verb of its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from kvmtui.controller import Controller, Question
from kvmtui.core.commands import Command, CommandError
from kvmtui.core.foresight import CALC_SECONDS, Foresight, measure_guests
from kvmtui.core.host import Host
from kvmtui.core.migration import MigrationOptions
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.results import Measuring


async def change(
    controller: Controller,
    command: Command,
    work: Callable[[], Awaitable[str]],
    *,
    guests: Sequence[GuestSnapshot] = (),
    hosts: Sequence[str] = (),
    question: Question | None = None,
    reread: Callable[[], Awaitable[object]] | None = None,
) -> bool:
    """`work` through the controller's one mutation path, reported under the command's verb;
    once it has succeeded, `reread()` reads again what it changed when no libvirt event
    says so (pools, volumes, networks). Whether it ran and succeeded."""
    if not await controller.change(
        command.verb, work, guests=guests, hosts=hosts, question=question
    ):
        return False
    if reread is not None:
        await reread()
    return True


def one_host(controller: Controller, command: Command) -> Host:
    """The host `--host` names (an unknown one: HostError naming it); with one host in the
    fleet, that one."""
    name = command.value("host")
    if name is not None:
        return controller.fleet.host(name)
    hosts = controller.fleet.hosts
    if len(hosts) != 1:
        names = ", ".join(h.name for h in hosts)
        raise CommandError(f"{command.verb}: say which host with --host ({names})")
    return hosts[0]


#: The flag of the verbs that migrate that goes without the forecast (and its wait).
SKIP_FORECAST = "skip-forecast"


async def foresee(
    controller: Controller, guests: Sequence[GuestSnapshot], options: MigrationOptions
) -> dict[str, Foresight]:
    """Each guest's forecast for a migration with `options`, by `guest.key`: the measuring
    is shown as it starts (it takes CALC_SECONDS), for every guest at once."""
    await controller.operator.show(Measuring(tuple(guests), CALC_SECONDS))
    rates = await measure_guests(controller.fleet, guests)
    return {g.key: Foresight.of(g, rates[g.key], options) for g in guests}
