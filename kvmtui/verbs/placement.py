"""`:vcpupin`, `:emulatorpin` and `:vcpuinfo`, in virsh's words and argument order.

With no CPU list they show the pinning (the guest's vCPUs tab); with one they pin, checked
against the host's CPUs first. Neither --live nor --config means virsh's "current": live on
a running guest, persistent on a shut-off one.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvmtui.controller import Controller, handles
from kvmtui.core.commands import Command
from kvmtui.core.cpulist import CpuListError, format_cpulist, parse_cpulist
from kvmtui.core.host import Host
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.placement import GuestPlacementReader, host_cpus, pin_emulator, pin_vcpu


def _where(command: Command, guest: GuestSnapshot) -> tuple[bool, bool]:
    """(live, config) as virsh reads --live/--config; neither is "current"."""
    live, config = command.flag("live"), command.flag("config")
    if not live and not config:
        return guest.state.is_active, not guest.state.is_active
    return live, config


@dataclass(frozen=True)
class _Pinning:
    """Where and to what a pin verb pins, once every check before libvirt has passed."""

    host: Host
    cpus: frozenset[int]
    live: bool
    config: bool


async def _pinning(controller: Controller, command: Command, guest: GuestSnapshot,
                   text: str) -> _Pinning | None:
    """One gate for both pin verbs, so they refuse in the same order and the same words:
    read-only first, then a CPU list the guest's host does not have. None once it has said
    why."""
    if controller.refuse_if_readonly(command.verb, [guest]):
        return None
    host = controller.fleet.host(guest.host)
    topology = await host_cpus(host)
    try:
        cpus = parse_cpulist(text, topology.count, host.name)
    except CpuListError as error:
        controller.error(f"{command.verb} {guest.name}: {error}")
        return None
    live, config = _where(command, guest)
    return _Pinning(host, cpus, live, config)


@handles("vcpupin")
async def _vcpupin(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    if len(command.args) < 3:
        if len(command.args) == 2:
            await _show_vcpu(controller, guest, int(command.args[1]))
        controller.app.open_detail(guest, tab="vcpus")
        return
    pinning = await _pinning(controller, command, guest, command.args[2])
    if pinning is None:
        return
    controller.ok(await pin_vcpu(pinning.host, guest.uuid, int(command.args[1]), pinning.cpus,
                                 live=pinning.live, config=pinning.config))


async def _show_vcpu(controller: Controller, guest: GuestSnapshot, number: int) -> None:
    placement = await GuestPlacementReader(controller.fleet.host(guest.host), guest.uuid).read()
    found = [v for v in placement.vcpus if v.number == number]
    if not found:
        controller.error(f"vcpupin {guest.name}: no vCPU {number} "
                         f"(it has {len(placement.vcpus)})")
        return
    vcpu = found[0]
    live = format_cpulist(vcpu.affinity_live) if vcpu.affinity_live is not None else "-"
    controller.ok(f"{guest.name} vCPU {number}: CPUs {live} (live), "
                  f"{format_cpulist(vcpu.affinity_config)} (config)")


@handles("emulatorpin")
async def _emulatorpin(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    if len(command.args) < 2:
        controller.app.open_detail(guest, tab="vcpus")
        return
    pinning = await _pinning(controller, command, guest, command.args[1])
    if pinning is None:
        return
    controller.ok(await pin_emulator(pinning.host, guest.uuid, pinning.cpus,
                                     live=pinning.live, config=pinning.config))


@handles("vcpuinfo")
async def _vcpuinfo(controller: Controller, command: Command) -> None:
    controller.app.open_detail(controller.guest(command.args[0]), tab="vcpus")
