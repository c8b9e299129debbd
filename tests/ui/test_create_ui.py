"""The create wizard, `:create`, `:evacuate` and the ranking in the migrate dialog, driven
with keys at 80x24 on two libvirt test:/// hosts that have a storage pool and a network."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.foresight import MIB, DirtyRate
from kvmtui.core.model import HostSpec
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.create import CreateScreen
from kvmtui.screens.migrate_dialog import MigrateDialog
from kvmtui.verbs import shared as shared_verbs
from tests.nodes import NODE_XML
from tests.ui.helpers import (
    fleet_ready,
    guest,
    keys,
    notifications,
    select,
    tags_cell,
    text_of,
    wait_for,
)

SIZE = (80, 24)
HOSTILE = "new[red]vm"


@pytest.fixture
def node_settings(tmp_path: Path) -> Settings:
    specs = []
    for name in ("kvm1", "kvm2"):
        path = tmp_path / f"{name}.xml"
        path.write_text(NODE_XML)
        specs.append(HostSpec(name, f"test://{path}"))
    return Settings(hosts=tuple(specs), readonly=False, refresh=0.5, theme=None, demo=False)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[KvmTuiApp, Pilot]]:
    app = KvmTuiApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await fleet_ready(pilot, guests=6)
        yield app, pilot


async def command(pilot: Pilot, line: str) -> None:
    await pilot.press("colon", *keys(line), "enter")


async def open_wizard(pilot: Pilot) -> CreateScreen:
    await command(pilot, "create")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CreateScreen), what="the wizard")
    screen = pilot.app.screen
    assert isinstance(screen, CreateScreen)
    await wait_for(
        pilot,
        lambda: "1. kvm" in text_of(screen.query_one("#create-advice")),
        what="the host ranking",
    )
    return screen


async def type_into(pilot: Pilot, field: str, text: str) -> None:
    """Replaces what the field holds with `text`, typed."""
    await pilot.click(f"#create-{field}")
    held = pilot.app.screen.query_one(f"#create-{field}", Input).value
    await pilot.press("end", *["backspace"] * len(held), *keys(text))


async def boot_from_kernel(pilot: Pilot) -> None:
    """The boot source list, opened and moved through with keys (kernel is third)."""
    await pilot.click("#create-boot")
    await pilot.press("down", "down", "enter")


def why(screen: CreateScreen) -> str:
    return text_of(screen.query_one("#create-why", Static))


def names_on(app: KvmTuiApp, host: str) -> set[str]:
    return {g.name for g in app.fleet.host(host).guests()}


async def test_the_wizard_ranks_hosts_previews_the_xml_and_creates_the_guest(node_settings):
    async with running(node_settings) as (app, pilot):
        wizard = await open_wizard(pilot)
        ranking = text_of(wizard.query_one("#create-advice"))
        assert "GiB free, vCPUs" in ranking and "2. kvm" in ranking
        await type_into(pilot, "name", HOSTILE)
        await boot_from_kernel(pilot)
        assert wizard.query_one("#row-kernel").display
        assert not wizard.query_one("#row-path").display
        await type_into(pilot, "memory", "256M")
        await type_into(pilot, "disk", "1G")
        await type_into(pilot, "kernel", "/lab/vmlinuz")
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation"
        )
        shown = text_of(app.screen.query_one("#detail", Static))
        assert f"<name>{HOSTILE}</name>" in shown.replace("\n", "")
        assert "<kernel>/lab/vmlinuz</kernel>" in shown
        assert '<console type="pty">' in shown
        assert f"volume {HOSTILE}.qcow2 in pool images" in shown
        await pilot.press("tab", "enter")  # Cancel is focused: the action is one Tab away
        await wait_for(
            pilot,
            lambda: HOSTILE in names_on(app, "kvm1") or HOSTILE in names_on(app, "kvm2"),
            what="the new guest listed",
        )
        assert not isinstance(app.screen, CreateScreen | ConfirmScreen)
        made = next(g for g in app.fleet.snapshot().guests if g.name == HOSTILE)
        assert made.state.is_active  # "start" is ticked by default
        assert any(f"{HOSTILE} created on {made.host}" in n for n in notifications(app))


async def _fill_kernel_guest(pilot: Pilot, name: str, tags: str) -> None:
    """A small guest booted from a kernel, with `tags` typed in the Tags field."""
    await type_into(pilot, "name", name)
    await boot_from_kernel(pilot)
    await type_into(pilot, "memory", "256M")
    await type_into(pilot, "disk", "1G")
    await type_into(pilot, "kernel", "/lab/vmlinuz")
    await type_into(pilot, "tags", tags)


async def test_tags_typed_in_the_wizard_are_in_the_new_guests_definition(node_settings):
    async with running(node_settings) as (app, pilot):
        await open_wizard(pilot)
        await _fill_kernel_guest(pilot, "tagged", "web, tier=db")
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation"
        )
        shown = "".join(text_of(app.screen.query_one("#detail", Static)).split())
        assert "<kvmtui:tag>web</kvmtui:tag><kvmtui:tag>tier=db</kvmtui:tag>" in shown
        await pilot.press("tab", "enter")
        await wait_for(
            pilot,
            lambda: any(g.name == "tagged" for g in app.fleet.snapshot().guests),
            what="the new guest listed",
        )
        made = guest(app, "tagged")
        # The Tags column shows them as libvirt hands the definition back, sorted.
        await wait_for(pilot, lambda: tags_cell(app, f"tagged@{made.host}") == "tier=db web")


async def test_a_malformed_tag_is_one_line_on_the_form_and_nothing_is_made(node_settings):
    async with running(node_settings) as (app, pilot):
        wizard = await open_wizard(pilot)
        await _fill_kernel_guest(pilot, "tagged", "web,tier=")
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: why(wizard).startswith('create: --tags: tag "tier=" is not a tag'),
            what="the refusal under the form",
        )
        assert app.screen is wizard  # still open, to fix the tag
        assert not any(isinstance(s, ConfirmScreen) for s in app.screen_stack)
        assert "tagged" not in names_on(app, "kvm1") | names_on(app, "kvm2")


async def test_a_name_that_exists_is_explained_on_the_form_and_nothing_is_made(node_settings):
    async with running(node_settings) as (app, pilot):
        wizard = await open_wizard(pilot)
        await type_into(pilot, "name", "web")
        await boot_from_kernel(pilot)
        await type_into(pilot, "disk", "1G")
        await type_into(pilot, "kernel", "/lab/vmlinuz")
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: "already has a guest named web" in why(wizard),
            what="the refusal under the form",
        )
        assert app.screen is wizard  # still open, to fix the name
        assert not any(isinstance(s, ConfirmScreen) for s in app.screen_stack)
        await pilot.press("escape")
        assert not isinstance(app.screen, CreateScreen)
        assert sorted(g.name for g in app.fleet.snapshot().guests).count("web") == 2


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("create x --memory 10QB --pxe", "create: --memory: unknown size unit 'QB' in '10QB'"),
        ("create x --memory 1T --pxe --host kvm1", "is more memory than kvm1 has free"),
        ("create x --memory 1T --pxe", "create x: no host can take it (best: kvm"),
        (
            "create x --memory 1G --cdrom /srv/none.iso --disk 1G --host kvm2",
            "no ISO /srv/none.iso on kvm2",
        ),
        ("create x --memory 1G", "no boot source"),
    ],
)
async def test_bad_create_lines_say_why_in_one_line(node_settings, line, said):
    async with running(node_settings) as (app, pilot):
        before = sorted(g.key for g in app.fleet.snapshot().guests)
        await command(pilot, line)
        await wait_for(
            pilot, lambda: any(said in n for n in notifications(app)), what=f"the refusal of {line}"
        )
        assert all("\n" not in n for n in notifications(app))
        assert not isinstance(app.screen, ConfirmScreen)
        assert sorted(g.key for g in app.fleet.snapshot().guests) == before


async def test_evacuate_shows_the_plan_and_cancel_moves_nothing(node_settings):
    async with running(node_settings) as (app, pilot):
        await command(pilot, "evacuate kvm1")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ConfirmScreen) and app.screen.query("#detail"),
            what="the plan",
        )
        assert "Evacuate kvm1: live-migrate 2 guests?" in text_of(
            app.screen.query_one("#question", Static)
        )
        plan = text_of(app.screen.query_one("#detail", Static))
        assert "web -> kvm2" in plan and "bare -> kvm2" in plan
        # Where each forecast would be, one line: the test driver cannot measure.
        assert plan.startswith("dirty rate: not measurable on kvm1 (this function is not")
        assert plan.count("not measurable") == 1  # said once for the host, not per guest
        await pilot.press("enter")  # on the focused Cancel
        assert not isinstance(app.screen, ConfirmScreen)
        assert not app.services.migrations.jobs()


async def test_the_evacuation_plan_runs_the_quickest_first_and_flags_the_hopeless(
    node_settings, monkeypatch
):
    """As a QEMU host would measure them (test:/// cannot): web writes 300 MiB/s, more
    than a 1 Gb/s link carries, bare hardly anything."""
    rates = {"web": 300 * MIB, "bare": 1 * MIB}

    async def measure(_fleet, guests):
        return {g.key: DirtyRate(rates[g.name]) for g in guests}

    monkeypatch.setattr(shared_verbs, "measure_guests", measure)
    async with running(node_settings) as (app, pilot):
        await command(pilot, "evacuate kvm1")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the plan")
        assert "Evacuate kvm1: live-migrate 2 guests (1 will not converge)?" in text_of(
            app.screen.query_one("#question", Static)
        )
        plan = text_of(app.screen.query_one("#detail", Static)).splitlines()
        assert plan[0].startswith("bare -> kvm2")
        assert plan[1].startswith("  converges in about ")
        assert plan[2].startswith("web -> kvm2")
        assert plan[3].startswith("  ! will not converge at 110 MiB/s (no cap: a 1 Gb/s link")
        await pilot.press("tab", "enter")  # Evacuate: the jobs start in the plan's order
        await wait_for(pilot, lambda: len(app.services.migrations.jobs()) == 2, what="jobs")
        jobs = app.services.migrations.jobs()
        assert [j.guest for j in jobs] == ["bare", "web"]
        assert all(j.foresight is not None and j.foresight.forecast for j in jobs)


async def test_the_migrate_dialog_ranks_the_destinations(node_settings):
    async with running(node_settings) as (app, pilot):
        await select(pilot, "web@kvm1")
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MigrateDialog), what="the dialog")
        advice = app.screen.query_one("#migrate-advice", Static)
        await wait_for(pilot, lambda: text_of(advice).startswith("1. kvm2: "), what="the ranking")
        assert "CPU compatible" in text_of(advice)
        assert guest(app, "web", "kvm1")  # nothing moved by looking
