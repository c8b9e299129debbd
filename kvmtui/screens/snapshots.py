"""The snapshots view: every snapshot of every guest (`:snapshots`), or of the guests it was
opened for (`t` on the guest list and on the detail screen, `:snapshot-list NAME`), with
the keys to take, revert to (Ctrl+R: what the guest has now is lost), delete and mark
current.

Its rows come from the fleet's `SnapshotBook`, which reads while the view is on screen (a
resource service: kvmtui.core.resource), and after every change made here. The calls under
way show on the status line with libvirt's figures: a running guest's memory takes minutes
to save under TCG.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, Static

from kvmtui import format as fmt
from kvmtui.core.commands import Command
from kvmtui.core.fleet import FleetSnapshot
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.snapshots import Snapshot, SnapshotJob
from kvmtui.screens.fleet_view import FleetView, sort_bindings
from kvmtui.screens.form import CheckedForm
from kvmtui.widgets.guards import GuardsChanges
from kvmtui.widgets.live_table import Column, LiveTable
from kvmtui.widgets.toggles import TickBox
from kvmtui.widgets.validators import PlainText, SnapshotName

#: Sorts a snapshot without a creation time first.
_EPOCH = datetime.fromtimestamp(0, UTC)


def _created(snap: Snapshot) -> str:
    """Local time, as `virsh snapshot-list` shows it."""
    return snap.created.astimezone().strftime("%Y-%m-%d %H:%M:%S") if snap.created else fmt.DASH


SNAPSHOT_COLUMNS: list[Column[Snapshot]] = [
    # Ties keep the book's order: each guest's oldest first, parents before children.
    Column(
        "guest", "Guest", lambda s: s.guest, lambda s: (s.guest.lower(), s.host), "N", max_width=24
    ),
    Column("host", "Host", lambda s: s.host, lambda s: s.host, "H", max_width=16),
    Column("name", "Snapshot", lambda s: s.name, lambda s: s.name.lower(), "S", max_width=24),
    Column("created", "Created", _created, lambda s: s.created or _EPOCH, "T"),
    Column("state", "State", lambda s: s.state, lambda s: s.state, None),
    Column(
        "current", "Current", lambda s: "yes" if s.current else "", lambda s: not s.current, "C"
    ),
    Column(
        "parent",
        "Parent",
        lambda s: s.parent or fmt.DASH,
        lambda s: s.parent or "",
        None,
        max_width=20,
    ),
    Column("kind", "Kind", lambda s: s.kind, lambda s: s.kind, "K"),
    Column(
        "description",
        "Description",
        lambda s: s.description,
        lambda s: s.description,
        None,
        max_width=40,
    ),
]


def snapshot_table() -> LiveTable[Snapshot]:
    return LiveTable(
        SNAPSHOT_COLUMNS,
        lambda s: s.key,
        lambda s: f"{s.guest} {s.host} {s.name} {s.state} {s.kind} {s.description}",
        sort_column="guest",
        id="snapshots",
    )


def job_text(job: SnapshotJob) -> str:
    """`web@kvm1 taking pre-patch 42% of 1.0 GiB, 12 s`: what a call under way has done,
    when libvirt says, and for how long it has run."""
    percent = job.percent
    done = f" {percent:.0f}% of {fmt.size(job.total)}," if percent is not None else ""
    return f"{job.guest} {job.what}{done} {job.elapsed:.0f} s"


@dataclass(frozen=True)
class SnapshotRequest:
    """What the snapshot dialog asks for: `snapshot-create-as`'s options."""

    name: str | None
    description: str
    disk_only: bool
    atomic: bool


class SnapshotDialog(CheckedForm[SnapshotRequest]):
    """Name, description, `--disk-only`, `--atomic`; for several guests one name for all.
    Enter in a field or on Take takes it (once every field is valid), Esc cancels."""

    SUBMIT = "snapshot-take"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="snapshot_dialog.cancel")
    ]

    def __init__(self, guests: Sequence[GuestSnapshot]) -> None:
        super().__init__()
        self.guests = guests

    def compose(self) -> ComposeResult:
        single = len(self.guests) == 1
        if single:
            title = f"Snapshot {self.guests[0].name} (on {self.guests[0].host})"
        else:
            hosts = fmt.plural(len({g.host for g in self.guests}), "host")
            title = f"Snapshot {len(self.guests)} guests on {hosts}, one name for all"
        with Vertical(id="snapshot-dialog"):
            yield Static(Text(title), id="snapshot-title")
            with Horizontal(classes="migrate-field"):
                yield Label("Name")
                yield Input(
                    placeholder="libvirt picks one" if single else "e.g. pre-patch",
                    id="snapshot-name",
                    name="Name",
                    valid_empty=False,
                    validators=[SnapshotName(may_be_empty=single)],
                )
            with Horizontal(classes="migrate-field"):
                yield Label("Description")
                yield Input(id="snapshot-description", name="Description", validators=[PlainText()])
            with Horizontal(id="snapshot-options"):
                yield TickBox("disk only (external)", id="snapshot-disk-only")
                yield TickBox("atomic", id="snapshot-atomic")
            yield Static(id="why")
            with Horizontal(id="migrate-buttons"):
                yield Button("Cancel", id="snapshot-cancel")
                yield Button("Take", id="snapshot-take", variant="primary")

    def on_mount(self) -> None:
        # Keys typed ahead may have closed the dialog before it mounted: then nothing is here.
        for why in self.query("#why"):
            why.display = False
        for name in self.query("#snapshot-name"):
            name.focus()

    def submit(self) -> None:
        if self.show_why():
            name = self.query_one("#snapshot-name", Input).value
            self.dismiss(
                SnapshotRequest(
                    name or None,
                    self.query_one("#snapshot-description", Input).value,
                    self.query_one("#snapshot-disk-only", Checkbox).value,
                    self.query_one("#snapshot-atomic", Checkbox).value,
                )
            )


