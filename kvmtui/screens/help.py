"""`?` on any screen: that screen's keys as they are now (the config's `[keys]` applied),
read from its live bindings, a refused one marked; the views and how to reach them; the
`:` verbs; and the whole key map, the same table as docs/KEYS.md (`kvmtui.keys.key_map`,
handed in by the app)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from kvmtui.core.commands import VERBS
from kvmtui.screens.closing import ClosesOnce
from kvmtui.widgets.key_words import key_label
from kvmtui.widgets.live_table import LiveTable

if TYPE_CHECKING:
    from kvmtui.keys import KeyMeaning
    from kvmtui.views import View


def _is_generic(node: object, action: str) -> bool:
    """Cursor movement and focus keys every table has: summed up in one line instead."""
    return action in _GENERIC_ACTIONS or (
        isinstance(node, LiveTable) and action.split("(")[0] in _TABLE_MOVES
    )


_GENERIC_ACTIONS = {
    "app.focus_next",
    "app.focus_previous",
    "focus_next",
    "focus_previous",
    "screen.copy_text",
    "app.copy_text",
    "copy_text",
    "screen.minimize",
    "screen.maximize",
    "app.command_palette",
    "command_palette",
    "help_quit",
    "app.help_quit",
}
_CURSOR_MOVES = ("cursor_up", "cursor_down", "page_up", "page_down", "first", "last")
_TABLE_MOVES = {
    "cursor_up",
    "cursor_down",
    "page_up",
    "page_down",
    "first",
    "last",
    "scroll_left",
    "scroll_right",
    "select_cursor",
}


def _in_effect(screen: Screen) -> Iterator[tuple[str, Binding, bool]]:
    """Each key with the binding it stands for and whether it acts now (False: refused,
    shown dimmed in the footer), the config's `[keys]` applied.

    A key the focused table claims only to pass on (Enter selects the row; the screen acts
    on the selection) stands for the screen's own binding of that key, found further down
    Textual's binding chain (a private property: the only place the keymap is applied)."""
    for key, active in screen.active_bindings.items():
        if not _is_generic(active.node, active.binding.action):
            yield key, active.binding, active.enabled
        elif (passed_on := _further_down(screen, key)) is not None:
            yield key, passed_on, True


def _further_down(screen: Screen, key: str) -> Binding | None:
    """The first enabled, not generic binding of `key` in the screen's binding chain."""
    for node, bindings in screen._modal_binding_chain:
        for binding in bindings.key_to_bindings.get(key, []):
            if not _is_generic(node, binding.action) and screen.app._check_action_state(
                binding.action, node
            ):
                return binding
    return None


def keys_table(screen: Screen) -> Table:
    """Every enabled binding of `screen` (and the app), one row per action, with the id
    the config's `[keys]` knows it by."""
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column()
    table.add_column(style="dim")
    moves = [
        key_label(key)
        for key, active in screen.active_bindings.items()
        if isinstance(active.node, LiveTable) and active.binding.action in _CURSOR_MOVES
    ]
    if moves:
        table.add_row(" ".join(moves), "Move")
    seen: dict[tuple[str, str, bool], list[str]] = {}
    for key, binding, enabled in _in_effect(screen):
        description = binding.description or binding.action
        seen.setdefault((description, binding.id or "", enabled), []).append(key_label(key))
    for (description, binding_id, enabled), keys in seen.items():
        what = (
            Text(description)
            if enabled
            else Text(f"{description} (refused: read-only)", style="dim")
        )
        table.add_row(" ".join(dict.fromkeys(keys)), what, binding_id)
    return table


def key_map_table(key_map: Sequence[KeyMeaning]) -> Table:
    """The whole key map (defaults), as docs/KEYS.md has it."""
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column()
    table.add_column(style="dim")
    for row in key_map:
        table.add_row(row.key, row.meaning, ", ".join(row.ids))
    return table


def views_table(screen: Screen, views: Sequence[View]) -> Table:
    """Each view with the key that shows it now and its `:` aliases."""
    keys: dict[str, list[str]] = {}
    for key, active in screen.active_bindings.items():
        if active.binding.id:
            keys.setdefault(active.binding.id, []).append(key_label(key))
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column(style="bold")
    table.add_column()
    for view in views:
        table.add_row(
            " ".join(keys.get(view.binding_id, [])),
            " ".join(f":{alias}" for alias in view.aliases),
            Text(view.summary),
        )
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
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help.close")]

    def __init__(
        self,
        for_screen: Screen,
        title: str,
        readonly: bool,
        views: Sequence[View],
        key_map: Sequence[KeyMeaning],
    ) -> None:
        super().__init__()
        self._key_map = key_map
        self._for = for_screen
        self._title = title
        self._readonly = readonly
        self._views = views

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Text(f"{self._title}: keys", style="bold underline"))
            yield Static(keys_table(self._for))
            yield Static(Text("\nViews", style="bold underline"))
            yield Static(views_table(self._for, self._views))
            yield Static(
                Text("\n: commands (virsh verbs and argument order)", style="bold underline")
            )
            yield Static(verbs_table(self._readonly))
            if self._readonly:
                yield Static(
                    Text(
                        "\nRead-only: keys that change something are dimmed; "
                        "pressing one says why.",
                        style="italic",
                    )
                )
            yield Static(
                Text(
                    "\nThe key map (defaults; [keys] in the config changes them)",
                    style="bold underline",
                )
            )
            yield Static(key_map_table(self._key_map))
            yield Static(Text("\nEsc closes this help.", style="dim"))

    def action_close(self) -> None:
        self.dismiss(None)
