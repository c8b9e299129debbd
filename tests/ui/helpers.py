"""Reading what the app shows, as an operator would."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.model import GuestSnapshot


def keys(text: str) -> list[str]:
    """The key presses that type `text`."""
    return ["space" if ch == " " else ch for ch in text]


def text_of(widget: Static) -> str:
    """A Static's content as plain text, however it was given (str, Text, a Rich table)."""
    content = widget.content
    if isinstance(content, str):
        return content
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


def screen_text(app: KvmTuiApp) -> str:
    return "\n".join(text_of(w) for w in app.screen.query(Static))


def notifications(app: KvmTuiApp) -> list[str]:
    return [n.message for n in app._notifications]


def status(app: KvmTuiApp) -> str:
    return text_of(app.screen.query_one("#status", Static))


def table_names(app: KvmTuiApp) -> list[str]:
    table = app.screen.table  # type: ignore[attr-defined]  # a fleet view is showing
    return [f"{row.name}@{row.host}" for row in table.visible_rows()]


async def wait_for(pilot: Pilot, predicate, timeout: float = 5.0, what: str = "") -> None:
    """Lets the app run until `predicate()` holds: events and ticks arrive asynchronously."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await pilot.pause(0.05)


async def fleet_ready(pilot: Pilot, guests: int = 30) -> None:
    """The guest table filled, and filled in: the test driver's guests show their memory,
    vCPUs and virt type once their definitions are read, just after the first table."""
    app = pilot.app

    def ready() -> bool:
        rows = app.screen.table.visible_rows()
        return len(rows) >= guests and all(g.virt_type for g in rows)

    # a generous bound: a loaded CI machine (tests in three processes beside the lab's)
    # has taken more than 5 s to read a demo fleet's definitions
    await wait_for(
        pilot, ready, timeout=20.0, what="the guest table to fill, every definition read"
    )


@asynccontextmanager
async def started(
    settings: Settings, size: tuple[int, int], notifications: bool = False
) -> AsyncIterator[tuple[KvmTuiApp, Pilot]]:
    """The app running with the demo fleet listed: a key pressed before the guest table
    fills acts on nothing, so every test that drives the fleet starts from here.
    `notifications` draws the toasts (Textual's test mode leaves them out)."""
    app = KvmTuiApp(settings)
    async with app.run_test(size=size, notifications=notifications) as pilot:
        await fleet_ready(pilot)
        yield app, pilot


async def row_line(pilot: Pilot, key: str) -> str:
    """The table's line for the row `key`, as drawn (the cursor put on it)."""
    table = pilot.app.screen.table
    table.select_key(key)
    await pilot.pause()
    return table.render_line(table.cursor_row - int(table.scroll_offset.y) + 1).text


def guest(app: KvmTuiApp, name: str, host: str | None = None) -> GuestSnapshot:
    for g in app.fleet.snapshot().guests:
        if g.name == name and (host is None or g.host == host):
            return g
    raise AssertionError(f"no guest {name}")


def tags_cell(app: KvmTuiApp, ref: str) -> str:
    """The Tags column's text for the guest `name@host`, as the table shows it."""
    name, host = ref.rsplit("@", 1)
    table = app.screen.table
    column = [c.key for c in table.columns_spec].index("tags")
    return table.shown_texts()[guest(app, name, host).key][column]


async def select(pilot: Pilot, ref: str) -> None:
    """Puts the cursor on a guest (`name@host`) the way a user would: filter, then clear."""
    app = pilot.app
    table = app.screen.table
    name, host = ref.rsplit("@", 1)  # a guest name may hold "@" itself
    g = guest(app, name, host)
    table.select_key(g.key)
    await pilot.pause()
    assert table.current.key == g.key


async def answer_to(pilot: Pilot, line: str, timeout: float = 5.0) -> str:
    """Types a `:` line and returns the notification it answered with. New ones are told
    by identity, not by count: an older one expiring meanwhile must not hide the answer."""
    app = pilot.app
    seen = {n.identity for n in app._notifications}

    def new() -> list[str]:
        return [n.message for n in app._notifications if n.identity not in seen]

    await pilot.press("colon", *keys(line), "enter")
    await wait_for(pilot, new, timeout=timeout, what=f"an answer to {line}")
    return new()[-1]