class SnapshotsScreen(GuardsChanges, FleetView):
    """See the module docstring. Its scope is some guests: their snapshots, and `n` takes
    theirs."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "take", "New snapshot", id="snapshots.take"),
        # Not r: elsewhere r reads again; reverting loses what the guest has now.
        Binding("ctrl+r", "revert", "Revert", id="snapshots.revert"),
        Binding("ctrl+d", "delete", "Delete", id="snapshots.delete"),
        Binding("c", "make_current", "Make current", id="snapshots.current"),
        *sort_bindings("snapshots", SNAPSHOT_COLUMNS),
    ]
    MUTATING = MappingProxyType(
        {
            "take": "snapshot-create-as",
            "revert": "snapshot-revert",
            "delete": "snapshot-delete",
            "make_current": "snapshot-current",
        }
    )

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(1.0, self._show_jobs)

    def _show_jobs(self) -> None:
        """The seconds of the calls under way move on between the book's notices."""
        if self.is_current and self.app.services.snapshots.jobs():
            self._update("#status", self.status_line(self.app.fleet.snapshot()))

    # ---- what it shows ------------------------------------------------------------------

    def scope_keys(self, row: Snapshot) -> tuple[str, ...]:
        """A scope limits the view to some guests' snapshots."""
        return (row.guest_key,)

    def status_line(self, snapshot: FleetSnapshot) -> Text:
        line = super().status_line(snapshot)
        book = self.app.services.snapshots
        for job in book.jobs():
            line.append(f"   {job_text(job)}", style="bold yellow")
        return line

    # ---- keys ---------------------------------------------------------------------------

    def _guest_of(self, snap: Snapshot) -> GuestSnapshot | None:
        return self.app.fleet.find_guest(snap.guest_key)

    def _target_guests(self) -> list[GuestSnapshot]:
        """Whose snapshot `n` takes: the guests of the scope, else those of the marked
        rows, else that of the row under the cursor; as the fleet knows them now."""
        keys = sorted(self.scope.keys if self.scope else ()) or list(
            dict.fromkeys(
                s.guest_key
                for s in self.table.marked_rows()
                or ([self.table.current] if self.table.current else [])
            )
        )
        fresh = (self.app.fleet.find_guest(key) for key in keys)
        return [g for g in fresh if g is not None]

    def _current(self) -> tuple[Snapshot, GuestSnapshot] | None:
        snap = self.table.current
        guest = self._guest_of(snap) if snap is not None else None
        if snap is None or guest is None:
            return None
        return snap, guest

    def change_targets(self, action: str) -> tuple[Sequence[GuestSnapshot], Sequence[str]]:
        """The guests `n` takes a snapshot of; the others act on the row's guest."""
        if action == "take":
            return self._target_guests(), ()
        chosen = self._current()
        return ([chosen[1]] if chosen else []), ()

    def _submit(self, verb: str, snap: Snapshot, guest: GuestSnapshot) -> None:
        """`:verb GUEST SNAPSHOT` for the row under the cursor, as typed."""
        self.app.controller.submit(Command(verb, (guest.ref, snap.name)))

    def action_take(self) -> None:
        guests = self._target_guests()
        if not guests:
            self.app.controller.operator.error("snapshot: no guest selected")
            return

        def taken(request: SnapshotRequest | None) -> None:
            if request is None:
                return
            options: dict[str, str | bool] = {
                "disk-only": request.disk_only,
                "atomic": request.atomic,
            }
            if request.name is not None:
                options["name"] = request.name
            if request.description:
                options["description"] = request.description
            self.app.controller.submit(
                Command(
                    "snapshot-create-as",
                    tuple(g.ref for g in guests),
                    {key: value for key, value in options.items() if value},
                )
            )

        self.app.push_screen(SnapshotDialog(guests), taken)

    def action_revert(self) -> None:
        chosen = self._current()
        if chosen is not None:
            self._submit("snapshot-revert", *chosen)

    def action_delete(self) -> None:
        chosen = self._current()
        if chosen is not None:
            self._submit("snapshot-delete", *chosen)

    def action_make_current(self) -> None:
        chosen = self._current()
        if chosen is not None:
            self._submit("snapshot-current", *chosen)

    def on_live_table_row_selected(self, _event: Any) -> None:
        """Enter: the guest's detail, as on the guest list."""
        chosen = self._current()
        if chosen is not None:
            self.app.open_detail(chosen[1])
