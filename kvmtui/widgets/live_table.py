"""A DataTable that follows a changing set of rows in place.

Rows are keyed by a stable key. Each refresh adds what is new, removes what is gone and
rewrites only the cells whose text changed, then sorts once if needed: the cursor, the marks,
the sort order and the scroll position survive every tick, as they must for an operator who
is in the middle of picking a guest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

R = TypeVar("R")

MARK = "●"
REBUILD_THRESHOLD = 50


@dataclass(frozen=True)
class Column(Generic[R]):
    """One column: how a row reads in it, how it sorts, and the key that sorts by it."""

    key: str
    label: str
    render: Callable[[R], str | Text]
    sort_value: Callable[[R], Any]
    sort_key: str | None = None
    width: int | None = None
    numeric: bool = False


class _Cell:
    """A rendered cell that sorts by the row's raw value, not by its text."""

    __slots__ = ("sort_value", "text")

    def __init__(self, text: Text, sort_value: Any) -> None:
        self.text = text
        self.sort_value = sort_value

    def __rich__(self) -> Text:
        return self.text


def _sortable(value: Any) -> tuple[int, Any]:
    """None sorts after every real value, whichever the direction."""
    return (1, 0) if value is None else (0, value)


class LiveTable(DataTable, Generic[R]):
    """See the module docstring. `show()` is the only way rows change."""

    BINDINGS = [
        Binding("space", "toggle_mark", "Mark", show=False),
        Binding("ctrl+a", "mark_all", "Mark all", show=False),
    ]

    class MarksChanged(Message):
        def __init__(self, table: LiveTable[Any]) -> None:
            super().__init__()
            self.table = table

    def __init__(self, columns: Sequence[Column[R]], row_key: Callable[[R], str],
                 search_text: Callable[[R], str], *, markable: bool = False,
                 sort_column: str | None = None, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, cell_padding=1)
        self.columns_spec = list(columns)
        self._row_key = row_key
        self._search_text = search_text
        self._markable = markable
        self._rows: dict[str, R] = {}
        self._cells: dict[str, list[str]] = {}
        self._all: dict[str, R] = {}
        self.marks: set[str] = set()
        self.filter_text = ""
        self.sort_column = sort_column
        self.sort_reverse = False

    def on_mount(self) -> None:
        if self._markable:
            self.add_column(" ", key="_mark", width=1)
        for column in self.columns_spec:
            self.add_column(column.label, key=column.key, width=column.width)
        self._relabel_sorted()

    # ---- what callers ask -------------------------------------------------------------

    @property
    def current_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:
            return None

    @property
    def current(self) -> R | None:
        key = self.current_key
        return self._rows.get(key) if key else None

    def visible_rows(self) -> list[R]:
        """The rows in screen order."""
        return [self._rows[row.key.value] for row in self.ordered_rows if row.key.value]

    def marked_rows(self) -> list[R]:
        return [self._all[key] for key in self.marks if key in self._all]

    def select_key(self, key: str) -> None:
        if key in self._rows:
            self.move_cursor(row=self.get_row_index(key))

    # ---- changing what is shown --------------------------------------------------------

    def show(self, rows: Iterable[R]) -> None:
        self._all = {self._row_key(row): row for row in rows}
        wanted = {key: row for key, row in self._all.items() if self._matches(row)}
        cursor_key = self.current_key
        cursor_row = self.cursor_row
        scroll_y = self.scroll_y
        self.marks.intersection_update(self._all)
        gone = [k for k in self._rows if k not in wanted]
        if len(gone) > REBUILD_THRESHOLD and len(gone) > len(self._rows) // 2:
            self._rebuild(wanted)
            self._restore(cursor_key, cursor_row, scroll_y)
            return
        needs_sort = False
        for key in gone:
            self.remove_row(key)
            del self._rows[key]
            del self._cells[key]
        for key, row in wanted.items():
            old = self._rows.get(key)
            if old is not None and old == row:
                continue
            texts = self._texts(key, row)
            if old is None:
                self.add_row(*self._render(texts, row, key), key=key)
                needs_sort = True
            elif texts != self._cells[key]:
                needs_sort = needs_sort or self._sort_value_changed(self._rows[key], row)
                self._update_changed(key, row, texts)
            self._rows[key] = row
            self._cells[key] = texts
        if needs_sort:
            self._apply_sort()
        self._restore(cursor_key, cursor_row, scroll_y)

    def _rebuild(self, wanted: dict[str, R]) -> None:
        """Most rows leave at once (a filter keystroke): starting over beats removing each."""
        self.clear()
        self._rows, self._cells = {}, {}
        for key, row in wanted.items():
            texts = self._texts(key, row)
            self.add_row(*self._render(texts, row, key), key=key)
            self._rows[key] = row
            self._cells[key] = texts
        self._apply_sort()

    def set_filter(self, text: str) -> None:
        """Takes effect with the next `show()`."""
        self.filter_text = text.strip().lower()

    def sort_by(self, column_key: str) -> None:
        """Sorts by a column; asking again for the same column reverses the order."""
        if self.sort_column == column_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column_key, False
        cursor_key = self.current_key
        self._apply_sort()
        self._relabel_sorted()
        self._restore(cursor_key, self.cursor_row, self.scroll_y)

    def action_toggle_mark(self) -> None:
        key = self.current_key
        if not self._markable or key is None:
            return
        self.marks.symmetric_difference_update({key})
        self._update_mark_cell(key)
        self.post_message(self.MarksChanged(self))
        if self.cursor_row < self.row_count - 1:
            self.move_cursor(row=self.cursor_row + 1)

    def action_mark_all(self) -> None:
        if not self._markable:
            return
        visible = set(self._rows)
        self.marks = set() if visible <= self.marks else self.marks | visible
        for key in self._rows:
            self._update_mark_cell(key)
        self.post_message(self.MarksChanged(self))

    def clear_marks(self) -> None:
        marked, self.marks = self.marks, set()
        for key in marked & set(self._rows):
            self._update_mark_cell(key)
        self.post_message(self.MarksChanged(self))

    # ---- internals ----------------------------------------------------------------------

    def _matches(self, row: R) -> bool:
        if not self.filter_text:
            return True
        haystack = self._search_text(row).lower()
        return all(word in haystack for word in self.filter_text.split())

    def _texts(self, key: str, row: R) -> list[str]:
        texts = []
        for column in self.columns_spec:
            rendered = column.render(row)
            texts.append(rendered.markup if isinstance(rendered, Text) else rendered)
        return texts

    def _cell(self, column: Column[R], row: R) -> _Cell:
        rendered = column.render(row)
        text = rendered if isinstance(rendered, Text) else Text(rendered)
        if column.numeric:
            text.justify = "right"
        return _Cell(text, _sortable(column.sort_value(row)))

    def _render(self, texts: list[str], row: R, key: str) -> list[Any]:
        cells: list[Any] = [self._cell(column, row) for column in self.columns_spec]
        if self._markable:
            cells.insert(0, MARK if key in self.marks else "")
        return cells

    def _update_changed(self, key: str, row: R, texts: list[str]) -> None:
        old = self._cells[key]
        for column, new_text, old_text in zip(self.columns_spec, texts, old, strict=True):
            if new_text != old_text:
                self.update_cell(key, column.key, self._cell(column, row))

    def _update_mark_cell(self, key: str) -> None:
        if key in self._rows:
            self.update_cell(key, "_mark", MARK if key in self.marks else "")

    def _sort_value_changed(self, old: R, new: R) -> bool:
        column = self._sort_spec()
        return column is not None and column.sort_value(old) != column.sort_value(new)

    def _sort_spec(self) -> Column[R] | None:
        return next((c for c in self.columns_spec if c.key == self.sort_column), None)

    def _apply_sort(self) -> None:
        column = self._sort_spec()
        if column is None or not self.row_count:
            return
        # Ties fall back to the first column (the name) so equal rows never swap places.
        first = self.columns_spec[0].key
        self.sort(column.key, first, key=lambda cells: (cells[0].sort_value, cells[1].sort_value),
                  reverse=self.sort_reverse)

    def _relabel_sorted(self) -> None:
        for column in self.columns_spec:
            arrow = ("▼" if self.sort_reverse else "▲") if column.key == self.sort_column else ""
            self.columns[column.key].label = Text(column.label + arrow)
        self.refresh()

    def _restore(self, key: str | None, row: int, scroll_y: float) -> None:
        if not self.row_count:
            return
        if key is not None and key in self._rows:
            target = self.get_row_index(key)
        else:
            target = min(row, self.row_count - 1)
        self.scroll_to(y=scroll_y, animate=False, immediate=True)
        self.move_cursor(row=target, animate=False)
