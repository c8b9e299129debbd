"""Changing a guest's hardware with virsh's verbs and flags: `setvcpus`, `setmem`,
`setmaxmem`, `attach-disk`, `detach-disk`, `attach-interface`, `detach-interface`,
`change-media`, `boot-order`, and `edit` (the persistent XML in $VISUAL/$EDITOR).

Every change goes through `Controller.change`; the core checks the input against the
guest's definition first, so a bad one is one line and nothing changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from kvmtui.controller import Controller, Question
from kvmtui.core import edit, hardware
from kvmtui.core.commands import Command, CommandError, verb
from kvmtui.core.errors import describe
from kvmtui.core.hardware import Where
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.results import Editor
from kvmtui.core.sizes import parse_size
from kvmtui.verbs.shared import change

#: Where a change goes, as virsh spells it; neither --live nor --config is --current.
_WHERE = ("live", "config", "current")


def _where(command: Command) -> Where:
    if command.flag("current") and (command.flag("live") or command.flag("config")):
        raise CommandError(f"{command.verb}: --current cannot go with --live or --config")
    return Where(live=command.flag("live"), config=command.flag("config"))


def _kib(command: Command, text: str) -> int:
    """A memory size in KiB: a bare number is KiB, as virsh reads it; else `512M`, `2G`."""
    if text.isascii() and text.isdigit():
        return int(text)
    try:
        return parse_size(text) // 1024
    except ValueError as error:
        raise CommandError(f"{command.verb}: {error}") from None


async def _on_guest(
    controller: Controller,
    command: Command,
    work: Callable[..., Awaitable[str]],
    *args: object,
    **options: object,
) -> None:
    """One hardware change on the guest the command names: `work(host, uuid, *args,
    **options)`."""
    guest = controller.guest(command.args[0])
    host = controller.fleet.host(guest.host)
    await change(
        controller, command, lambda: work(host, guest.uuid, *args, **options), guests=[guest]
    )


@verb(
    "setvcpus",
    "change the number of vCPUs (or the maximum, --maximum --config)",
    guest=True,
    positionals=("COUNT",),
    numeric=("COUNT",),
    flags=(*_WHERE, "maximum"),
    mutating=True,
)
async def _setvcpus(controller: Controller, command: Command) -> None:
    await _on_guest(
        controller,
        command,
        hardware.set_vcpus,
        int(command.args[1]),
        _where(command),
        maximum=command.flag("maximum"),
    )


@verb(
    "setmem",
    "change the memory a guest has (KiB, or 512M, 2G)",
    guest=True,
    positionals=("SIZE",),
    flags=_WHERE,
    mutating=True,
)
async def _setmem(controller: Controller, command: Command) -> None:
    await _on_guest(
        controller, command, hardware.set_memory, _kib(command, command.args[1]), _where(command)
    )


@verb(
    "setmaxmem",
    "change the most memory a guest may have (KiB, or 512M, 2G)",
    guest=True,
    positionals=("SIZE",),
    flags=_WHERE,
    mutating=True,
)
async def _setmaxmem(controller: Controller, command: Command) -> None:
    await _on_guest(
        controller,
        command,
        hardware.set_memory,
        _kib(command, command.args[1]),
        _where(command),
        maximum=True,
    )


@verb(
    "attach-disk",
    "attach a storage volume (a path or POOL/VOLUME) as a disk or CD-ROM",
    guest=True,
    positionals=("SOURCE", "TARGET"),
    flags=(*_WHERE, "cdrom"),
    valued=("driver", "subdriver", "targetbus", "type"),
    mutating=True,
)
async def _attach_disk(controller: Controller, command: Command) -> None:
    kind = command.value("type") or "disk"
    if kind not in ("disk", "cdrom"):
        raise CommandError(f"attach-disk: --type must be disk or cdrom, not {kind}")
    await _on_guest(
        controller,
        command,
        hardware.attach_disk,
        command.args[1],
        command.args[2],
        _where(command),
        driver=command.value("driver") or "qemu",
        subdriver=command.value("subdriver"),
        cdrom=command.flag("cdrom") or kind == "cdrom",
        bus=command.value("targetbus"),
    )


@verb(
    "detach-disk",
    "detach a disk (its storage stays)",
    guest=True,
    positionals=("TARGET",),
    flags=_WHERE,
    mutating=True,
)
async def _detach_disk(controller: Controller, command: Command) -> None:
    await _on_guest(controller, command, hardware.detach_disk, command.args[1], _where(command))


@verb(
    "attach-interface",
    "attach a NIC on a network or bridge",
    guest=True,
    positionals=("TYPE", "SOURCE"),
    flags=_WHERE,
    valued=("model", "mac"),
    mutating=True,
)
async def _attach_interface(controller: Controller, command: Command) -> None:
    await _on_guest(
        controller,
        command,
        hardware.attach_interface,
        command.args[1],
        command.args[2],
        _where(command),
        model=command.value("model"),
        mac=command.value("mac"),
    )


@verb(
    "detach-interface",
    "detach a NIC (of TYPE; --mac picks one of several)",
    guest=True,
    positionals=("TYPE",),
    flags=_WHERE,
    valued=("mac",),
    mutating=True,
)
async def _detach_interface(controller: Controller, command: Command) -> None:
    await _on_guest(
        controller,
        command,
        hardware.detach_interface,
        command.args[1],
        _where(command),
        mac=command.value("mac"),
    )


_MEDIA_MODES = ("eject", "insert", "update")


@verb(
    "change-media",
    "insert, replace or eject a CD-ROM's medium",
    guest=True,
    positionals=("TARGET",),
    optional=("SOURCE",),
    flags=(*_WHERE, *_MEDIA_MODES, "force"),
    mutating=True,
)
async def _change_media(controller: Controller, command: Command) -> None:
    modes = [mode for mode in _MEDIA_MODES if command.flag(mode)]
    if len(modes) > 1:
        raise CommandError("change-media: say one of --eject, --insert or --update")
    source = command.args[2] if len(command.args) > 2 else None
    if modes == ["eject"] and source:
        raise CommandError("change-media: --eject takes no SOURCE")
    await _on_guest(
        controller,
        command,
        hardware.change_media,
        command.args[1],
        source,
        _where(command),
        mode=modes[0] if modes else "",
        force=command.flag("force"),
    )


@verb(
    "boot-order",
    "set the devices a guest boots from, in order (e.g. vda,net0)",
    guest=True,
    positionals=("DEVICES",),
    mutating=True,
)
async def _boot_order(controller: Controller, command: Command) -> None:
    devices = [word.strip() for word in command.args[1].split(",")]
    await _on_guest(controller, command, hardware.set_boot_order, devices)


#: How many refused texts `edit` offers to edit again before it discards the edit: a person
#: fixes a typo in one or two; a script (or `--yes`) that never fixes it must still end.
EDIT_ATTEMPTS = 5


@verb(
    "edit",
    "edit a guest's persistent XML in $VISUAL or $EDITOR, like virsh edit",
    guest=True,
    mutating=True,
)
async def _edit(controller: Controller, command: Command) -> None:
    """Edit, define, and on a refusal offer to edit the same text again. Saving the text
    unchanged changes nothing; saving a refused text unchanged discards the edit."""
    guest = controller.guest(command.args[0])
    if controller.refused("edit", [guest]):
        return
    original = await edit.read_definition(controller.fleet.host(guest.host), guest.uuid)
    where = f"{guest.name} on {guest.host}"
    refused = ""
    with edit.draft(guest.name, original) as path:
        for _attempt in range(EDIT_ATTEMPTS):
            try:
                await controller.operator.show(Editor(edit.editor_command(path)))
            except ValueError as error:  # it did not start, failed, or was killed
                raise CommandError(f"{error}; {where} left unchanged") from None
            text = path.read_text(encoding="utf-8")
            if text == original:
                controller.operator.ok(f"{where}: unchanged, nothing to define")
                return
            if text == refused:
                controller.operator.error(
                    f"edit {where}: not changed since it was refused; discarded"
                )
                return
            reason = await _define(controller, guest, text, original)
            if not reason:
                return
            refused = text
            again = Question(
                f"Edit {guest.name} again?",
                f"Not saved: {reason}\n\nEdit again keeps your text; Cancel discards it.",
                "Edit again",
            )
            if not await controller.operator.confirm(again):
                controller.operator.ok(f"{where}: edit discarded, nothing changed")
                return
    controller.operator.error(
        f"edit {where}: refused {EDIT_ATTEMPTS} times; discarded, nothing changed"
    )


async def _define(controller: Controller, guest: GuestSnapshot, text: str, original: str) -> str:
    """Defines the edited text through the controller; why it was not saved, or "" when it
    was (or when the controller refused it before trying, having said why)."""
    host = controller.fleet.host(guest.host)
    reason: list[str] = []

    async def define() -> str:
        try:
            return await edit.define_edited(host, guest.uuid, original, text)
        except Exception as error:
            reason.append(describe(error))
            raise

    await controller.change("edit", define, guests=[guest])
    return reason[0] if reason else ""
