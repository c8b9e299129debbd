"""A page of text too long for a notification: `:help VERB`, a long answer to a verb.

A toast is gone in a few seconds and holds a few lines; a verb's usage, options and
summary (16 lines for `create`) must stay until read, and scroll when the terminal is
small. Esc (or q) closes the page.
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from kvmtui.core.commands import Verb
from kvmtui.screens.closing import ClosesOnce
from kvmtui.widgets.footer import KeysFooter

#: The width of a notification's text, and the most lines one shows well in its seconds:
#: longer answers open a page instead.
TOAST_WIDTH = 50
TOAST_LINES = 4


def too_long_for_a_toast(message: str) -> bool:
    """More lines, once wrapped, than a notification shows in the seconds it stays."""
    lines = sum(max(1, -(-len(line) // TOAST_WIDTH)) for line in message.splitlines())
    return lines > TOAST_LINES


def verb_page(verb: Verb) -> Table:
    """What `:help VERB` shows: what it does, its usage, arguments and options."""
    page = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    page.add_column(style="bold", no_wrap=True)
    page.add_column()
    page.add_row(Text("Does"), Text(verb.summary))
    page.add_row(Text("Usage"), Text(f":{verb.usage}"))
    for name in verb.positionals:
        page.add_row(Text(name), Text(_argument(verb, name, "required")))
    for name in verb.optional_positionals:
        page.add_row(Text(name), Text(_argument(verb, name, "optional")))
    for flag in sorted(verb.flags):
        page.add_row(Text(f"--{flag}"), Text("on when given"))
    for option in sorted(verb.valued):
        page.add_row(Text(f"--{option} {option.upper()}"), Text(_argument(verb, option, "")))
    page.add_row(
        Text("Changes"),
        Text(
            "yes: refused read-only, asks before what cannot be undone"
            if verb.mutating
            else "nothing: it only shows"
        ),
    )
    if verb.screen:
        page.add_row(Text("Needs"), Text("the full screen (not `kvmtui VERB` in a shell)"))
    return page


def _argument(verb: Verb, name: str, given: str) -> str:
    words = [given] if given else []
    if name in verb.numeric:
        words.append("a whole number")
    if verb.variadic and name == (verb.positionals or verb.optional_positionals)[-1]:
        words.append("takes every word left")
    return ", ".join(words) or "a value"


class TextPanel(ModalScreen[None], ClosesOnce[None]):
    """See the module docstring: a title (none for a verb's answer) and a scrolling page,
    over the current view."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="panel.close")
    ]

    def __init__(self, title: str, page: Text | Table) -> None:
        super().__init__()
        self._title = title
        self._page = page

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="panel"):
            # Verbs' answers carry guest names and libvirt's words: never markup.
            if self._title:
                yield Static(Text(self._title, style="bold underline"), id="panel-title")
            yield Static(self._page, id="panel-page")
        yield KeysFooter()

    def action_close(self) -> None:
        self.dismiss(None)
