"""The dialogs that start and steer a migration: where and how to migrate, and one number.

Every field is checked before its value is used: a refused value says why under the field
and keeps the dialog open, so nothing unchecked reaches `int()` or libvirt.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.validation import Integer, ValidationResult, Validator
from textual.widgets import Button, Checkbox, Input, Label, RadioSet, Static

from kvmtui.core import advice
from kvmtui.core.errors import HostError
from kvmtui.core.migration import (
    MAX_BANDWIDTH_MIB,
    MIGRATION_FLAGS,
    MigrationOptions,
    default_migrate_uri,
)
from kvmtui.core.model import GuestSnapshot
from kvmtui.screens.form import CheckedForm
from kvmtui.widgets.toggles import RadioChoice, TickBox


class MigrateUri(Validator):
    """Empty (kvmtui picks the destination's address) or `scheme://host[:port]`."""

    def validate(self, value: str) -> ValidationResult:
        text = value.strip()
        if not text:
            return self.success()
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as error:
            return self.failure(f"Not a URI: {error}.")
        if not parts.scheme or not parts.netloc:
            return self.failure("Must look like tcp://HOST[:PORT], or be empty.")
        return self.success()


class MigrateDialog(CheckedForm[tuple[str, MigrationOptions]]):
    """Destination and virsh's options; Enter in a field or on Migrate starts (when every
    field is valid), Esc cancels. The options ticked first are virsh migrate's own (none)
    unless the config's `[migrate] flags` names others, and the dialog says which: an
    operator who knows `virsh migrate` must not find `undefinesource` ticked unasked."""

    SUBMIT = "migrate-go"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="migrate.cancel")
    ]

    def __init__(
        self,
        guests: list[GuestSnapshot],
        destinations: list[str],
        uris: dict[str, str],
        configured: frozenset[str] | None = None,
    ) -> None:
        super().__init__()
        self.guests = guests
        self.destinations = destinations
        self.uris = uris
        #: The config's `[migrate] flags`; None: virsh's defaults.
        self.configured = configured

    def compose(self) -> ComposeResult:
        if len(self.guests) == 1:
            what = f"{self.guests[0].name} (on {self.guests[0].host})"
        else:
            what = f"{len(self.guests)} guests"
        with Vertical(id="migrate-dialog"):
            yield Static(Text(f"Migrate {what} to:"), id="migrate-title")
            with RadioSet(id="migrate-dest"):
                for index, name in enumerate(self.destinations):
                    yield RadioChoice(Text(name), value=index == 0)
            yield Static(Text("Ranking the hosts..."), id="migrate-advice")
            ticked = self.configured or frozenset()
            with Grid(id="migrate-options"):
                for flag in MIGRATION_FLAGS:
                    yield TickBox(
                        flag.word, flag.word in ticked, name=flag.word, id=f"opt-{flag.word}"
                    )
            yield Static(
                Text(
                    "Ticked first: from the config, [migrate] flags"
                    if self.configured is not None
                    else "Ticked first: virsh migrate's defaults, none (not live: the guest "
                    "pauses while it moves; it stays defined on its source)",
                    style="dim",
                ),
                id="migrate-defaults",
            )
            with Horizontal(classes="migrate-field"):
                yield Label("Bandwidth MiB/s")
                yield Input(
                    placeholder="no cap",
                    type="integer",
                    id="migrate-bandwidth",
                    name="Bandwidth",
                    valid_empty=True,
                    validators=[
                        Integer(
                            1,
                            MAX_BANDWIDTH_MIB,
                            failure_description=(
                                f"a whole number from 1 to {MAX_BANDWIDTH_MIB}, or empty for no cap"
                            ),
                        )
                    ],
                )
            with Horizontal(classes="migrate-field"):
                yield Label("Migrate URI")
                yield Input(
                    placeholder=self._uri_hint(self.destinations[0]),
                    id="migrate-uri",
                    name="Migrate URI",
                    validators=[MigrateUri()],
                )
            yield Static(id="why")
            with Horizontal(id="migrate-buttons"):
                yield Button("Cancel", id="migrate-cancel")
                yield Button("Migrate", id="migrate-go", variant="primary")

    def on_mount(self) -> None:
        # Keys typed ahead may have closed the dialog before it mounted: then nothing is here.
        for why in self.query("#why"):
            why.display = False
        for choices in self.query(RadioSet):
            choices.focus()
            self._advise()

    @work(exclusive=True, group="migrate-advice")
    async def _advise(self) -> None:
        """The placement advice for these guests, best first, under the destinations."""
        fleet = self.app.fleet  # type: ignore[attr-defined]  # the dialog runs in KvmTuiApp
        try:
            if len(self.guests) == 1:
                ranking = await advice.advise_for(fleet, self.guests[0])
            else:
                ranking = await advice.advise(
                    fleet,
                    sum(g.memory_kib for g in self.guests) * 1024,
                    sum(g.vcpus for g in self.guests),
                    exclude=sorted({g.host for g in self.guests}),
                )
        except HostError as error:
            lines = [f"no advice: {error}"]
        else:
            lines = [
                f"{rank}. {fit.host}: {fit.summary()}"
                for rank, fit in enumerate(
                    (f for f in ranking if f.host in self.destinations), start=1
                )
            ]
        self.query_one("#migrate-advice", Static).update(Text("\n".join(lines)))

    def _uri_hint(self, dest: str) -> str:
        return default_migrate_uri(self.uris.get(dest, "")) or "libvirt's default"

    @property
    def destination(self) -> str:
        index = self.query_one(RadioSet).pressed_index
        return self.destinations[max(index, 0)]

    def on_radio_set_changed(self, _event: RadioSet.Changed) -> None:
        self.query_one("#migrate-uri", Input).placeholder = self._uri_hint(self.destination)

    def options(self) -> MigrationOptions:
        """What the form says; only called once every field is valid."""
        ticked = frozenset(str(box.name) for box in self.query(Checkbox) if box.value)
        bandwidth = self.query_one("#migrate-bandwidth", Input).value.strip()
        uri = self.query_one("#migrate-uri", Input).value.strip()
        return MigrationOptions(ticked, bandwidth_mib=int(bandwidth or 0), migrate_uri=uri)

    def submit(self) -> None:
        if self.show_why():
            self.dismiss((self.destination, self.options()))


class AskNumberScreen(CheckedForm[int]):
    """One whole number between `low` and `high` (a bandwidth, a downtime); a refused value
    says why and keeps asking; Esc or an empty line cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="ask.cancel")]

    def __init__(self, question: str, low: int, high: int) -> None:
        super().__init__()
        self.question = question
        self.low = low
        self.high = high

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-number"):
            yield Static(Text(f"{self.question} ({self.low} to {self.high})"))
            yield Input(
                type="integer",
                id="ask-number-value",
                name="Value",
                valid_empty=True,
                validators=[
                    Integer(
                        self.low,
                        self.high,
                        failure_description=(f"a whole number from {self.low} to {self.high}"),
                    )
                ],
            )
            yield Static(id="why")

    def on_mount(self) -> None:
        for why in self.query("#why"):  # none when closed before it mounted
            why.display = False

    def submit(self) -> None:
        text = self.query_one(Input).value.strip()
        if not text:
            self.dismiss(None)
        elif self.show_why():
            self.dismiss(int(text))
