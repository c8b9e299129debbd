"""One migration, live, and how migrations are started from the keys and the `:` line.

The screen repaints when the app's MigrationManager says a job changed (a reading, a
steering call, the outcome), never on a timer. Leaving it (Esc) leaves the migration
running; the jobs view (key 3) finds it again. Starting and steering go through the
controller's one mutation path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static

from kvmtui.controller import Question
from kvmtui.core.foresight import Foresight
from kvmtui.core.host import HostError
from kvmtui.core.migration import (
    MAX_BANDWIDTH_MIB,
    MAX_DOWNTIME_MS,
    JobSnapshot,
    MigrationOptions,
)
from kvmtui.core.model import GuestSnapshot
from kvmtui.screens.migrate_dialog import AskNumberScreen, MigrateAnswer, MigrateDialog
from kvmtui.widgets.footer import KeysFooter
from kvmtui.widgets.migration import (
    OUTCOME_STYLE,
    MigrationGraphs,
    bar_text,
    figure_rows,
)
from kvmtui.widgets.pairs import pairs_table

if TYPE_CHECKING:
    from kvmtui.app import KvmTuiApp


def open_migration(app: KvmTuiApp, guests: list[GuestSnapshot]) -> None:
    """`m` on the guest list: ask where and how, then start one job per guest."""
    controller = app.controller
    if not guests:
        controller.operator.error("migrate: no guest selected")
        return
    if controller.refused("migrate", guests):
        return
    sources = sorted({g.host for g in guests})
    destinations = app.services.migrations.destinations(sources)
    if not destinations:
        controller.operator.error(
            f"migrate: no other connected host to migrate to (from {', '.join(sources)})"
        )
        return
    uris = {name: app.fleet.host(name).spec.uri for name in destinations}

    def start(answer: MigrateAnswer | None) -> None:
        if answer is not None:
            app.run_worker(start_migrations(app, guests, *answer), group="migration")

    app.push_screen(MigrateDialog(guests, destinations, uris, app.settings.migrate_flags), start)


async def start_migrations(
    app: KvmTuiApp,
    guests: Sequence[GuestSnapshot],
    dest: str,
    options: MigrationOptions,
    foresights: Mapping[str, Foresight],
) -> None:
    """Queues one job per guest through the controller, each with its forecast (by
    `guest.key`), then shows the one job's progress, or the jobs view for several. A guest
    that cannot go is reported by name; the others still go."""
    manager = app.services.migrations
    started: list[JobSnapshot] = []

    async def start() -> str:
        refused: list[str] = []
        for guest in guests:
            try:
                started.append(manager.start(guest, dest, options, foresights.get(guest.key)))
            except HostError as error:
                refused.append(str(error))
        if not started:
            raise HostError("; ".join(refused))
        for reason in refused:
            app.controller.operator.error(reason)
        if len(started) == 1:
            job = started[0]
            return f"migrating {job.guest} from {job.source} to {dest}"
        return f"migrating {len(started)} guests to {dest}, {manager.concurrency} at a time"

    if not await app.controller.change("migrate", start, guests=guests, hosts=[dest]):
        return
    if len(started) == 1:
        open_progress(app, started[0].id)
    else:
        app.show_view("jobs")


def open_progress(app: KvmTuiApp, job_id: int) -> None:
    app.push_screen(MigrationProgressScreen(job_id))


class MigrationProgressScreen(Screen[None]):
    """One migration, live: bar, figures, graphs of throughput, dirty rate and remaining
    data with a mark per memory pass, a warning with remedies when it does not converge,
    the outcome when it ends. Esc leaves it running."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back (keeps running)", id="progress.back"),
        Binding("a", "abort", "Abort", id="progress.abort"),
        Binding("s", "set_speed", "Max speed", id="progress.speed"),
        Binding("d", "set_downtime", "Max downtime", id="progress.downtime"),
        Binding("p", "postcopy", "Post-copy", id="progress.postcopy"),
    ]
    _STEERING: ClassVar[set[str]] = {"abort", "set_speed", "set_downtime", "postcopy"}

    app: KvmTuiApp

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id
        self._finished = False

    @property
    def job(self) -> JobSnapshot:
        return self.app.services.migrations.job(self.job_id)

    def compose(self) -> ComposeResult:
        yield Static(id="migration-title")
        yield Static(id="migration-bar")
        yield Static(id="migration-figures")
        yield MigrationGraphs(id="migration-graphs")
        yield Static(id="migration-advice")
        yield Static(id="migration-outcome")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.app.services.migrations.add_listener(self.refresh_job)
        self.refresh_job()

    def on_unmount(self) -> None:
        self.app.services.migrations.remove_listener(self.refresh_job)

    def refresh_job(self) -> None:
        job = self.job
        ended = f": {job.state.value}" if job.state.finished else ""
        self.query_one("#migration-title", Static).update(
            Text(
                f" Migration #{job.id}: {job.guest}  {job.source} -> {job.dest}{ended} ",
                style="bold reverse",
            )
        )
        self.query_one("#migration-bar", Static).update(bar_text(job, max(10, self.size.width - 8)))
        self.query_one("#migration-figures", Static).update(pairs_table(figure_rows(job)))
        self.query_one(MigrationGraphs).show(job)
        advice = self.query_one("#migration-advice", Static)
        advice.display = job.stalled
        if job.stalled:
            advice.update(
                Text(
                    "Not converging: the guest dirties memory as fast as the link sends it.\n"
                    "Remedies: " + "; ".join(job.options.remedies()),
                    style="bold yellow",
                )
            )
        outcome = self.query_one("#migration-outcome", Static)
        outcome.display = bool(job.message)
        outcome.update(Text(job.message, style=OUTCOME_STYLE[job.state]))
        if job.state.finished and not self._finished:
            self._finished = True
            self.refresh_bindings()

    def on_resize(self) -> None:
        self.refresh_job()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Steering keys only while there is a job to steer: once it ended (done, failed,
        aborted) they are gone from the footer, not greyed out, and the outcome says why."""
        if action not in self._STEERING:
            return True
        return not self._finished and self.app.controller.may_change(hosts=[self.job.source])

    # ---- steering, each through the controller -------------------------------------------

    @work(group="migration")
    async def action_abort(self) -> None:
        job = self.job
        manager = self.app.services.migrations
        await self.app.controller.change(
            "domjobabort",
            lambda: manager.abort(job.source, job.uuid),
            hosts=[job.source],
            question=Question(
                f"Abort the migration of {job.guest}?",
                f"{job.source} -> {job.dest}: the guest stays running on {job.source}.",
                "Abort",
            ),
        )

    @work(group="migration")
    async def action_set_speed(self) -> None:
        value = await self.app.push_screen_wait(
            AskNumberScreen("Maximum migration bandwidth, MiB/s", 1, MAX_BANDWIDTH_MIB)
        )
        if value is not None:
            job = self.job
            manager = self.app.services.migrations
            await self.app.controller.change(
                "migrate-setspeed",
                lambda: manager.set_speed(job.source, job.uuid, value),
                hosts=[job.source],
            )

    @work(group="migration")
    async def action_set_downtime(self) -> None:
        value = await self.app.push_screen_wait(
            AskNumberScreen("Maximum tolerable downtime, ms", 1, MAX_DOWNTIME_MS)
        )
        if value is not None:
            job = self.job
            manager = self.app.services.migrations
            await self.app.controller.change(
                "migrate-setmaxdowntime",
                lambda: manager.set_max_downtime(job.source, job.uuid, value),
                hosts=[job.source],
            )

    @work(group="migration")
    async def action_postcopy(self) -> None:
        job = self.job
        manager = self.app.services.migrations
        await self.app.controller.change(
            "migrate-postcopy",
            lambda: manager.start_postcopy(job.source, job.uuid),
            hosts=[job.source],
        )
