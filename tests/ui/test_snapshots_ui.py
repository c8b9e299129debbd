"""The snapshots view and the snapshot verbs on the demo fleet (libvirt's test:/// driver):
what the operator sees after each key and each `:` line, and that nothing changes when the
input is bad or the answer is Cancel."""

from __future__ import annotations

import dataclasses
import time

from kvmtui.core import snapshots
from kvmtui.core.model import GuestSnapshot, GuestState
from kvmtui.core.snapshots import SnapshotJob
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.detail import GuestDetailScreen
from kvmtui.screens.snapshots import SnapshotDialog, SnapshotsScreen, job_text
from tests.ui.helpers import (
    guest,
    keys,
    notifications,
    screen_text,
    select,
    started,
    status,
    text_of,
    wait_for,
)

SIZE = (120, 30)


def _running(app, host: str = "kvm01") -> GuestSnapshot:
    return next(
        g for g in app.fleet.snapshot().guests if g.host == host and g.state is GuestState.RUNNING
    )


async def _line(pilot, text: str, answers: int = 1) -> str:
    """Types a `:` line and returns the line it is answered with (the last of `answers`)."""
    pilot.app.clear_notifications()  # they expire: count from none
    await pilot.press("colon", *keys(text), "enter")
    await wait_for(
        pilot, lambda: len(notifications(pilot.app)) >= answers, what=f"the answer to :{text}"
    )
    return notifications(pilot.app)[-1]


async def _names(app, g: GuestSnapshot) -> list[str]:
    return [s.name for s in await snapshots.list_snapshots(app.fleet.host(g.host), g.uuid)]


def _rows(app) -> list[tuple[str, str, bool]]:
    return [(s.guest, s.name, s.current) for s in app.screen.table.visible_rows()]


