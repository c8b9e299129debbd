"""The one way core changes reach the screens: publisher notices become `Published` messages.

The app owns the services (the fleet, the migration manager, later ones); each is a core
`Publisher`. `ScreenFeed` listens to all of them and, at most once per `delay`, posts one
`Published` message naming the changed publishers to each screen the operator can see (the
top screen, and what shows through beneath modal dialogs). A screen reads what it shows when
the message is about a topic it shows (a view also when it comes back to the top, in
`on_screen_resume`), so no screen needs a timer to poll data the core already has.

A burst of changes (fifty lifecycle events, a tick plus a migration sample) costs one
message per visible screen; a hidden screen costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from textual.app import App, ScreenStackError
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer

from kvmtui.core.publish import Publisher


class Published(Message, bubble=False):
    """The publishers the app calls `topics` have changed: read again what you show."""

    def __init__(self, topics: frozenset[str]) -> None:
        super().__init__()
        self.topics = topics

    def about(self, *topics: str) -> bool:
        """Whether any of `topics` changed."""
        return not self.topics.isdisjoint(topics)


class ScreenFeed:
    """Follows the app's publishers and tells the visible screens; see the module doc."""

    def __init__(
        self,
        app: App[Any],
        publishers: Mapping[str, Publisher],
        delay: float,
        readers: Mapping[str, Callable[[], object]] | None = None,
    ) -> None:
        """`readers` run at delivery, before the screens are told, for state the UI derives
        from a publisher (the sparklines' history from the fleet): at most once per `delay`
        as well, where once per notice cost a pass over every guest of the fleet for each
        host's tick."""
        self._app = app
        self._delay = delay
        self._readers = dict(readers or {})
        self._pending: set[str] = set()
        self._timer: Timer | None = None
        for topic, publisher in publishers.items():
            publisher.add_listener(partial(self._changed, topic))

    def _changed(self, topic: str) -> None:
        self._pending.add(topic)
        if self._timer is None:
            self._timer = self._app.set_timer(self._delay, self._deliver)

    def deliver_now(self) -> None:
        """What is pending goes out now, not after the delay: a moment the operator waits
        for (the whole fleet's first tables in) is not held back by the throttle."""
        if self._timer is not None:
            self._timer.stop()
            self._deliver()

    def _deliver(self) -> None:
        self._timer = None
        topics, self._pending = frozenset(self._pending), set()
        for topic in topics:
            reader = self._readers.get(topic)
            if reader is not None:
                reader()
        for screen in self._visible_screens():
            screen.post_message(Published(topics))

    def _visible_screens(self) -> list[Screen[Any]]:
        """The top screen and, while it is modal, the screens showing through beneath it."""
        try:
            stack = self._app.screen_stack
        except (ScreenStackError, KeyError):  # shutting down: nothing left to draw on
            return []
        visible: list[Screen[Any]] = []
        for screen in reversed(stack):
            visible.append(screen)
            if not screen.is_modal:
                break
        return visible
