"""The migration dialog, progress screen and jobs view driven by keys on the demo fleet.

libvirt's test driver cannot migrate, so the job fails: which is what must be shown clearly,
with the guest still running on its source.
"""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Input, RadioSet, Static

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.foresight import DirtyRate
from kvmtui.core.migration import FLAG_WORDS
from kvmtui.core.model import GuestSnapshot, GuestState
from kvmtui.screens import migrate_dialog
from kvmtui.screens.jobs import JobsScreen
from kvmtui.screens.migrate_dialog import AskNumberScreen, MigrateDialog
from kvmtui.screens.migration_progress import MigrationProgressScreen
from tests.ui.helpers import (
    keys,
    notifications,
    screen_text,
    select,
    started,
    text_of,
    wait_for,
)

SIZE = (80, 24)


def _running_guest(app: KvmTuiApp):
    return next(
        g
        for g in app.fleet.snapshot().guests
        if g.state is GuestState.RUNNING and g.host == "kvm01"
    )


async def _dialog_for_running_guest(app: KvmTuiApp, pilot: Pilot) -> GuestSnapshot:
    """The dialog opened as an operator opens it, `m` on a selected guest, not by a call:
    the key binding and the selection are part of what is tested."""
    guest = _running_guest(app)
    await select(pilot, guest.ref)
    await pilot.press("m")
    await wait_for(pilot, lambda: isinstance(app.screen, MigrateDialog), what="the dialog")
    return guest


async def test_dialog_offers_other_hosts_with_virsh_defaults(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await _dialog_for_running_guest(app, pilot)
        dialog = app.screen
        offered = [str(b.label) for b in dialog.query_one(RadioSet).query("RadioButton")]
        assert offered == ["kvm02", "kvm03"]  # connected hosts, never the source
        # One check box per flag of the one definition the `:migrate` grammar uses too.
        assert {str(c.label) for c in dialog.query(Checkbox)} == FLAG_WORDS
        ticked = {str(c.label) for c in dialog.query(Checkbox) if c.value}
        assert ticked == set()  # virsh migrate's own defaults, and said so
        assert "Ticked first: virsh migrate's defaults, none" in screen_text(app)
        # The mark itself says on or off, not its colour alone (monochrome terminals).
        marks = {str(c.label): c.render().plain[1] for c in dialog.query(Checkbox)}
        assert marks == {word: "X" if word in ticked else " " for word in FLAG_WORDS}
        assert [b.render().plain[1] for b in dialog.query("RadioButton")] == ["●", " "]
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
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, MigrationProgressScreen),
            what="the progress screen",
        )
        await wait_for(pilot, lambda: "migration failed" in screen_text(app), what="the outcome")
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
        await wait_for(
            pilot, lambda: any("nowhere" in n for n in notifications(app)), what="the refusal"
        )
        for line, refusal in [
            (
                f"migrate {guest.ref} kvm02 --bandwidth 99999999999",
                "migrate: --bandwidth must be a whole number from 0 to 2147483647",
            ),
            (
                f"migrate {guest.ref} kvm02 --bandwidth 2000000",
                "migrate: bandwidth 2000000 MiB/s is outside 0 (no cap) to 1048576",
            ),
            (
                f"migrate-setspeed {guest.ref} 2000000",
                "migrate-setspeed: bandwidth must be 1 to 1048576 MiB/s, not 2000000",
            ),
            (
                f"migrate-setmaxdowntime {guest.ref} 0",
                "migrate-setmaxdowntime: downtime must be 1 to 2000000 ms, not 0",
            ),
        ]:
            await pilot.press("colon", *keys(line), "enter")
            await wait_for(pilot, lambda r=refusal: r in notifications(app), what=refusal)
        assert not app.services.migrations.jobs()
        await pilot.press("colon", *keys(f"migrate {guest.ref} kvm02 --bandwidth 5"), "enter")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, MigrationProgressScreen),
            what="the progress screen",
        )
        # Where the forecast would be, one line: the demo's driver cannot measure.
        assert f"{guest.name}: dirty rate: not measurable on kvm01 (this function is not " in (
            " ".join(notifications(app))
        )