async def _answer(pilot, confirm: bool) -> None:
    """Answers the confirmation the way a user does: Cancel is focused."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="a question")
    await pilot.press(*(["tab", "enter"] if confirm else ["enter"]))


async def test_verbs_create_list_mark_current_revert_and_delete(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        web = _running(app)
        said = await _line(pilot, f'snapshot-create-as {web.ref} before --description "old kernel"')
        assert said == f"{web.name} on kvm01: snapshot before created (internal, disk+memory)"
        said = await _line(pilot, f"snapshot-create-as {web.ref} after")
        assert "snapshot after created" in said

        await _line(pilot, f"snapshot-current {web.ref} before")
        assert notifications(app)[-1] == f"{web.name} on kvm01: snapshot before is now current"
        said = await _line(pilot, f"snapshot-current {web.ref}")
        assert said == f"{web.name} on kvm01: current snapshot before"

        await pilot.press("colon", *keys(f"snapshot-list {web.ref}"), "enter")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, SnapshotsScreen)
                and len(app.screen.table.visible_rows()) == 2
            ),
            what="the guest's rows",
        )
        assert _rows(app) == [(web.name, "before", True), (web.name, "after", False)]
        assert f" guest: {web.ref} ✕Esc " in status(app)
        described = app.screen.table.visible_rows()[0]
        assert (described.description, described.kind) == ("old kernel", "internal, disk+memory")

        # Revert asks first and names what is lost; Cancel changes nothing.
        await pilot.press("colon", *keys(f"snapshot-revert {web.ref} after --paused"), "enter")
        await _answer(pilot, confirm=False)
        await pilot.pause(0.3)
        assert app.fleet.find_guest(web.key).state is GuestState.RUNNING
        await pilot.press("colon", *keys(f"snapshot-revert {web.ref} after --paused"), "enter")
        question = await _question(pilot)
        assert question[0] == f"Revert {web.name} on kvm01 to snapshot after?"
        assert "everything it wrote since is lost" in question[1]
        await pilot.press("tab", "enter")
        await wait_for(
            pilot,
            lambda: app.fleet.find_guest(web.key).state is GuestState.PAUSED,
            what="the guest paused at the snapshot",
        )
        await wait_for(
            pilot, lambda: _rows(app) == [(web.name, "before", False), (web.name, "after", True)]
        )

        await pilot.press("colon", *keys(f"snapshot-delete {web.ref} before"), "enter")
        await _answer(pilot, confirm=True)
        await wait_for(
            pilot, lambda: _rows(app) == [(web.name, "after", True)], what="the deleted row gone"
        )
        assert notifications(app)[-1] == f"{web.name} on kvm01: snapshot before deleted"
        assert await _names(app, web) == ["after"]


async def _question(pilot) -> tuple[str, str]:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="a question")
    screen = pilot.app.screen
    return text_of(screen.query_one("#question")), text_of(screen.query_one("#detail"))


async def test_bad_input_is_one_line_and_changes_nothing(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        web = _running(app)
        await _line(pilot, f"snapshot-create-as {web.ref} one --description first")
        for line, answer in [
            (
                f"snapshot-revert {web.ref} nope",
                f'snapshot-revert {web.name} on kvm01: no snapshot "nope" (it has one)',
            ),
            (
                f"snapshot-delete {web.ref} onr",
                f'snapshot-delete {web.name} on kvm01: no snapshot "onr" (did you mean "one"?)'
                " (it has one)",
            ),
            (
                f"snapshot-revert {web.ref} one --running --paused",
                "snapshot-revert: choose --running or --paused, not both",
            ),
            (f"snapshot-revert {web.ref}", "snapshot-revert: missing snapshot name"),
            (
                f"snapshot-create-as {web.ref} 'a/b'",
                "snapshot-create-as: a snapshot name cannot hold '/'",
            ),
            (
                f"snapshot-create-as {web.ref} one --description second",
                f"snapshot-create-as {web.name} on kvm01: ",
            ),
            ("snapshot-list nosuchguest", 'no guest named "nosuchguest"'),
        ]:
            said = await _line(pilot, line)
            assert said.startswith(answer), (line, said)
            assert "\n" not in said
            assert not isinstance(app.screen, ConfirmScreen)  # nothing asked
        (snap,) = await snapshots.list_snapshots(app.fleet.host(web.host), web.uuid)
        assert (snap.name, snap.description) == ("one", "first")
        assert app.fleet.find_guest(web.key).state is GuestState.RUNNING


async def test_keys_in_the_view_take_revert_and_delete(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        web = _running(app)
        await select(pilot, web.ref)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, SnapshotsScreen), what="the view")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, SnapshotDialog), what="the dialog")
        await pilot.press(*keys("[b]pre"), "tab", *keys("<desc> & 'x'"), "enter")
        await wait_for(
            pilot,
            lambda: _rows(app) == [(web.name, "[b]pre", True)],
            what="the new snapshot listed",
        )
        assert app.screen.table.visible_rows()[0].description == "<desc> & 'x'"
        # Shown as typed, never read as markup.
        assert "[b]pre" in app.screen.table.render_line(1).text

        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, SnapshotDialog))
        await pilot.press("enter")  # no name: libvirt picks one for a single guest
        await wait_for(pilot, lambda: len(_rows(app)) == 2, what="the second snapshot")
        assert _rows(app)[1][1].isdigit()

        app.screen.table.select_key(app.screen.table.visible_rows()[0].key)
        await pilot.press("ctrl+r")  # not r: elsewhere r reads again
        await _answer(pilot, confirm=True)
        await wait_for(pilot, lambda: _rows(app)[0][2], what="[b]pre current after revert")
        assert notifications(app)[-1] == f"{web.name} on kvm01: reverted to snapshot [b]pre"

        first, second = app.screen.table.visible_rows()
        app.screen.table.select_key(second.key)
        await pilot.press("c")  # marked current, nothing reverted: not asked
        await wait_for(
            pilot,
            lambda: [r[2] for r in _rows(app)] == [False, True],
            what="the second snapshot current",
        )
        assert notifications(app)[-1].endswith(f"snapshot {second.name} is now current")

        app.screen.table.select_key(first.key)
        await pilot.press("ctrl+d")
        await _answer(pilot, confirm=False)
        await pilot.pause(0.2)
        assert len(_rows(app)) == 2
        await pilot.press("ctrl+d")
        await _answer(pilot, confirm=True)
        await wait_for(
            pilot, lambda: _rows(app) == [(web.name, second.name, True)], what="[b]pre deleted"
        )
        assert await _names(app, web) == [second.name]

        # Esc widens the view to the whole fleet.
        await pilot.press("escape")
        await wait_for(pilot, lambda: "of " not in status(app), what="the narrowing gone")


async def test_a_name_the_dialog_refuses_keeps_it_open(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        web = _running(app)
        app.show_snapshots([web])
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, SnapshotDialog))
        await pilot.press(*keys("a/b"), "enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, SnapshotDialog)
        assert "Name: a snapshot name cannot hold '/'" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert await _names(app, web) == []


async def test_bulk_snapshot_of_marked_guests_reports_what_succeeded_where(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        chosen = [_running(app, "kvm01"), _running(app, "kvm02"), _running(app, "kvm03")]
        taken = chosen[2]
        await snapshots.create_snapshot(app.fleet.host(taken.host), taken.uuid, "pre-patch")
        for g in chosen:
            await select(pilot, g.ref)
            await pilot.press("space")
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, SnapshotsScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, SnapshotDialog))
        await pilot.press("enter")  # several guests: one name is needed
        await pilot.pause(0.2)
        assert isinstance(app.screen, SnapshotDialog)
        app.clear_notifications()
        await pilot.press(*keys("pre-patch"), "enter")
        await wait_for(
            pilot, lambda: len(notifications(app)) >= 2, what="the failure and the summary"
        )
        failure, summary = notifications(app)[-2:]
        assert failure.startswith(f"snapshot-create-as {taken.name} on kvm03:")
        assert summary.startswith(
            "snapshot pre-patch: 2 of 3 guests on 2 hosts; failed: "
            f"snapshot-create-as {taken.name} on kvm03:"
        )
        await wait_for(
            pilot,
            lambda: sorted(_rows(app)) == sorted((g.name, "pre-patch", True) for g in chosen),
            what="three rows",
        )


async def test_detail_key_fleet_view_and_a_read_only_host(demo_settings):
    hosts = tuple(dataclasses.replace(h, readonly=h.name == "kvm02") for h in demo_settings.hosts)
    async with started(dataclasses.replace(demo_settings, hosts=hosts), SIZE) as (app, pilot):
        web, other, locked = _running(app, "kvm01"), _running(app, "kvm03"), _running(app, "kvm02")
        for g in (web, other):
            # Taken without the view: it reads them when it comes up.
            await snapshots.create_snapshot(app.fleet.host(g.host), g.uuid, "s1")
        app.open_detail(guest(app, web.name, "kvm01"))
        await wait_for(pilot, lambda: isinstance(app.screen, GuestDetailScreen))
        await pilot.press("t")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, SnapshotsScreen) and _rows(app) == [(web.name, "s1", True)]
            ),
            what="the guest's snapshots",
        )
        assert app.screen.check_action("revert", ()) is True
        await pilot.press("escape")  # back to the detail the key was pressed on
        await wait_for(pilot, lambda: isinstance(app.screen, GuestDetailScreen))
        await pilot.press("4")  # the whole view
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, SnapshotsScreen)
                and {r[0] for r in _rows(app)} == {web.name, other.name}
            ),
            what="the whole fleet's snapshots",
        )

        app.show_snapshots([locked])
        await wait_for(pilot, lambda: _rows(app) == [], what="the read-only guest's (none)")
        assert app.screen.check_action("take", ()) is None  # dimmed
        await pilot.press("n")
        await wait_for(
            pilot,
            lambda: notifications(app)[-1:] == ["snapshot-create-as: host kvm02 is read-only"],
            what="n to say why",
        )
        said = await _line(pilot, f"snapshot-create-as {locked.ref} s2")
        assert said == "snapshot-create-as: host kvm02 is read-only"
        said = await _line(pilot, f"snapshot-delete {locked.ref} s1")
        assert said == "snapshot-delete: host kvm02 is read-only"
        assert not isinstance(app.screen, ConfirmScreen)

        await pilot.press("colon", *keys("guests"), "enter")
        await pilot.press("colon", *keys("snapshots"), "enter")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, SnapshotsScreen) and len(_rows(app)) == 2,
            what="the whole view again",
        )
        assert "guest:" not in status(app)  # `:snapshots` shows the whole view


def test_a_call_under_way_reads_with_its_figures_and_its_time():
    started = time.monotonic() - 12.2
    job = SnapshotJob(1, "web@kvm1", "taking pre-patch", started)
    assert job_text(job) == "web@kvm1 taking pre-patch 12 s"
    figures = dataclasses.replace(job, done=512 * 2**20, total=2**31)
    assert job_text(figures) == "web@kvm1 taking pre-patch 25% of 2.0 GiB, 12 s"
