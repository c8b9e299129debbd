"""One grammar: a key means one thing on every screen about guests, the key map in
docs/KEYS.md is the bindings' own, scopes show as a chip that Esc clears (going back where
the view was reached from), a refused key says why, and bulk actions skip what they do not
fit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from textual.binding import Binding

from kvmtui.core.model import GuestState
from kvmtui.keys import all_bindings, key_map_markdown
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.detail import GuestDetailScreen
from kvmtui.screens.help import HelpScreen
from kvmtui.screens.snapshots import SnapshotsScreen
from tests.ui.helpers import (
    keys,
    notifications,
    screen_text,
    select,
    started,
    status,
    table_names,
    wait_for,
)

SIZE = (100, 30)
ROOT = Path(__file__).resolve().parents[2]


def test_docs_keys_md_is_the_key_map_of_the_bindings():
    """docs/KEYS.md is written from the bindings (`scripts/key-map`): a key changed
    in the code and not in the file (or the other way round) fails here."""
    assert (ROOT / "docs" / "KEYS.md").read_text() == key_map_markdown()


def test_a_key_means_one_thing_on_the_guest_list_the_detail_and_its_vcpu_tab():
    """`s` was Start on the list and Snapshots on the detail; `e` Edit XML on the detail
    and Pin emulator on its vCPU tab: the places a guest is shown share one meaning per
    key (and the keys every view has: `:`, `/`, `?`, the digits)."""
    places = {"guests", "detail", "vcpus", "view", "app"}
    meanings: dict[str, dict[str, str]] = {}
    for binding in all_bindings():
        if not isinstance(binding, Binding) or not binding.id or ".sort_" in binding.id:
            continue
        place = binding.id.partition(".")[0]
        for key in binding.key.split(","):
            printable = len(key) == 1 or (key.startswith("ctrl+") and len(key) == 6)
            if place in places and printable and key != "q":
                meanings.setdefault(key, {})[binding.id] = binding.description
    clashes = {key: ids for key, ids in meanings.items() if len(set(ids.values())) > 1}
    assert not clashes
    assert meanings["y"] == {"guests.xml": "XML", "detail.xml": "XML"}
    assert meanings["d"] == {"guests.info": "Info", "detail.info": "Info"}


async def test_list_keys_open_the_detail_and_mean_the_same_there(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        off = next(
            g
            for g in app.fleet.snapshot().guests
            if g.state is GuestState.SHUTOFF and g.name != "shared-tools"
        )
        await select(pilot, off.ref)
        await pilot.press("y")  # k9s's YAML key: the XML
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, GuestDetailScreen) and app.screen._active_tab() == "xml",
            what="y: the XML tab",
        )
        await pilot.press("d")  # describe
        await wait_for(pilot, lambda: app.screen._active_tab() == "info", what="d: Info")
        await pilot.press("s")  # Start, as on the list (not Snapshots)
        await wait_for(
            pilot,
            lambda: app.fleet.find_guest(off.key).state is GuestState.RUNNING,
            what="s on the detail to start the guest",
        )
        assert isinstance(app.screen, GuestDetailScreen)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        text = screen_text(app)
        assert "Guest detail: keys" in text and "GuestDetailScreen" not in text
        assert "The key map" in text and "guests.clone" in text


async def test_a_hosts_guests_show_a_scope_chip_esc_goes_back_a_digit_shows_all(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        every = set(table_names(app))
        await pilot.press("2")
        await wait_for(pilot, lambda: app.current_mode == "hosts" and app.screen.table.current)
        await pilot.press("enter")  # kvm01, the first host: its guests
        await wait_for(
            pilot,
            lambda: app.current_mode == "guests" and " host: kvm01 ✕Esc " in status(app),
            what="the host chip",
        )
        assert {name.rsplit("@")[1] for name in table_names(app)} == {"kvm01"}
        await pilot.press("escape")  # back where Enter was pressed, the scope gone
        await wait_for(pilot, lambda: app.current_mode == "hosts", what="Esc: the hosts")
        await pilot.press("1")
        await wait_for(pilot, lambda: set(table_names(app)) == every, what="1: every guest")
        assert "host:" not in status(app)
        for again in ("1", "colon"):  # a digit, and `:guests`, show the whole view too
            await pilot.press("2", "enter")
            await wait_for(pilot, lambda: "host: kvm01" in status(app), what="scoped again")
            if again == "colon":
                await pilot.press("colon", *keys("guests"), "enter")
            else:
                await pilot.press(again)
            await wait_for(
                pilot, lambda: set(table_names(app)) == every, what=f"{again}: every guest"
            )
            assert "host:" not in status(app)


async def test_a_pools_volumes_scope_ends_with_a_digit(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("5")
        await wait_for(
            pilot,
            lambda: app.current_mode == "pools" and app.screen.table.current,
            what="the pools",
        )
        pool = app.screen.table.current
        await pilot.press("enter")
        chip = f" pool: {pool.name}@{pool.host} ✕Esc "
        await wait_for(
            pilot, lambda: app.current_mode == "vols" and chip in status(app), what="the pool chip"
        )
        await wait_for(pilot, lambda: app.screen.table.visible_rows(), what="its volumes")
        assert {v.pool_key for v in app.screen.table.visible_rows()} == {pool.key}
        await pilot.press("5", "6")
        await wait_for(
            pilot,
            lambda: app.current_mode == "vols" and "pool:" not in status(app),
            what="6: every volume",
        )
        await wait_for(
            pilot,
            lambda: len({v.pool_key for v in app.screen.table.visible_rows()}) > 1,
            what="more than one pool's volumes",
        )


async def test_esc_on_a_guests_snapshots_goes_back_to_its_detail(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        target = app.fleet.snapshot().guests[0]
        await select(pilot, target.ref)
        await pilot.press("enter", "g")  # the detail, its History tab
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, GuestDetailScreen) and app.screen._active_tab() == "history"
            ),
            what="the history tab",
        )
        await pilot.press("t")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, SnapshotsScreen)
                and f" guest: {target.ref} ✕Esc " in status(app)
            ),
            what="its snapshots",
        )
        await pilot.press("escape")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, GuestDetailScreen)
                and app.screen.guest.key == target.key
                and app.screen._active_tab() == "history"
            ),
            what="Esc: back to the detail, same tab",
        )
        await pilot.press("escape")  # and from there to the list
        await wait_for(
            pilot,
            lambda: app.current_mode == "guests" and not isinstance(app.screen, GuestDetailScreen),
        )
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, SnapshotsScreen))
        assert "guest:" not in status(app)


async def test_a_refused_key_is_dimmed_and_says_why_in_one_line(demo_settings):
    settings = dataclasses.replace(demo_settings, readonly=True)
    refusal = "kvmtui runs read-only (--readonly)"
    async with started(settings, SIZE) as (app, pilot):
        off = next(g for g in app.fleet.snapshot().guests if g.state is GuestState.SHUTOFF)
        await select(pilot, off.ref)
        start = app.screen.active_bindings["s"]
        assert start.binding.description == "Start" and start.enabled is False  # dimmed
        for key, what in (
            ("s", "start"),
            ("ctrl+k", "destroy"),
            ("f", "clone"),
            ("m", "migrate"),
            ("e", "edit"),
            ("ctrl+d", "undefine"),
        ):
            await pilot.press(key)
            line = f"{what}: {refusal}"
            await wait_for(pilot, lambda line=line: line in notifications(app), what=line)
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, SnapshotsScreen))
        assert app.screen.active_bindings["ctrl+r"].enabled is False
        await pilot.press("n")
        line = f"snapshot-create-as: {refusal}"
        await wait_for(pilot, lambda: line in notifications(app), what=line)
        assert app.fleet.find_guest(off.key).state is GuestState.SHUTOFF


async def test_a_read_only_hosts_guest_refuses_in_one_line_on_the_detail(demo_settings):
    hosts = tuple(dataclasses.replace(h, readonly=h.name == "kvm02") for h in demo_settings.hosts)
    async with started(dataclasses.replace(demo_settings, hosts=hosts), SIZE) as (app, pilot):
        running = next(
            g
            for g in app.fleet.snapshot().guests
            if g.host == "kvm02" and g.state is GuestState.RUNNING
        )
        await select(pilot, running.ref)
        await pilot.press("enter", "ctrl+k")
        line = "destroy: host kvm02 is read-only"
        await wait_for(pilot, lambda: line in notifications(app), what=line)
        assert isinstance(app.screen, GuestDetailScreen)


async def test_mark_all_then_destroy_asks_about_the_guests_that_run(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        guests = app.fleet.snapshot().guests
        active = sum(1 for g in guests if g.state.is_active)
        off = sum(1 for g in guests if g.state is GuestState.SHUTOFF)
        await pilot.press("ctrl+a", "ctrl+k")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        question = str(app.screen.query_one("#question").render())
        assert f"Destroy {active} guests on 3 hosts? {off} shut off are skipped" in question
        await pilot.press("escape")
