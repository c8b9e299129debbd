"""A table that follows a changing set of rows in place and draws only what is on screen.

Rows are keyed by a stable key. Each refresh re-renders only the rows whose data changed;
the cursor, the marks, the sort order and the scroll position survive every tick, as they
must for an operator who is in the middle of picking a guest.

It is drawn line by line (Textual's line API) from a plain list of row keys: filtering or
sorting a thousand guests is a list operation and a redraw of one screenful, where a
DataTable would remove and re-add, and re-measure, every row.

Idle cost follows change: rows handed in again unchanged (the same frozen object) cost a
dictionary look-up; the rows are re-sorted only when a sort value or the set of rows
changed (sorting the values kept per row), re-filtered only when a searched text did
while a filter is typed; and only the screen lines whose text or row changed are redrawn,
so a terminal over a slow link receives just the changed lines.
Column widths are kept row by row as rows come, change and go (a cell wider than its
column widens it; only when the widest cell narrows or leaves is that one column measured
again), so neither a tick nor a sort measures ten thousand rows; and a drawn line is kept
by what it reads, so moving the cursor or scrolling back lays out no Text again.

Rows may be grouped (`group_by`): a header line per group, which its `summary` writes
from the group's rows that the filter lets through, its rows under it in sort order, or
none while it is folded (Enter on the header folds and unfolds it). A header's key is
`GROUP` + its name; `current` is None on it and `current_group` names it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any, ClassVar, Generic, TypeVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from kvmtui.core.selectors import Selector
from kvmtui.core.selectors import parse as parse_selector

R = TypeVar("R")
Cell = str | Text

MARK = "●"
PADDING = 1
#: What a group header's key starts with: no row key does (they are `uuid@host`, names).
GROUP = "\0group:"
#: Drawn lines kept: a few screenfuls of a tall terminal.
LINE_CACHE = 1000


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
    #: A cap on a measured width: one 300-character guest name must not push every other
    #: column off an 80-column screen (longer cells end in an ellipsis).
    max_width: int | None = None


class LiveTable(ScrollView, Generic[R], can_focus=True):
    """See the module docstring. `show()` is the only way rows change."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Select", show=False, id="table.select"),
        Binding("up", "cursor_up", "Cursor up", show=False, id="table.up"),
        Binding("down", "cursor_down", "Cursor down", show=False, id="table.down"),
        Binding("pageup", "page_up", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="table.page_down"),
        Binding("home,ctrl+home", "first", "First row", show=False, id="table.first"),
        Binding("end,ctrl+end", "last", "Last row", show=False, id="table.last"),
        Binding("left", "scroll_left", "Scroll left", show=False, id="table.left"),
        Binding("right", "scroll_right", "Scroll right", show=False, id="table.right"),
        Binding("space", "toggle_mark", "Mark", show=False, id="table.mark"),
        Binding("ctrl+a", "mark_all", "Mark all", show=False, id="table.mark_all"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "live-table--header",
        "live-table--cursor",
        "live-table--marked",
        "live-table--group",
    }
    DEFAULT_CSS = """
    LiveTable {
        background: $surface;
        color: $foreground;
        & > .live-table--header { text-style: bold; background: $panel; color: $foreground; }
        &:ansi > .live-table--header { background: ansi_bright_blue; color: ansi_default; }
        & > .live-table--marked { color: $accent; text-style: bold; }
        & > .live-table--group { text-style: bold; background: $panel; }
        & > .live-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .live-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    class RowSelected(Message):
        """Enter (or a double click) on a row."""

        def __init__(self, table: LiveTable[Any], key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

    class MarksChanged(Message):
        def __init__(self, table: LiveTable[Any]) -> None:
            super().__init__()
            self.table = table

    #: The line a table without rows reads, under its header: a blank table looks like one
    #: still loading, or broken. Its view sets both (`kvmtui.views.View.empty`).
    empty_text = "Nothing here"
    #: What one row is, for the line a filter that matches nothing reads.
    row_noun = "row"

    def __init__(
        self,
        columns: Sequence[Column[R]],
        row_key: Callable[[R], str],
        search_text: Callable[[R], str],
        *,
        terms: Callable[[R], frozenset[str]] | None = None,
        markable: bool = False,
        sort_column: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.columns_spec = list(columns)
        self._row_key = row_key
        self._search_text = search_text
        #: A row's selector terms (`tag:web`, `host:kvm01` ...; core/selectors.py): given,
        #: the filter is a selector; else its words are matched within the row's text.
        self._terms_of = terms
        self._terms: dict[str, frozenset[str]] = {}
        self._selector = Selector("")
        self._markable = markable
        self._all: dict[str, R] = {}
        # What each row reads per column, as rendered: plain strings stay strings (a Text
        # per cell of ten thousand rows costs tens of megabytes); Text is made when drawn.
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._haystacks: dict[str, str] = {}
        self._order: list[str] = []  # the rows shown, in screen order
        self._sorted_keys: list[str] = []  # every row, in sort order
        self._position: dict[str, int] = {}  # row key -> index in _order
        # Each row's sort value, per column sorted by so far (and the first, the tie-break),
        # kept row by row by `show`: a sort key pressed at 10,000 rows sorts values at hand
        # instead of asking every row for two of them again.
        self._sort_values: dict[str, dict[str, Any]] = {}
        self._widest: list[int] = [0] * len(self.columns_spec)  # widest cell per column
        self._widths: list[int] = []
        # Drawn lines by what they read and how: scrolling back, moving the cursor and
        # repainting the same screenful find them here instead of laying Text out again.
        self._lines: LRUCache[tuple[Any, ...], Strip] = LRUCache(LINE_CACHE)
        self._frame_styles: dict[str, Style] | None = None  # while a frame is drawn
        self.marks: set[str] = set()
        self.filter_text = ""
        self.sort_column = sort_column
        self.sort_reverse = False
        self.cursor_row = 0
        #: The group of a row (None: no groups), each group header's text from its rows,
        #: the folded groups, and the rows of each group shown as last arranged.
        self._group_of: Callable[[R], str] | None = None
        self._summary: Callable[[str, list[R], bool], Text] | None = None
        self._group_order: Callable[[str], Any] = str
        self.folded: set[str] = set()
        self._groups: dict[str, list[str]] = {}
        self._group_lines: dict[str, Text] = {}
        self._layout_widths()

    # ---- what callers ask -------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def current_key(self) -> str | None:
        return self._order[self.cursor_row] if self._order else None

    @property
    def current(self) -> R | None:
        key = self.current_key
        return self._all.get(key) if key else None

    @property
    def current_group(self) -> str | None:
        """The group whose header the cursor is on, or None."""
        key = self.current_key
        return key.removeprefix(GROUP) if key and key.startswith(GROUP) else None

    def group_rows(self, group: str) -> list[R]:
        """The rows of a group that the filter lets through, folded or not."""
        return [self._all[key] for key in self._groups.get(group, ())]

    def group_lines(self) -> list[str]:
        """Each group header as it reads, in screen order."""
        return [
            self._group_lines[k.removeprefix(GROUP)].plain
            for k in self._order
            if k.startswith(GROUP)
        ]

    def visible_rows(self) -> list[R]:
        """The rows in screen order (those the filter lets through, out of folded groups)."""
        return [self._all[key] for key in self._order if key in self._all]

    def shown_texts(self) -> dict[str, list[str]]:
        """What each visible row reads in each column, by row key: the screen in words."""
        return {
            key: [_plain(cell) for cell in self._cells[key]]
            for key in self._order
            if key in self._all
        }

    def marked_rows(self) -> list[R]:
        return [self._all[key] for key in self.marks if key in self._all]

    def select_key(self, key: str) -> None:
        if key in self._position:
            self._move_to(self._position[key])

    # ---- changing what is shown --------------------------------------------------------

    def show(self, rows: Iterable[R]) -> None:
        cursor_key = self.current_key
        previous, self._all = self._all, {self._row_key(row): row for row in rows}
        resort = previous.keys() != self._all.keys()
        refilter = resort
        widest = self._widest
        shrunk: set[int] = set()  # columns whose widest cell may have narrowed
        redraw: list[str] = []
        # The columns whose values order the rows: a change in one of them moves a row.
        ordering = {self.columns_spec[0].key, self.sort_column}
        kept = [
            (column_key in ordering, self._column(column_key).sort_value, values)
            for column_key, values in self._sort_values.items()
        ]
        for key, row in self._all.items():
            old = previous.get(key)
            if old is row or (old is not None and key in self._cells and old == row):
                continue
            cells = self._render_row(row)
            old_cells = self._cells.get(key)
            haystack = self._search_text(row).lower()
            resort = resort or old is None
            for orders, sort_value, values in kept:
                value = sort_value(row)
                if orders and not resort and values.get(key) != value:
                    resort = True
                values[key] = value
            # Without a filter a searched text (an address come) moves no row.
            refilter = refilter or (bool(self.filter_text) and haystack != self._haystacks.get(key))
            for index, cell in enumerate(cells):
                length = _cell_len(cell)
                if length > widest[index]:
                    widest[index] = length
                elif (
                    old_cells is not None
                    and length < widest[index]
                    and _cell_len(old_cells[index]) == widest[index]
                ):
                    shrunk.add(index)
            if cells != old_cells:
                redraw.append(key)
            self._cells[key] = cells
            self._haystacks[key] = haystack
            if self._terms_of is not None:
                terms = self._terms_of(row)
                refilter = refilter or terms is not self._terms.get(key)
                self._terms[key] = terms
        for gone in previous.keys() - self._all.keys():
            gone_cells = self._cells.pop(gone, None) or ()
            self._haystacks.pop(gone, None)
            self._terms.pop(gone, None)
            for values in self._sort_values.values():
                values.pop(gone, None)
            shrunk.update(
                index for index, cell in enumerate(gone_cells) if _cell_len(cell) == widest[index]
            )
        self.marks.intersection_update(self._all)
        for index in shrunk:
            widest[index] = max(
                (_cell_len(cells[index]) for cells in self._cells.values()), default=0
            )
        moved = self._layout_widths()  # a column moved: every line changed
        if redraw and self._group_of is not None:
            moved = True  # a group's header figures (running, memory) follow its rows
        if resort:
            self._sorted_keys = self._sorted(list(self._all))
        if resort or refilter or moved:
            self._arrange(cursor_key, redraw=None if moved else redraw)
        else:
            for key in redraw:
                self._refresh_row(key)

    def set_filter(self, text: str) -> None:
        """Narrows the rows to those whose name, host or state hold every word of `text`;
        on a table with selector terms, `text` is a selector (`tag:web host:kvm01 db`),
        and a malformed one is a SelectorError, the filter left as it was."""
        text = text.strip().lower()
        if text == self.filter_text:
            return
        selector = parse_selector(text) if self._terms_of is not None else Selector(text)
        # Typing on narrows, unless it changed a term (`tag:w` to `tag:we`, or the plain
        # `st` to `state:shutoff`): a term is matched whole.
        narrower = (
            self.filter_text
            and text.startswith(self.filter_text)
            and (text[len(self.filter_text)].isspace() or selector.terms == self._selector.terms)
        )
        self.filter_text = text
        self._selector = selector
        # Typing on narrows what is shown already: only those rows need looking at.
        among = (
            [k for k in self._order if k in self._all] if narrower and not self._group_of else None
        )
        self._arrange(self.current_key, among)

    def group_by(
        self,
        group_of: Callable[[R], str] | None,
        summary: Callable[[str, list[R], bool], Text] | None = None,
        order: Callable[[str], Any] = str,
    ) -> None:
        """Groups the rows by `group_of(row)` (None: no groups), each under a header line
        `summary(group, rows, folded)` writes; the groups sort by `order(name)`."""
        self._group_of, self._summary, self._group_order = group_of, summary, order
        self.folded = set()
        self._arrange(self.current_key)

    def toggle_fold(self, group: str) -> None:
        self.folded.symmetric_difference_update({group})
        self._arrange(GROUP + group)

    def sort_by(self, column_key: str) -> None:
        """Sorts by a column; asking again for the same column reverses the order."""
        if self.sort_column == column_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column_key, False
        # No measuring: every column leaves room for the arrow (see _layout_widths).
        self._sorted_keys = self._sorted(list(self._all))
        self._arrange(self.current_key)

    def clear_marks(self) -> None:
        self.marks = set()
        self.refresh()
        self.post_message(self.MarksChanged(self))

    # ---- keys and mouse -----------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Marking keys exist only where marks mean something (and so help lists them)."""
        return self._markable or action not in ("toggle_mark", "mark_all")

    def action_cursor_up(self) -> None:
        self._move_to(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self._move_to(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self._move_to(self.cursor_row - self._page())

    def action_page_down(self) -> None:
        self._move_to(self.cursor_row + self._page())

    def action_first(self) -> None:
        self._move_to(0)

    def action_last(self) -> None:
        self._move_to(self.row_count - 1)

    def action_scroll_right(self) -> None:
        """Right and Left scroll by whole columns, the first (the name) staying put: a
        table wider than the terminal (ten guest columns at 80) shows every column in a
        few presses, each beside the name of its row (see `_frozen_width`)."""
        x = int(self.scroll_offset.x)
        stops = self._column_stops()
        self.scroll_to(x=next((stop for stop in stops if stop > x), x), animate=False)

    def action_scroll_left(self) -> None:
        x = int(self.scroll_offset.x)
        stops = self._column_stops()
        self.scroll_to(x=next((stop for stop in reversed(stops) if stop < x), 0), animate=False)

    def action_select_cursor(self) -> None:
        """Enter: a row is selected (its screen opens it); a group header folds or unfolds."""
        group = self.current_group
        if group is not None:
            self.toggle_fold(group)
            return
        key = self.current_key
        if key is not None:
            self.post_message(self.RowSelected(self, key))

    def action_toggle_mark(self) -> None:
        """Space marks the row (on a group header: all its rows, or none if all were)."""
        key = self.current_key
        if not self._markable or key is None:
            return
        group = self.current_group
        if group is not None:
            members = set(self._groups.get(group, ()))
            self.marks = self.marks - members if members <= self.marks else self.marks | members
        else:
            self.marks.symmetric_difference_update({key})
        self.post_message(self.MarksChanged(self))
        if self.cursor_row < self.row_count - 1:
            self._move_to(self.cursor_row + 1)
        else:
            self.refresh()

    def action_mark_all(self) -> None:
        if not self._markable:
            return
        visible = {key for key in self._order if key in self._all}
        self.marks = set() if visible <= self.marks else self.marks | visible
        self.refresh()
        self.post_message(self.MarksChanged(self))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        row = int(self.scroll_offset.y) + offset.y - 1
        if row < self.row_count:
            self._move_to(row)
            if event.chain >= 2:
                self.action_select_cursor()

    # ---- drawing ------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        """The styles are resolved once for the lines of one frame: resolved per line (the
        widget's style walks its ancestors), they cost more than the lines at 40 rows."""
        self._frame_styles = self._styles()
        try:
            return super().render_lines(crop)
        finally:
            self._frame_styles = None

    def _styles(self) -> dict[str, Style]:
        """The base style, then each component's (marked and cursor added to the base)."""
        base = self.rich_style
        styles = {"": base}
        for name in ("header", "marked", "cursor", "marked cursor"):
            styles[name] = sum(
                (self.get_component_rich_style(f"live-table--{part}") for part in name.split()),
                Style() if name == "header" else base,
            )
        return styles

    def render_line(self, y: int) -> Strip:
        styles = self._frame_styles or self._styles()
        scroll_x = int(self.scroll_offset.x)
        width = self.scrollable_content_region.width
        if y == 0:
            strip = self._strip(self._header_texts(), styles["header"])
        else:
            row = int(self.scroll_offset.y) + y - 1
            if row >= self.row_count:
                if row == 0:  # no row at all, or none the filter lets through: say so
                    return self._placeholder(width)
                return Strip.blank(width, styles[""])
            key = self._order[row]
            if key.startswith(GROUP):
                return self._group_line(key, row, width)
            kind = " ".join(
                name
                for name, on in (("marked", key in self.marks), ("cursor", row == self.cursor_row))
                if on
            )
            strip = self._strip(self._row_texts(key), styles[kind])
        if not scroll_x:
            return strip.crop_extend(0, width, styles[""])
        # The first column (the name) stays; the others slide under it.
        frozen = min(self._frozen_width(), width)
        return Strip.join(
            [
                strip.crop(0, frozen),
                strip.crop_extend(frozen + scroll_x, scroll_x + width, styles[""]),
            ]
        )

    def _group_line(self, key: str, row: int, width: int) -> Strip:
        """A group's header: its summary across the table, never scrolled sideways."""
        style = self.rich_style + self.get_component_rich_style("live-table--group")
        if row == self.cursor_row:
            style += self.get_component_rich_style("live-table--cursor")
        line = self._group_lines[key.removeprefix(GROUP)].copy()
        line.truncate(width, overflow="ellipsis", pad=True)
        segments = list(line.render(self.app.console))
        return Strip(Segment.apply_style(segments, post_style=None, style=style))

    def placeholder_text(self) -> str:
        """What the first line under the header reads when no row is shown."""
        if self._all and self.filter_text:
            return f"No {self.row_noun} matches filter '{self.filter_text}' (Esc clears)"
        return self.empty_text

    def _placeholder(self, width: int) -> Strip:
        # The filter is the operator's own typing: shown as typed, never as markup.
        line = Text(" " * PADDING + self.placeholder_text(), style="italic", no_wrap=True, end="")
        line.truncate(width, overflow="ellipsis", pad=True)
        segments = list(line.render(self.app.console))
        return Strip(Segment.apply_style(segments, post_style=None, style=self.rich_style))

    def _strip(self, cells: Sequence[Cell], style: Style) -> Strip:
        key = (style, tuple(self._widths), *map(_cache_key, cells))
        strip = self._lines.get(key)
        if strip is None:
            strip = self._lines[key] = self._lay_out(cells, style)
        return strip

    def _lay_out(self, cells: Sequence[Cell], style: Style) -> Strip:
        line = Text(no_wrap=True, end="")
        pad = " " * PADDING
        for cell, width, numeric in zip(cells, self._widths, self._numeric(), strict=True):
            fitted = cell.copy() if isinstance(cell, Text) else Text(cell)
            fitted.truncate(width, overflow="ellipsis")
            fitted.align("right" if numeric else "left", width)
            line.append(pad)
            line.append_text(fitted)
            line.append(pad)
        segments = list(line.render(self.app.console))
        return Strip(Segment.apply_style(segments, post_style=None, style=style))

    def _header_texts(self) -> list[Cell]:
        labels: list[Cell] = [
            Text(column.label + self._arrow(column)) for column in self.columns_spec
        ]
        return [Text(" "), *labels] if self._markable else labels

    def _row_texts(self, key: str) -> Sequence[Cell]:
        cells = self._cells[key]
        if self._markable:
            return (MARK if key in self.marks else " ", *cells)
        return cells

    @property
    def _frozen_columns(self) -> int:
        return 2 if self._markable else 1

    def _frozen_width(self) -> int:
        """The cells of the columns that never scroll away: the mark and the first column.
        Scrolling the table sideways instead of dropping the columns that do not fit keeps
        every column reachable at 80 columns, and the row's name beside each of them."""
        return sum(width + 2 * PADDING for width in self._widths[: self._frozen_columns])

    def _column_stops(self) -> list[int]:
        """The horizontal scroll offsets at which a column past the frozen ones begins."""
        stops, x = [0], 0
        for width in self._widths[self._frozen_columns :]:
            x += width + 2 * PADDING
            stops.append(x)
        return stops

    def _numeric(self) -> list[bool]:
        flags = [column.numeric for column in self.columns_spec]
        return [False, *flags] if self._markable else flags

    def _arrow(self, column: Column[R]) -> str:
        if column.key != self.sort_column:
            return ""
        return "▼" if self.sort_reverse else "▲"

    # ---- internals ----------------------------------------------------------------------

    def _render_row(self, row: R) -> tuple[Cell, ...]:
        # a tuple: kept for every row, a list's spare room came to 0.3 MB at 10,000 rows
        return tuple([column.render(row) for column in self.columns_spec])

    def _layout_widths(self) -> bool:
        """Column widths from the widest cell of every row, filtered out or not (kept up
        to date by `show`, row by row): filtering never jumps them. A label gets one more
        cell for the sort arrow. True when a width changed."""
        widths = []
        for column, widest in zip(self.columns_spec, self._widest, strict=True):
            if column.width is not None:
                widths.append(column.width)
                continue
            width = max(widest, len(column.label) + 1)
            widths.append(width if column.max_width is None else min(width, column.max_width))
        widths = [1, *widths] if self._markable else widths
        changed, self._widths = widths != self._widths, widths
        return changed

    def _arrange(
        self,
        cursor_key: str | None,
        among: list[str] | None = None,
        redraw: Collection[str] | None = None,
    ) -> None:
        """Filters the sorted keys (or only `among`, already in order), then puts the cursor
        back on the row it was on and redraws: every line, or with `redraw` (the rows whose
        cells changed) only the lines that now show another row, or a changed one. Rows
        coming or going off screen, as ten hosts' tables and their definitions arrive,
        rewrite nothing on the terminal."""
        top, shown = int(self.scroll_offset.y), self._on_screen()
        words = self.filter_text.split()
        source = self._sorted_keys if among is None else among
        haystacks = self._haystacks
        selector = self._selector
        if selector.terms:
            terms = self._terms
            self._order = [key for key in source if selector.matches(terms[key], haystacks[key])]
        elif words:
            self._order = [key for key in source if all(word in haystacks[key] for word in words)]
        else:
            self._order = list(source)
        if self._group_of is not None:
            self._order = self._grouped(self._order)
        self._position = {key: index for index, key in enumerate(self._order)}
        total_width = sum(self._widths) + 2 * PADDING * len(self._widths)
        self.virtual_size = Size(total_width, self.row_count + 1)
        if cursor_key is not None and cursor_key in self._position:
            self.cursor_row = self._position[cursor_key]
        self.cursor_row = max(0, min(self.cursor_row, self.row_count - 1))
        self._scroll_to_cursor()
        if redraw is None or int(self.scroll_offset.y) != top:
            self.refresh()
            return
        now = self._on_screen()
        for y, (was, line) in enumerate(zip_longest(shown, now), start=1):
            if was != line or (line is not None and line[0] in redraw):
                self.refresh(Region(0, y, self.size.width, 1))

    def _on_screen(self) -> list[tuple[str, bool]]:
        """Each line under the header: the row it shows, and whether the cursor is on it."""
        top = int(self.scroll_offset.y)
        bottom = min(self.row_count, top + max(0, self.size.height - 1))
        return [(self._order[row], row == self.cursor_row) for row in range(top, bottom)]

    def _grouped(self, keys: list[str]) -> list[str]:
        """`keys` under their group headers, groups in order, folded groups' rows left out."""
        assert self._group_of is not None and self._summary is not None
        group_of, rows = self._group_of, self._all
        groups: dict[str, list[str]] = {}
        for key in keys:
            if key in rows:
                groups.setdefault(group_of(rows[key]), []).append(key)
        self._groups = {name: groups[name] for name in sorted(groups, key=self._group_order)}
        self._group_lines = {}
        order: list[str] = []
        for group, members in self._groups.items():
            folded = group in self.folded
            self._group_lines[group] = self._summary(group, [rows[k] for k in members], folded)
            order.append(GROUP + group)
            if not folded:
                order += members
        return order

    def _sort_column(self) -> Column[R] | None:
        return next((c for c in self.columns_spec if c.key == self.sort_column), None)

    def _column(self, key: str) -> Column[R]:
        return next(c for c in self.columns_spec if c.key == key)

    def _values(self, column: Column[R]) -> dict[str, Any]:
        """Every row's sort value in `column`, asked of each row once; `show` keeps them."""
        values = self._sort_values.get(column.key)
        if values is None:
            sort_value, rows = column.sort_value, self._all
            values = self._sort_values[column.key] = {k: sort_value(rows[k]) for k in rows}
        return values

    def _sorted(self, keys: list[str]) -> list[str]:
        column = self._sort_column()
        if column is None:
            return keys
        # Ties fall back to the first column, so equal rows never swap places; rows with
        # no value (None) go last whichever the direction.
        keys.sort(key=self._values(self.columns_spec[0]).__getitem__)
        values = self._values(column)
        valued = [k for k in keys if values[k] is not None]
        empty = [k for k in keys if values[k] is None]
        valued.sort(key=values.__getitem__, reverse=self.sort_reverse)
        return valued + empty

    def _refresh_row(self, key: str) -> None:
        """Redraws one row's line if it is on screen."""
        row = self._position.get(key)
        if row is not None:
            self._refresh_line_of(row)

    def _refresh_line_of(self, row: int) -> None:
        y = row - int(self.scroll_offset.y) + 1  # the header is line 0
        if 0 < y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 2)

    def _move_to(self, row: int) -> None:
        if not self._order:
            return
        before, top = self.cursor_row, int(self.scroll_offset.y)
        self.cursor_row = max(0, min(row, self.row_count - 1))
        self._scroll_to_cursor()
        if int(self.scroll_offset.y) == top:
            self._refresh_line_of(before)  # only the two lines the cursor left and entered
            self._refresh_line_of(self.cursor_row)
        else:
            self.refresh()

    def _scroll_to_cursor(self) -> None:
        lines = max(1, self.scrollable_content_region.height - 1)  # the header takes one
        top = int(self.scroll_offset.y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + lines:
            self.scroll_to(y=self.cursor_row - lines + 1, animate=False, immediate=True)


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def _cache_key(cell: Cell) -> Hashable:
    """What a cell reads and how it is styled, as a dictionary key (Text is unhashable)."""
    if isinstance(cell, str):
        return cell
    return cell.plain, cell.style, tuple(cell.spans)


def _cell_len(cell: Cell) -> int:
    if isinstance(cell, Text):
        return cell.cell_len
    # Most cells are printable ASCII, one cell a character: measured without rich's tables
    # (every cell of a first table of 10,000 rows is measured).
    return len(cell) if cell.isascii() and cell.isprintable() else cell_len(cell)
