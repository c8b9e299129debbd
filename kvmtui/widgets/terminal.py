"""A terminal emulator widget: pyte keeps the screen, Textual draws it and takes the keys.

The widget knows nothing about consoles or libvirt: bytes come in through `feed`, keys go
out raw (as a terminal would send them) through the `send` callback, and size changes go
through `on_size`. Keys listed in `passthrough` (the screen's own: detach, hand over) and
every key while the widget is not `live` bubble up to the screen's bindings instead.
"""

from __future__ import annotations

import bisect
import functools
import math
import time
from collections.abc import Callable, Collection
from typing import Any

import pyte
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.strip import Strip
from textual.widget import Widget

#: What a VT220/xterm sends for the keys Textual names (no character or a wrong one).
SPECIAL_KEYS: dict[str, bytes] = {
    "enter": b"\r",
    "backspace": b"\x7f",
    "tab": b"\t",
    "shift+tab": b"\x1b[Z",
    "escape": b"\x1b",
    "up": b"\x1b[A",
    "down": b"\x1b[B",
    "right": b"\x1b[C",
    "left": b"\x1b[D",
    "home": b"\x1b[H",
    "end": b"\x1b[F",
    "insert": b"\x1b[2~",
    "delete": b"\x1b[3~",
    "pageup": b"\x1b[5~",
    "pagedown": b"\x1b[6~",
    "f1": b"\x1bOP",
    "f2": b"\x1bOQ",
    "f3": b"\x1bOR",
    "f4": b"\x1bOS",
    "f5": b"\x1b[15~",
    "f6": b"\x1b[17~",
    "f7": b"\x1b[18~",
    "f8": b"\x1b[19~",
    "f9": b"\x1b[20~",
    "f10": b"\x1b[21~",
    "f11": b"\x1b[23~",
    "f12": b"\x1b[24~",
    "ctrl+@": b"\x00",
    "ctrl+space": b"\x00",
}

_NAMED_COLOURS = frozenset(
    {"black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"}
)  # fmt: skip


def key_bytes(key: str, character: str | None) -> bytes | None:
    """The bytes a terminal sends for a key press, or None for keys it sends nothing for."""
    if key in SPECIAL_KEYS:
        return SPECIAL_KEYS[key]
    if key.startswith("ctrl+") and len(key) == 6 and key[5].isalpha():
        return bytes([ord(key[5].lower()) - ord("a") + 1])
    if character:
        return character.encode("utf-8")
    return None


#: Redraws a second at most while a guest's output floods in.
FRAMES_PER_SECOND = 20

#: The bytes of plain text: they draw, move the cursor or ring, and set no mode, colour,
#: charset or scrolling region that would outlive the rows they wrote.
_PLAIN_TEXT = bytes(range(0x20, 0x7F)) + b"\r\n\t\b\x07"


def scrolled_off(data: bytes, stream: pyte.ByteStream, screen: pyte.Screen) -> int:
    """How many leading bytes of `data` the screen may skip because nothing they draw can
    still be on it afterwards: plain text up to a CR LF, followed by at least twice the
    screen's height of line feeds (which scroll every row, wherever the cursor was, off
    the top). A guest printing `seq 1 20000` spent most of kvmtui's CPU in pyte scrolling
    rows no one would see, CPU the guest's emulation wanted on a small machine. Nothing
    is skipped unless the stream is between sequences and characters, and the whole
    screen scrolls (no DECSTBM region)."""
    if (
        screen.margins is not None
        or not getattr(stream, "_taking_plain_text", False)
        or stream.utf8_decoder.getstate()[0]
    ):
        return 0
    end = len(data)
    for _ in range(2 * screen.lines + 1):
        end = data.rfind(b"\n", 0, end)
        if end < 0:
            return 0
    cut = data.rfind(b"\r\n", 0, end + 1) + 2
    if cut < 2 or data[:cut].translate(None, _PLAIN_TEXT):
        return 0
    return cut


def _colour(name: str) -> str | None:
    """pyte's colour names (`red`, `brightred`, hex `ff8700`) in Rich's spelling."""
    if name == "default":
        return None
    if name in _NAMED_COLOURS:
        return name
    if name.startswith("bright") and name[6:] in _NAMED_COLOURS:
        return f"bright_{name[6:]}"
    if len(name) == 6:
        return f"#{name}"
    return None


@functools.lru_cache(maxsize=4096)
def _style(attributes: tuple[Any, ...], cursor: bool) -> Style:
    """The Style of a cell of pyte's `attributes` (a Char without its data): made once per
    kind of cell, where a Style made for every cell of every line drawn was most of a
    console's CPU while a guest printed (`seq 1 20000`: 2,900 Styles a frame)."""
    fg, bg, bold, italics, underscore, strikethrough, reverse, _blink = attributes
    return Style(
        color=_colour(fg),
        bgcolor=_colour(bg),
        bold=bold or None,
        italic=italics or None,
        underline=underscore or None,
        strike=strikethrough or None,
        reverse=(reverse != cursor) or None,
    )


