"""Between the keys and the core: confirm, refuse, run, and report every action.

Hotkeys, the `:` command line and the command palette all end here, so an action is
confirmed, refused in read-only mode, and reported the same way whichever path it came by.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kvmtui.core import actions
from kvmtui.core.commands import Command, CommandError, parse, resolve_guest
from kvmtui.core.host import HostError
from kvmtui.core.model import GuestSnapshot
from kvmtui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from kvmtui.app import KvmTuiApp

Handler = Callable[["Controller", Command], Awaitable[None]]

#: `:` verbs beyond the lifecycle actions, registered by the modules that implement them.
HANDLERS: dict[str, Handler] = {}


def handles(*verbs: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for verb in verbs:
            HANDLERS[verb] = handler
        return handler

    return register


@dataclass(frozen=True)
class Question:
    """What `Controller.change` asks before a change: Cancel is focused."""

    title: str  # e.g. "Destroy web1 on kvm1?"
    detail: str  # plain text, shown literally
    action_label: str  # the confirm button


def _hosts_phrase(guests: Sequence[GuestSnapshot]) -> str:
    hosts = sorted({g.host for g in guests})
    return f"{len(hosts)} host" + ("" if len(hosts) == 1 else "s")


class Controller:
    def __init__(self, app: KvmTuiApp) -> None:
        self.app = app

    @property
    def fleet(self) -> Any:
        return self.app.fleet

    # ---- reporting ----------------------------------------------------------------------

    def ok(self, message: str) -> None:
        self.app.notify(message, timeout=4)

    def error(self, message: str) -> None:
        self.app.notify(message, severity="error", timeout=8)

    def refuse_if_readonly(self, what: str, guests: Sequence[GuestSnapshot] = (),
                           hosts: Sequence[str] = ()) -> bool:
        """True (and says why) when the action must not run: --readonly or a read-only host."""
        if self.app.readonly:
            self.error(f"{what}: kvmtui runs read-only (--readonly)")
            return True
        named = {g.host for g in guests} | set(hosts)
        # A host the fleet does not know is not refused here: the work names it in its error.
        readonly_hosts = sorted(h.name for h in self.fleet.hosts
                                if h.name in named and h.readonly)
        if readonly_hosts:
            self.error(f"{what}: host {', '.join(readonly_hosts)} is read-only")
            return True
        return False

    async def confirm(self, title: str, detail: str, action_label: str) -> bool:
        return bool(await self.app.push_screen_wait(ConfirmScreen(title, detail, action_label)))

    async def change(self, what: str, work: Callable[[], Awaitable[str]], *,
                     guests: Sequence[GuestSnapshot] = (), hosts: Sequence[str] = (),
                     question: Question | None = None) -> bool:
        """The one path for every mutation: refuse (one error line) when kvmtui or any host of
        `guests`/`hosts` is read-only; ask `question` when given; await `work()`, whose returned
        sentence is reported as success; any exception is reported as one error line
        (HostError/CommandError text as is, anything else prefixed with `what`) and never
        propagates. Returns True iff work ran and succeeded."""
        if self.refuse_if_readonly(what, guests, hosts):
            return False
        if question is not None and not await self.confirm(
                question.title, question.detail, question.action_label):
            return False
        try:
            message = await work()
        except (HostError, CommandError) as error:
            self.error(str(error))
            return False
        except Exception as error:  # the contract: nothing propagates
            self.error(f"{what}: {error}")
            return False
        self.ok(message)
        return True

    # ---- lifecycle actions --------------------------------------------------------------

    def act(self, verb: str, guests: Sequence[GuestSnapshot], **options: Any) -> None:
        """Starts an action on the guests in a worker (it may ask for confirmation)."""
        self.app.run_worker(self._act(verb, list(guests), options), group="actions")

    async def _act(self, verb: str, guests: list[GuestSnapshot], options: dict[str, Any]) -> None:
        action = actions.ACTIONS[verb]
        if not guests:
            self.error(f"{verb}: no guest selected")
            return
        if self.refuse_if_readonly(verb, guests):
            return
        if action.destructive or len(guests) > 1:
            if len(guests) == 1:
                title = f"{action.label} {guests[0].name} on {guests[0].host}?"
            else:
                title = f"{action.label} {len(guests)} guests on {_hosts_phrase(guests)}?"
            names = ", ".join(g.ref for g in guests[:8]) + (" ..." if len(guests) > 8 else "")
            warning = " This cannot be undone." if verb == "undefine" else ""
            if not await self.confirm(title, names + warning, action.label):
                return
        results = await asyncio.gather(
            *(self.fleet.perform(g, verb, **options) for g in guests), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            self.error(str(failure) if isinstance(failure, HostError)
                       else f"{verb}: {failure}")
        done = [r for r in results if isinstance(r, str)]
        if len(guests) == 1 and done:
            self.ok(done[0])
        elif done:
            self.ok(f"{action.past}: {len(done)} of {len(guests)} guests")

    # ---- the `:` command line -----------------------------------------------------------

    def run_command(self, line: str) -> None:
        self.app.run_worker(self._run_command(line), group="commands")

    async def _run_command(self, line: str) -> None:
        try:
            command = parse(line)
            await self._dispatch(command)
        except (CommandError, HostError) as error:
            self.error(str(error))

    async def _dispatch(self, command: Command) -> None:
        if command.verb in actions.ACTIONS:
            guest = self.guest(command.args[0])
            options = {"disable": True} if command.flag("disable") else {}
            await self._act(command.verb, [guest], options)
        elif command.verb in HANDLERS:
            await HANDLERS[command.verb](self, command)
        else:
            raise CommandError(f"{command.verb}: not available here")

    def guest(self, token: str) -> GuestSnapshot:
        """The guest a command names (`NAME` or `NAME@HOST`), as it is now."""
        snapshot = self.fleet.snapshot()
        name, host = resolve_guest(token, [(g.name, g.host) for g in snapshot.guests],
                                   hosts=[h.name for h in snapshot.hosts])
        return next(g for g in snapshot.guests if g.name == name and g.host == host)


@handles("list")
async def _list(controller: Controller, command: Command) -> None:
    controller.app.show_view("guests")
    screen = controller.app.screen
    state = "shut off" if command.flag("inactive") else ""
    if hasattr(screen, "apply_filter"):
        screen.apply_filter(state)


@handles("host")
async def _host(controller: Controller, command: Command) -> None:
    name = command.args[0] if command.args else ""
    if name:
        controller.fleet.host(name)  # unknown host -> HostError with its name
    controller.app.show_view("guests")
    controller.app.screen.narrow_to_host(name)  # type: ignore[attr-defined]


@handles("dominfo", "dumpxml")
async def _detail(controller: Controller, command: Command) -> None:
    guest = controller.guest(command.args[0])
    controller.app.open_detail(guest, tab="xml" if command.verb == "dumpxml" else "info")


@handles("help")
async def _help(controller: Controller, command: Command) -> None:
    controller.app.action_help()


@handles("quit")
async def _quit(controller: Controller, command: Command) -> None:
    await controller.app.action_quit()
