"""A yes/no question for destructive and bulk actions, with Cancel focused."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from kvmtui.screens.closing import ClosesOnce


class ConfirmScreen(ModalScreen[bool], ClosesOnce[bool]):
    """Enter on the focused Cancel does nothing harmful; the action takes Tab then Enter."""

    BINDINGS = [
        Binding("escape,n", "answer(False)", "Cancel", id="confirm.cancel"),
        Binding("left,right", "app.focus_next", "Switch", show=False, id="confirm.switch"),
    ]

    #: Focused as the dialog first shows, before any key typed ahead is handled (a focus
    #: set in on_mount came after them: Tab, Enter typed at once pressed Cancel).
    AUTO_FOCUS = "#cancel"

    def __init__(self, title: str, detail: str, action_label: str) -> None:
        super().__init__()
        self._title = title
        self._detail = detail
        self._action_label = action_label

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            # Guest and host names and libvirt's words: shown as typed, never as markup.
            yield Static(self._title, id="question", markup=False)
            if self._detail:  # long (the XML `create` defines): it scrolls, Shift+Tab reaches it
                with VerticalScroll(id="detail-scroll"):
                    yield Static(self._detail, id="detail", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(self._action_label, id="confirm", variant="error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
