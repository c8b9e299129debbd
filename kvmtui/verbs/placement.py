"""`:vcpupin`, `:emulatorpin` and `:vcpuinfo`, in virsh's words and argument order.

With no CPU list they show the pinning (the guest's vCPUs); with one they pin, checked
against the host's CPUs first. Neither --live nor --config means virsh's "current": live on
a running guest, persistent on a shut-off one.
"""

from __future__ import annotations

from kvmtui.controller import Controller
from kvmtui.core.commands import Command, CommandError, verb
from kvmtui.core.cpulist import CpuListError, format_cpulist, parse_cpulist
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.placement import GuestPlacementReader, host_cpus, pin_emulator, pin_vcpu
from kvmtui.core.results import GuestPage

_PIN_FLAGS = ("live", "config")


def _where(command: Command, guest: GuestSnapshot) -> tuple[bool, bool]:
    """(live, config) as virsh reads --live/--config; neither is "current"."""
    live, config = command.flag("live"), command.flag("config")
    if not live and not config:
        return guest.state.is_active, not guest.state.is_active
    return live, config


async def _pin(
    controller: Controller, command: Command, guest: GuestSnapshot, text: str, vcpu: int | None
) -> None:
    """Both pin verbs: read-only refused first (by `change`), then a CPU list the guest's
    host does not have, then libvirt's answer."""
    live, config = _where(command, guest)

    async def pin() -> str:
        host = controller.fleet.host(guest.host)
        topology = await host_cpus(host)
        try:
            cpus = parse_cpulist(text, topology.count, host.name)
        except CpuListError as error:
            raise CommandError(f"{command.verb} {guest.name}: {error}") from None
        if vcpu is None:
            return await pin_emulator(host, guest.uuid, cpus, live=live, config=config)
        return await pin_vcpu(host, guest.uuid, vcpu, cpus, live=live, config=config)

    await controller.change(command.verb, pin, guests=[guest])


@verb(
    "vcpupin",
    "show or set which host CPUs a vCPU may run on",
    guest=True,
    optional=("VCPU", "CPULIST"),
    flags=_PIN_FLAGS,
    numeric=("VCPU",),
    mutating=True,
)
async def _vcpupin(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    if len(command.args) == 3:
        await _pin(controller, command, guest, command.args[2], int(command.args[1]))
    elif len(command.args) == 2:
        await _show_vcpu(controller, guest, int(command.args[1]))
    else:
        await controller.operator.show(GuestPage(guest, "vcpus"))


async def _show_vcpu(controller: Controller, guest: GuestSnapshot, number: int) -> None:
    placement = await GuestPlacementReader(controller.fleet.host(guest.host), guest.uuid).read()
    found = [v for v in placement.vcpus if v.number == number]
    if not found:
        raise CommandError(
            f"vcpupin {guest.name}: no vCPU {number} (it has {len(placement.vcpus)})"
        )
    vcpu = found[0]
    live = format_cpulist(vcpu.affinity_live) if vcpu.affinity_live is not None else "-"
    controller.operator.ok(
        f"{guest.name} vCPU {number}: CPUs {live} (live), "
        f"{format_cpulist(vcpu.affinity_config)} (config)"
    )


@verb(
    "emulatorpin",
    "show or set which host CPUs the emulator threads may run on",
    guest=True,
    optional=("CPULIST",),
    flags=_PIN_FLAGS,
    mutating=True,
)
async def _emulatorpin(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    if len(command.args) == 2:
        await _pin(controller, command, guest, command.args[1], None)
    else:
        await controller.operator.show(GuestPage(guest, "vcpus"))


@verb("vcpuinfo", "show where each vCPU runs", guest=True)
async def _vcpuinfo(controller: Controller, command: Command) -> None:
    await controller.operator.show(GuestPage(controller.guest(command.args[0]), "vcpus"))
