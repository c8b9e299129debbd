"""The guest table's columns follow the rows they hold, measured row by row as rows change.

Rows are plain frozen snapshots handed to the table as the fleet would hand them: the table
never sees libvirt, so none is needed here."""

from __future__ import annotations

from textual.app import App, ComposeResult

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
