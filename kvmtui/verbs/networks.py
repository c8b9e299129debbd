"""The net-* verbs, in virsh's words: define (from a short form), start, destroy,
autostart, undefine, and the DHCP leases.

A network name is often on every host (`default`), so `NAME@HOST` (or `--host HOST`) says
which; a name on one host only needs none. Every change goes through `Controller.change`;
stopping and undefining a network cut its guests off, so they ask first.
"""

from __future__ import annotations

from kvmtui.controller import Controller, Question
from kvmtui.core import networks
from kvmtui.core.commands import Command, CommandError, verb
from kvmtui.core.networks import NetworkSnapshot
from kvmtui.core.results import Leases
from kvmtui.verbs.shared import change, one_host

_HOST = ("host",)


async def _network(controller: Controller, command: Command) -> NetworkSnapshot:
    """The network the command names (`NAME`, `NAME@HOST` or `--host`), as the hosts have
    it now."""
    service = controller.services.networks
    await service.refresh()
    try:
        return service.find(command.args[0], command.value("host"))
    except CommandError as error:
        raise CommandError(f"{command.verb}: {error}") from None


async def _act(
    controller: Controller,
    command: Command,
    network: NetworkSnapshot,
    action: str,
    question: Question | None = None,
) -> None:
    """`action` (`net-start`, `net-autostart` ...) on the network, then every host's
    networks read again."""
    host = controller.fleet.host(network.host)
    await change(
        controller,
        command,
        lambda: networks.act(host, network.name, action),
        hosts=[network.host],
        question=question,
        reread=controller.services.networks.refresh,
    )


@verb(
    "net-define",
    "define a virtual network on a subnet (NAT unless --forward)",
    positionals=("NETWORK",),
    valued=("subnet", "forward", "bridge", "host"),
    flags=("dhcp",),
    mutating=True,
)
async def _net_define(controller: Controller, command: Command) -> None:
    subnet = command.value("subnet")
    if subnet is None:
        raise CommandError("net-define: --subnet is needed (e.g. --subnet 192.168.150.0/24)")
    try:
        xml = networks.network_xml(
            command.args[0],
            subnet,
            forward=command.value("forward") or "nat",
            bridge=command.value("bridge"),
            dhcp=command.flag("dhcp"),
        )
    except ValueError as error:
        raise CommandError(f"net-define: {error}") from None
    host = one_host(controller, command)
    await change(
        controller,
        command,
        lambda: networks.define(host, xml),
        hosts=[host.name],
        reread=controller.services.networks.refresh,
    )


@verb(
    "net-start", "start an inactive network", positionals=("NETWORK",), valued=_HOST, mutating=True
)
async def _net_start(controller: Controller, command: Command) -> None:
    await _act(controller, command, await _network(controller, command), "net-start")


@verb(
    "net-destroy",
    "stop a network (its guests lose their link)",
    positionals=("NETWORK",),
    valued=_HOST,
    mutating=True,
)
async def _net_destroy(controller: Controller, command: Command) -> None:
    network = await _network(controller, command)
    await _act(
        controller,
        command,
        network,
        "net-destroy",
        Question(
            f"Stop network {network.name} on {network.host}?",
            "Guests attached to it lose their network until it is started again.",
            "Destroy",
        ),
    )


@verb(
    "net-undefine",
    "remove a network's definition",
    positionals=("NETWORK",),
    valued=_HOST,
    mutating=True,
)
async def _net_undefine(controller: Controller, command: Command) -> None:
    network = await _network(controller, command)
    running = " It keeps running until stopped." if network.active else ""
    await _act(
        controller,
        command,
        network,
        "net-undefine",
        Question(
            f"Undefine network {network.name} on {network.host}?",
            f"Its definition is removed; this cannot be undone.{running}",
            "Undefine",
        ),
    )


@verb(
    "net-autostart",
    "start a network when its host boots (--disable: do not)",
    positionals=("NETWORK",),
    valued=_HOST,
    flags=("disable",),
    mutating=True,
)
async def _net_autostart(controller: Controller, command: Command) -> None:
    await _act(
        controller,
        command,
        await _network(controller, command),
        "net-noautostart" if command.flag("disable") else "net-autostart",
    )


@verb(
    "net-dhcp-leases",
    "show a network's DHCP leases and the guests holding them",
    positionals=("NETWORK",),
    valued=_HOST,
)
async def _net_dhcp_leases(controller: Controller, command: Command) -> None:
    await controller.operator.show(Leases(await _network(controller, command)))
