"""The guest table's columns follow the rows they hold, measured row by row as rows change.

Rows are plain frozen snapshots handed to the table as the fleet would hand them: the table
never sees libvirt, so none is needed here."""

from __future__ import annotations

from dataclasses import replace

from textual.app import App, ComposeResult
from textual.strip import Strip

from kvmtui.core.model import GuestSnapshot, GuestState
from kvmtui.widgets.fleet_tables import guest_table
from kvmtui.widgets.live_table import LiveTable


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield guest_table()


def _guest(uuid: str, name: str) -> GuestSnapshot:
    return GuestSnapshot("kvm01", name, uuid, GuestState.RUNNING, vcpus=2, memory_kib=1024)


def _host_column(table: LiveTable[GuestSnapshot]) -> int:
    """Where the Host column starts on screen: it moves when the Name column's width does."""
    return table.render_line(0).text.index("Host")


async def test_columns_widen_and_narrow_with_the_rows_they_hold():
    app = TableApp()
    async with app.run_test(size=(100, 10)) as pilot:
        table: LiveTable[GuestSnapshot] = app.query_one(LiveTable)
        short, wide = _guest("u1", "db-1"), _guest("u2", "a-very-long-name-17")
        table.show([short])
        await pilot.pause()
        narrow = _host_column(table)
        table.show([short, wide])
        await pilot.pause()
        assert _host_column(table) == narrow + len(wide.name) - len("Name ")
        table.show([short, _guest("u2", "renamed")])  # the widest cell shrank in place
        await pilot.pause()
        assert _host_column(table) == narrow + len("renamed") - len("Name ")
        table.show([short])  # the widest row left
        await pilot.pause()
        assert _host_column(table) == narrow
        assert "db-1" in table.render_line(1).text


def _guests(count: int) -> list[GuestSnapshot]:
    return [
        replace(_guest(f"u{n:03}", f"vm-{n:03}"), addresses=("10.0.0.1",)) for n in range(count)
    ]


async def test_a_sort_key_asks_each_row_for_its_value_once():
    """Sorting 10,000 guests again (the same key reverses) sorts the values kept from the
    last time: only a row that changed since is asked again."""
    asked: list[str] = []

    def memory(guest: GuestSnapshot) -> int | None:
        asked.append(guest.name)
        return guest.memory_kib

    app = TableApp()
    async with app.run_test(size=(100, 10)) as pilot:
        table: LiveTable[GuestSnapshot] = app.query_one(LiveTable)
        column = next(c for c in table.columns_spec if c.key == "memory")
        table.columns_spec[table.columns_spec.index(column)] = replace(column, sort_value=memory)
        rows = _guests(50)
        table.show(rows)
        table.sort_by("memory")
        assert len(asked) == 50
        table.sort_by("memory")  # reversed
        table.sort_by("name")
        table.sort_by("memory")
        assert len(asked) == 50
        bigger = replace(rows[7], memory_kib=4096)
        table.show([*rows[:7], bigger, *rows[8:]])
        assert asked[50:] == [bigger.name]
        await pilot.pause()
        assert table.visible_rows()[-1] == bigger  # moved to its place


async def test_a_row_changed_off_screen_or_on_it_redraws_only_its_own_line():
    """An address come for one guest, or a guest moving within the rows below the screen
    (the table sorted by a changing column), rewrite no other line on the terminal."""
    app = TableApp()
    async with app.run_test(size=(100, 12)) as pilot:
        table: LiveTable[GuestSnapshot] = app.query_one(LiveTable)
        rows = _guests(30)
        table.show(rows)
        table.sort_by("memory")
        await pilot.pause()
        drawn: list[int] = []
        draw = table.render_line

        def counted(y: int) -> Strip:
            drawn.append(y)
            return draw(y)

        table.render_line = counted  # type: ignore[method-assign]  # counts the lines drawn
        rows[3] = replace(rows[3], addresses=("10.0.0.4",))
        table.show(rows)
        await pilot.pause()
        assert drawn == [4]  # the header is line 0
        drawn.clear()
        rows[20] = replace(rows[20], addresses=("10.0.0.9",))  # far below the screen
        rows[25] = replace(rows[25], memory_kib=2048)  # moves, below the screen still
        table.show(rows)
        await pilot.pause()
        assert drawn == []
        assert [row.name for row in table.visible_rows()][-1] == rows[25].name
