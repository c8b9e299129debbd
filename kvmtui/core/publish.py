"""How the core tells the UI that something it shows has changed: one mechanism for all.

The fleet (hosts and guests), the migration manager (jobs) and every later source of rows
(snapshots, pools, networks ...) derive from `Publisher`. A listener is told only *that*
its publisher changed and reads the new state itself, so a burst of changes costs one read
per repaint, not one per change; the app's single adapter (`kvmtui.feed`) turns each notice
into a Textual message for the screens on display. Nothing here knows about Textual.
"""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[], object]


class Publisher:
    """Something whose state the UI shows; `publish()` after each change of that state."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def publish(self) -> None:
        """Tells every listener, in the order they came; a listener may remove itself."""
        for listener in list(self._listeners):
            listener()
