"""The dialogs that start and steer a migration: where and how to migrate, and one number.

Every field is checked before its value is used: a refused value says why under the field
and keeps the dialog open, so nothing unchecked reaches `int()` or libvirt.

The migrate dialog measures the guests' dirty rate as it opens (`core/foresight.py`) and
forecasts the migration with the options as they are ticked and typed; Migrate does not wait
for it. A forecast that does not converge comes with its fix, one button: the bandwidth it
needs, or auto-converge when no cap is set.
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
from kvmtui.core.foresight import CALC_SECONDS, DirtyRate, Foresight, measure_guests
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


#: What the migrate dialog answers: the destination, the options, and each guest's forecast
#: by `guest.key` (skipped when Migrate came before the measurement).
MigrateAnswer = tuple[str, MigrationOptions, dict[str, Foresight]]
#: Guests whose forecast the dialog lists one per line; the rest are counted.
FORECAST_LINES = 4


class MigrateDialog(CheckedForm[MigrateAnswer]):
    """Destination and virsh's options; Enter in a field or on Migrate starts (when every
    field is valid), Esc cancels. The options ticked first are virsh migrate's own (none)
    unless the config's `[migrate] flags` names others, and the dialog says which: an
    operator who knows `virsh migrate` must not find `undefinesource` ticked unasked.
    Under the ranking, the forecast (see the module docstring)."""

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
        #: The measured dirty rates by `guest.key`; None while measuring.
        self.rates: dict[str, DirtyRate] | None = None
        self.foresights: dict[str, Foresight] = {}

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
            yield Static(
                Text(
                    f"Forecast: measuring the dirty rate ({CALC_SECONDS} s); "
                    "Migrate goes without waiting",
                    style="dim",
                ),
                id="migrate-forecast",
            )
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
                yield Button("", id="migrate-fix", variant="warning")
                yield Button("Migrate", id="migrate-go", variant="primary")

    def on_mount(self) -> None:
        # Keys typed ahead may have closed the dialog before it mounted: then nothing is here.
        for hidden in self.query("#why, #migrate-fix"):
            hidden.display = False
        for choices in self.query(RadioSet):
            choices.focus()
            self._advise()
            self._measure()

    @work(exclusive=True, group="migrate-forecast")
    async def _measure(self) -> None:
        """The guests' dirty rates, measured once; the forecast follows the form from then."""
        self.rates = await measure_guests(self.app.fleet, self.guests)  # type: ignore[attr-defined]  # in KvmTuiApp
        self._foresee()

    def _foresee(self) -> None:
        """The forecast for the options as the form has them now (a bandwidth being typed
        that is not valid yet leaves the last one), and the fix it calls for."""
        if self.rates is None or not self.query_one("#migrate-bandwidth", Input).is_valid:
            return
        options = self._options()
        self.foresights = {g.key: Foresight.of(g, self.rates[g.key], options) for g in self.guests}
        said = list(self.foresights.values())
        never = [f for f in said if f.forecast is not None and not f.forecast.converges]
        text = Text()
        text.append("Forecast: ", style="bold")
        if len(said) == 1:
            text.append(said[0].describe(), style="bold yellow" if never else "")
        else:
            for each in said[:FORECAST_LINES]:
                text.append(f"\n{each.line}", style="bold yellow" if each in never else "")
            if len(said) > FORECAST_LINES:
                text.append(f"\nand {len(said) - FORECAST_LINES} more")
        self.query_one("#migrate-forecast", Static).update(text)
        fix = self.query_one("#migrate-fix", Button)
        fix.label = self._fix_label(never, options)
        fix.display = bool(fix.label)

    @staticmethod
    def _fix_label(never: list[Foresight], options: MigrationOptions) -> str:
        """What the fix button does: the bandwidth every guest needs, or, with no cap (the
        link is the limit), auto-converge; empty when nothing needs fixing or it is on."""
        if not never:
            return ""
        if options.bandwidth_mib:
            return f"Use {max(f.forecast.suggested_mib for f in never if f.forecast)} MiB/s"
        return "" if "auto-converge" in options else "Tick auto-converge"

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """The fix button applies its fix; the others are the form's (Textual runs the
        form's handler after this one unless told not to)."""
        if event.button.id != "migrate-fix":
            return
        event.prevent_default()
        event.stop()
        label = str(event.button.label)
        if label.startswith("Use "):
            self.query_one("#migrate-bandwidth", Input).value = label.split()[1]
        else:
            self.query_one("#opt-auto-converge", Checkbox).value = True

    def on_input_changed(self, _event: Input.Changed) -> None:
        # The form's own handler (the reasons under the fields) runs after this one.
        self._foresee()

    def on_checkbox_changed(self, _event: Checkbox.Changed) -> None:
        self._foresee()

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

    def _options(self, uri: str = "") -> MigrationOptions:
        """The ticks and the bandwidth; only called once the bandwidth is valid."""
        ticked = frozenset(str(box.name) for box in self.query(Checkbox) if box.value)
        bandwidth = self.query_one("#migrate-bandwidth", Input).value.strip()
        return MigrationOptions(ticked, bandwidth_mib=int(bandwidth or 0), migrate_uri=uri)

    def options(self) -> MigrationOptions:
        """What the form says; only called once every field is valid."""
        return self._options(self.query_one("#migrate-uri", Input).value.strip())

    def submit(self) -> None:
        if self.show_why():
            if self.rates is None:  # Migrate before the measurement: it goes without
                self.foresights = {g.key: Foresight.skipped(g) for g in self.guests}
            self.dismiss((self.destination, self.options(), self.foresights))


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
