"""The backup verbs, the guest list's `B` and the backups view on the demo fleet (libvirt's
test:/// driver, which has no live backups, as a host whose QEMU lacks them): each refusal
is one line and changes nothing; the view shows each guest's chain from the catalogue, the
stale one flagged."""

from __future__ import annotations

import dataclasses
import time

from kvmtui.core.backups import BackupFile, BackupPoint
from kvmtui.core.host import DomainEvent
from kvmtui.core.model import GuestSnapshot, GuestState
from kvmtui.screens.backups import BackupsScreen
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.history import EventsScreen
from tests.ui.helpers import keys, notifications, screen_text, select, started, status, wait_for

SIZE = (120, 30)


def _guest(app, state: GuestState, host: str = "kvm01") -> GuestSnapshot:
    return next(g for g in app.fleet.snapshot().guests if g.host == host and g.state is state)


async def _line(pilot, text: str, answers: int = 1) -> list[str]:
    """Types a `:` line and returns the lines it was answered with."""
    pilot.app.clear_notifications()
    await pilot.press("colon", *keys(text), "enter")
    await wait_for(
        pilot, lambda: len(notifications(pilot.app)) >= answers, what=f"the answer to :{text}"
    )
    return notifications(pilot.app)


async def _seed(
    app, guest: GuestSnapshot, hours_ago: float, kind: str, path: str = ""
) -> BackupPoint:
    """A point in the catalogue, its file at `path` (default: a file nowhere)."""
    await app.services.backups.load()
    return await app.services.backups.record(
        BackupPoint(
            id=0,
            uuid=guest.uuid,
            guest=guest.name,
            host=guest.host,
            time=time.time() - hours_ago * 3600,
            kind=kind,
            size=3 << 20,
            checkpoint=f"kvmtui-{kind}-{hours_ago}",
            pool="default",
            files=(
                BackupFile(
                    "vda", path or f"/pool/{guest.name}-{hours_ago}.qcow2", "default", 1 << 30
                ),
            ),
            definition="<domain/>",
            verified=None,
        )
    )


async def test_a_host_without_live_backups_is_one_line(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        running = _guest(app, GuestState.RUNNING)
        said = await _line(pilot, f"backup {running.ref}")
        assert said == [
            f"backup {running.name} on {running.host}: this host has no live backups "
            "(its libvirt driver or QEMU lacks virDomainBackupBegin)"
        ]
        off = _guest(app, GuestState.SHUTOFF)  # it would be started paused for it
        (said,) = await _line(pilot, f"backup {off.ref}")
        assert said.startswith(f"backup {off.name} on {off.host}: this host has no live backups")
        assert app.fleet.find_guest(off.key).state is GuestState.SHUTOFF  # never started
        (said,) = await _line(pilot, f"backup {running.ref} --full --incremental")
        assert said == "backup: choose --incremental or --full, not both"
        (said,) = await _line(pilot, f"restore {running.ref} latest --as copy")
        assert said == f'restore: no backup of "{running.name}" in the catalogue'
        (said,) = await _line(pilot, f"backup-prune {running.ref}")
        assert said == "backup-prune: say how many points to keep (--keep N)"
        assert app.services.backups.points() == []
        assert app.services.backups.jobs() == []


async def test_B_backs_up_the_marked_guests_asked_first(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        first, second = [g for g in app.fleet.snapshot().guests if g.state is GuestState.RUNNING][
            :2
        ]
        for g in (first, second):
            await select(pilot, g.ref)
            await pilot.press("space")
        app.clear_notifications()
        await pilot.press("B")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="a question")
        assert "Back up 2 guests" in screen_text(app)
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: len(notifications(app)) >= 3, what="the answers")
        said = notifications(app)
        assert said[-1] == "backup: failed on all 2 guests"
        assert all("no live backups" in line for line in said[:-1])


async def test_readonly_refuses_every_backup_verb(demo_settings):
    settings = dataclasses.replace(demo_settings, readonly=True)
    async with started(settings, SIZE) as (app, pilot):
        running = _guest(app, GuestState.RUNNING)
        for line in (
            f"backup {running.ref}",
            f"restore {running.ref} latest",
            f"backup-verify {running.ref}",
            f"backup-prune {running.ref} --keep 1",
        ):
            verb = line.split()[0]
            assert await _line(pilot, line) == [f"{verb}: kvmtui runs read-only (--readonly)"]


