"""One guest up close, a tab each: what `virsh dominfo` says with its live figures (d or
i), its XML (y or x), its vCPUs and their pinning (k), its recent figures as sparklines (g),
its devices (l), what its guest agent says of the inside (o) and its own events from the
kept timeline (n); `e` edits its persistent
XML like `virsh edit`. Every key of the guest list means the same here
(`kvmtui.screens.guests.guest_bindings`): `s` starts this guest."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static, TabbedContent, TabPane

from kvmtui import format as fmt
from kvmtui.core.devices import guest_devices
from kvmtui.core.eventlog import TimelineEvent
from kvmtui.core.guestinfo import guest_info
from kvmtui.core.host import HostError
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.words import visible
from kvmtui.feed import Published
from kvmtui.screens.guests import GuestActions, guest_bindings
from kvmtui.screens.history import ALERT_STYLE
from kvmtui.screens.pin_editor import edit_and_pin
from kvmtui.widgets.devices_panel import devices_view
from kvmtui.widgets.fleet_tables import state_text
from kvmtui.widgets.footer import KeysFooter
from kvmtui.widgets.history_panel import GUEST_TRACES, HistoryPanel
from kvmtui.widgets.pairs import pairs_table
from kvmtui.widgets.vcpu_panel import VcpuPanel

if TYPE_CHECKING:
    from kvmtui.app import KvmTuiApp


def live_rows(guest: GuestSnapshot) -> list[tuple[str, str | Text]]:
    r = guest.rates
    return [
        ("State", state_text(guest.state)),
        ("vCPUs", str(guest.vcpus)),
        ("CPU", fmt.DASH if r.cpu_percent is None else f"{fmt.share(r.cpu_percent)} of its vCPUs"),
        ("Memory", f"{fmt.size_kib(guest.memory_kib)} of {fmt.size_kib(guest.max_memory_kib)}"),
        ("Used inside", fmt.used_inside(guest.memory_used_kib, guest.memory_kib)),
        ("Disk read/write", f"{fmt.speed(r.disk_read_bps)} / {fmt.speed(r.disk_write_bps)}"),
        ("Net rx/tx", f"{fmt.speed(r.net_rx_bps)} / {fmt.speed(r.net_tx_bps)}"),
        ("Autostart", "yes" if guest.autostart else "no"),
        ("Persistent", "yes" if guest.persistent else "no (transient)"),
    ]


#: The newest events of a guest its detail shows; `:events` with `/guest:NAME@` has all.
GUEST_EVENTS_SHOWN = 200


def guest_events(events: list[TimelineEvent]) -> Text:
    """One line per event: when, where, what and why; an open alert in bold red."""
    if not events:
        return Text("No events kept for this guest yet.", style="dim")
    lines = Text()
    for event in events:
        line = Text(f"{fmt.moment(event.at)}  {event.host}  {event.what}")
        if event.detail:
            line.append(f": {event.detail}")
        if event.alerting:
            line.stylize(ALERT_STYLE)
            line.append("  (alert: a on :events acknowledges)")
        lines.append_text(line)
        lines.append("\n")
    return lines


class GuestDetailScreen(GuestActions, Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back", id="detail.back"),
        *guest_bindings(
            "detail",
            # The Guest (o) and Events (n) tabs are in the tab bar and `?`: the footer is
            # full at 100 columns.
            frozenset({"info", "xml", "vcpus", "history", "devices", "edit", "snapshots"}),
        ),
        Binding("r", "reload", "Reload", id="detail.reload"),
    ]
    VIEW_NAME = "Guest detail"

    app: KvmTuiApp

    def __init__(self, guest: GuestSnapshot, tab: str = "info") -> None:
        super().__init__()
        self.guest = guest
        self._first_tab = tab

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        with TabbedContent(initial=self._first_tab):
            with TabPane("Info", id="info"), VerticalScroll():
                yield Static(id="live")
                yield Static(Text("\ndominfo", style="bold underline"))
                yield Static("loading ...", id="dominfo")
            with TabPane("XML", id="xml"), VerticalScroll(id="xml-scroll"):
                yield Static("loading ...", id="xml-text")
            with TabPane("vCPUs", id="vcpus"):
                yield VcpuPanel(
                    self.guest,
                    self.app.settings.refresh,
                    partial(edit_and_pin, self.app),
                    id="vcpu-panel",
                )
            with TabPane("History", id="history"), VerticalScroll():
                yield HistoryPanel(GUEST_TRACES, id="guest-history")
            with TabPane("Devices", id="devices"), VerticalScroll():
                yield Static("loading ...", id="devices-text")
            with TabPane("Guest", id="guest"), VerticalScroll():
                yield Static("loading ...", id="guest-text")
            with TabPane("Events", id="events"), VerticalScroll():
                yield Static(id="events-text")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.show_guest(self.guest)
        self.show_events()
        self.action_reload()
        # The fleet tells of changes only; the vCPU tab's own figures and the history's
        # time axis move once a refresh.
        self.set_interval(self.app.settings.refresh, self._show_placement_and_history)

    def on_published(self, message: Published) -> None:
        if message.about("events"):
            self.show_events()
        if not message.about("fleet"):
            return
        current = self.app.fleet.find_guest(self.guest.key)
        if current is None:
            self._put(
                "#status",
                Text(f" {self.guest.name} is no longer on {self.guest.host}", style="bold red"),
            )
            return
        self.show_guest(current)
        self._show_placement_and_history()

    def _show_placement_and_history(self) -> None:
        """The vCPU, devices and guest tabs read libvirt only while they are the tab on
        screen."""
        active = self._active_tab()
        if active == "vcpus":
            self.query_one(VcpuPanel).read()
        elif active == "devices":
            self.read_devices()
        elif active == "guest":
            self.read_guest_info()
        elif active == "history":
            self.query_one(HistoryPanel).show(
                lambda series: self.app.history.guest(self.guest.key, series),
                self.app.history.refresh,
            )

    def on_tabbed_content_tab_activated(self, _event: TabbedContent.TabActivated) -> None:
        self._show_placement_and_history()

    def show_guest(self, guest: GuestSnapshot) -> None:
        self.guest = guest
        title = Text(f" {guest.name} ", style="bold reverse")
        title.append(f"  on {guest.host}  ")
        title.append_text(state_text(guest.state))
        self._put("#status", title)
        self._put("#live", pairs_table(live_rows(guest)))

    def show_events(self) -> None:
        """This guest's events (by UUID: wherever it ran), newest first."""
        events = [e for e in self.app.services.events.rows() if e.uuid == self.guest.uuid]
        self._put("#events-text", guest_events(events[::-1][:GUEST_EVENTS_SHOWN]))

    def _put(self, selector: str, content: RenderableType) -> None:
        """Shows `content` in the part `selector` if the screen still has it. Seen once in
        CI (monkey seed 202): the mount handler found `#live` missing, and the NoMatches
        left the screen answering no key; a screen closed as it opens (a view key typed at
        once) loses its parts before its handlers and workers are done."""
        for part in self.query(selector).results(Static):
            part.update(content)

    def _active_tab(self) -> str:
        tabs = self.query(TabbedContent)
        return tabs.first().active if tabs else ""

    def action_tab(self, tab: str) -> None:
        """Shows `tab`, if the screen still has its tabs (see `_put`: a tab key typed as
        the screen closes, or just after the list opened it, finds none)."""
        for tabs in self.query(TabbedContent).results(TabbedContent):
            tabs.active = tab

    def selected(self) -> list[GuestSnapshot]:
        """This guest, as the fleet knows it now (none once it is gone)."""
        current = self.app.fleet.find_guest(self.guest.key)
        return [current] if current is not None else []

    def current_guest(self) -> GuestSnapshot | None:
        return self.guest

    def action_snapshots(self) -> None:
        """This guest's snapshots; Esc there comes back here, on this tab."""
        self.app.show_snapshots(
            [self.guest],
            back=partial(
                self.app.open_detail,
                self.guest,
                self._active_tab() or "info",
                self.app.current_mode,
            ),
        )

    async def _edit(self, guest: GuestSnapshot) -> None:
        """`:edit` on this guest; the XML and devices shown are read again afterwards."""
        await super()._edit(guest)
        if self.is_attached:
            self.action_reload()

    @work(exclusive=True, group="detail-devices")
    async def read_devices(self) -> None:
        try:
            devices = await guest_devices(self.app.fleet.host(self.guest.host), self.guest.uuid)
        except HostError as error:
            self._put("#devices-text", Text(str(error), style="red"))
            return
        self._put("#devices-text", devices_view(devices))

    @work(exclusive=True, group="detail-guest")
    async def read_guest_info(self) -> None:
        """What the guest agent says, read now (the guest list's columns come from the
        guest-info service's rounds; this tab asks at once). Guest-controlled text: shown
        with its control characters made visible."""
        if not self.guest.state.is_active:
            self._put("#guest-text", Text(f"{self.guest.name} is not running: no agent to ask"))
            return
        try:
            info = await guest_info(self.app.fleet.host(self.guest.host), self.guest.uuid)
        except HostError as error:
            self._put("#guest-text", Text(str(error), style="red"))
            return
        if not info.answered:
            self._put("#guest-text", Text(visible(info.problem), style="red"))
            return
        self._put("#guest-text", pairs_table([(visible(k), visible(v)) for k, v in info.fields()]))

    @work(exclusive=True, group="detail-load")
    async def action_reload(self) -> None:
        if self._active_tab() == "devices":
            self.read_devices()
        elif self._active_tab() == "guest":
            self.read_guest_info()
        host = self.app.fleet.host(self.guest.host)
        try:
            info = await host.dominfo(self.guest.uuid)
            xml = await host.domain_xml(self.guest.uuid)
        except HostError as error:
            self._put("#dominfo", Text(str(error), style="red"))
            self._put("#xml-text", Text(str(error), style="red"))
            return
        # The highlighter (pygments, 10 ms to import) is loaded by the first XML shown.
        from rich.syntax import Syntax

        self._put("#dominfo", pairs_table(list(info)))
        self._put(
            "#xml-text", Syntax(xml, "xml", theme="ansi_dark", word_wrap=False, line_numbers=True)
        )
