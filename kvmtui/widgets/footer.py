"""The footer of every kvmtui screen: the keys that act here, `?` (help) always in sight.

One widget drawing one line, where Textual's footer is a widget per key: it composes them
all again at every change of focus (each `/` or `:` line opened or closed, each dialog),
and mounting and styling a dozen widgets cost 60-90 ms on the loop, which the keys typed
next waited for (a name typed into the filter at 10,000 guests). Here a change of focus
redraws one line.

The help key comes first (Textual's footer lists the focused widget's keys, then the
screen's, then the app's, and cuts the line where the terminal ends: at 80 columns `?`,
the one key that lists every other, came last and was never shown), the palette's key
last, at the right; keys that cannot act now are dimmed. A click on a key presses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

#: The help key's action, as the app binds it (`KvmTuiApp.BINDINGS`, id `app.help`).
HELP_ACTIONS = frozenset({"help", "app.help"})


@dataclass(frozen=True)
class FooterEntry:
    """One key as the footer shows it."""

    key: str  # as bound, what a click presses
    key_display: str  # as shown
    description: str
    action: str
    enabled: bool


class KeysFooter(Widget):
    """See the module docstring."""

    DEFAULT_CSS = """
    KeysFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
    }
    """
    COMPONENT_CLASSES = {"keys-footer--key", "keys-footer--description"}
    DEFAULT_CSS += """
    KeysFooter > .keys-footer--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeysFooter > .keys-footer--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        #: Where each key was drawn on the line (start, end, entry), for clicks.
        self._spans: list[tuple[int, int, FooterEntry]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if screen is self.screen:
            self.refresh()

    def entries(self) -> list[FooterEntry]:
        """The keys shown, in order: help first, the palette's last, one per action."""
        seen: set[str] = set()
        shown: list[FooterEntry] = []
        palette: FooterEntry | None = None
        palette_key = self.app.COMMAND_PALETTE_BINDING
        for key, (_node, binding, enabled, _tooltip) in self.screen.active_bindings.items():
            if key == palette_key and self.app.ENABLE_COMMAND_PALETTE:
                palette = self._entry(binding, enabled)
                continue
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            shown.append(self._entry(binding, enabled))
        shown.sort(key=lambda entry: entry.action not in HELP_ACTIONS)  # stable: help first
        return [*shown, *([palette] if palette is not None else [])]

    def drawn(self) -> list[FooterEntry]:
        """The keys the last frame drew: those that fitted the line."""
        return [entry for _start, _end, entry in self._spans]

    def _entry(self, binding: Binding, enabled: bool) -> FooterEntry:
        return FooterEntry(
            binding.key,
            self.app.get_key_display(binding),
            binding.description,
            binding.action,
            enabled,
        )

    def render(self) -> Text:
        width = self.size.width
        key_style = self.get_component_rich_style("keys-footer--key")
        description_style = self.get_component_rich_style("keys-footer--description")
        entries = self.entries()
        palette_key = self.app.COMMAND_PALETTE_BINDING
        palette = entries.pop() if entries and entries[-1].key == palette_key else None
        palette_text = self._label(palette, key_style, description_style) if palette else Text()
        room = width - palette_text.cell_len - (1 if palette else 0)
        line = Text(no_wrap=True, overflow="crop")
        self._spans = []
        for entry in entries:
            label = self._label(entry, key_style, description_style)
            if line.cell_len + label.cell_len > room:
                break
            self._spans.append((line.cell_len, line.cell_len + label.cell_len, entry))
            line.append_text(label)
            line.append(" ")
        if palette is not None:
            line.pad_right(max(0, width - line.cell_len - palette_text.cell_len - 1))
            line.append("▏", style="dim")
            self._spans.append((line.cell_len, line.cell_len + palette_text.cell_len, palette))
            line.append_text(palette_text)
        return line

    @staticmethod
    def _label(entry: FooterEntry, key_style: Style, description_style: Style) -> Text:
        label = Text.assemble(
            (f" {entry.key_display} ", key_style),
            (f"{entry.description} " if entry.description else "", description_style),
        )
        if not entry.enabled:
            label.stylize("dim")
        return label

    def on_click(self, event: events.Click) -> None:
        for start, end, entry in self._spans:
            if start <= event.x < end:
                if entry.enabled:
                    self.app.simulate_key(entry.key)
                else:
                    self.app.bell()
                return
