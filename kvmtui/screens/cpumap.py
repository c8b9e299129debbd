"""One host's physical CPUs against its guests' vCPUs: load, who sits where, contention.

Opened with `p` on the hosts screen. Each tick while it is open the host is asked for its
CPU map (per-CPU counters and every running guest's vcpus()), never otherwise. A CPU with
more than one runnable vCPU on it is marked CONTENDED in words as well as colour. The vCPU
list below picks a vCPU to re-pin (Enter or `p`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from kvmtui import format as fmt
from kvmtui.core.cpulist import format_cpulist
from kvmtui.core.gate import ReadGate
from kvmtui.core.host import HostError
from kvmtui.core.placement import HostCpuMap, HostCpuMapReader, PcpuInfo, PinTarget, VcpuRef
from kvmtui.feed import Published
from kvmtui.screens.host_load import ShowsHostLoad
from kvmtui.screens.pin_editor import edit_and_pin
from kvmtui.widgets.cpu_grid import affinity_bar
from kvmtui.widgets.footer import KeysFooter
from kvmtui.widgets.history_panel import HOST_TRACES, HistoryPanel
from kvmtui.widgets.live_table import Column, LiveTable

if TYPE_CHECKING:
    from kvmtui.app import KvmTuiApp

CONTENDED = "CONTENDED"
LOAD_BAR = 10


def load_bar(percent: float | None) -> str:
    """`#####.....` for 50 %: the load reads without colour."""
    if percent is None:
        return "." * LOAD_BAR
    filled = round(min(100.0, max(0.0, percent)) * LOAD_BAR / 100)
    return "#" * filled + "." * (LOAD_BAR - filled)


def headline(cpu_map: HostCpuMap) -> Text:
    contended = sum(1 for p in cpu_map.pcpus if p.contended)
    text = Text(f" CPU map: {cpu_map.host} ", style="bold reverse")
    online, count = cpu_map.online_cpus, cpu_map.cpus.count
    cpus = fmt.plural(count, "CPU") if online == count else f"{online} of {count} CPUs online"
    text.append(
        f"  {cpus}, {fmt.plural(cpu_map.running_vcpus, 'vCPU')}, "
        f"{cpu_map.overcommit:.2f}:1 overcommit, "
        f"load {fmt.share(cpu_map.load_percent)}"
    )
    if contended:
        text.append(f"  {contended} {CONTENDED}", style="bold red")
    return text


def pcpu_table(cpu_map: HostCpuMap) -> Table:
    table = Table(box=None, padding=(0, 1), expand=True)
    table.add_column("CPU", justify="right", no_wrap=True)
    table.add_column("Load%", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("vCPUs on it now (guest:vcpu)")
    for pcpu in cpu_map.pcpus:
        table.add_row(
            str(pcpu.cpu),
            _load(pcpu),
            load_bar(pcpu.load_percent),
            _marker(pcpu),
            Text(" ".join(v.label for v in pcpu.vcpus) or fmt.DASH),  # guest names
            style="" if pcpu.online else "dim",
        )
    return table


def _load(pcpu: PcpuInfo) -> str:
    return fmt.percent(pcpu.load_percent) if pcpu.online else "offline"


def _marker(pcpu: PcpuInfo) -> Text:
    if pcpu.contended:
        return Text(f"!! {CONTENDED} ({pcpu.runnable})", style="bold red")
    return Text("")


def vcpu_columns(host_cpus: int) -> list[Column[VcpuRef]]:
    return [
        Column("label", "Guest:vCPU", lambda v: v.label, lambda v: (v.guest, v.number)),
        Column("state", "State", lambda v: v.state, lambda v: v.state, width=8),
        Column(
            "pcpu",
            "CPU",
            lambda v: fmt.DASH if v.pcpu is None else str(v.pcpu),
            lambda v: v.pcpu,
            width=4,
        ),
        Column(
            "affinity",
            "Affinity",
            lambda v: format_cpulist(v.affinity),
            lambda v: sorted(v.affinity),
            width=10,
        ),
        Column(
            "grid",
            "Grid",
            lambda v: affinity_bar(v.affinity, host_cpus),
            lambda v: sorted(v.affinity),
            width=min(33, max(4, host_cpus)),
        ),
    ]


class CpuMapScreen(ShowsHostLoad, Screen[None]):
    VIEW_NAME = "CPU map"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back", id="cpumap.back"),
        Binding("p", "pin", "Pin vCPU (or Enter)", id="cpumap.pin"),
    ]

    app: KvmTuiApp

    def __init__(self, host: str, refresh: float) -> None:
        super().__init__()
        self.host_name = host
        self.reader: HostCpuMapReader | None = None
        self.cpu_map: HostCpuMap | None = None
        self.table: LiveTable[VcpuRef] | None = None
        self._gate = ReadGate(refresh)

    def compose(self) -> ComposeResult:
        yield Static(Text(f" CPU map: {self.host_name} (reading ...)"), id="status")
        with VerticalScroll(id="pcpus"):
            yield Static(id="pcpu-grid")
        yield Static(id="vcpus-anchor")
        yield HistoryPanel(HOST_TRACES, id="host-history")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.reader = HostCpuMapReader(self.app.fleet.host(self.host_name))
        self.read()
        # The fleet tells of changes only; this map's own figures are read once a refresh.
        self.set_interval(self.app.settings.refresh, self.read)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pin":
            return self.app.controller.may_change(hosts=[self.host_name])
        return True

    def on_published(self, message: Published) -> None:
        if not message.about("fleet"):
            return
        self.read()

    def read(self, force: bool = False) -> None:
        """Reads the map (called each tick while the screen is open; see ReadGate)."""
        if self._gate.begin(force):
            self._read()

    @work(group="cpu-map")
    async def _read(self) -> None:
        assert self.reader is not None
        try:
            cpu_map = await self.reader.read()
        except HostError as error:
            if not self.is_attached:  # closed (or the app quit) while the read ran
                return
            self.query_one("#status", Static).update(
                Text(str(error) or f"CPU map of {self.host_name}: no answer", style="bold red")
            )
            return
        finally:
            self._gate.end()
        if self.is_attached:
            await self.show(cpu_map)

    async def show(self, cpu_map: HostCpuMap) -> None:
        self.cpu_map = cpu_map
        self.query_one("#status", Static).update(headline(cpu_map))
        self.query_one("#pcpu-grid", Static).update(pcpu_table(cpu_map))
        if self.table is None:
            self.table = LiveTable(
                vcpu_columns(cpu_map.cpus.count),
                lambda v: f"{v.uuid}:{v.number}",
                lambda v: v.label,
                sort_column="label",
                id="cpumap-vcpus",
            )
            await self.mount(self.table, after=self.query_one("#vcpus-anchor"))
            self.table.focus()
        self.table.show(cpu_map.vcpus)
        history = self.app.history
        self.query_one(HistoryPanel).show(
            lambda series: history.host(self.host_name, series), history.refresh
        )

    def on_live_table_row_selected(self, _event: object) -> None:
        """Enter on a vCPU (the table takes the key itself) pins it, unless read-only."""
        if self.check_action("pin", ()):
            self.action_pin()

    @work(group="pin")
    async def action_pin(self) -> None:
        vcpu = self.table.current if self.table else None
        if vcpu is None:
            return
        target = PinTarget(
            self.host_name, vcpu.uuid, vcpu.guest, vcpu.number, vcpu.affinity, active=True
        )
        if await edit_and_pin(self.app, target):
            self.read(force=True)


def open_cpu_map(app: KvmTuiApp, host: str) -> None:
    """The entry point the hosts screen's `p` reaches through the app."""
    app.push_screen(CpuMapScreen(host, app.settings.refresh))
