"""A guest's vCPUs: state, where each runs now, its affinity, CPU%, wait and steal.

Read from libvirt only while shown (the detail screen asks each tick when this tab is
open); Enter pins the vCPU under the cursor (it opens its pin editor) and `j` the emulator
threads, keys no list of guests uses for something else (`p` suspends, `e` edits the XML),
both dimmed where the controller would refuse the change (`GuardsChanges`). How a pin
is asked for and applied is the owner's `pin` callback (a widget opens no screens).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Static

from kvmtui import format as fmt
from kvmtui.core.cpulist import format_cpulist
from kvmtui.core.gate import ReadGate
from kvmtui.core.host import HostError
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.placement import GuestPlacement, GuestPlacementReader, PinTarget, VcpuInfo
from kvmtui.widgets.cpu_grid import affinity_bar
from kvmtui.widgets.guards import GuardsChanges
from kvmtui.widgets.live_table import Column, LiveTable

if TYPE_CHECKING:
    from kvmtui.app import KvmTuiApp


def _cpus(cpus: frozenset[int] | None) -> str:
    return fmt.DASH if cpus is None else format_cpulist(cpus)


def vcpu_columns(host_cpus: int) -> list[Column[VcpuInfo]]:
    """Fixed widths keep columns still as values change; each leaves room for its label
    plus the sort arrow, so no header is cut short."""
    return [
        Column("vcpu", "vCPU", lambda v: str(v.number), lambda v: v.number, width=5),
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
            lambda v: _cpus(v.affinity_live),
            lambda v: sorted(v.affinity),
            width=10,
        ),
        Column(
            "config",
            "Config",
            lambda v: _cpus(v.affinity_config),
            lambda v: sorted(v.affinity_config),
            width=10,
        ),
        Column(
            "grid",
            "Grid",
            lambda v: affinity_bar(v.affinity, host_cpus),
            lambda v: sorted(v.affinity),
            width=min(33, max(5, host_cpus)),
        ),
        Column(
            "cpu",
            "CPU%",
            lambda v: fmt.percent(v.cpu_percent),
            lambda v: v.cpu_percent,
            width=6,
            numeric=True,
        ),
        Column(
            "wait",
            "Wait%",
            lambda v: fmt.percent(v.wait_percent),
            lambda v: v.wait_percent,
            width=6,
            numeric=True,
        ),
        Column(
            "steal",
            "Steal%",
            lambda v: fmt.percent(v.steal_percent),
            lambda v: v.steal_percent,
            width=7,
            numeric=True,
        ),
    ]


def summary(placement: GuestPlacement) -> Text:
    cpus = placement.cpus
    text = Text(
        f"{fmt.plural(len(placement.vcpus), 'vCPU')} on {placement.host}, which has "
        f"{fmt.plural(cpus.count, 'CPU')} ({format_cpulist(cpus.online)} online)\n"
    )
    text.append("Emulator threads: ", style="bold")
    text.append(f"{_cpus(placement.emulator_live)} live, {_cpus(placement.emulator_config)} config")
    if not placement.active:
        text.append(
            "\nNot running: affinity shown is the persistent (config) pinning.", style="dim"
        )
    return text


class VcpuPanel(GuardsChanges, Vertical):
    BINDINGS: ClassVar[list[BindingType]] = [
        # The table's own Enter selects the row: `on_live_table_row_selected` pins it.
        Binding("enter", "pin_vcpu", "Pin vCPU", id="vcpus.pin"),
        Binding("j", "pin_emulator", "Pin emulator", id="vcpus.pin_emulator"),
    ]
    MUTATING = MappingProxyType({"pin_vcpu": "vcpupin", "pin_emulator": "emulatorpin"})

    app: KvmTuiApp

    def __init__(
        self,
        guest: GuestSnapshot,
        refresh: float,
        pin: Callable[[PinTarget], Awaitable[bool]],
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.guest = guest
        self._pin = pin
        self.placement: GuestPlacement | None = None
        self._reader: GuestPlacementReader | None = None
        self.table: LiveTable[VcpuInfo] | None = None
        self._gate = ReadGate(refresh)

    def compose(self) -> ComposeResult:
        yield Static("reading vCPUs ...", id="vcpu-summary")

    def change_targets(self, action: str) -> tuple[Sequence[GuestSnapshot], Sequence[str]]:
        return (), [self.guest.host]

    def on_live_table_row_selected(self, event: LiveTable.RowSelected) -> None:
        event.stop()
        if not self.refuse("pin_vcpu"):
            self.action_pin_vcpu()

    def read(self, force: bool = False) -> None:
        """Reads the placement (called each tick while the tab is shown; see ReadGate)."""
        if self._gate.begin(force):
            self._read()

    @work(group="vcpu-read")
    async def _read(self) -> None:
        if self._reader is None:
            self._reader = GuestPlacementReader(
                self.app.fleet.host(self.guest.host), self.guest.uuid
            )
        try:
            placement = await self._reader.read()
        except HostError as error:
            self.query_one("#vcpu-summary", Static).update(
                Text(str(error) or "vCPUs: no answer (timed out)", style="red")
            )
            return
        finally:
            self._gate.end()
        await self.show(placement)

    async def show(self, placement: GuestPlacement) -> None:
        self.placement = placement
        self.query_one("#vcpu-summary", Static).update(summary(placement))
        if self.table is None:
            self.table = LiveTable(
                vcpu_columns(placement.cpus.count),
                lambda v: str(v.number),
                lambda v: f"{v.number} {v.state}",
                sort_column="vcpu",
                id="vcpu-table",
            )
            await self.mount(self.table)
            self.table.focus()
        self.table.show(placement.vcpus)

    def _target(self, vcpu: VcpuInfo | None) -> PinTarget | None:
        placement = self.placement
        if placement is None:
            return None
        if vcpu is None:
            current = placement.emulator_live or placement.emulator_config or frozenset()
        else:
            current = vcpu.affinity
        return PinTarget(
            placement.host,
            placement.uuid,
            placement.name,
            None if vcpu is None else vcpu.number,
            current,
            placement.active,
        )

    @work(group="pin")
    async def action_pin_vcpu(self) -> None:
        vcpu = self.table.current if self.table else None
        target = self._target(vcpu) if vcpu else None
        if target is not None and await self._pin(target):
            self.read(force=True)

    @work(group="pin")
    async def action_pin_emulator(self) -> None:
        target = self._target(None)
        if target is not None and await self._pin(target):
            self.read(force=True)
