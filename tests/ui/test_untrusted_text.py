"""Guest names are data: shown exactly as libvirt has them, never read as markup, and cut
with an ellipsis where a column has no room (the detail screen shows them whole)."""

from __future__ import annotations

import uuid
from xml.sax.saxutils import escape

import pytest
from textual.widgets import Static
from textual.widgets._toast import Toast

from kvmtui.core.model import GuestState
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.detail import GuestDetailScreen
from tests.ui.helpers import guest, select, started, text_of, wait_for

SIZE = (80, 24)
HOSTILE_NAMES = ["[reverse]", "[bold]x[\\bold]", "[link=x]y", "[@click=app.quit]q"]
LONG_NAME = "long-" + "n" * 295


def _domain(name: str) -> str:
    return (
        f"<domain type='test'><name>{escape(name)}</name><uuid>{uuid.uuid4()}</uuid>"
        "<memory unit='MiB'>256</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os></domain>"
    )


async def _define(app, pilot, names: list[str]) -> None:
    """Defines the guests on kvm01 through the app's own connection (libvirt's event adds
    them to the table), then waits for the table to list them."""
    host = app.fleet.host("kvm01")
    for name in names:
        xml = _domain(name)
        await host.run(lambda conn, xml=xml: conn.defineXML(xml))
    await wait_for(
        pilot,
        lambda: {g.name for g in app.fleet.snapshot().guests} >= set(names),
        what="the new guests",
    )


def _listed(app, key: str) -> bool:
    return any(row.key == key for row in app.screen.table.visible_rows())


async def _row_line(pilot, key: str) -> str:
    """The guest table's line for `key`, as drawn on the terminal (cursor put on it)."""
    table = pilot.app.screen.table
    table.select_key(key)
    await pilot.pause()
    y = table.cursor_row - int(table.scroll_offset.y) + 1  # + the header line
    return table.render_line(y).text


def _toasts(app) -> str:
    """The notifications as drawn: a toast reads its text as markup unless told not to."""
    return "\n".join(str(toast.render()) for toast in app.screen.query(Toast))


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_markup_in_a_name_is_shown_as_typed(demo_settings, name):
    async with started(demo_settings, SIZE, notifications=True) as (app, pilot):
        await _define(app, pilot, [name])
        target = guest(app, name, "kvm01")
        await wait_for(pilot, lambda: _listed(app, target.key), what="the new row")
        assert name in await _row_line(pilot, target.key)
        await select(pilot, f"{name}@kvm01")
        await pilot.press("s")  # start: the notification quotes the name
        await wait_for(pilot, lambda: guest(app, name).state is GuestState.RUNNING)
        await wait_for(
            pilot,
            lambda: f"{name} on kvm01: started" in _toasts(app),
            what="the started notification",
        )
        await pilot.press("ctrl+k")  # destroy asks first, naming the guest
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert f"Destroy {name} on kvm01?" in text_of(app.screen.query_one("#question", Static))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, GuestDetailScreen))
        await wait_for(
            pilot,
            lambda: name in text_of(app.screen.query_one("#dominfo", Static)),
            what="dominfo naming the guest",
        )
        assert name in text_of(app.screen.query_one("#status", Static))
        assert not app.unexpected_errors


async def test_a_long_name_is_cut_and_the_other_columns_stay(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await _define(app, pilot, [LONG_NAME])
        target = guest(app, LONG_NAME, "kvm01")
        await wait_for(pilot, lambda: _listed(app, target.key), what="the new row")
        line = await _row_line(pilot, target.key)
        assert "…" in line and LONG_NAME not in line
        assert "kvm01" in line and "shut off" in line, line  # host and state still on screen
        await select(pilot, f"{LONG_NAME}@kvm01")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, GuestDetailScreen))
        status = text_of(app.screen.query_one("#status", Static)).replace("\n", "")
        assert LONG_NAME in status  # the detail screen has the whole name