async def test_readonly_refuses_migration(demo_hosts):
    settings = Settings(hosts=demo_hosts, readonly=True, refresh=0.5, theme=None, demo=True)
    async with started(settings, SIZE) as (app, pilot):
        guest = _running_guest(app)
        await pilot.press("colon", *keys(f"migrate {guest.ref} kvm02"), "enter")
        await wait_for(
            pilot, lambda: any("read-only" in n for n in notifications(app)), what="the refusal"
        )
        assert not isinstance(app.screen, MigrationProgressScreen)


def _why(app: KvmTuiApp) -> str:
    """Why the open dialog refuses what was typed, as its `#why` line shows it."""
    why = app.screen.query_one("#why", Static)
    return text_of(why).strip() if why.display else ""


async def _type_into(pilot: Pilot, field: Input, text: str) -> None:
    """Empties the field and types `text` as keys; the field keeps what its type allows."""
    field.focus()
    await pilot.press("end", "ctrl+u", *keys(text))


#: What an operator might type by mistake, and why the dialog refuses each: the field's
#: integer type drops letters and markup as they are typed, the range check does the rest.
HOSTILE_BANDWIDTH = [
    ("-", "-"),
    ("1_", "1_"),
    ("0", "0"),
    ("+-", "+"),
    ("9" * 40, "9" * 40),
    ("1048577", "1048577"),
    ("-5", "-5"),
]


async def test_migrate_dialog_refuses_a_bad_bandwidth_and_says_why(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await _dialog_for_running_guest(app, pilot)
        bandwidth = app.screen.query_one("#migrate-bandwidth", Input)
        for typed, kept in HOSTILE_BANDWIDTH:
            await _type_into(pilot, bandwidth, typed)
            assert bandwidth.value == kept
            await pilot.press("enter")
            await pilot.pause()
            assert app.is_running and isinstance(app.screen, MigrateDialog), typed
            assert _why(app) == (
                "Bandwidth: a whole number from 1 to 1048576, or empty for no cap"
            ), typed
            await _type_into(pilot, bandwidth, "25")
            assert _why(app) == ""  # the reason goes as soon as the value is good
        assert not app.services.migrations.jobs()


#: Pasted, not typed: 300 keys would only be slower.
HOSTILE_URIS = ["[bold]x[/bold]", "tcp://", "tcp://[::1", "tcp://h:99999", "'\\\"", "é" * 300]


async def test_migrate_dialog_refuses_a_bad_uri_and_says_why(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await _dialog_for_running_guest(app, pilot)
        uri = app.screen.query_one("#migrate-uri", Input)
        uri.focus()
        for typed in HOSTILE_URIS:
            uri.clear()
            uri.insert_text_at_cursor(typed)
            await pilot.press("enter")
            await pilot.pause()
            assert app.is_running and isinstance(app.screen, MigrateDialog), typed
            assert _why(app).startswith("Migrate URI: "), typed
        assert not app.services.migrations.jobs()


async def test_ask_number_refuses_out_of_range_values_and_keeps_asking(demo_settings):
    answers: list[int | None] = []
    async with started(demo_settings, SIZE) as (app, pilot):
        app.push_screen(AskNumberScreen("Maximum tolerable downtime, ms", 1, 2000), answers.append)
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, AskNumberScreen) and bool(app.screen.query(Input)),
            what="the prompt",
        )
        field = app.screen.query_one(Input)
        for typed in ["-", "1_", "0", "2001", "9" * 40, "-7"]:
            await _type_into(pilot, field, typed)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, AskNumberScreen), typed
            assert _why(app) == "Value: a whole number from 1 to 2000", typed
        assert answers == []
        await _type_into(pilot, field, "2000")
        await pilot.press("enter")
        await wait_for(pilot, lambda: answers == [2000], what="the answer")
        assert app.is_running


def _said(app: KvmTuiApp) -> str:
    """The screen's words, however the dialog wraps its lines."""
    return " ".join(screen_text(app).split())


