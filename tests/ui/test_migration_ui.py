"""The migration dialog, progress screen and jobs view driven by keys on the demo fleet.

libvirt's test driver cannot migrate, so the job fails: which is what must be shown clearly,
with the guest still running on its source.
"""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, RadioSet

from kvmtui.app import KvmTuiApp
from kvmtui.cli import Settings
from kvmtui.core.model import GuestSnapshot, GuestState
from kvmtui.screens.jobs import JobsScreen
from kvmtui.screens.migrate_dialog import MigrateDialog
from kvmtui.screens.migration_progress import MigrationProgressScreen
from tests.ui.helpers import keys, notifications, screen_text, select, started, wait_for

SIZE = (80, 24)


def _running_guest(app: KvmTuiApp):
    return next(g for g in app.fleet.snapshot().guests
                if g.state is GuestState.RUNNING and g.host == "kvm01")


async def _dialog_for_running_guest(app: KvmTuiApp, pilot: Pilot) -> GuestSnapshot:
    """The dialog opened as an operator opens it, `m` on a selected guest, not by a call:
    the key binding and the selection are part of what is tested."""
    guest = _running_guest(app)
    await select(pilot, guest.ref)
    await pilot.press("m")
    await wait_for(pilot, lambda: isinstance(app.screen, MigrateDialog), what="the dialog")
    return guest


async def test_dialog_offers_other_hosts_with_sane_defaults(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await _dialog_for_running_guest(app, pilot)
        dialog = app.screen
        offered = [str(b.label) for b in dialog.query_one(RadioSet).query("RadioButton")]
        assert offered == ["kvm02", "kvm03"]  # connected hosts, never the source
        ticked = {c.id for c in dialog.query(Checkbox) if c.value}
        assert ticked == {"opt-live", "opt-persistent", "opt-undefinesource"}
        assert dialog.query_one("#migrate-uri", Input).placeholder == "libvirt's default"
        await pilot.press("escape")
        assert not isinstance(app.screen, MigrateDialog)


async def test_dialog_starts_a_job_whose_failure_is_explained(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        guest = await _dialog_for_running_guest(app, pilot)
        await pilot.press("down", "enter")  # the second destination
        while app.focused is not app.screen.query_one("#migrate-bandwidth"):
            await pilot.press("tab")
        await pilot.press(*keys("15"), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MigrationProgressScreen),
                       what="the progress screen")
        await wait_for(pilot, lambda: "migration failed" in screen_text(app),
                       what="the outcome")
        text = screen_text(app)
        assert f"{guest.name}  kvm01 -> kvm03" in text
        assert f"{guest.name} is still running on kvm01" in text
        assert "bandwidth=15MiB/s" in text
        await pilot.press("escape", "3")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen), what="jobs view")
        await wait_for(pilot, lambda: app.screen.table.visible_rows(), what="a job row")
        [job] = app.screen.table.visible_rows()
        assert job.guest == guest.name and job.state.value == "failed"
        await pilot.press("enter")
        assert isinstance(app.screen, MigrationProgressScreen)


async def test_command_line_migrate_and_unknown_host(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        guest = _running_guest(app)
        await pilot.press("colon", *keys(f"migrate {guest.ref} nowhere --live"), "enter")
        await wait_for(pilot, lambda: any("nowhere" in n for n in notifications(app)),
                       what="the refusal")
        await pilot.press("colon", *keys(f"migrate {guest.ref} kvm02 --bandwidth 5"), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MigrationProgressScreen),
                       what="the progress screen")


async def test_readonly_refuses_migration(demo_hosts):
    settings = Settings(hosts=demo_hosts, readonly=True, refresh=0.5, theme=None, demo=True)
    async with started(settings, SIZE) as (app, pilot):
        guest = _running_guest(app)
        await pilot.press("colon", *keys(f"migrate {guest.ref} kvm02"), "enter")
        await wait_for(pilot, lambda: any("read-only" in n for n in notifications(app)),
                       what="the refusal")
        assert not isinstance(app.screen, MigrationProgressScreen)
