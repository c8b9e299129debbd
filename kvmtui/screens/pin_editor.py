"""Pinning a vCPU (or the emulator threads) to host CPUs: type a list or toggle CPUs.

The typed list and the grid follow each other; the list is checked against the host's CPUs
as it is typed, so a bad list is explained before anything is sent, and Pin stays refused
until the list is good. Used from the guest detail and from the host CPU map alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Static

from kvmtui.core.cpulist import format_cpulist, parse_cpulist
from kvmtui.core.host import HostError
from kvmtui.core.placement import HostCpus, PinTarget, host_cpus, pin_emulator, pin_vcpu
from kvmtui.screens.closing import ClosesOnce
from kvmtui.widgets.cpu_grid import CpuGrid
from kvmtui.widgets.toggles import TickBox
from kvmtui.widgets.validators import CpuList, refusal

if TYPE_CHECKING:
    from kvmtui.app import KvmTuiApp


@dataclass(frozen=True)
class PinRequest:
    cpus: frozenset[int]
    live: bool
    config: bool


def _flag_label(name: str, on: bool) -> str:
    return f"{name}: {'yes' if on else 'no'}"


class PinEditor(ModalScreen[PinRequest | None], ClosesOnce[PinRequest | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel", id="pin.cancel"),
    ]

    def __init__(self, target: PinTarget, cpus: HostCpus) -> None:
        super().__init__()
        self.target = target
        self.cpus = cpus

    def compose(self) -> ComposeResult:
        with Vertical(id="pin-dialog"):
            yield Static(Text(self.target.title, style="bold"), id="pin-title")
            yield Static(
                f"CPUs of {self.cpus.host}: {format_cpulist(range(self.cpus.count))}"
                f" (type e.g. 0-3,^2 or r for all; Tab to the grid, Space toggles)",
                markup=False,
            )
            yield Input(
                format_cpulist(self.target.current),
                id="pin-list",
                validators=[CpuList(self.cpus.count, self.cpus.host)],
            )
            yield CpuGrid(self.cpus.count, self.cpus.online, self.target.current, id="pin-grid")
            yield Static(id="pin-error")
            with Horizontal(id="pin-flags"):
                yield TickBox(
                    _flag_label("live", self.target.active), self.target.active, id="pin-live"
                )
                yield TickBox(
                    _flag_label("persistent", not self.target.active),
                    not self.target.active,
                    id="pin-config",
                )
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Pin", id="pin", variant="primary")

    def on_mount(self) -> None:
        for field in self.query("#pin-list").results(Input):  # none when closed before mount
            field.focus()

    def _parsed(self) -> frozenset[int] | None:
        """The typed list as CPUs, or None after explaining what is wrong with it."""
        field = self.query_one("#pin-list", Input)
        reason = refusal(field.validate(field.value))
        self.query_one("#pin-error", Static).update(
            Text(f"✗ {reason}", style="bold red") if reason else ""
        )
        return None if reason else parse_cpulist(field.value, self.cpus.count, self.cpus.host)

    def on_input_changed(self, _event: Input.Changed) -> None:
        cpus = self._parsed()
        if cpus is not None:
            self.query_one(CpuGrid).set_selected(cpus)

    def on_cpu_grid_changed(self, event: CpuGrid.Changed) -> None:
        self.query_one("#pin-list", Input).value = format_cpulist(event.selected)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        """The box draws the same glyph on and off (only colour differs): say it in words."""
        name = "live" if event.checkbox.id == "pin-live" else "persistent"
        event.checkbox.label = _flag_label(name, event.value)

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "pin":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        cpus = self._parsed()
        if cpus is None:
            return
        live = self.query_one("#pin-live", Checkbox).value
        config = self.query_one("#pin-config", Checkbox).value
        if not live and not config:
            self.query_one("#pin-error", Static).update(
                Text("✗ choose live, persistent or both", style="bold red")
            )
            return
        self.dismiss(PinRequest(cpus, live, config))


async def edit_and_pin(app: KvmTuiApp, target: PinTarget) -> bool:
    """Asks for the new pinning and applies it through the controller; run in a worker.

    True when a pin was applied (the caller re-reads the placement).
    """
    controller = app.controller
    what = "vcpupin" if target.vcpu is not None else "emulatorpin"
    if controller.refused(what, hosts=[target.host]):
        return False
    host = app.fleet.host(target.host)
    try:
        cpus = await host_cpus(host)
    except (HostError, TimeoutError) as error:
        controller.failed(f"{target.title}: reading the host's CPUs", error)
        return False
    request = await app.push_screen_wait(PinEditor(target, cpus))
    if request is None:
        return False
    vcpu = target.vcpu

    async def pin() -> str:
        if vcpu is None:
            return await pin_emulator(
                host, target.uuid, request.cpus, live=request.live, config=request.config
            )
        return await pin_vcpu(
            host, target.uuid, vcpu, request.cpus, live=request.live, config=request.config
        )

    return await controller.change(what, pin, hosts=[target.host])