async def test_the_view_shows_each_chain_and_flags_the_stale_one(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        fresh, stale = [g for g in app.fleet.snapshot().guests if g.state is GuestState.RUNNING][:2]
        await _seed(app, fresh, 30, "full")
        newest = await _seed(app, fresh, 1, "incremental")
        await _seed(app, stale, 50, "full")
        await pilot.press("colon", *keys("backups"), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, BackupsScreen), what="the view")
        await wait_for(pilot, lambda: len(app.screen.table.visible_rows()) == 3, what="rows")
        table = app.screen.table
        text = "\n".join(table.render_line(y).text for y in range(table.size.height))
        assert newest.name in text and "incremental" in text
        rows = {(r.point.guest, r.point.kind): r for r in app.screen.table.visible_rows()}
        assert not rows[(fresh.name, "incremental")].stale
        assert rows[(stale.name, "full")].stale
        assert "2 points, 6.0 MiB, an hour old" in text
        assert "STALE" in text

        # Restoring over a running guest is refused before anything is asked.
        (said,) = await _line(pilot, f"restore {fresh.ref} latest")
        assert said.startswith(f"restore: {fresh.name} on {fresh.host} is running; shut it down")
        # As a new guest under a name taken: one line, nothing made.
        (said,) = await _line(pilot, f"restore {fresh.ref} {newest.name} --as {stale.name}")
        assert f'a guest named "{stale.name}" already exists' in said
        (said,) = await _line(pilot, f"restore {fresh.ref} 19990101-000000 --as x")
        assert said.startswith(f'restore: {fresh.name} has no backup "19990101-000000"')


async def test_a_stale_backup_is_an_alert_on_every_view_and_in_the_timeline(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        guest = _guest(app, GuestState.RUNNING)
        assert "ALERTS" not in status(app)
        old = await _seed(app, guest, 50, "full")  # backup_max_age: 26 h
        await wait_for(pilot, lambda: "ALERTS 1" in status(app), what="the alert counted")
        await pilot.press("colon", *keys("events"), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, EventsScreen), what="the timeline")
        (row,) = app.screen.table.shown_texts().values()
        assert row[0] == "!" and row[2:5] == [guest.host, guest.name, "backup stale"]
        assert row[5] == f"newest point {old.name} is 50 h old, over backup_max_age (26 h)"
        # Read again (the view comes up, another run starts): not raised a second time.
        await app.services.backups.refresh()
        assert "ALERTS 1" in status(app) and len(app.screen.table.shown_texts()) == 1


async def test_v_verifies_a_point_and_says_qemu_img_could_not_run_there(demo_settings):
    """The demo host is libvirt's test driver: no machine to run qemu-img on, so the check
    is skipped, said so, and every block is still read (the point's file is a volume of the
    demo's pool: the guest's own disk)."""
    async with started(demo_settings, SIZE) as (app, pilot):
        guest = _guest(app, GuestState.RUNNING)
        await _seed(app, guest, 1, "full", f"/var/lib/libvirt/images/{guest.name}.qcow2")
        await pilot.press("colon", *keys("backups"), "enter")
        await wait_for(pilot, lambda: len(app.screen.table.visible_rows()) == 1, what="rows")
        app.clear_notifications()
        await pilot.press("v")
        await wait_for(pilot, lambda: notifications(app), what="the answer")
        assert notifications(app) == [
            f"{guest.name} backup {app.services.backups.points()[0].name}: qemu-img check "
            f"skipped: no shell on {guest.host}; every block of 1 disk read back through "
            "its chain"
        ]
        assert app.services.backups.points()[0].verified is not None
        # A point whose file is gone: one line naming the guest, the host and the file.
        other = [g for g in app.fleet.snapshot().guests if g.state is GuestState.RUNNING][1]
        gone = await _seed(app, other, 2, "full")
        (said,) = await _line(pilot, f"backup-verify {other.ref} {gone.name}")
        assert said.startswith(
            f"backup-verify {other.name} {gone.name} on {other.host}: reading "
            f"{gone.files[0].path}: "
        )


async def test_block_jobs_the_test_driver_lacks_are_one_line_each(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        g = _guest(app, GuestState.RUNNING)
        for line, answer in (
            (
                f"blockpull {g.ref} vda",
                "not supported by the connection driver: virDomainBlockPull",
            ),
            (f"blockcopy {g.ref} vda --dest /x.qcow2", "virDomainBlockCopy"),
            (f"blockcopy {g.ref} vda", "say where to: --dest PATH or --pool POOL"),
            (f"blockjob {g.ref} vda --pivot", "no copy or active commit of that disk runs here"),
            (f"blockresize {g.ref} vda ten", "'ten' is not a size"),
        ):
            (said,) = await _line(pilot, line)
            assert answer in said
        assert app.services.blockjobs.jobs() == []


async def test_a_disk_past_its_fill_mark_shows_on_the_guests_row(demo_settings):
    """libvirt's test driver sets no thresholds: the event a QEMU host sends is given as
    it would come (the lab test has the real one)."""
    async with started(demo_settings, SIZE) as (app, pilot):
        g = _guest(app, GuestState.RUNNING)
        await select(pilot, g.ref)
        app.services.thresholds.on_event(
            DomainEvent(
                g.host,
                g.uuid,
                g.name,
                "block-threshold",
                params=("vda[3]", "/pool/x.qcow2", 1 << 30, 4096),
            )
        )
        table = app.screen.table

        def row_text() -> str:
            return next(
                table.render_line(y).text
                for y in range(table.size.height)
                if g.name in table.render_line(y).text
            )

        await wait_for(pilot, lambda: "vda>85%" in row_text(), what="the row's mark")
