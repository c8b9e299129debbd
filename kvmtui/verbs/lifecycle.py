"""The lifecycle verbs (`start`, `destroy`, `autostart [--disable]` ...): one handler for
the whole table in `kvmtui.core.actions`, registered once per verb. Each takes one guest or
several (`start web1 web2@kvm02`): a key on marked guests submits the same command."""

from __future__ import annotations

from kvmtui.controller import Controller
from kvmtui.core import actions
from kvmtui.core.commands import Command, CommandError, verb
from kvmtui.core.selectors import by_selector

_SUMMARIES = {
    "start": "start a shut-off guest",
    "shutdown": "ask a guest to shut down (--mode agent: through its guest agent)",
    "reboot": "ask a guest to reboot (--mode agent: through its guest agent)",
    "reset": "reset a guest at once, like the reset button",
    "destroy": "stop a guest at once, like pulling the plug",
    "suspend": "pause a guest's vCPUs",
    "resume": "resume a paused guest",
    "managedsave": "save a guest's memory to disk and stop it",
    "autostart": "start a guest when its host boots",
}
#: Lifecycle actions whose `:` verb takes more than the table does: `undefine` has its
#: storage options (kvmtui/verbs/guest_config.py), and reaches this table without them.
_OWN_VERBS = {"undefine"}
#: The flags a lifecycle verb takes, passed on to the action as keyword options.
_FLAGS = {"autostart": ("disable",)}
#: Its valued options, passed on the same way: `shutdown --mode agent` asks the guest agent.
_VALUED = {"shutdown": ("mode",), "reboot": ("mode",)}


async def _lifecycle(controller: Controller, command: Command) -> None:
    options: dict[str, object] = {
        name: True for name in _FLAGS.get(command.verb, ()) if command.flag(name)
    }
    for name in _VALUED.get(command.verb, ()):
        value = command.value(name)
        if value is not None:
            options[name] = value
    if "mode" in options:
        try:
            actions.mode_flags(command.value("mode"), reboot=command.verb == "reboot")
        except ValueError as error:
            raise CommandError(f"{command.verb}: {error}") from None
    guests = controller.guests(command.args)
    chosen = any(by_selector(token, guests) for token in command.args)
    await controller.lifecycle(command.verb, guests, chosen=chosen, **options)


for _verb in [v for v in actions.ACTIONS if v not in _OWN_VERBS]:
    verb(
        _verb,
        _SUMMARIES[_verb],
        guest=True,
        flags=_FLAGS.get(_verb, ()),
        valued=_VALUED.get(_verb, ()),
        mutating=True,
        variadic=True,
    )(_lifecycle)
