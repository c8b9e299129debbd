"""What a guest prints cannot break the console: pyte's parser failing is a reset, not a stop."""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import App, ComposeResult

from kvmtui.widgets.terminal import TerminalView, _style
from tests.ui.helpers import wait_for


class _OneTerminal(App[None]):
    def compose(self) -> ComposeResult:
        yield TerminalView(send=lambda data: None, on_size=lambda cols, rows: None)


async def test_a_sequence_pyte_cannot_parse_is_dropped_and_what_follows_shows():
    app = _OneTerminal()
    async with app.run_test(size=(60, 12)) as pilot:
        terminal = app.query_one(TerminalView)
        terminal.feed(b"before\r\n\x1b[" + b"7" * 5000 + b"m")  # int() refuses 5,000 digits
        await wait_for(pilot, lambda: terminal.display_lines()[0].rstrip() == "before")
        terminal.feed(b"\r\nafter\r\n")  # the guest's next output, a frame later
        await wait_for(pilot, lambda: "after" in [row.rstrip() for row in terminal.display_lines()])
    assert app.return_code in (None, 0)


async def test_each_row_draws_every_cell_with_its_own_attributes_and_the_cursor():
    """A row is drawn in runs of cells alike: the text is pyte's row as the operator
    reads it, and each cell keeps its colour, reverse video and the cursor's mark."""
    app = _OneTerminal()
    async with app.run_test(size=(40, 6)) as pilot:
        terminal = app.query_one(TerminalView)
        terminal.set_live(True)
        terminal.focus()
        terminal.feed("plain \x1b[31mred\x1b[0m  \x1b[7mrev\x1b[0m 名前 end\r\n".encode())
        terminal.feed(b"\x1b[4;10Hx\x1b[4;3H")  # a lone cell mid-row, the cursor left of it
        await wait_for(pilot, lambda: terminal.display_lines()[3].strip() == "x")
        screen = terminal.screen_buffer
        for y in range(screen.lines):
            strip = terminal.render_line(y)
            shown = screen.display[y]
            assert strip.text == shown + " " * (40 - cell_len(shown))
            x = 0
            for segment in strip:
                for character in segment.text:
                    char = screen.buffer[y][x]
                    cursor = (x, y) == (screen.cursor.x, screen.cursor.y)
                    assert segment.style == _style(char[1:], cursor), (x, y, segment)
                    x += cell_len(character)
