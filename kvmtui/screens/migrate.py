"""Migrating guests: the dialog that starts it and the screen that watches and steers it.

The progress screen reads frozen JobSnapshots from the core's MigrationManager a few times a
second; leaving it (Esc) leaves the migration running, and the jobs view (key 3) finds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import (
    Button,
    Checkbox,
    Footer,
    Input,
    Label,
    ProgressBar,
    RadioButton,
    RadioSet,
    Static,
)

from kvmtui import format as fmt
from kvmtui.core.host import HostError
from kvmtui.core.migration import (
    JobSnapshot,
    JobState,
    MigrationOptions,
    MigrationProgress,
    default_migrate_uri,
    migrations,
)
from kvmtui.core.model import GuestSnapshot
from kvmtui.screens.closing import ClosesOnce
from kvmtui.widgets.pairs import pairs_table

if TYPE_CHECKING:
    from kvmtui.app import KvmTuiApp

REFRESH = 0.25

#: (field of MigrationOptions, checkbox label), in the dialog's two columns.
_CHECKBOXES = (
    ("live", "live"), ("p2p", "p2p"),
    ("persistent", "persistent"), ("tunnelled", "tunnelled"),
    ("undefinesource", "undefinesource"), ("auto_converge", "auto-converge"),
    ("offline", "offline"), ("compressed", "compressed"),
    ("unsafe", "unsafe"), ("postcopy", "postcopy"),
)  # fmt: skip

_OUTCOME_STYLE = {JobState.SUCCEEDED: "bold green", JobState.FAILED: "bold red",
                  JobState.ABORTED: "bold yellow", JobState.RUNNING: "bold cyan",
                  JobState.QUEUED: "yellow"}


# ---- words for the figures ------------------------------------------------------------------


def rate(bps: float | None) -> str:
    return fmt.DASH if bps is None else f"{fmt.size(bps)}/s"


def percent_text(progress: MigrationProgress | None) -> str:
    value = progress.percent if progress else None
    return fmt.DASH if value is None else f"{value:.0f}%"


def state_text(job: JobSnapshot) -> Text:
    label = job.state.value
    if job.state is JobState.RUNNING and job.postcopy:
        label = "running (post-copy)"
    elif job.stalled:
        label = "running, NOT CONVERGING"
    return Text(label, style=_OUTCOME_STYLE[job.state])


def progress_summary(progress: MigrationProgress) -> str:
    """One line, for `:domjobinfo` on a job kvmtui did not start."""
    return (f"{percent_text(progress)} of {fmt.size(progress.data_total)}, "
            f"{fmt.size(progress.data_remaining)} left at {rate(progress.throughput_bps)}, "
            f"iteration {progress.iteration or fmt.DASH}, "
            f"elapsed {fmt.duration(progress.elapsed)}")


def figure_rows(job: JobSnapshot) -> list[tuple[str, str | Text]]:
    p = job.figures or MigrationProgress()
    final = job.final is not None
    rows: list[tuple[str, str | Text]] = [
        ("State", state_text(job)),
        # Done is by what remains: zero pages are skipped and dirtied pages re-sent, so
        # bytes sent and the guest's size need not add up.
        ("Data", f"{percent_text(p)} of {fmt.size(p.data_total)} done, "
                 f"{fmt.size(p.data_processed)} sent"),
        ("Remaining", fmt.size(p.data_remaining)),
        ("Throughput", rate(p.throughput_bps)),
        ("Dirty rate", rate(p.dirty_rate_bps)),
        ("Iteration", str(p.iteration) if p.iteration is not None else fmt.DASH),
        ("Elapsed", fmt.duration(p.elapsed if p.elapsed is not None else job.elapsed)),
    ]
    if not job.state.finished:
        rows.append(("ETA", fmt.duration(p.eta) if p.eta is not None else
                     ("never at this rate" if job.stalled else fmt.DASH)))
    label = "Downtime" if final else "Expected downtime"
    rows.append((label, f"{p.downtime_ms} ms" if p.downtime_ms is not None else fmt.DASH))
    if p.setup_ms is not None:
        rows.append(("Setup time", f"{p.setup_ms} ms"))
    rows.append(("Options", job.options.describe() or fmt.DASH))
    rows.append(("Samples", f"{job.samples}" + (" (final figures from libvirt)" if final else "")))
    return rows


# ---- entry points -------------------------------------------------------------------------


def open_migration(app: KvmTuiApp, guests: list[GuestSnapshot]) -> None:
    """`m` on the guest list: ask where and how, then start one job per guest."""
    controller = app.controller
    if not guests:
        controller.error("migrate: no guest selected")
        return
    if controller.refuse_if_readonly("migrate", guests):
        return
    sources = sorted({g.host for g in guests})
    destinations = migrations(app.fleet).destinations(sources)
    if not destinations:
        controller.error(f"migrate: no other connected host to migrate to "
                         f"(from {', '.join(sources)})")
        return
    uris = {name: app.fleet.host(name).spec.uri for name in destinations}

    def start(answer: tuple[str, MigrationOptions] | None) -> None:
        if answer is not None:
            _start_jobs(app, guests, *answer)

    app.push_screen(MigrateDialog(guests, destinations, uris), start)


def _start_jobs(app: KvmTuiApp, guests: list[GuestSnapshot], dest: str,
                options: MigrationOptions) -> None:
    manager = migrations(app.fleet)
    started: list[JobSnapshot] = []
    for guest in guests:
        try:
            started.append(manager.start(guest, dest, options))
        except HostError as error:
            app.controller.error(str(error))
    if len(started) == 1:
        app.controller.ok(f"migrating {started[0].guest} to {dest}")
        open_progress(app, started[0].id)
    elif started:
        app.controller.ok(f"migrating {len(started)} guests to {dest}, "
                          f"{manager.concurrency} at a time")
        app.show_view("jobs")


def open_progress(app: KvmTuiApp, job_id: int) -> None:
    app.push_screen(MigrationProgressScreen(job_id))


# ---- the dialog ---------------------------------------------------------------------------


class MigrateDialog(ModalScreen[tuple[str, MigrationOptions] | None],
                    ClosesOnce[tuple[str, MigrationOptions] | None]):
    """Destination and virsh's options, defaults ticked; Enter in a field or on Migrate
    starts, Esc cancels."""

    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, guests: list[GuestSnapshot], destinations: list[str],
                 uris: dict[str, str]) -> None:
        super().__init__()
        self.guests = guests
        self.destinations = destinations
        self.uris = uris

    def compose(self) -> ComposeResult:
        defaults = MigrationOptions()
        if len(self.guests) == 1:
            what = f"{self.guests[0].name} (on {self.guests[0].host})"
        else:
            what = f"{len(self.guests)} guests"
        with Vertical(id="migrate-dialog"):
            yield Static(f"Migrate {what} to:", id="migrate-title", markup=False)
            with RadioSet(id="migrate-dest"):
                for index, name in enumerate(self.destinations):
                    yield RadioButton(name, value=index == 0, id=f"dest-{name}")
            with Grid(id="migrate-options"):
                for name, label in _CHECKBOXES:
                    yield Checkbox(label, getattr(defaults, name), id=f"opt-{name}")
            with Horizontal(classes="migrate-field"):
                yield Label("Bandwidth MiB/s")
                yield Input(placeholder="no cap", type="integer", id="migrate-bandwidth")
            with Horizontal(classes="migrate-field"):
                yield Label("Migrate URI")
                yield Input(placeholder=self._uri_hint(self.destinations[0]),
                            id="migrate-uri")
            with Horizontal(id="migrate-buttons"):
                yield Button("Cancel", id="migrate-cancel")
                yield Button("Migrate", id="migrate-go", variant="primary")

    def on_mount(self) -> None:
        self.query_one(RadioSet).focus()

    def _uri_hint(self, dest: str) -> str:
        return default_migrate_uri(self.uris.get(dest, "")) or "libvirt's default"

    @property
    def destination(self) -> str:
        pressed = self.query_one(RadioSet).pressed_button
        return str(pressed.label) if pressed else self.destinations[0]

    def on_radio_set_changed(self, _event: RadioSet.Changed) -> None:
        self.query_one("#migrate-uri", Input).placeholder = self._uri_hint(self.destination)

    def options(self) -> MigrationOptions:
        ticked = {name: self.query_one(f"#opt-{name}", Checkbox).value for name, _ in _CHECKBOXES}
        bandwidth = self.query_one("#migrate-bandwidth", Input).value.strip()
        uri = self.query_one("#migrate-uri", Input).value.strip()
        return MigrationOptions(**ticked, bandwidth_mib=int(bandwidth or 0), migrate_uri=uri)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "migrate-go":
            self.dismiss((self.destination, self.options()))
        else:
            self.dismiss(None)

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.dismiss((self.destination, self.options()))

    def action_cancel(self) -> None:
        self.dismiss(None)


class AskNumberScreen(ModalScreen[int | None], ClosesOnce[int | None]):
    """One whole number (a bandwidth, a downtime); Esc or an empty line cancels."""

    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-number"):
            yield Static(self.question, markup=False)
            yield Input(type="integer", id="ask-number-value")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        self.dismiss(int(text) if text.isdigit() else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


# ---- the progress screen ------------------------------------------------------------------


class MigrationProgressScreen(Screen[None]):
    """One migration, live: bar, figures, a warning with remedies when it does not converge,
    the outcome when it ends. Esc leaves it running."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "app.pop_screen", "Back (keeps running)"),
        Binding("a", "abort", "Abort"),
        Binding("s", "set_speed", "Max speed"),
        Binding("d", "set_downtime", "Max downtime"),
        Binding("p", "postcopy", "Post-copy"),
    ]
    _STEERING: ClassVar[set[str]] = {"abort", "set_speed", "set_downtime", "postcopy"}

    app: KvmTuiApp

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id
        self._finished = False

    @property
    def job(self) -> JobSnapshot:
        return migrations(self.app.fleet).job(self.job_id)

    def compose(self) -> ComposeResult:
        yield Static(id="migration-title")
        yield ProgressBar(total=100, show_eta=False, id="migration-bar")
        yield Static(id="migration-figures")
        yield Static(id="migration-advice")
        yield Static(id="migration-outcome")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_job()
        self.set_interval(REFRESH, self.refresh_job)

    def refresh_job(self) -> None:
        job = self.job
        self.query_one("#migration-title", Static).update(Text(
            f" Migration #{job.id}: {job.guest}  {job.source} -> {job.dest} ",
            style="bold reverse"))
        percent = (job.figures.percent if job.figures else None)
        bar = self.query_one(ProgressBar)
        if job.state is JobState.SUCCEEDED:
            bar.update(total=100, progress=100)
        elif percent is not None:
            bar.update(total=100, progress=percent)
        self.query_one("#migration-figures", Static).update(pairs_table(figure_rows(job)))
        advice = self.query_one("#migration-advice", Static)
        advice.display = job.stalled
        if job.stalled:
            advice.update(Text(
                "Not converging: the guest dirties memory as fast as the link sends it.\n"
                "Remedies: " + "; ".join(job.options.remedies()), style="bold yellow"))
        outcome = self.query_one("#migration-outcome", Static)
        outcome.display = bool(job.message)
        outcome.update(Text(job.message, style=_OUTCOME_STYLE[job.state]))
        if job.state.finished and not self._finished:
            self._finished = True
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in self._STEERING:
            return True
        if self.app.readonly:
            return False
        return None if self._finished else True

    # ---- steering -----------------------------------------------------------------------

    @work(group="migration")
    async def action_abort(self) -> None:
        job = self.job
        if await self.app.controller.confirm(
                f"Abort the migration of {job.guest}?",
                f"{job.source} -> {job.dest}: the guest stays running on {job.source}.",
                "Abort"):
            await self._steer(migrations(self.app.fleet).abort(job.source, job.uuid))

    @work(group="migration")
    async def action_set_speed(self) -> None:
        value = await self.app.push_screen_wait(
            AskNumberScreen("Maximum migration bandwidth, MiB/s:"))
        if value is not None:
            job = self.job
            await self._steer(migrations(self.app.fleet).set_speed(job.source, job.uuid, value))

    @work(group="migration")
    async def action_set_downtime(self) -> None:
        value = await self.app.push_screen_wait(
            AskNumberScreen("Maximum tolerable downtime, ms:"))
        if value is not None:
            job = self.job
            await self._steer(
                migrations(self.app.fleet).set_max_downtime(job.source, job.uuid, value))

    @work(group="migration")
    async def action_postcopy(self) -> None:
        job = self.job
        await self._steer(migrations(self.app.fleet).start_postcopy(job.source, job.uuid))

    async def _steer(self, call: object) -> None:
        try:
            self.app.controller.ok(await call)  # type: ignore[misc]
        except HostError as error:
            self.app.controller.error(str(error))
