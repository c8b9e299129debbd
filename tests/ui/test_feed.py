"""The one way core changes reach the screens: a burst of notices is one delivery, and what
the UI derives from a publisher (the sparklines' history) is read once per delivery too,
before the screens look at it."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from kvmtui.core.publish import Publisher
from kvmtui.feed import Published, ScreenFeed

DELAY = 0.05


class Shown(Screen[None]):
    def __init__(self, app: FeedApp) -> None:
        super().__init__()
        self.feed_app = app

    def compose(self) -> ComposeResult:
        yield Static("feed")

    def on_published(self, message: Published) -> None:
        self.feed_app.seen.append((message.topics, self.feed_app.reads))


class FeedApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.source = Publisher()
        self.reads = 0
        self.seen: list[tuple[frozenset[str], int]] = []  # (topics, reads by then)

    def on_mount(self) -> None:
        self.push_screen(Shown(self))
        self.feed = ScreenFeed(self, {"fleet": self.source}, DELAY, readers={"fleet": self._read})

    def _read(self) -> None:
        self.reads += 1


async def test_a_burst_of_host_ticks_is_read_once_before_the_screen_is_told():
    app = FeedApp()
    async with app.run_test() as pilot:
        for _ in range(200):  # 200 hosts' ticks arriving on one beat
            app.source.publish()
        await pilot.pause(DELAY * 4)
        assert app.reads == 1
        assert app.seen == [(frozenset({"fleet"}), 1)]
        app.source.publish()
        await pilot.pause(DELAY * 4)
        assert app.reads == 2 and len(app.seen) == 2


async def test_a_moment_worth_showing_at_once_is_not_held_back_by_the_delay():
    """The whole fleet's first tables in: what is pending goes out now, read once."""
    app = FeedApp()
    async with app.run_test() as pilot:
        app.source.publish()
        app.feed.deliver_now()
        assert app.reads == 1  # read at once, not DELAY later
        await pilot.pause()
        assert app.seen == [(frozenset({"fleet"}), 1)]
        await pilot.pause(DELAY * 4)
        assert app.reads == 1 and len(app.seen) == 1  # and not again when the delay is up
        app.feed.deliver_now()  # nothing pending: nothing to say
        assert len(app.seen) == 1
