"""`?` on any screen: that screen's keys, read from its live bindings, and the `:` verbs."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from kvmtui.core.commands import VERBS
from kvmtui.screens.closing import ClosesOnce
from kvmtui.widgets.live_table import LiveTable

_KEY_NAMES = {"question_mark": "?", "slash": "/", "colon": ":", "space": "space",
              "escape": "Esc", "enter": "Enter", "less_than_sign": "<",
              "greater_than_sign": ">"}


def _key_label(key: str) -> str:
    return _KEY_NAMES.get(key, key.replace("ctrl+", "Ctrl+").replace("shift+", "Shift+"))


def _is_generic(node: object, action: str) -> bool:
    """Cursor movement and focus keys every table has: summed up in one line instead."""
    return action in _GENERIC_ACTIONS or (
        isinstance(node, LiveTable) and action.split("(")[0] in _TABLE_MOVES)


_GENERIC_ACTIONS = {"app.focus_next", "app.focus_previous", "focus_next", "focus_previous",
                    "screen.copy_text", "app.copy_text", "copy_text", "screen.minimize",
                    "screen.maximize", "app.command_palette", "command_palette"}
_TABLE_MOVES = {"cursor_up", "cursor_down", "page_up", "page_down", "first", "last",
                "scroll_left", "scroll_right", "select_cursor"}


def keys_table(screen: Screen) -> Table:
    """Every enabled binding of `screen` (and the app), one row per action."""
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column()
    seen: dict[str, list[str]] = {}
    table.add_row("↑ ↓ PgUp PgDn Home End", "Move")
    for key, active in screen.active_bindings.items():
        if not active.enabled or _is_generic(active.node, active.binding.action):
            continue
        binding = active.binding
        description = binding.description or binding.action
        seen.setdefault(description, []).append(_key_label(key))
    for description, keys in seen.items():
        table.add_row(" ".join(dict.fromkeys(keys)), description)
    return table


def verbs_table(readonly: bool) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column()
    for verb in VERBS.values():
        if readonly and verb.mutating:
            continue
        table.add_row(":" + verb.usage, Text(verb.summary))
    return table


class HelpScreen(ModalScreen[None], ClosesOnce[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, for_screen: Screen, title: str, readonly: bool) -> None:
        super().__init__()
        self._for = for_screen
        self._title = title
        self._readonly = readonly

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Text(f"{self._title}: keys", style="bold underline"))
            yield Static(keys_table(self._for))
            yield Static(Text("\n: commands (virsh verbs and argument order)",
                              style="bold underline"))
            yield Static(verbs_table(self._readonly))
            if self._readonly:
                yield Static(Text("\nRead-only: actions that change guests are hidden.",
                                  style="italic"))
            yield Static(Text("\nEsc closes this help.", style="dim"))

    def action_close(self) -> None:
        self.dismiss(None)
