"""Verbs that show rather than change: `list`, `host`, `dominfo`, `dumpxml`, `help`, `quit`.

What "show" means is the front-end's: the Textual app opens a view, the one-shot command
line prints what virsh would.
"""

from __future__ import annotations

from kvmtui.controller import Controller
from kvmtui.core.commands import Command, verb
from kvmtui.core.results import GuestList, GuestPage, HostGuests, Quit, VerbHelp


@verb(
    "list",
    "list guests (running only; --all: all; --inactive: shut off only)",
    flags=("all", "inactive"),
)
async def _list(controller: Controller, command: Command) -> None:
    which = "inactive" if command.flag("inactive") else "all" if command.flag("all") else ""
    await controller.operator.show(GuestList(which or "running"))


@verb("host", "show one host, or all hosts", optional=("HOST",))
async def _host(controller: Controller, command: Command) -> None:
    name = command.args[0] if command.args else ""
    if name:
        controller.fleet.host(name)  # unknown host -> HostError with its name
    await controller.operator.show(HostGuests(name))


@verb("dominfo", "show a guest's details", guest=True)
async def _dominfo(controller: Controller, command: Command) -> None:
    await controller.operator.show(GuestPage(controller.guest(command.args[0]), "info"))


@verb("dumpxml", "show a guest's XML", guest=True)
async def _dumpxml(controller: Controller, command: Command) -> None:
    await controller.operator.show(GuestPage(controller.guest(command.args[0]), "xml"))


@verb("help", "list commands, or show one", optional=("VERB",))
async def _help(controller: Controller, command: Command) -> None:
    await controller.operator.show(VerbHelp(command.args[0] if command.args else ""))


@verb("quit", "leave kvmtui", screen=True)
async def _quit(controller: Controller, command: Command) -> None:
    await controller.operator.show(Quit())
