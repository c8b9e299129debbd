"""Check boxes and radio buttons whose mark says whether they are on, in any terminal.

Textual draws the same mark on and off and tells them apart by colour alone: in a
monochrome terminal, over a jump box whose TERM lost its colours, in a pasted screenshot or
to a screen reader, a ticked migration flag and an unticked one look the same. These draw
their mark only when on.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox, RadioButton
from textual.widgets._toggle_button import ToggleButton


class _MarkedWhenOn(ToggleButton):
    # Second among the bases of the classes below: Textual's CSS follows the first base
    # only, so they keep matching the `Checkbox` / `RadioButton` rules of Textual and ours.
    #: The mark of an "on" button; an "off" one shows a blank in its place.
    MARK = "X"

    @property
    def _button(self) -> Content:
        # Textual's own drawing reads BUTTON_INNER: set per state, the rest stays Textual's.
        self.BUTTON_INNER = self.MARK if self.value else " "
        return super()._button


class TickBox(Checkbox, _MarkedWhenOn):
    """A Checkbox showing X when ticked and a blank when not."""


class RadioChoice(RadioButton, _MarkedWhenOn):
    """A RadioButton showing a dot when chosen and a blank when not."""

    MARK = "●"