async def test_the_dialog_says_the_demo_cannot_measure_and_still_migrates(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        guest = await _dialog_for_running_guest(app, pilot)
        await wait_for(pilot, lambda: "not measurable on kvm01" in _said(app), what="the forecast")
        assert "Forecast: dirty rate: not measurable on kvm01 (this function is not" in _said(app)
        assert not app.screen.query_one("#migrate-fix").display  # nothing to fix
        app.screen.query_one("#migrate-go", Button).press()
        await wait_for(pilot, lambda: app.services.migrations.jobs(), what="the job")
        [job] = app.services.migrations.jobs()
        assert job.guest == guest.name and job.foresight is not None
        assert job.foresight.problem.startswith("dirty rate: not measurable on kvm01")


async def _measured(monkeypatch, rate_mib: float) -> None:
    """The guests write `rate_mib` MiB/s: what a QEMU host would measure (test:/// cannot)."""

    async def measure(_fleet, guests):
        return {g.key: DirtyRate(rate_mib * 2**20) for g in guests}

    monkeypatch.setattr(migrate_dialog, "measure_guests", measure)


async def test_the_dialog_forecasts_as_the_options_change_and_offers_the_fix(
    demo_settings, monkeypatch
):
    await _measured(monkeypatch, 30)
    async with started(demo_settings, SIZE) as (app, pilot):
        await _dialog_for_running_guest(app, pilot)
        dialog = app.screen
        assert "no forecast: not live" in _said(app)
        dialog.query_one("#opt-live", Checkbox).value = True
        await _type_into(pilot, dialog.query_one("#migrate-bandwidth", Input), "8")
        await wait_for(pilot, lambda: "will not converge at 8 MiB/s" in _said(app), what="no")
        # 30 MiB/s as sampled in one second may be up to 47.5: 1.5 times that is needed.
        assert "dirties 30.0 MiB/s (up to 47.5 MiB/s as sampled); use bandwidth >= 72 MiB/s" in (
            _said(app)
        )
        fix = dialog.query_one("#migrate-fix", Button)
        assert fix.display and str(fix.label) == "Use 72 MiB/s"
        fix.press()
        await wait_for(pilot, lambda: "converges in about" in _said(app), what="yes")
        assert dialog.query_one("#migrate-bandwidth", Input).value == "72"
        assert isinstance(app.screen, MigrateDialog) and not fix.display
        # No cap: the link is the limit, so the fix is auto-converge.
        await pilot.press("escape")
        await _measured(monkeypatch, 300)
        await _dialog_for_running_guest(app, pilot)
        dialog = app.screen
        dialog.query_one("#opt-live", Checkbox).value = True
        fix = dialog.query_one("#migrate-fix", Button)
        await wait_for(pilot, lambda: fix.display, what="the fix")
        assert "(no cap: a 1 Gb/s link assumed)" in _said(app)
        assert str(fix.label) == "Tick auto-converge"
        fix.press()
        await wait_for(pilot, lambda: not fix.display, what="the fix applied")
        assert dialog.query_one("#opt-auto-converge", Checkbox).value
        assert "auto-converge is on" in _said(app)


async def test_the_forecast_stays_beside_what_happened(demo_settings, monkeypatch):
    await _measured(monkeypatch, 30)
    async with started(demo_settings, (120, 30)) as (app, pilot):
        await _dialog_for_running_guest(app, pilot)
        dialog = app.screen
        dialog.query_one("#opt-live", Checkbox).value = True
        await _type_into(pilot, dialog.query_one("#migrate-bandwidth", Input), "60")
        await wait_for(pilot, lambda: "converges in about" in _said(app), what="the forecast")
        foreseen = dialog.foresights[_running_guest(app).key]
        assert foreseen.forecast is not None
        brief = foreseen.forecast.brief()
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, MigrationProgressScreen), what="progress"
        )
        await wait_for(pilot, lambda: "migration failed" in _said(app), what="the outcome")
        assert f"Forecast {foreseen.describe()}" in _said(app)
        await pilot.press("escape", "3")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen), what="jobs view")
        await wait_for(pilot, lambda: app.screen.table.visible_rows(), what="a job row")
        table = app.screen.table
        header, row = table.render_line(0).text, table.render_line(1).text
        assert header.index("Elapsed") < header.index("Downtime") < header.index("Forecast")
        assert brief in row  # e.g. "3 s, 250 ms": what was foreseen, beside what happened
