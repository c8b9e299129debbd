"""What a guest prints cannot break the console: pyte's parser failing is a reset, not a stop."""

from __future__ import annotations

from textual.app import App, ComposeResult

from kvmtui.widgets.terminal import TerminalView


class _OneTerminal(App[None]):
    def compose(self) -> ComposeResult:
        yield TerminalView(send=lambda data: None, on_size=lambda cols, rows: None)


async def test_a_sequence_pyte_cannot_parse_is_dropped_and_what_follows_shows():
    app = _OneTerminal()
    async with app.run_test(size=(60, 12)) as pilot:
        terminal = app.query_one(TerminalView)
        terminal.feed(b"before\r\n\x1b[" + b"7" * 5000 + b"m")  # int() refuses 5,000 digits
        terminal.feed(b"\r\nafter\r\n")
        await pilot.pause()
        shown = terminal.display_lines()
        assert shown[0].rstrip() == "before"
        assert "after" in [line.rstrip() for line in shown]
    assert app.return_code in (None, 0)
