"""The terminal widget: keys as a terminal sends them, and the guest's output as drawn."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from kvmtui.widgets.terminal import TerminalView, key_bytes


@pytest.mark.parametrize(
    ("key", "character", "expected"),
    [
        ("a", "a", b"a"),
        ("enter", "\r", b"\r"),
        ("backspace", "\x08", b"\x7f"),
        ("tab", "\t", b"\t"),
        ("up", None, b"\x1b[A"),
        ("left", None, b"\x1b[D"),
        ("ctrl+c", "\x03", b"\x03"),
        ("ctrl+d", None, b"\x04"),
        ("escape", "\x1b", b"\x1b"),
        ("f5", None, b"\x1b[15~"),
        ("eacute", "é", "é".encode()),
        ("shift+f13", None, None),
    ],
)
def test_key_bytes(key: str, character: str | None, expected: bytes | None) -> None:
    assert key_bytes(key, character) == expected


class _Harness(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.sizes: list[tuple[int, int]] = []

    def compose(self) -> ComposeResult:
        yield TerminalView(
            self.sent.append, lambda c, r: self.sizes.append((c, r)), ("ctrl+right_square_bracket",)
        )


async def test_keys_go_out_raw_and_output_is_drawn() -> None:
    app = _Harness()
    async with app.run_test(size=(60, 12)) as pilot:
        term = app.query_one(TerminalView)
        term.focus()
        assert app.sizes[-1] == (60, 12)
        term.set_live(True)
        await pilot.press("l", "s", "enter", "up", "ctrl+c", "ctrl+right_square_bracket")
        assert b"".join(app.sent) == b"ls\r\x1b[A\x03"  # Ctrl+] is left to the screen
        term.feed(b"\x1b[31mred\x1b[0m plain\r\nline two")
        await pilot.pause()
        assert term.display_lines()[0].startswith("red plain")
        strip = term.render_line(0)
        assert str(strip.text).startswith("red plain")
        assert any(seg.style and seg.style.color and seg.style.color.name == "red" for seg in strip)
        term.set_live(False)
        await pilot.press("x")
        assert b"x" not in b"".join(app.sent)
