"""The guest list's tag dialog (`#`): tags to add and, prefixed with `-`, to remove, for
the guest under the cursor or every marked guest. It submits `tag NAME... --add TAGS
--remove TAGS`, so the checks, question and report are the verb's own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Input, Label, Static

from kvmtui import format as fmt
from kvmtui.core.commands import CommandError
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.tags import check_tag
from kvmtui.screens.form import CheckedForm


@dataclass(frozen=True)
class TagRequest:
    add: tuple[str, ...]
    remove: tuple[str, ...]


def tag_request(text: str) -> TagRequest:
    """`web tier=db -old`: tags to add, and those after a `-` to remove; CommandError
    for a word that is no tag."""
    words = text.split()
    remove = tuple(check_tag(w[1:]) for w in words if w.startswith("-"))
    add = tuple(check_tag(w) for w in words if not w.startswith("-"))
    return TagRequest(add, remove)


class TagWords(Validator):
    """At least one tag, each one `check_tag` takes."""

    def validate(self, value: str) -> ValidationResult:
        if not value.split():
            return self.failure("type a tag, or -TAG to remove one", value)
        try:
            tag_request(value)
        except CommandError as error:
            return self.failure(str(error), value)
        return self.success()


class TagDialog(CheckedForm[TagRequest]):
    """One line of tags; Enter or Tag gives the request, Esc cancels."""

    SUBMIT = "tag-go"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="tag_dialog.cancel")
    ]

    def __init__(self, guests: Sequence[GuestSnapshot]) -> None:
        super().__init__()
        self.guests = guests

    def compose(self) -> ComposeResult:
        if len(self.guests) == 1:
            guest = self.guests[0]
            title = f"Tags of {guest.name} (on {guest.host})"
            now = " ".join(guest.tags) or "none"
        else:
            hosts = fmt.plural(len({g.host for g in self.guests}), "host")
            title = f"Tag {len(self.guests)} guests on {hosts}"
            common = set.intersection(*(set(g.tags) for g in self.guests))
            now = " ".join(sorted(common)) or "none"
        with Vertical(id="tag-dialog", classes="guest-dialog"):
            yield Static(Text(title), classes="dialog-title")
            with Horizontal(classes="migrate-field"):
                yield Label("Tags")
                yield Input(
                    placeholder="web tier=web -old",
                    id="tag-words",
                    name="Tags",
                    validators=[TagWords()],
                )
            yield Static(
                Text(
                    f"Now: {now}. A word adds a tag, -TAG removes one (-KEY any KEY=VALUE); "
                    "KEY=VALUE replaces the key's value. Kept in the guest's own XML."
                ),
                classes="dialog-note",
            )
            yield Static(id="why")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="tag-cancel")
                yield Button("Tag", id="tag-go", variant="primary")

    def on_mount(self) -> None:
        # Keys typed ahead may have closed the dialog before it mounted: then nothing is here.
        for why in self.query("#why"):
            why.display = False
        for field in self.query("#tag-words").results(Input):
            field.focus()

    def submit(self) -> None:
        if self.show_why():
            self.dismiss(tag_request(self.query_one("#tag-words", Input).value))
