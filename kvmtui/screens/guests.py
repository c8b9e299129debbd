"""Every guest of every host in one table, with the lifecycle actions on single keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.binding import Binding, BindingType

from kvmtui.core import actions
from kvmtui.core.commands import Command, listed
from kvmtui.core.errors import HostError
from kvmtui.core.fleet import FleetSnapshot
from kvmtui.core.model import GuestSnapshot
from kvmtui.screens.fleet_view import FleetView, sort_bindings
from kvmtui.widgets.fleet_tables import GUEST_COLUMNS

if TYPE_CHECKING:
    from kvmtui.views import View

#: key, verb: one place, so the help screen, the footer and the palette agree.
ACTION_KEYS: tuple[tuple[str, str], ...] = (
    ("s", "start"),
    ("h", "shutdown"),
    ("b", "reboot"),
    ("p", "suspend"),
    ("u", "resume"),
    ("w", "managedsave"),
    ("a", "autostart"),
    ("ctrl+e", "reset"),
    ("ctrl+k", "destroy"),
    ("ctrl+d", "undefine"),
)


#: Lifecycle keys with an action of their own: autostart toggles, undefine asks which
#: volumes go too (for one guest).
_KEY_ACTIONS = {"autostart": "toggle_autostart", "undefine": "undefine"}


class GuestsScreen(FleetView):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "detail", "Detail", id="guests.detail"),
        Binding("m", "migrate", "Migrate", id="guests.migrate"),
        Binding("c", "console", "Console", id="guests.console"),
        Binding("v", "display", "Graphical console", show=False, id="guests.display"),
        Binding("y", "clone", "Clone", show=False, id="guests.clone"),
        Binding("t", "snapshots", "Snapshots", show=False, id="guests.snapshots"),
        Binding("e", "edit", "Edit XML", show=False, id="guests.edit"),
        *[
            Binding(key, _KEY_ACTIONS.get(verb, f"act('{verb}')"),
                    actions.ACTIONS[verb].label,
                    show=verb in {"start", "shutdown", "destroy"}, id=f"guests.{verb}")
            for key, verb in ACTION_KEYS
        ],
        *sort_bindings("guests", GUEST_COLUMNS),
    ]

    def __init__(self, view: View) -> None:
        super().__init__(view)
        self.host_filter = ""
        #: `:list`'s narrowing (kvmtui.core.commands.listed); the table opens on every guest.
        self.which = "all"

    def fill_table(self, snapshot: FleetSnapshot) -> None:
        guests: Sequence[GuestSnapshot] = self.view.read(self.app.services, snapshot)
        if self.host_filter or self.which != "all":
            guests = tuple(g for g in guests if listed(self.which, g.state)
                           and (not self.host_filter or g.host == self.host_filter))
        self.table.show(guests)

    def status_line(self, snapshot: FleetSnapshot) -> Any:
        line = super().status_line(snapshot)
        if self.host_filter:
            line.append(f"   host: {self.host_filter}", style="bold cyan")
        if self.which != "all":
            line.append(f"   list: {self.which}", style="bold cyan")
        return line

    def list_only(self, which: str) -> None:
        """`:list` shows the running guests, `:list --inactive` the others, `:list --all`
        every guest again."""
        self.which = which
        self.refill()

    def narrow_to_host(self, name: str) -> None:
        """`:host NAME` shows only that host's guests; `:host` alone shows all again."""
        self.host_filter = name
        self.refill()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Mutating keys are hidden when the controller would refuse the change to the guest
        under the cursor (or the marked ones)."""
        if action in {"toggle_autostart", "migrate", "act", "clone", "undefine", "edit"}:
            return self.app.controller.may_change(self.selected())
        return True

    def selected(self) -> list[GuestSnapshot]:
        """The marked guests, else the one under the cursor, as the fleet knows them now
        (the table may be a fraction of a second behind)."""
        chosen = self.table.marked_rows() or ([self.table.current] if self.table.current else [])
        fresh = (self.app.fleet.find_guest(g.key) for g in chosen)
        return [g for g in fresh if g is not None]

    def action_act(self, verb: str) -> None:
        self.app.controller.act(verb, self.selected())

    def action_toggle_autostart(self) -> None:
        guests = self.selected()
        disable = bool(guests) and all(g.autostart for g in guests)
        self.app.controller.act("autostart", guests, **({"disable": True} if disable else {}))

    # The dialogs (and the core modules behind them) are imported when first opened: the
    # guest list is the first screen, and nothing of them is needed to show it.

    def action_clone(self) -> None:
        from kvmtui.screens.guest_config import CloneDialog

        guest = self.table.current
        if guest is None:
            return
        taken = {g.name for g in self.app.fleet.snapshot().guests if g.host == guest.host}
        self.app.push_screen(CloneDialog(guest, taken), self._run)

    def action_undefine(self) -> None:
        """Marked guests are undefined together, keeping their storage; one guest first
        shows its volumes to choose from."""
        guests = self.selected()
        if len(guests) != 1 or self.table.marks:
            self.app.controller.act("undefine", guests)
        else:
            self.run_worker(self._ask_undefine(guests[0]), group="undefine-dialog")

    async def _ask_undefine(self, guest: GuestSnapshot) -> None:
        from kvmtui.core.guest_config import guest_disks
        from kvmtui.screens.guest_config import UndefineDialog

        try:
            disks = await guest_disks(self.app.fleet.host(guest.host), guest.uuid)
        except HostError as error:
            self.app.controller.operator.error(str(error))
            return
        self.app.push_screen(UndefineDialog(guest, disks), self._run)

    def _run(self, command: Command | None) -> None:
        """A dialog's command, run as if typed on the `:` line."""
        if command is not None:
            self.app.controller.submit(command)

    def action_migrate(self) -> None:
        self.app.open_migration(self.selected())

    def action_console(self) -> None:
        guest = self.table.current
        if guest is not None:
            self.app.open_console(guest)

    def action_display(self) -> None:
        guest = self.table.current
        if guest is not None:
            self.app.open_display(guest)

    def action_snapshots(self) -> None:
        """The snapshots of the marked guests (or the one under the cursor); `n` there
        takes one of each, under one name."""
        guests = self.selected()
        if guests:
            self.app.show_snapshots(guests)
    @work(group="edit")
    async def action_edit(self) -> None:
        """`:edit` on the guest under the cursor: its XML in $VISUAL or $EDITOR."""
        guest = self.table.current
        if guest is not None:
            await self.app.controller.run(Command("edit", (guest.ref,)))

    def action_detail(self) -> None:
        guest = self.table.current
        if guest is not None:
            self.app.open_detail(guest)

    def on_live_table_row_selected(self, _event: Any) -> None:
        self.action_detail()
