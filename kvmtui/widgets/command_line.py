"""The one-line input at the bottom: `:` commands with completion and history, `/` filters."""

from __future__ import annotations

from collections.abc import Callable

from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input

from kvmtui.widgets.validators import CommandLine, PlainText


class PromptLine(Input):
    """An Input that knows its mode (`:` or `/`), completes with Tab and recalls history.

    Escape (or Ctrl+C, as in a shell) hands focus back without running anything; the
    filter mode applies as you type.
    """

    BINDINGS = [
        # Not a priority key: a Tab typed ahead travels behind the text typed ahead with it
        # (see `action_complete`) and must still complete when it reaches the app.
        Binding("tab", "complete", "Complete", show=False, id="prompt.complete"),
        Binding("up", "history(-1)", "Previous", show=False, id="prompt.previous"),
        Binding("down", "history(1)", "Next", show=False, id="prompt.next"),
        Binding("escape,ctrl+c", "cancel", "Cancel", show=False, id="prompt.cancel"),
    ]

    def __init__(self, completer: Callable[[str], list[str]], id: str | None = None) -> None:
        super().__init__(id=id, placeholder="")
        self.mode = ":"
        self._completer = completer
        self._history: list[str] = []
        self._history_at = 0
        self._completions: list[str] = []
        self._completion_at = -1
        self._completion_base = ""
        #: What had focus when the line opened: keys typed ahead travel through it.
        self._typed_via: Widget | None = None

    def open(self, mode: str, text: str = "") -> None:
        self.mode = mode
        self.placeholder = (
            "command (Tab completes, ? help, Esc cancels)"
            if mode == ":"
            else "filter by name, host or state (Enter keeps it, Esc clears)"
        )
        self.border_title = "command" if mode == ":" else "filter"
        self.border_subtitle = ""
        # A command is checked when sent (half a verb is no error yet), a filter as typed.
        self.validators = [CommandLine()] if mode == ":" else [PlainText()]
        self.validate_on = {"submitted"} if mode == ":" else {"changed", "submitted"}
        self.value = text
        self.cursor_position = len(text)
        self.display = True
        self._history_at = len(self._history)
        self._typed_via = self.screen.focused
        # At once, not via focus()'s queued call, so the keys that follow land here.
        self.screen.set_focus(self)

    def remember(self, line: str) -> None:
        if line and (not self._history or self._history[-1] != line):
            self._history.append(line)

    def action_complete(self) -> None:
        """Completes once the text typed before the Tab is in. Keys read before the line
        took focus went to the old focus and reach the line only on their way up through
        it, its parents and the app (`KvmTuiApp.on_key`): a completion sent the same way,
        queue by queue, arrives behind them; run at once it completed `:sta` pasted in one
        go as an empty line (`attach-disk`, then `sta`)."""
        hops = self._typed_via.ancestors_with_self if self._typed_via else []

        def relay(at: int) -> None:
            if at < len(hops):
                hops[at].call_later(relay, at + 1)
            else:
                self._complete()

        relay(0)

    def _complete(self) -> None:
        if self.mode != ":":
            return
        if self._completion_at < 0 or self.value != self._current_completion():
            self._completion_base = self.value
            self._completions = self._completer(self.value)
            self._completion_at = -1
        if not self._completions:
            self.app.bell()
            return
        self._completion_at = (self._completion_at + 1) % len(self._completions)
        self.value = self._current_completion()
        self.cursor_position = len(self.value)

    def _current_completion(self) -> str:
        if self._completion_at < 0:
            return self._completion_base
        head, _, _last = self._completion_base.rpartition(" ")
        choice = self._completions[self._completion_at]
        return f"{head} {choice}".lstrip() if head else choice

    def action_history(self, step: int) -> None:
        if self.mode != ":" or not self._history:
            return
        self._history_at = max(0, min(len(self._history), self._history_at + step))
        at_end = self._history_at == len(self._history)
        self.value = "" if at_end else self._history[self._history_at]
        self.cursor_position = len(self.value)

    def action_cancel(self) -> None:
        self.post_message(self.Cancelled(self))

    class Cancelled(Message):
        """Escape pressed: the screen closes the line (and clears a filter)."""

        def __init__(self, line: PromptLine) -> None:
            super().__init__()
            self.line = line
