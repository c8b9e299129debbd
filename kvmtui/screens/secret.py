"""Asking the operator for a password or passphrase: typed hidden, handed over, forgotten.

The text goes straight from the Input to the caller (asyncssh) and is never logged, echoed
or kept by kvmtui; Esc answers None, which makes asyncssh give up that method.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from kvmtui.screens.closing import ClosesOnce
from kvmtui.widgets.validators import PlainText, refusal

T = TypeVar("T")


async def ask(app: App[Any], screen: ModalScreen[T]) -> T | None:
    """Shows a dialog from any coroutine (no worker needed) and waits for its answer."""
    answer: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()

    def settle(result: T | None) -> None:
        if not answer.done():
            answer.set_result(result)

    app.push_screen(screen, callback=settle)
    return await answer


class SecretScreen(ModalScreen[str | None], ClosesOnce[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="secret.cancel")]

    def __init__(self, prompt: str) -> None:
        super().__init__()
        self._prompt = prompt

    def compose(self) -> ComposeResult:
        with Vertical(id="secret-dialog"):
            yield Static(self._prompt, id="secret-prompt", markup=False)  # names a host
            yield Input(
                password=True,
                id="secret-input",
                validators=[PlainText()],
                validate_on={"submitted"},
            )
            yield Static("Enter to send · Esc to cancel", id="secret-hint")

    def on_mount(self) -> None:
        for field in self.query(Input):  # none when closed before it mounted
            field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        reason = refusal(event.validation_result)
        if reason:  # names the bad character only, never the secret
            self.query_one("#secret-hint", Static).update(
                Text(f"✗ {reason} · Esc to cancel", style="bold red")
            )
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


async def ask_secret(app: App[Any], prompt: str) -> str | None:
    return await ask(app, SecretScreen(prompt))
