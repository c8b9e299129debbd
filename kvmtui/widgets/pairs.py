"""The label/value table that the guest detail and migration screens both show."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text


def pairs_table(rows: list[tuple[str, str | Text]]) -> Table:
    """Borderless and headerless, labels bold and never wrapped, so that figures from
    different screens read the same way and line up under one another."""
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for label, value in rows:
        # Rich reads a str cell as markup: a guest named "[reverse]" must show as typed.
        table.add_row(Text(label), value if isinstance(value, Text) else Text(value))
    return table
