"""Controller.change, the one mutation path, and the lifecycle policy, without any UI.

A recording Operator stands in for the person; the fleet is libvirt's real test:///
driver (the demo fleet), so the lifecycle tests change real domains.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

import kvmtui.verbs  # noqa: F401  (registers the verbs the : line tests run)
from kvmtui.controller import Controller, Question
from kvmtui.core.commands import VERBS, Command, CommandError
from kvmtui.core.fleet import Fleet
from kvmtui.core.host import HostError
from kvmtui.core.model import GuestState, HostSpec, Link
from kvmtui.core.results import GuestList, GuestPage, Result
from kvmtui.core.services import Services


class Recorder:
    """The controller's Operator, writing down what a person would have seen."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.questions: list[Question] = []
        #: What the person types when asked for a secret, in order.
        self.typed: list[str] = []
        self.oks: list[str] = []
        self.errors: list[str] = []
        self.shown: list[Result] = []

    async def confirm(self, question: Question) -> bool:
        self.questions.append(question)
        return self.answer

    async def secret(self, prompt: str) -> str | None:
        self.questions.append(Question(prompt, "", "secret"))
        return self.typed.pop(0) if self.typed else None

    def ok(self, message: str) -> None:
        self.oks.append(message)

    def error(self, message: str) -> None:
        self.errors.append(message)

    async def show(self, result: Result) -> None:
        self.shown.append(result)


def _controller(hosts: tuple[HostSpec, ...], operator: Recorder, readonly: bool = False):
    fleet = Fleet(hosts, 0.5)
    return Controller(
        Services(fleet),
        operator,
        readonly=readonly,
        spawn=lambda make: asyncio.ensure_future(make()),
    )


@pytest.fixture
async def started(demo_hosts) -> AsyncIterator[tuple[Controller, Recorder]]:
    operator = Recorder()
    controller = _controller(demo_hosts, operator)
    await controller.fleet.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not all(h.link is Link.CONNECTED for h in controller.fleet.snapshot().hosts):
        assert loop.time() < deadline, "the demo fleet did not connect"
        await asyncio.sleep(0.05)
    yield controller, operator
    await controller.fleet.close()


async def test_change_reports_the_work_sentence_on_success(demo_hosts):
    operator = Recorder()
    controller = _controller(demo_hosts, operator)

    async def work() -> str:
        return "web1 on kvm01: started"

    assert await controller.change("start", work) is True
    assert operator.oks == ["web1 on kvm01: started"] and not operator.errors


@pytest.mark.parametrize(
    ("readonly", "host_readonly", "reason"),
    [
        (True, False, "start: kvmtui runs read-only (--readonly)"),
        (False, True, "start: host kvm01 is read-only"),
    ],
)
async def test_change_refuses_read_only_before_asking_or_working(
    demo_hosts, readonly, host_readonly, reason
):
    hosts = tuple(
        dataclasses.replace(h, readonly=host_readonly and h.name == "kvm01") for h in demo_hosts
    )
    operator = Recorder()
    controller = _controller(hosts, operator, readonly=readonly)
    ran: list[bool] = []

    async def work() -> str:
        ran.append(True)
        return "done"

    question = Question("Start?", "", "Start")
    assert await controller.change("start", work, hosts=["kvm01"], question=question) is False
    assert operator.errors == [reason]
    assert not ran and not operator.questions
    assert not controller.may_change(hosts=["kvm01"])
    assert controller.may_change(hosts=["kvm02"]) is (not readonly)


async def test_a_declined_question_runs_nothing(demo_hosts):
    operator = Recorder(answer=False)
    controller = _controller(demo_hosts, operator)
    ran: list[bool] = []

    async def work() -> str:
        ran.append(True)
        return "done"

    question = Question("Destroy web1 on kvm01?", "web1@kvm01", "Destroy")
    assert await controller.change("destroy", work, question=question) is False
    assert operator.questions == [question] and not ran
    assert not operator.oks and not operator.errors


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            HostError("destroy web1 on kvm01: domain is not running"),
            "destroy web1 on kvm01: domain is not running",
        ),
        (
            CommandError("vcpupin web1: CPU 99 does not exist"),
            "vcpupin web1: CPU 99 does not exist",
        ),
        (
            ValueError("unknown migration option(s): bogus"),
            "migrate: unknown migration option(s): bogus",
        ),
        (TimeoutError(), "migrate: no answer (timed out)"),
    ],
)
async def test_a_failure_is_one_line_and_never_propagates(demo_hosts, error, line):
    operator = Recorder()
    controller = _controller(demo_hosts, operator)

    async def work() -> str:
        raise error

    assert await controller.change("migrate", work) is False
    assert operator.errors == [line] and not operator.oks


async def test_destroy_asks_then_really_stops_the_guest(started):
    controller, operator = started
    guest = next(g for g in controller.fleet.snapshot().guests if g.state is GuestState.RUNNING)
    assert await controller.lifecycle("destroy", [guest]) is True
    assert operator.questions[0].title == f"Destroy {guest.name} on {guest.host}?"
    assert operator.questions[0].action_label == "Destroy"
    state = await controller.fleet.host(guest.host).run_on_guest(
        guest.uuid, lambda dom: dom.state()[0]
    )
    assert state == 5  # VIR_DOMAIN_SHUTOFF, as libvirt itself reports it
    assert operator.oks == [f"{guest.name} on {guest.host}: destroyed (forced off)"]


