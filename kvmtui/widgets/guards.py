"""The one read-only rule of every screen and widget whose keys change something."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from textual.actions import parse
from textual.dom import DOMNode

from kvmtui.core.model import GuestSnapshot

if TYPE_CHECKING:
    from kvmtui.app import KvmTuiApp


class GuardsChanges(DOMNode):
    """The one read-only rule of every screen and widget whose keys change something.

    Where the controller would refuse the change (`Controller.refusal`: kvmtui runs
    read-only, or a host it touches is), such a key stays in the footer, dimmed, and
    pressing it says why in one line, the controller's own sentence ("start: kvmtui runs
    read-only (--readonly)"), rather than doing nothing and saying nothing. A node names
    its changing actions in MUTATING (action -> the word its refusal starts with; "" for
    the action's first argument, as in `act('start')`) and what a change from it would
    touch in `change_targets`; the app reports a refused key (`KvmTuiApp.on_key`)."""

    MUTATING: ClassVar[Mapping[str, str]] = {}

    if TYPE_CHECKING:
        app: KvmTuiApp

    def change_targets(self, action: str) -> tuple[Sequence[GuestSnapshot], Sequence[str]]:
        """The guests and hosts the changing `action` would touch if taken now."""
        return (), ()

    def _what(self, action: str, parameters: tuple[object, ...]) -> str | None:
        """The word a refusal of `action` starts with; None for an action that changes
        nothing."""
        if action not in self.MUTATING:
            return None
        return self.MUTATING[action] or (str(parameters[0]) if parameters else action)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A changing action the controller would refuse is shown dimmed (None)."""
        if self._what(action, parameters) is None:
            return True
        return None if self.app.controller.refusal(*self.change_targets(action)) else True

    def refuse(self, action: str) -> bool:
        """True, after the one line saying why, when the action string `action` (a
        binding's) would be refused."""
        _namespace, name, parameters = parse(action)
        what = self._what(name, parameters)
        return what is not None and self.app.controller.refused(what, *self.change_targets(name))
