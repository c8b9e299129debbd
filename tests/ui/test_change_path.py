"""The one change path in the app: a read-only host dims the mutating keys of its guests
(and only its guests), pressing one says why, and the pin keys of the vCPU panel follow the
same decision."""

from __future__ import annotations

import dataclasses

from kvmtui.core.model import GuestState
from kvmtui.screens.text_panel import TextPanel
from tests.ui.helpers import notifications, screen_text, select, started, wait_for

SIZE = (100, 30)


async def test_a_readonly_host_dims_only_its_guests_mutating_keys(demo_settings):
    hosts = tuple(dataclasses.replace(h, readonly=h.name == "kvm02") for h in demo_settings.hosts)
    async with started(dataclasses.replace(demo_settings, hosts=hosts), SIZE) as (app, pilot):
        guests = app.fleet.snapshot().guests
        writable = next(g for g in guests if g.host == "kvm01" and g.state is GuestState.RUNNING)
        readonly = next(g for g in guests if g.host == "kvm02" and g.state is GuestState.RUNNING)
        await select(pilot, writable.ref)
        assert app.screen.check_action("act", ("destroy",)) is True
        await select(pilot, readonly.ref)
        assert app.screen.check_action("act", ("destroy",)) is None  # dimmed
        await pilot.press("ctrl+k")  # no question, nothing destroyed: one line why
        await wait_for(pilot, lambda: notifications(app))
        assert notifications(app) == ["destroy: host kvm02 is read-only"]
        assert not app.screen.query("#question")
        # The : line reaches the same decision and says it in the same words.
        await pilot.press("colon", *f"destroy {readonly.ref}", "enter")
        await wait_for(pilot, lambda: len(notifications(app)) == 2)
        assert notifications(app)[-1] == "destroy: host kvm02 is read-only"
        assert app.fleet.find_guest(readonly.key).state is GuestState.RUNNING


async def test_pin_keys_follow_the_controller(demo_settings):
    hosts = tuple(dataclasses.replace(h, readonly=h.name == "kvm02") for h in demo_settings.hosts)
    async with started(dataclasses.replace(demo_settings, hosts=hosts), SIZE) as (app, pilot):
        for host, shown in (("kvm01", True), ("kvm02", None)):
            target = next(
                g
                for g in app.fleet.snapshot().guests
                if g.host == host and g.state is GuestState.RUNNING
            )
            app.open_detail(target, tab="vcpus")
            await wait_for(pilot, lambda h=host: f"on {h}, which has" in screen_text(app))
            panel = app.screen.query_one("#vcpu-panel")
            assert panel.check_action("pin_vcpu", ()) is shown
            assert panel.check_action("pin_emulator", ()) is shown
            app.pop_screen()
            await pilot.pause()


async def test_help_verb_opens_its_page(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("colon", *"help vcpupin", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPanel), what="the page")
        assert ":vcpupin NAME [VCPU] [CPULIST] [--config]" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("colon", *"help strat", "enter")
        await wait_for(pilot, lambda: len(notifications(app)) == 1)
        assert notifications(app)[-1] == 'help: unknown command "strat" (did you mean "start"?)'
