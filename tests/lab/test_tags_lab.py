"""Tags on the real lab: they travel with a live migration (read back with `virsh metadata`
on host B), `start-order` starts three guests in order, and `anti=` makes the evacuation
plan spread the guests or say which stays. Through the controller, as a key or a `:` line
does, with a recording operator answering yes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import libvirt
import pytest

import kvmtui.verbs  # noqa: F401  (registers the verbs)
from kvmtui.controller import Controller
from kvmtui.core import advice, tags
from kvmtui.core.commands import parse
from kvmtui.core.fleet import Fleet
from kvmtui.core.migration import JobState, MigrationOptions
from kvmtui.core.model import GuestSnapshot, GuestState, HostSpec
from kvmtui.core.services import Services
from tests.test_controller import Recorder

from .labinfo import LabInfo

pytestmark = pytest.mark.timeout(300)


async def _until(predicate, what: str, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def controlled(lab_fresh: LabInfo) -> AsyncIterator[tuple[Controller, Recorder]]:
    hosts = [HostSpec(name, host.uri_tcp) for name, host in lab_fresh.hosts.items()]
    operator = Recorder()
    controller = Controller(
        Services(Fleet(hosts, 1.0)),
        operator,  # type: ignore[arg-type]  # the controller's policy needs only these
        readonly=False,
        spawn=lambda make: asyncio.ensure_future(make()),
    )
    fleet = controller.fleet
    await fleet.start()
    await _until(lambda: all(h.connected for h in fleet.hosts), "both hosts connected")
    await _until(lambda: all(h.poller.described_all for h in fleet.hosts), "definitions read")
    try:
        yield controller, operator
    finally:  # the lab's guests as they were: no tags left in their definitions
        for guest in fleet.snapshot().guests:
            if guest.tags:
                await tags.change_tags(fleet.host(guest.host), guest.uuid, remove=guest.tags)
        await fleet.close()


def _guest(controller: Controller, name: str) -> GuestSnapshot:
    found = [g for g in controller.fleet.snapshot().guests if g.name == name]
    assert found, f"{name} not in the fleet"
    return found[0]


async def test_tags_travel_with_a_live_migration(controlled, lab_fresh: LabInfo):
    controller, operator = controlled
    await controller.run(parse("tag linux-a1 tier=web owner=alice"))
    assert operator.oks[-1] == "linux-a1 on hosta: tags owner=alice tier=web", operator.errors
    await _until(lambda: _guest(controller, "linux-a1").tags == ("owner=alice", "tier=web"), "read")

    manager = controller.services.migrations
    job = manager.start(_guest(controller, "linux-a1"), "hostb", MigrationOptions())
    done = await manager.wait(job.id)
    assert done.state is JobState.SUCCEEDED, done.message

    shown = lab_fresh.virsh("hostb", "metadata", "linux-a1", tags.NAMESPACE)
    assert shown.returncode == 0, shown.stderr
    assert "<tag>owner=alice</tag>" in shown.stdout and "<tag>tier=web</tag>" in shown.stdout
    await _until(
        lambda: any(
            g.host == "hostb" and g.tags == ("owner=alice", "tier=web")
            for g in controller.fleet.snapshot().guests
            if g.name == "linux-a1"
        ),
        "kvmtui reading them on hostb",
    )


async def test_start_order_starts_three_guests_step_by_step(controlled, lab_fresh: LabInfo):
    controller, operator = controlled
    order = {"tiny-b1": 1, "tiny-a2": 2, "tiny-a1": 3}  # against name and host order
    for name in order:
        lab_fresh.virsh(lab_fresh.where(name) or "hosta", "destroy", name)
    await _until(
        lambda: all(_guest(controller, n).state is GuestState.SHUTOFF for n in order), "all off"
    )
    for name, n in order.items():
        await controller.run(parse(f"tag {name} stack=lab start-order={n}"))
    await _until(lambda: all(_guest(controller, n).tags for n in order), "tags read")

    started_at: dict[str, float] = {}

    def seen(event) -> None:
        if event.kind == "lifecycle" and event.event == libvirt.VIR_DOMAIN_EVENT_STARTED:
            started_at.setdefault(event.name, time.monotonic())

    controller.fleet.add_event_listener(seen)
    await controller.run(parse("start stack=lab"))
    assert operator.questions[-1].title == "Start 3 guests on 2 hosts?"
    assert operator.oks[-1] == "started: 3 of 3 guests in 3 start-order steps", operator.errors
    assert sorted(started_at, key=started_at.__getitem__) == list(order)


async def test_anti_spreads_or_the_evacuation_plan_says_who_stays(controlled):
    controller, _operator = controlled
    pair = ("tiny-a1", "linux-a1")  # both running on hosta
    for name in pair:
        await controller.run(parse(f"tag {name} anti=pair"))
    await _until(lambda: _guest(controller, "linux-a1").tags == ("anti=pair",), "tags read")
    plan = await advice.plan_evacuation(controller.fleet, "hosta")
    moves = {m.guest.name: m for m in plan.moves}
    # One other host: one of the pair goes to hostb, the other cannot follow it there.
    placed = [moves[n] for n in pair if moves[n].dest == "hostb"]
    stays = [moves[n] for n in pair if moves[n].dest is None]
    assert len(placed) == 1 and len(stays) == 1
    assert stays[0].why.endswith("runs another anti=pair guest)"), stays[0].why
    assert "stays: no host can take it" in plan.describe()