class TerminalView(Widget, can_focus=True):
    """A pyte screen drawn line by line; see the module docstring."""

    DEFAULT_CSS = """
    TerminalView {
        width: 1fr;
        height: 1fr;
    }
    """

    def __init__(
        self,
        send: Callable[[bytes], None],
        on_size: Callable[[int, int], None],
        passthrough: Collection[str] = (),
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.screen_buffer = pyte.Screen(80, 24)
        self._stream = pyte.ByteStream(self.screen_buffer)
        self._send = send
        self._on_size = on_size
        self._passthrough = frozenset(passthrough)
        self.live = False
        self._drawn_at = -math.inf  # when output was last drawn (see feed)
        self._draw_pending = False
        self._unparsed = bytearray()  # what came since the last frame

    def feed(self, data: bytes) -> None:
        """Takes output for the screen and draws it: at once after a quiet spell (an echoed
        key shows without delay), at most FRAMES_PER_SECOND times a second while output
        floods in (a guest printing `seq 1 20000` was redrawn at the app's full rate, each
        frame CPU the guest's own emulation wanted on a busy machine). What comes between
        two frames is parsed in one piece when the frame is drawn, and what of it scrolls
        off unseen is never parsed (`scrolled_off`)."""
        self._unparsed += data
        if self._draw_pending:
            return
        due = self._drawn_at + 1 / FRAMES_PER_SECOND - time.monotonic()
        if due <= 0:
            self._draw()
        else:
            self._draw_pending = True
            self.set_timer(due, self._draw)

    def _draw(self) -> None:
        self._draw_pending = False
        self._drawn_at = time.monotonic()
        data = bytes(self._unparsed)
        self._unparsed.clear()
        try:
            self._stream.feed(data[scrolled_off(data, self._stream, self.screen_buffer) :])
        except Exception:  # pyte's parser dies on some output (ESC [ and 5,000 digits)
            self._stream = pyte.ByteStream(self.screen_buffer)  # the guest's, not ours
        self.refresh()

    def display_lines(self) -> list[str]:
        """The screen as text, one string per row (what the operator reads)."""
        return list(self.screen_buffer.display)

    def set_live(self, live: bool) -> None:
        self.live = live
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        cols, rows = max(event.size.width, 2), max(event.size.height, 2)
        if (cols, rows) != (self.screen_buffer.columns, self.screen_buffer.lines):
            self.screen_buffer.resize(rows, cols)
            self._on_size(cols, rows)
        self.refresh()

    def on_key(self, event: events.Key) -> None:
        if not self.live or event.key in self._passthrough:
            return
        data = key_bytes(event.key, event.character)
        if data is None:
            return
        event.stop()
        event.prevent_default()
        self._send(data)

    def on_paste(self, event: events.Paste) -> None:
        if self.live:
            event.stop()
            self._send(event.text.replace("\n", "\r").encode("utf-8"))

    def render_line(self, y: int) -> Strip:
        """The row as runs of cells of one kind (attributes, cursor), a Style per run.
        pyte keeps only the cells written (a row of `seq` output holds a handful); the
        rest of the row is its blank, drawn as one run instead of asked cell by cell."""
        screen = self.screen_buffer
        width = self.size.width
        if y >= screen.lines:
            return Strip.blank(width)
        row = screen.buffer[y]
        columns = min(screen.columns, width)
        show_cursor = self.live and self.has_focus and not screen.cursor.hidden
        cursor_x = screen.cursor.x if show_cursor and screen.cursor.y == y else -1
        places = sorted(x for x in row if x < columns)
        if 0 <= cursor_x < columns and cursor_x not in row:
            bisect.insort(places, cursor_x)
        blank = row.default
        blank_kind = (blank[1:], False)
        runs: list[tuple[tuple[tuple[Any, ...], bool], list[str]]] = []

        def put(kind: tuple[tuple[Any, ...], bool], text: str) -> None:
            if runs and runs[-1][0] == kind:  # compared as tuples: no Style made per cell
                runs[-1][1].append(text)
            else:
                runs.append((kind, [text]))

        x = 0
        for place in places:
            if place > x:
                put(blank_kind, blank.data * (place - x))
            char = row[place]
            put((char[1:], place == cursor_x), char.data)  # "": a wide character's right half
            x = place + 1
        if x < columns:
            put(blank_kind, blank.data * (columns - x))
        segments = [Segment("".join(texts), _style(*kind)) for kind, texts in runs]
        return Strip(segments).adjust_cell_length(width)
