"""The create wizard (`:create`): one scrolling form that becomes one `:create` line.

Each field is one option of the one-line `create` verb, so the form and the line share
every check: the form writes the line (quoted, the name after `--` so no name is read as
an option), the command parser checks it, and the controller runs it as it runs a typed
line (`Controller.attempt`): the `create` verb checks it against the host and asks with
the XML it will define. Tags typed go into that XML, so the guest carries them from its
first definition (a bad tag is refused as `:tag` refuses it). A refusal is shown under the form
and the form stays open to fix it; the guest once created closes it.

The hosts are offered in the placement advice's order, each with its figures for a guest
of the size typed (free memory, vCPUs per CPU after placing it), re-ranked as the size
changes; the best host is chosen until the operator picks one.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from kvmtui.core import advice
from kvmtui.core.commands import Command, CommandError, parse
from kvmtui.core.errors import HostError
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.sizes import parse_size
from kvmtui.screens.closing import ClosesOnce
from kvmtui.widgets.toggles import TickBox

if TYPE_CHECKING:
    from kvmtui.app import KvmTuiApp

#: Boot sources: (label, value); the path field means --import or --cdrom by this choice.
BOOT_SOURCES = (
    ("existing image or volume", "import"),
    ("install ISO + new disk", "cdrom"),
    ("kernel + initrd", "kernel"),
    ("network (PXE)", "pxe"),
)
#: Fields shown only for some boot sources.
_ONLY_FOR = {
    "path": {"import", "cdrom"},
    "kernel": {"kernel"},
    "initrd": {"kernel"},
    "cmdline": {"kernel"},
}
#: (option, label, placeholder) of the plain text fields, in the form's order.
_FIELDS = (
    ("vcpus", "vCPUs", "1"),
    ("memory", "Memory", "e.g. 1G, 512M"),
    ("disk", "New disk", "size, e.g. 10G (with an image: an overlay on it)"),
    ("path", "Image/ISO", "path of a volume on the host"),
    ("kernel", "Kernel", "path on the host"),
    ("initrd", "Initrd", "path on the host"),
    ("cmdline", "Cmdline", "console=ttyS0"),
    ("network", "Network", "libvirt network, e.g. default"),
    ("bridge", "Bridge", "or a host bridge, e.g. br0"),
    ("pool", "Pool", "for new volumes (default: 'default' or the only one)"),
    ("tags", "Tags", "comma-separated, KEY=VALUE too: web,tier=db"),
)
_CLOUD_FIELDS = (
    ("user", "User", "login to create"),
    ("ssh-key", "SSH key", "local .pub file"),
    ("hostname", "Hostname", "default: the name"),
)
#: The check boxes: option -> (label, ticked at first).
_BOXES = {
    "cloud-init": ("cloud-init seed", False),
    "start": ("start", True),
    "console": ("open console", False),
}


class CreateScreen(ModalScreen[bool], ClosesOnce[bool]):
    """See the module docstring. Esc cancels; Ctrl+S (or the Create button) goes on to the
    confirmation that shows the XML."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="create.cancel"),
        Binding("ctrl+s", "submit", "Create", id="create.submit"),
    ]

    DEFAULT_CSS = """
    CreateScreen { align: center middle; }
    #create-dialog { width: 80; max-width: 100%; height: 100%; max-height: 40;
                     border: thick $accent; background: $surface; padding: 0 1; }
    #create-title { text-style: bold; height: 1; }
    #create-form { height: 1fr; }
    .create-field { height: 1; }
    .create-field Label { width: 12; }
    .create-field Input { border: none; height: 1; width: 1fr; padding: 0 1; }
    .create-field Select { width: 1fr; }
    .create-field Select > SelectCurrent { border: none; height: 1; padding: 0 1; }
    .create-field Checkbox { border: none; height: 1; padding: 0; margin-right: 2; }
    #create-advice { height: auto; color: $text-muted; margin-bottom: 1; }
    #create-why { height: auto; color: $error; text-style: bold; margin-top: 1; }
    #create-buttons { height: auto; align-horizontal: right; }
    #create-buttons Button { margin-left: 2; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._host_chosen = False
        self._ranking: list[advice.HostFit] = []

    @property
    def kvm_app(self) -> KvmTuiApp:
        return self.app  # type: ignore[return-value]  # this screen only runs in KvmTuiApp

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="create-dialog"):
            yield Static(
                "Create a guest (Esc cancels, Ctrl+S creates after showing the XML)",
                id="create-title",
            )
            with Horizontal(classes="create-field"):
                yield Label("Name")
                yield Input(placeholder="new guest's name", id="create-name", name="name")
            with Horizontal(classes="create-field"):
                yield Label("Host")
                yield Select[str](
                    [], id="create-host", allow_blank=True, prompt="ranked by the placement advice"
                )
            yield Static(id="create-advice")
            with Horizontal(classes="create-field"):
                yield Label("Boot from")
                yield Select(BOOT_SOURCES, value="import", allow_blank=False, id="create-boot")
            for option, label, hint in _FIELDS:
                with Horizontal(classes="create-field", id=f"row-{option}"):
                    yield Label(label)
                    yield Input(placeholder=hint, id=f"create-{option}", name=option)
            with Horizontal(classes="create-field"):
                yield Label("Firmware")
                yield Select(
                    (("BIOS", "bios"), ("UEFI", "uefi")),
                    value="bios",
                    allow_blank=False,
                    id="create-firmware",
                )
            with Horizontal(classes="create-field"):
                for option, (label, on) in _BOXES.items():
                    yield TickBox(label, on, id=f"create-{option}", name=option)
            for option, label, hint in _CLOUD_FIELDS:
                with Horizontal(classes="create-field cloud", id=f"row-{option}"):
                    yield Label(label)
                    yield Input(placeholder=hint, id=f"create-{option}", name=option)
            yield Static(id="create-why")
            with Horizontal(id="create-buttons"):
                yield Button("Cancel", id="create-cancel")
                yield Button("Create...", id="create-go", variant="primary")

    def on_mount(self) -> None:
        # Keys typed ahead may have closed the form before it mounted: then nothing is here.
        for name in self.query("#create-name").results(Input):
            self.query_one("#create-vcpus", Input).value = "1"
            self.query_one("#create-memory", Input).value = "1G"
            self.query_one("#create-network", Input).value = "default"
            self._show_rows()
            self._rank()
            name.focus()

    # ---- what the form shows ------------------------------------------------------------

    def _value(self, option: str) -> str:
        return self.query_one(f"#create-{option}", Input).value.strip()

    @property
    def boot(self) -> str:
        return str(self.query_one("#create-boot", Select).value)

    def _show_rows(self) -> None:
        """Only the fields the chosen boot source and cloud-init use."""
        for option, sources in _ONLY_FOR.items():
            self.query_one(f"#row-{option}").display = self.boot in sources
        cloud = self.query_one("#create-cloud-init", Checkbox).value
        for row in self.query(".cloud"):
            row.display = cloud

    def _size_typed(self) -> tuple[int, int] | None:
        """(memory bytes, vCPUs) as typed, or None while either is not one yet."""
        try:
            return parse_size(self._value("memory")), max(1, int(self._value("vcpus")))
        except ValueError:
            return None

    @work(exclusive=True, group="create-advice")
    async def _rank(self) -> None:
        """Re-ranks the hosts for the size typed (figures from the fleet's snapshot)."""
        size = self._size_typed()
        if size is None:
            return
        self._ranking = await advice.advise(self.kvm_app.fleet, *size)
        select = self.query_one("#create-host", Select)
        chosen = select.value
        select.set_options(
            (Text(f"{fit.host}  {'ok' if fit.fits else 'no room'}"), fit.host)
            for fit in self._ranking
        )
        if self._host_chosen and chosen in {fit.host for fit in self._ranking}:
            select.value = chosen
        elif self._ranking:
            select.value = self._ranking[0].host
        self.query_one("#create-advice", Static).update(
            Text(
                "\n".join(
                    f"{rank}. {fit.host}: {fit.summary()}"
                    for rank, fit in enumerate(self._ranking[:4], start=1)
                )
            )
        )

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "create-host" and event.value in {f.host for f in self._ranking}:
            self._host_chosen = self._host_chosen or event.value != self._ranking[0].host
        elif event.select.id == "create-boot":
            self._show_rows()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "create-cloud-init":
            self._show_rows()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.name in ("memory", "vcpus"):
            self._rank()

    # ---- the line it becomes ------------------------------------------------------------

    def command_line(self) -> str:
        """The `:create` line the form says; fields hidden for this boot source are left out."""
        words = ["create"]
        host = self.query_one("#create-host", Select).value
        if isinstance(host, str):
            words += ["--host", host]
        texts = {option: self._value(option) for option, _, _ in _FIELDS}
        path = texts.pop("path")
        if self.boot in ("import", "cdrom") and path:
            texts[self.boot] = path
        for option in ("kernel", "initrd", "cmdline"):
            if self.boot != "kernel":
                texts.pop(option)
        cloud = self.query_one("#create-cloud-init", Checkbox).value
        if cloud:
            texts.update({option: self._value(option) for option, _, _ in _CLOUD_FIELDS})
        firmware = self.query_one("#create-firmware", Select).value
        texts["firmware"] = str(firmware)
        for option, text in texts.items():
            if text:
                words += [f"--{option}", text]
        flags = {
            "pxe": self.boot == "pxe",
            "cloud-init": cloud,
            "start": self.query_one("#create-start", Checkbox).value,
            "console": self.query_one("#create-console", Checkbox).value,
        }
        words += [f"--{flag}" for flag, on in flags.items() if on]
        return shlex.join([*words, "--", self._value("name")])

    def _why(self, reason: str) -> None:
        self.query_one("#create-why", Static).update(Text(reason))

    def action_submit(self) -> None:
        self._submit()

    @work(exclusive=True, group="create-submit")
    async def _submit(self) -> None:
        """The form's line through the controller; a refusal stays on the form. The
        console, when asked, opens once the form has closed (it would close over it)."""
        self._why("")
        controller = self.kvm_app.controller
        try:
            typed = parse(self.command_line())
            options = {k: v for k, v in typed.options.items() if k != "console"}
            created = await controller.attempt(Command(typed.verb, typed.args, options))
        except (CommandError, HostError) as error:
            self._why(str(error))
            return
        if isinstance(created, GuestSnapshot):
            self.dismiss(True)
            if typed.flag("console"):
                controller.submit(Command("console", (created.ref,)))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "create-go":
            self._submit()
        else:
            self.dismiss(False)

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self._submit()

    def action_cancel(self) -> None:
        self.dismiss(False)