async def test_a_single_harmless_action_does_not_ask(started):
    controller, operator = started
    guest = next(g for g in controller.fleet.snapshot().guests if g.state is GuestState.SHUTOFF)
    assert await controller.lifecycle("start", [guest]) is True
    assert not operator.questions
    assert operator.oks == [f"{guest.name} on {guest.host}: started"]


async def test_bulk_acts_on_the_guests_it_fits_and_says_what_it_skips(started):
    """A running guest among those marked to start is passed over, not handed to libvirt
    to fail with "already running". The key on marked guests submits this very command."""
    controller, operator = started
    guests = controller.fleet.snapshot().guests
    off = [g for g in guests if g.state is GuestState.SHUTOFF][:2]
    running = next(g for g in guests if g.state is GuestState.RUNNING)
    await controller.run(Command("start", tuple(g.ref for g in [*off, running])))
    assert len(operator.questions) == 1
    hosts = len({g.host for g in off})
    assert operator.questions[0].title == (
        f"Start 2 shut off guests on {hosts} host{'s' if hosts > 1 else ''}?"
        " 1 already running is skipped"
    )
    assert running.ref not in operator.questions[0].detail
    assert not operator.errors
    assert operator.oks == ["started: 2 of 3 guests; 1 already running skipped"]


async def test_bulk_destroy_counts_only_the_guests_that_run(started):
    """The demo fleet's guests run, are paused or are shut off: the question counts those
    destroy can stop, and names the shut-off ones as skipped."""
    controller, operator = started
    operator.answer = False
    guests = controller.fleet.snapshot().guests
    active = [g for g in guests if g.state.is_active]
    off = [g for g in guests if g.state is GuestState.SHUTOFF]
    assert await controller.lifecycle("destroy", guests) is False
    hosts = len({g.host for g in active})
    assert operator.questions[0].title == (
        f"Destroy {len(active)} guests on {hosts} hosts? {len(off)} shut off are skipped"
    )


@pytest.mark.parametrize(
    ("verb", "state", "why"),
    [
        ("start", GuestState.RUNNING, "already running"),
        ("destroy", GuestState.SHUTOFF, "shut off"),
        ("resume", GuestState.RUNNING, "already running"),
    ],
)
async def test_a_single_guest_in_a_state_the_action_does_not_fit_is_one_line(
    started, verb, state, why
):
    controller, operator = started
    guest = next(g for g in controller.fleet.snapshot().guests if g.state is state)
    assert await controller.lifecycle(verb, [guest]) is False
    assert operator.errors == [f"{verb}: {guest.name} on {guest.host} is {why}"]
    assert not operator.questions and not operator.oks


async def test_a_command_line_failure_is_reported_not_raised(started):
    controller, operator = started
    await controller.command("destroy no-such-guest")
    await controller.command("frobnicate")
    assert operator.errors[0].startswith('no guest named "no-such-guest"')
    assert operator.errors[1].startswith('unknown command "frobnicate"')


def _command_for(verb) -> Command:
    """A well-formed line of `verb`: each positional filled (the handler is never reached
    when the controller refuses)."""
    return Command(verb.name, tuple("x" for _ in verb.positionals))


@pytest.mark.parametrize("name", sorted(n for n, v in VERBS.items() if v.mutating is True))
async def test_read_only_refuses_every_changing_verb_before_its_handler(demo_hosts, name):
    """One rule for every path (key, dialog, palette, typed line): the controller refuses a
    verb that changes anything, in one line, before its handler looks anything up."""
    operator = Recorder()
    controller = _controller(demo_hosts, operator, readonly=True)
    await controller.run(_command_for(VERBS[name]))
    assert operator.errors == [f"{name}: kvmtui runs read-only (--readonly)"]
    assert not operator.questions and not operator.oks


@pytest.mark.parametrize(
    ("line", "refused"),
    [
        ("desc web1", False),
        ("desc web1 new words", True),
        ("snapshot-current web1", False),
        ("snapshot-current web1 s1", True),
    ],
)
async def test_a_verb_that_shows_or_changes_is_refused_only_when_it_changes(
    demo_hosts, line, refused
):
    operator = Recorder()
    controller = _controller(demo_hosts, operator, readonly=True)
    await controller.command(line)
    said_read_only = any("runs read-only" in e for e in operator.errors)
    assert said_read_only is refused


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("list --all", lambda web: GuestList("all")),
        ("dominfo web-101@kvm01", lambda web: GuestPage(web, "info")),
        ("dumpxml web-101@kvm01", lambda web: GuestPage(web, "xml")),
    ],
)
async def test_a_show_verb_hands_the_operator_what_to_show(started, line, shown):
    """A verb that shows something knows no front-end: it hands over a result, which the
    app and the one-shot line each render."""
    controller, operator = started
    web = controller.guest("web-101@kvm01")
    await controller.command(line)
    assert operator.shown == [shown(web)] and not operator.errors
