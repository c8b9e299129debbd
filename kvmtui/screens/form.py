"""The dialog form every kvmtui dialog with input lines is: each field shows why a value is
refused, as it is typed and on Enter, so nothing unchecked reaches `int()` or libvirt.

Enter in a field or the submit button (`SUBMIT`, an id) submits through `submit()`, which
checks the fields first; any other button, or Esc, cancels with None.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar, TypeVar

from rich.text import Text
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from kvmtui.screens.closing import ClosesOnce

Answer = TypeVar("Answer")


def _why(input_: Input) -> str:
    """Why the field's value is refused, '' when it is fine."""
    result = input_.validate(input_.value)
    if result is None or result.is_valid:
        return ""
    return " ".join(result.failure_descriptions)


class CheckedForm(ModalScreen[Answer | None], ClosesOnce[Answer | None]):
    """See the module docstring."""

    #: The id of the button that submits the form.
    SUBMIT: ClassVar[str] = ""

    @abstractmethod
    def submit(self) -> None:
        """Dismisses the dialog with its answer when the fields allow it (`show_why`)."""

    def show_why(self) -> bool:
        """Writes each refused field's reason in `#why`; True when every field is fine."""
        reasons = [f"{input_.name}: {why}" for input_ in self.query(Input) if (why := _why(input_))]
        box = self.query_one("#why", Static)
        box.update(Text("\n".join(reasons), style="bold red"))
        box.display = bool(reasons)
        return not reasons

    def on_input_changed(self, _event: Input.Changed) -> None:
        self.show_why()

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == self.SUBMIT:
            self.submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
