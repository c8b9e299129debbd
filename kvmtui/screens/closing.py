"""Screens that close once: the base of every dialog and pushed screen."""

from __future__ import annotations

from textual.await_complete import AwaitComplete
from textual.screen import Screen, ScreenResultType


class ClosesOnce(Screen[ScreenResultType]):
    """A screen whose `dismiss` closes this screen once, or nothing.

    Textual's `Screen.dismiss` hands the result on, then pops whatever screen is on top: a
    second dismiss (Enter on a button and Esc typed together, a view key closing every
    screen from inside the first dismiss's result callback, a screen something else already
    closed) would set the result twice (InvalidStateError), close the screen under this
    one, or raise ScreenStackError on the last one."""

    _dismissing = False

    def dismiss(self, result: ScreenResultType | None = None) -> AwaitComplete:
        if self._dismissing or not self.is_active:
            return AwaitComplete.nothing()  # type: ignore[no-untyped-call]  # unannotated in Textual 8
        self._dismissing = True
        return super().dismiss(result)
