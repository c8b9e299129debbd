"""An SSH host key kvmtui has never seen: shown with its fingerprint, trusted only on purpose.

Reject is focused, so Enter on a surprise dialog refuses; accepting takes Tab first.
A changed key never reaches this dialog: the core refuses it outright.
"""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from kvmtui.core.ssh import HostKeyAnswer, HostKeyQuestion
from kvmtui.screens.closing import ClosesOnce
from kvmtui.screens.secret import ask


class HostKeyScreen(ModalScreen[HostKeyAnswer], ClosesOnce[HostKeyAnswer]):
    BINDINGS = [
        Binding("escape", "answer('reject')", "Reject"),
        Binding("left", "app.focus_previous", "Previous", show=False),
        Binding("right", "app.focus_next", "Next", show=False),
    ]

    def __init__(self, question: HostKeyQuestion) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        q = self.question
        where = q.host if q.port == 22 else f"[{q.host}]:{q.port}"
        with Vertical(id="hostkey-dialog"):
            # `[host]:port` is not markup; names and paths are shown as they are.
            yield Static(f"Unknown host key for {where}", id="hostkey-title", markup=False)
            yield Static(f"{q.key_type} key fingerprint is\n{q.fingerprint}", id="hostkey-print",
                         markup=False)
            yield Static(f"It is not in {q.known_hosts}. Compare the fingerprint with the "
                         "host's own before trusting it.", id="hostkey-detail", markup=False)
            with Horizontal(id="hostkey-buttons"):
                yield Button("Reject", id="reject", variant="primary")
                yield Button("Accept once", id="once")
                yield Button("Accept and save", id="save", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#reject", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id or "reject")

    def action_answer(self, answer: str) -> None:
        self.dismiss(HostKeyAnswer(answer))


async def ask_host_key(app: App[Any], question: HostKeyQuestion) -> HostKeyAnswer:
    return await ask(app, HostKeyScreen(question)) or HostKeyAnswer.REJECT
