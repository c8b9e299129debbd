"""A checkbox whose state shows without colour: `X` when ticked, blank when not.

Textual's Checkbox draws `X` either way and tells the states apart by colour alone, which a
monochrome terminal or a colour-blind operator cannot read; for a box that decides whether
files are deleted that is not enough.
"""

from __future__ import annotations

from textual.widgets import Checkbox


class TickBox(Checkbox):
    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # Textual's constant, made to follow the value
        return "X" if self.value else " "
