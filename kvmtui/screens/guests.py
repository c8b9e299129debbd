"""Every guest of every host in one table, with the lifecycle actions on single keys."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from kvmtui.core import actions
from kvmtui.core.commands import Command
from kvmtui.core.errors import HostError
from kvmtui.core.fleet import FleetSnapshot
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.selectors import guest_terms
from kvmtui.screens.fleet_view import FleetView, sort_bindings
from kvmtui.widgets.fleet_tables import GUEST_COLUMNS
from kvmtui.widgets.guards import GuardsChanges
from kvmtui.widgets.guest_groups import group_of, groupings, order, summary

if TYPE_CHECKING:
    from kvmtui.app import KvmTuiApp

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

#: keys, action, what the key does, id (after `PLACE.`): a guest's features, the same key
#: on the guest list and on the detail screen. The detail's tabs are reached with the same
#: keys from the list (which opens the detail on that tab): `d` describes, as in k9s, `y`
#: shows the XML (k9s's YAML key); `i` and `x` stay as the tabs' old keys.
FEATURE_KEYS: tuple[tuple[str, str, str, str], ...] = (
    ("d,i", "tab('info')", "Info", "info"),
    ("y,x", "tab('xml')", "XML", "xml"),
    ("k", "tab('vcpus')", "vCPUs", "vcpus"),
    ("g", "tab('history')", "History", "history"),
    ("l", "tab('devices')", "Devices", "devices"),
    ("o", "tab('guest')", "Guest agent", "guest"),
    ("n", "tab('events')", "Events", "events"),
    ("e", "edit", "Edit XML", "edit"),
    ("c", "console", "Console", "console"),
    ("v", "display", "Graphical console", "display"),
    ("m", "migrate", "Migrate", "migrate"),
    ("t", "snapshots", "Snapshots", "snapshots"),
    ("f", "clone", "Clone", "clone"),
    ("B", "backup", "Back up", "backup"),
)


def guest_bindings(place: str, shown: frozenset[str]) -> list[Binding]:
    """The keys of every screen about guests (the list, the detail): the lifecycle actions
    and the features, one key one meaning on both; `shown`: the ids (after `PLACE.`) in the
    footer. Ids are `PLACE.VERB` and `PLACE.FEATURE`."""
    return [
        *(
            Binding(keys, action, description, show=name in shown, id=f"{place}.{name}")
            for keys, action, description, name in FEATURE_KEYS
        ),
        *(
            Binding(
                key,
                _KEY_ACTIONS.get(verb, f"act('{verb}')"),
                actions.ACTIONS[verb].label,
                show=verb in shown,
                id=f"{place}.{verb}",
            )
            for key, verb in ACTION_KEYS
        ),
    ]


class GuestActions(GuardsChanges):
    """What the keys of `guest_bindings` do, for a screen that says which guests they act
    on (`selected`, `current_guest`) and how a detail tab is shown (`action_tab`)."""

    MUTATING = MappingProxyType(
        {
            "act": "",
            "toggle_autostart": "autostart",
            "undefine": "undefine",
            "clone": "clone",
            "migrate": "migrate",
            "edit": "edit",
            "tag": "tag",
            "backup": "backup",
        }
    )

    app: KvmTuiApp

    def selected(self) -> list[GuestSnapshot]:
        """The guests a lifecycle key acts on, as the fleet knows them now."""
        raise NotImplementedError

    def current_guest(self) -> GuestSnapshot | None:
        """The one guest a feature key (console, clone ...) is about."""
        raise NotImplementedError

    def change_targets(self, action: str) -> tuple[Sequence[GuestSnapshot], Sequence[str]]:
        return self.selected(), ()

    def run_worker_of(self, work: Coroutine[Any, Any, object], group: str) -> None:
        """Runs `work` as the app's worker: it outlives the screen (a dialog's answer)."""
        self.app.run_worker(work, group=group)

    def action_act(self, verb: str) -> None:
        self.submit_on(verb, self.selected())

    def action_toggle_autostart(self) -> None:
        guests = self.selected()
        disable = bool(guests) and all(g.autostart for g in guests)
        self.submit_on("autostart", guests, **({"disable": True} if disable else {}))

    def submit_on(self, verb: str, guests: Sequence[GuestSnapshot], **options: str | bool) -> None:
        """A key's verb on `guests`: the command a typed line would be, without its words
        being written out and parsed again."""
        self.app.controller.submit(Command(verb, tuple(g.ref for g in guests), options))

    # The dialogs (and the core modules behind them) are imported when first opened: the
    # guest list is the first screen, and nothing of them is needed to show it.

    def action_clone(self) -> None:
        from kvmtui.screens.guest_config import CloneDialog

        guest = self.current_guest()
        if guest is None:
            return
        taken = {g.name for g in self.app.fleet.snapshot().guests if g.host == guest.host}
        self.app.push_screen(CloneDialog(guest, taken), self._run)

    def action_undefine(self) -> None:
        """Marked guests are undefined together, keeping their storage; one guest first
        shows its volumes to choose from."""
        guests = self.selected()
        if len(guests) != 1:
            self.submit_on("undefine", guests)
        else:
            self.run_worker_of(self._ask_undefine(guests[0]), "undefine-dialog")

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
        guest = self.current_guest()
        if guest is not None:
            self.app.open_console(guest)

    def action_display(self) -> None:
        guest = self.current_guest()
        if guest is not None:
            self.app.open_display(guest)

    def action_snapshots(self) -> None:
        """The snapshots of the selected guests; `n` there takes one of each, under one
        name, and Esc comes back here."""
        guests = self.selected()
        if guests:
            self.app.show_snapshots(guests, back=partial(self.app.show_view, self.app.current_mode))

    def action_backup(self) -> None:
        """`:backup` of the selected guests (the marked ones together, asked first)."""
        guests = self.selected()
        if guests:
            self.app.controller.submit(Command("backup", tuple(g.ref for g in guests)))

    def action_edit(self) -> None:
        """`:edit` on the guest: its XML in $VISUAL or $EDITOR."""
        guest = self.current_guest()
        if guest is not None:
            self.run_worker_of(self._edit(guest), "edit")

    async def _edit(self, guest: GuestSnapshot) -> None:
        await self.app.controller.run(Command("edit", (guest.ref,)))

    def action_tag(self) -> None:
        """`#`: tags to add or remove on the selected guests, asked in a dialog; then the
        path of `:tag` and `:untag`."""
        from kvmtui.screens.tags import TagDialog, TagRequest

        guests = self.selected()
        if not guests:
            self.app.controller.operator.error("tag: no guest selected")
            return

        def tagged(request: TagRequest | None) -> None:
            if request is not None:
                changes = {"add": ",".join(request.add), "remove": ",".join(request.remove)}
                self.submit_on("tag", guests, **{k: v for k, v in changes.items() if v})

        self.app.push_screen(TagDialog(guests), tagged)


class GuestsScreen(GuestActions, FleetView):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "detail", "Detail", id="guests.detail"),
        Binding("number_sign", "tag", "Tag", key_display="#", show=False, id="guests.tag"),
        Binding("z", "group", "Group by", show=False, id="guests.group"),
        *guest_bindings(
            "guests", frozenset({"migrate", "console", "start", "shutdown", "destroy"})
        ),
        *sort_bindings("guests", GUEST_COLUMNS),
    ]

    #: What the list is grouped by (`kvmtui.widgets.guest_groups`), or None.
    grouped_by: str | None = None

    def action_group(self) -> None:
        """`z`: no groups, then by host, by state, by each tag key of the fleet, and back
        to none; Enter on a group's header folds it, a lifecycle key acts on its guests."""
        choices = [None, *groupings(self.app.fleet.snapshot().guests)]
        at = choices.index(self.grouped_by) if self.grouped_by in choices else 0
        self.group_by(choices[(at + 1) % len(choices)])

    def group_by(self, by: str | None) -> None:
        self.grouped_by = by
        if by is None:
            self.table.group_by(None)
        else:
            self.table.group_by(group_of(by), summary(by), order(by))
        self._update("#status", self.status_line(self.app.fleet.snapshot()))

    def status_line(self, snapshot: FleetSnapshot) -> Text:
        line = super().status_line(snapshot)
        if self.grouped_by is not None:
            line.append(f"   grouped by {self.grouped_by} (z)", style="bold cyan")
        return line

    def scope_keys(self, row: GuestSnapshot) -> frozenset[str]:
        """A scope limits the guest list to a host's guests, or to the states `:list`
        names: by the selector terms the filter matches too."""
        return guest_terms(row)

    def selected(self) -> list[GuestSnapshot]:
        """The marked guests, else the one under the cursor (a group's, on its header), as
        the fleet knows them now (the table may be a fraction of a second behind)."""
        group = self.table.current_group
        current = self.table.group_rows(group) if group is not None else [self.table.current]
        chosen = self.table.marked_rows() or [g for g in current if g is not None]
        fresh = (self.app.fleet.find_guest(g.key) for g in chosen)
        return [g for g in fresh if g is not None]

    def current_guest(self) -> GuestSnapshot | None:
        guest: GuestSnapshot | None = self.table.current
        return guest

    def action_tab(self, tab: str) -> None:
        """A detail tab's key on the list: the detail of the guest under the cursor, on
        that tab."""
        guest = self.table.current
        if guest is not None:
            self.app.open_detail(guest, tab)

    def action_detail(self) -> None:
        self.action_tab("info")

    def on_live_table_row_selected(self, _event: Any) -> None:
        self.action_detail()
