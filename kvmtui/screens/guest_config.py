"""The guest table's clone and undefine dialogs: each ends in the `:` command a user could
have typed (`clone NAME NEWNAME [--linked]`, `undefine NAME [--storage vda,...]`), so the
verb's own checks, confirmation and report apply unchanged."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Input, Label, Static

from kvmtui.core.clone import check_guest_name
from kvmtui.core.commands import Command
from kvmtui.core.guest_config import GuestDisk
from kvmtui.core.model import GuestSnapshot
from kvmtui.screens.closing import ClosesOnce
from kvmtui.screens.form import CheckedForm
from kvmtui.widgets.toggles import TickBox


class NewGuestName(Validator):
    """A name libvirt takes for a new guest, not already a guest's on that host."""

    def __init__(self, taken: Collection[str], host: str) -> None:
        super().__init__()
        self.taken = taken
        self.host = host

    def validate(self, value: str) -> ValidationResult:
        why = check_guest_name(value)
        if why is None and value in self.taken:
            why = f"{self.host} already has a guest of that name"
        return self.failure(why, value) if why else self.success()


class CloneDialog(CheckedForm[Command]):
    """New name and full/linked; Enter or Clone gives the `clone` command, Esc cancels."""

    SUBMIT = "clone-go"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="clone.cancel")
    ]

    def __init__(self, guest: GuestSnapshot, taken: Collection[str]) -> None:
        super().__init__()
        self.guest = guest
        self.taken = taken

    def compose(self) -> ComposeResult:
        name = self.guest.name
        with Vertical(id="clone-dialog", classes="guest-dialog"):
            yield Static(Text(f"Clone {name} (on {self.guest.host})"), classes="dialog-title")
            with Horizontal(classes="migrate-field"):
                yield Label("New name")
                yield Input(
                    value=f"{name}-clone",
                    id="clone-name",
                    name="New name",
                    validators=[NewGuestName(self.taken, self.guest.host)],
                )
            yield TickBox("linked clone", id="clone-linked")
            yield Static(
                Text(
                    f"Full: a copy of each writable disk. Linked: qcow2 volumes over "
                    f"{name}'s disks, made at once; {name} must stay shut off while "
                    "its clones live."
                ),
                classes="dialog-note",
            )
            yield Static(id="why")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="clone-cancel")
                yield Button("Clone", id="clone-go", variant="primary")

    def on_mount(self) -> None:
        # Keys typed ahead may have closed the dialog before it mounted: then nothing is here.
        for why in self.query("#why"):
            why.display = False
        for field in self.query("#clone-name").results(Input):
            field.focus()

    def submit(self) -> None:
        if self.show_why():
            linked = self.query_one("#clone-linked", TickBox).value
            self.dismiss(
                Command(
                    "clone",
                    (self.guest.ref, self.query_one("#clone-name", Input).value),
                    {"linked": True} if linked else {},
                )
            )


class UndefineDialog(ModalScreen[Command | None], ClosesOnce[Command | None]):
    """Which of the guest's volumes go with it (none ticked at first). Focus starts on the
    first volume (Cancel when there is none) and Tab goes in reading order, volumes then
    Cancel then Undefine: ticking is harmless, as the `undefine` command it gives asks once
    more, naming every path to delete."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="undefine.cancel")
    ]

    def __init__(self, guest: GuestSnapshot, disks: Sequence[GuestDisk]) -> None:
        super().__init__()
        self.guest = guest
        self.disks = disks

    def compose(self) -> ComposeResult:
        deletable = [d for d in self.disks if d.volume]
        kept = [d for d in self.disks if d.source and not d.volume]
        with Vertical(id="undefine-dialog", classes="guest-dialog"):
            yield Static(
                Text(f"Undefine {self.guest.name} (on {self.guest.host})"), classes="dialog-title"
            )
            if self.guest.state.is_active:  # as virsh: libvirt keeps it running, undefined
                yield Static(
                    Text(
                        f"{self.guest.name} is {self.guest.state.value}: it keeps running as a "
                        "transient guest, and is gone for good once it shuts down.",
                        style="bold yellow",
                    ),
                    id="undefine-running",
                    classes="dialog-note",
                )
            if deletable:
                yield Static("Also delete these storage volumes:")
            for disk in deletable:
                yield TickBox(Text(disk.describe()), name=disk.target)
            for disk in kept:
                yield Static(
                    Text(f"{disk.describe()}: in no storage pool, kept"), classes="dialog-note"
                )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="undefine-cancel", variant="primary")
                yield Button("Undefine ...", id="undefine-go", variant="error")

    def on_mount(self) -> None:
        first = [*self.query(TickBox), *self.query("#undefine-cancel").results(Button)]
        if first:  # none when keys typed ahead closed it before it mounted
            first[0].focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "undefine-go":
            self.dismiss(None)
            return
        chosen = [str(box.name) for box in self.query(TickBox) if box.value]
        self.dismiss(
            Command("undefine", (self.guest.ref,), {"storage": ",".join(chosen)} if chosen else {})
        )

    def action_cancel(self) -> None:
        self.dismiss(None)
