"""The footer of every kvmtui screen: Textual's, with `?` (help) always in sight."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: The help key's action, as the app binds it (`KvmTuiApp.BINDINGS`, id `app.help`).
HELP_ACTIONS = frozenset({"help", "app.help"})


class KeysFooter(Footer):
    """Textual's footer lists the focused widget's keys, then the screen's, then the app's,
    and cuts the line where the terminal ends: at 80 columns the guest list's keys filled it
    and `?`, the one key that lists every other, came last and was never shown. Here it is
    docked at the left, as Textual docks the palette's key at the right."""

    DEFAULT_CSS = """
    KeysFooter FooterKey.-help {
        dock: left;
    }
    """

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, FooterKey) and widget.action in HELP_ACTIONS:
                widget.add_class("-help")
            yield widget
