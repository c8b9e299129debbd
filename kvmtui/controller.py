"""Between the operator and the core: the one path every change takes, whatever asked for it.

A key, a dialog, the palette, the `:` line and the one-shot command line (`kvmtui destroy
web1 --yes`) all end in `Controller.change`, which makes the one read-only decision, asks
the one confirmation question and reports success or failure in one way. The controller
knows no UI: it talks to an `Operator`, which the Textual app implements with dialogs and
notifications and the one-shot command line with a prompt (or `--yes`), stdout and stderr,
so both run the same policy code.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kvmtui.core import actions, start_order
from kvmtui.core.commands import VERBS, Command, CommandError, parse
from kvmtui.core.errors import describe
from kvmtui.core.host import HostError
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.names import resolve_guest
from kvmtui.core.numbers import plural
from kvmtui.core.results import Result
from kvmtui.core.selectors import SelectorError, by_selector, choose, chosen_phrase
from kvmtui.core.services import Services
from kvmtui.core.uri import quoted


@dataclass(frozen=True)
class Question:
    """A confirmation to ask before a change; the front-end focuses Cancel."""

    title: str  # e.g. "Destroy web1 on kvm1?"
    detail: str  # plain text, shown literally
    action_label: str  # the confirm button


class Operator(Protocol):
    """The person at the other end, as a front-end reaches them.

    `confirm`, `secret`, `ok` and `error` carry the controller's policy (ask, report); `show`
    is what a verb that shows rather than changes hands over (`kvmtui.core.results`). A front-end
    without a screen raises CommandError from `show` for what it cannot show.
    """

    async def confirm(self, question: Question) -> bool: ...

    async def secret(self, prompt: str) -> str | None:
        """A secret typed by the operator (a password), never shown, echoed or kept; None
        when they cancel."""

    def ok(self, message: str) -> None: ...

    def error(self, message: str) -> None: ...

    async def show(self, result: Result) -> None: ...


def _hosts_phrase(guests: Sequence[GuestSnapshot]) -> str:
    return plural(len({g.host for g in guests}), "host")


def sort_out(
    verb: str, guests: Sequence[GuestSnapshot]
) -> tuple[list[GuestSnapshot], dict[str, int]]:
    """The guests lifecycle action `verb` fits, and how many of the others are in each
    state it does not fit ("already running": 2), in the order first met."""
    action = actions.ACTIONS[verb]
    fit: list[GuestSnapshot] = []
    skipped: dict[str, int] = {}
    for guest in guests:
        why = action.misfit(guest.state, guest.persistent)
        if why:
            skipped[why] = skipped.get(why, 0) + 1
        else:
            fit.append(guest)
    return fit, skipped


def skipped_phrase(skipped: dict[str, int]) -> str:
    """ "10 shut off, 2 paused": what a bulk action passes over, by state."""
    return ", ".join(f"{count} {why}" for why, count in skipped.items())


def misfit_line(verb: str, guests: Sequence[GuestSnapshot]) -> str:
    """The one line when the action fits none of `guests`: no libvirt error to read."""
    if len(guests) == 1:
        guest = guests[0]
        why = actions.ACTIONS[verb].misfit(guest.state, guest.persistent)
        return f"{verb}: {guest.name} on {guest.host} is {why}"
    skipped = skipped_phrase(sort_out(verb, guests)[1])
    return f"{verb}: none of the {len(guests)} guests fits ({skipped})"


def lifecycle_question(
    verb: str, guests: Sequence[GuestSnapshot], *, chosen: bool = False
) -> Question | None:
    """The confirmation policy for lifecycle actions: destructive ones (reset, destroy,
    undefine), every bulk action and every action on guests a selector `chosen` ask; a
    single harmless one named by the operator does not. A bulk question counts only the
    guests the action fits and says which it skips, and why."""
    action = actions.ACTIONS[verb]
    fit, skipped = sort_out(verb, guests)
    if not action.destructive and len(guests) == 1 and not chosen:
        return None
    if len(guests) == 1 and not chosen:
        title = f"{action.label} {guests[0].name} on {guests[0].host}?"
    else:
        states = {g.state.value for g in fit}
        kind = f"{states.pop()} " if len(states) == 1 and skipped else ""
        title = f"{action.label} {plural(len(fit), kind + 'guest')} on {_hosts_phrase(fit)}?"
        if skipped:
            verb_form = "is" if sum(skipped.values()) == 1 else "are"
            title += f" {skipped_phrase(skipped)} {verb_form} skipped"
    names = ", ".join(g.ref for g in fit[:8]) + (" ..." if len(fit) > 8 else "")
    warning = " This cannot be undone." if verb == "undefine" else ""
    return Question(title, names + warning, action.label)


#: The command being run (`Controller.attempt`) and how it was asked ("key", "line"):
#: what the audit trail records of a change (`Controller.change`) beside its outcome.
_ASKED: contextvars.ContextVar[tuple[Command | None, str]] = contextvars.ContextVar(
    "kvmtui_asked", default=(None, "key")
)


def failure_line(what: str, error: BaseException) -> str:
    """A failure in one line: our own errors already say what failed."""
    if isinstance(error, HostError | CommandError):
        return str(error)
    return f"{what}: {describe(error)}"


class Controller:
    """See the module docstring. `spawn` runs a coroutine in the background the way the
    front-end wants (the Textual app: a worker), for callers that must not wait."""

    def __init__(
        self,
        services: Services,
        operator: Operator,
        *,
        readonly: bool,
        spawn: Callable[[Callable[[], Coroutine[Any, Any, Any]]], object],
        via: str = "",
    ) -> None:
        """`via`: how every change through this controller is asked, for the audit trail
        ("cli" on the one-shot line); "" tells a key from the `:` line. `spawn` runs work
        in the background, given the function that makes it: the work is made only when
        it starts (a change submitted as the app quits is never made, where a made but
        never started coroutine was a warning)."""
        #: The fleet's one services container, shared with the front-end's views.
        self.services = services
        self.fleet = services.fleet
        self.operator = operator
        self.readonly = readonly
        self._spawn = spawn
        self._via = via

    # ---- the read-only decision ---------------------------------------------------------

    def refusal(self, guests: Sequence[GuestSnapshot] = (), hosts: Sequence[str] = ()) -> str:
        """Why a change to these guests or hosts must not run, or "" when it may.

        The one decision: screens ask it (through `may_change`) to hide mutating keys, and
        `change` asks it before running anything. The core keeps no second copy: a read-only
        host's connection is opened read-only, so libvirt itself refuses any change that
        slipped past this (that is the hard guard).
        """
        if self.readonly:
            return "kvmtui runs read-only (--readonly)"
        names = sorted({g.host for g in guests} | set(hosts))
        readonly = [name for name in names if self._host_readonly(name)]
        if readonly:
            return f"host {', '.join(readonly)} is read-only"
        return ""

    def _host_readonly(self, name: str) -> bool:
        try:
            return self.fleet.host(name).readonly
        except HostError:  # a host that is not there is refused by the work itself
            return False

    def may_change(self, guests: Sequence[GuestSnapshot] = (), hosts: Sequence[str] = ()) -> bool:
        return not self.refusal(guests, hosts)

    def refused(
        self, what: str, guests: Sequence[GuestSnapshot] = (), hosts: Sequence[str] = ()
    ) -> bool:
        """True, after one error line saying why, when the change must not run; for a
        dialog that should not even open (`change` asks the same). A refusal is kept in
        the audit trail as a change that did not happen (not ok, the line as its message):
        the trail answers who tried to destroy a guest, not only who did."""
        reason = self.refusal(guests, hosts)
        if reason:
            self.operator.error(f"{what}: {reason}")
            self._audit(what, guests, hosts, False, f"{what}: {reason}")
        return bool(reason)

    # ---- the one mutation path ----------------------------------------------------------

    async def change(
        self,
        what: str,
        work: Callable[[], Awaitable[str]],
        *,
        guests: Sequence[GuestSnapshot] = (),
        hosts: Sequence[str] = (),
        question: Question | None = None,
    ) -> bool:
        """The one path for every mutation: refuse (one error line) when kvmtui or any host of
        `guests`/`hosts` is read-only; ask `question` when given; await `work()`, whose
        returned sentence is reported as success; any exception is reported as one error line
        (HostError/CommandError text as is, anything else prefixed with `what`) and never
        propagates. Returns True iff work ran and succeeded.

        The audit trail records each change that ran, with its outcome, and each refused
        for read-only (`refused`). A change the operator declined at the confirmation is
        not recorded: nothing was asked of a host, and no one tried to change it."""
        if self.refused(what, guests, hosts):
            return False
        if question is not None and not await self.operator.confirm(question):
            return False
        try:
            done = await work()
        except Exception as error:
            self.failed(what, error)
            self._audit(what, guests, hosts, False, failure_line(what, error))
            return False
        self.operator.ok(done)
        self._audit(what, guests, hosts, True, done)
        return True

    def _audit(
        self,
        what: str,
        guests: Sequence[GuestSnapshot],
        hosts: Sequence[str],
        ok: bool,
        message: str,
    ) -> None:
        command, via = _ASKED.get()
        self.services.audit.record(
            what,
            command=command,
            via=self._via or via,
            guests=guests,
            hosts=hosts,
            ok=ok,
            message=message,
        )

    def failed(self, what: str, error: BaseException) -> None:
        """Reports a failure as one line (`failure_line`)."""
        self.operator.error(failure_line(what, error))

    # ---- lifecycle actions --------------------------------------------------------------

    async def lifecycle(
        self, verb: str, guests: Sequence[GuestSnapshot], *, chosen: bool = False, **options: Any
    ) -> bool:
        """One lifecycle action on one or many guests, through `change`: on those of them
        it fits (`sort_out`); a guest in a state it does not fit is passed over, and said
        so, rather than handed to libvirt to fail. Guests a selector `chosen` are always
        asked about, by their count and hosts."""
        if not guests:
            self.operator.error(f"{verb}: no guest selected")
            return False
        if self.refused(verb, guests):
            return False
        fit, skipped = sort_out(verb, guests)
        if not fit:
            self.operator.error(misfit_line(verb, guests))
            return False
        question = lifecycle_question(verb, guests, chosen=chosen)
        if len(guests) == 1:
            guest = guests[0]
            return await self.change(
                verb,
                lambda: self.fleet.perform(guest, verb, **options),
                guests=guests,
                question=question,
            )

        async def on_all() -> str:
            # In `start-order` steps, each waited for (core/start_order.py); else all at once.
            ordered = start_order.steps(verb, fit)
            done = 0
            for at, step in enumerate(ordered):
                done += await self.each(
                    verb, step, lambda g: self.fleet.perform(g, verb, **options)
                )
                if at + 1 < len(ordered):
                    timeout = start_order.STEP_TIMEOUT
                    late = await start_order.until_reached(self.fleet, verb, step, timeout)
                    if late:
                        left = sum(len(s) for s in ordered[at + 1 :])
                        raise CommandError(start_order.late_line(verb, late, left, timeout))
            said = f"{actions.ACTIONS[verb].past}: {done} of {plural(len(guests), 'guest')}"
            if len(ordered) > 1:
                said += f" in {len(ordered)} {start_order.KEY} steps"
            return said + (f"; {skipped_phrase(skipped)} skipped" if skipped else "")

        return await self.change(verb, on_all, guests=guests, question=question)

    async def each(
        self,
        what: str,
        guests: Sequence[GuestSnapshot],
        work: Callable[[GuestSnapshot], Awaitable[object]],
    ) -> int:
        """`work` on every guest at once, inside a bulk change: one error line per guest
        that failed, CommandError when all did; how many succeeded."""
        results = await asyncio.gather(*(work(g) for g in guests), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            self.failed(what, failure)
        if failures and len(failures) == len(guests):
            raise CommandError(f"{what}: failed on all {len(guests)} guests")
        return len(guests) - len(failures)

    # ---- the `:` command line -----------------------------------------------------------

    def run_command(self, line: str) -> None:
        """A `:` line from the prompt, run in the background."""
        self._spawn(lambda: self.command(line))

    def submit(self, command: Command) -> None:
        """A command a key or a dialog built, run in the background: the same path as a
        typed line, without writing it out and parsing it again (a name stays one word,
        whatever it holds)."""
        self._spawn(lambda: self.run(command))

    async def command(self, line: str) -> None:
        """Parses and runs one `:` line; every failure is reported, none propagates."""
        try:
            parsed = parse(line)
        except CommandError as error:
            self.operator.error(str(error))
            return
        await self.run(parsed, via="line")

    async def run(self, command: Command, via: str = "key") -> None:
        """Runs a command by its registered handler, reporting any failure. `via`: typed
        on the `:` line ("line") or built by a key or dialog ("key"), for the audit."""
        try:
            await self.attempt(command, via)
        except Exception as error:
            self.failed(command.verb, error)

    async def attempt(self, command: Command, via: str = "key") -> object:
        """Runs a command as `run` does, for a dialog that keeps a failure on its form: a
        failure raised by the handler comes back to the caller instead of being reported,
        and so does what the handler returns (create: the new guest). A command that
        changes something is refused before its handler runs when kvmtui is read-only:
        every key, dialog, palette entry and typed line comes through here."""
        verb = VERBS[command.verb]
        asked = _ASKED.set((command, via))
        try:
            if self.readonly and verb.changes(command):
                line = f"{command.verb}: {self.refusal()}"
                self._audit(command.verb, self._named(command), (), False, line)
                raise CommandError(line)
            return await verb.handler(self, command)
        finally:
            _ASKED.reset(asked)

    def _named(self, command: Command) -> list[GuestSnapshot]:
        """The guests a command names, for the audit of a refusal; none when its guest
        argument finds nothing (a refusal is kept all the same)."""
        verb = VERBS[command.verb]
        if not verb.guest_arg or not command.args:
            return []
        # A lifecycle verb's words are all guests (`destroy web1 web2`); others name one.
        several = verb.variadic and len(verb.positionals) == 1
        try:
            return self.guests(command.args if several else command.args[:1])
        except CommandError:
            return []

    def guest(self, token: str) -> GuestSnapshot:
        """The guest a command names (`NAME`, `NAME@HOST`, or a selector choosing one), as
        it is now."""
        chosen = self.chosen(token)
        if len(chosen) != 1:
            raise CommandError(
                f"selector {quoted(token)} chooses {chosen_phrase(chosen)}: name one guest"
            )
        return chosen[0]

    def chosen(self, token: str) -> list[GuestSnapshot]:
        """The guests a command's guest argument means: the one it names, or those a
        selector (`tag:web`, `tier=db host:kvm01`; core/selectors.py) chooses. A guest
        whose name merely looks like a selector is still found by its name."""
        snapshot = self.fleet.snapshot()
        if by_selector(token, snapshot.guests):
            try:
                return choose(token, snapshot.guests, [h.name for h in snapshot.hosts])
            except SelectorError as error:
                reading = [h.name for h in self.fleet.hosts if not h.settled]
                if reading:  # a first table comes before the definitions, and the tags
                    raise SelectorError(
                        f"{error}; still reading the tags of {', '.join(reading)}"
                    ) from None
                raise
        name, host = resolve_guest(
            token,
            [(g.name, g.host) for g in snapshot.guests],
            hosts=[h.name for h in snapshot.hosts],
        )
        return [next(g for g in snapshot.guests if g.name == name and g.host == host)]

    def guests(self, tokens: Sequence[str]) -> list[GuestSnapshot]:
        """The guests a command names, in order, each once: a token is a guest or a
        selector. A key's bulk action names each marked guest `NAME@HOST`; those are found
        in one pass over the fleet however many there are, and anything else the way
        `chosen` finds it."""
        by_ref = {(g.name, g.host): g for g in self.fleet.snapshot().guests}
        found: dict[str, GuestSnapshot] = {}
        for token in tokens:
            name, _, host = token.rpartition("@")
            guest = by_ref.get((name, host))
            for one in [guest] if guest is not None else self.chosen(token):
                found.setdefault(one.key, one)
        return list(found.values())
