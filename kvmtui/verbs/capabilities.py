"""`:caps [HOST]` (what a host offers its guests, KVM first) and `:validate` (what stops
guests from running accelerated, on every host at once)."""

from __future__ import annotations

from collections.abc import Sequence

from kvmtui.controller import Controller
from kvmtui.core import capabilities
from kvmtui.core.commands import Command, verb
from kvmtui.core.host import Host
from kvmtui.core.results import CapsReport


async def _show(controller: Controller, hosts: Sequence[Host], *, facts: bool) -> None:
    """Reads the hosts' capabilities and shows the findings, with the facts when asked."""
    caps = await capabilities.read_all(hosts)
    guests = controller.fleet.snapshot().guests
    findings = [c for host in caps for c in capabilities.checks(host, guests)]
    await controller.operator.show(CapsReport(caps if facts else [], findings))


@verb("caps", "show a host's capabilities: CPU, KVM, NUMA, hugepages, IOMMU", optional=("HOST",))
async def _caps(controller: Controller, command: Command) -> None:
    fleet = controller.fleet
    await _show(
        controller, [fleet.host(command.args[0])] if command.args else fleet.hosts, facts=True
    )


@verb("validate", "check every host for what stops guests from running accelerated")
async def _validate(controller: Controller, command: Command) -> None:
    await _show(controller, controller.fleet.hosts, facts=False)
