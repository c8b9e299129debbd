"""SSH host keys kvmtui has never seen: listed with their fingerprints, trusted only on purpose.

One review screen holds every unknown key waiting for an answer: started with many new hosts,
kvmtui asks once, in a list (host, key type, fingerprint), instead of one dialog after
another, and a key that arrives while the list is open joins it. Each key can be rejected,
accepted once or accepted and saved, one host at a time or all at once.

Reject is focused, so Enter on a surprise refuses the selected key and Esc refuses them all;
accepting takes a deliberate move. A changed key never reaches this screen: the core refuses
it outright.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Static

from kvmtui.core.ssh import HostKeyAnswer, HostKeyQuestion
from kvmtui.screens.closing import ClosesOnce

_ANSWER_BUTTONS = (
    ("reject", "Reject", "primary"),
    ("once", "Accept once", "default"),
    ("save", "Accept and save", "warning"),
)


def _where(question: HostKeyQuestion) -> str:
    return question.host if question.port == 22 else f"[{question.host}]:{question.port}"


@dataclass
class _Pending:
    question: HostKeyQuestion
    answer: asyncio.Future[HostKeyAnswer] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class HostKeyReviewScreen(ModalScreen[None], ClosesOnce[None]):
    """Every unknown host key still waiting for the operator; closes when none is left."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "answer_all('reject')", "Reject all", id="hostkey.reject_all"),
        Binding("R", "answer_all('reject')", "Reject all", show=False, id="hostkey.reject_all_key"),
        Binding(
            "O", "answer_all('once')", "Accept all once", show=False, id="hostkey.accept_all_once"
        ),
        Binding(
            "S", "answer_all('save')", "Accept and save all", show=False, id="hostkey.save_all"
        ),
        Binding("up", "move(-1)", "Previous key", show=False, id="hostkey.up"),
        Binding("down", "move(1)", "Next key", show=False, id="hostkey.down"),
        Binding("left", "app.focus_previous", "Previous", show=False, id="hostkey.previous"),
        Binding("right", "app.focus_next", "Next", show=False, id="hostkey.next"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._pending: dict[str, _Pending] = {}
        self._serial = 0
        self._listed = False  # rows are added from on_mount on; before, keys only queue

    def compose(self) -> ComposeResult:
        with Vertical(id="hostkey-dialog"):
            yield Static(id="hostkey-title")
            table: DataTable[Text] = DataTable(
                id="hostkey-table", cursor_type="row", zebra_stripes=True
            )
            table.can_focus = False  # the buttons keep the focus; up/down move the cursor
            yield table
            yield Static(id="hostkey-print")
            yield Static(id="hostkey-detail")
            with Horizontal(id="hostkey-buttons"):
                for answer, label, variant in _ANSWER_BUTTONS:
                    yield Button(label, id=answer, variant=variant)  # type: ignore[arg-type]  # a Literal
            yield Static(id="hostkey-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Host", "Key type", "Fingerprint")
        for key, pending in self._pending.items():
            self._add_row(key, pending.question)
        self._listed = True
        self._show_selected()
        self.query_one("#reject", Button).focus()

    def on_unmount(self) -> None:
        """Whatever closed the screen, no connection may wait for ever: unanswered keys
        count as rejected."""
        self._forget()
        for pending in self._pending.values():
            if not pending.answer.done():
                pending.answer.set_result(HostKeyAnswer.REJECT)

    # ---- the queue ----------------------------------------------------------------------

    async def ask(self, question: HostKeyQuestion) -> HostKeyAnswer:
        """Adds one key to the list and waits for the operator's answer about it."""
        self._serial += 1
        key = str(self._serial)
        pending = _Pending(question)
        self._pending[key] = pending
        if self._listed:
            self._add_row(key, question)
            self._show_selected()
        return await pending.answer

    @property
    def questions(self) -> list[HostKeyQuestion]:
        """The keys still waiting, in the order they arrived."""
        return [pending.question for pending in self._pending.values()]

    def _add_row(self, key: str, q: HostKeyQuestion) -> None:
        self.query_one(DataTable).add_row(
            Text(_where(q)), Text(q.key_type), Text(q.fingerprint), key=key
        )

    def _selected_key(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def _show_selected(self) -> None:
        count = len(self._pending)
        title = "Unknown host key" if count == 1 else f"{count} unknown host keys"
        self.query_one("#hostkey-title", Static).update(Text(title))
        key = self._selected_key()
        if key is None:
            return
        q = self._pending[key].question
        self.query_one("#hostkey-print", Static).update(
            Text(f"{_where(q)}: {q.key_type} key fingerprint is\n{q.fingerprint}")
        )
        self.query_one("#hostkey-detail", Static).update(
            Text(
                f"It is not in {q.known_hosts}. Compare the fingerprint with the host's own "
                "before trusting it."
            )
        )
        hint = "The buttons answer for the selected host."
        if count > 1:
            hint = (
                "Up/Down choose a host; the buttons answer for it. For all at once: "
                "R reject, O accept once, S accept and save. Esc rejects all."
            )
        self.query_one("#hostkey-hint", Static).update(Text(hint))

    # ---- answers ------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        key = self._selected_key()
        if key is not None:
            self._settle([key], HostKeyAnswer(event.button.id or "reject"))

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_selected()

    def action_move(self, step: int) -> None:
        table = self.query_one(DataTable)
        if step < 0:
            table.action_cursor_up()
        else:
            table.action_cursor_down()

    def action_answer_all(self, answer: str) -> None:
        self._settle(list(self._pending), HostKeyAnswer(answer))

    def _settle(self, keys: list[str], answer: HostKeyAnswer) -> None:
        table = self.query_one(DataTable)
        for key in keys:
            pending = self._pending.pop(key)
            if not pending.answer.done():
                pending.answer.set_result(answer)
            table.remove_row(key)
        if self._pending:
            self._show_selected()
        else:
            self._forget()  # a key arriving from now on opens a fresh screen
            self.dismiss()

    def _forget(self) -> None:
        if _open_reviews.get(self.app) is self:
            del _open_reviews[self.app]


_open_reviews: weakref.WeakKeyDictionary[App[Any], HostKeyReviewScreen] = (
    weakref.WeakKeyDictionary()
)


async def ask_host_key(app: App[Any], question: HostKeyQuestion) -> HostKeyAnswer:
    """The operator's answer about one unknown key, asked on the app's review screen: the
    open one if there is one (so keys asked together are listed together), else a new one."""
    review = _open_reviews.get(app)
    if review is None:
        review = _open_reviews[app] = HostKeyReviewScreen()
        app.push_screen(review)
    return await review.ask(question)
