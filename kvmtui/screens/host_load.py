"""Screens that show the hosts' load keep it fresh while they show."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from textual.screen import Screen

if TYPE_CHECKING:
    from kvmtui.app import KvmTuiApp


class ShowsHostLoad(Screen[Any]):
    """Mixed into a screen that shows the hosts' CPU and memory load (the hosts view, the
    CPU map's history): while it is on screen, every host reads its load counters every
    tick; otherwise only now and then (see core.poller.LOAD_UNSEEN_EVERY). Textual calls
    each class's own handler along the MRO, so these run beside the screen's own. A popped
    screen may be removed before its suspension is handled: unmounting counts too."""

    _showing_load = False

    def on_screen_resume(self) -> None:
        self._show_load(True)

    def on_screen_suspend(self) -> None:
        self._show_load(False)

    def on_unmount(self) -> None:
        self._show_load(False)

    def _show_load(self, showing: bool) -> None:
        if showing == self._showing_load:
            return
        self._showing_load = showing
        fleet = cast("KvmTuiApp", self.app).fleet
        if showing:
            fleet.watch_host_load()
        else:
            fleet.unwatch_host_load()
