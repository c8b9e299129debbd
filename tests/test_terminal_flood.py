"""A flood of plain text skips what would scroll off unseen, and the screen is the same."""

from __future__ import annotations

import pyte
import pytest

from kvmtui.widgets.terminal import scrolled_off


def _terminal() -> tuple[pyte.Screen, pyte.ByteStream]:
    screen = pyte.Screen(40, 10)
    return screen, pyte.ByteStream(screen)


def _state(screen: pyte.Screen) -> tuple[object, ...]:
    rows = tuple(tuple(screen.buffer[y][x] for x in range(screen.columns)) for y in range(10))
    return rows, screen.cursor.x, screen.cursor.y, screen.cursor.attrs


def _both(before: bytes, flood: bytes) -> tuple[int, bool]:
    """Feeds `before` then `flood` to two screens, one skipping what `scrolled_off` allows;
    returns how much it skipped and whether both screens ended the same."""
    whole, whole_stream = _terminal()
    skipping, skipping_stream = _terminal()
    whole_stream.feed(before)
    skipping_stream.feed(before)
    whole_stream.feed(flood)
    skipped = scrolled_off(flood, skipping_stream, skipping)
    skipping_stream.feed(flood[skipped:])
    return skipped, _state(whole) == _state(skipping)


SEQ = b"".join(b"%d\r\n" % n for n in range(1, 5001)) + b"DONE-42"


@pytest.mark.parametrize(
    "before",
    ids=["a clear screen", "mid-screen in colour", "after a wrapped line and a tab"],
    argvalues=[
        b"",
        b"\x1b[2J\x1b[3;5Hhalf way\x1b[1;31m red and bold ",  # cursor mid-screen, in colour
        b"a line far longer than the forty columns of this small screen, wrapped\r\n\t",
    ],
)
def test_a_plain_flood_skips_nearly_all_and_shows_the_same(before):
    skipped, same = _both(before, SEQ)
    assert same
    assert skipped > 0.95 * len(SEQ)


@pytest.mark.parametrize(
    ("before", "flood"),
    ids=["colour", "charset", "open sequence", "half a character", "region", "short"],
    argvalues=[
        (b"", b"\x1b[32m" + SEQ),  # a colour in the flood outlives its rows
        (b"", b"\x0e" + SEQ),  # so does a charset shift
        (b"\x1b]0;a title begun", SEQ),  # a sequence begun in the last read
        ("dé".encode()[:-1], SEQ),  # half a UTF-8 character
        (b"\x1b[2;8r", SEQ),  # a scrolling region keeps the rows above it
        (b"", b"1\r\n2\r\n3\r\n"),  # too few lines to scroll everything off
    ],
)
def test_anything_but_plain_text_is_fed_whole(before, flood):
    skipped, same = _both(before, flood)
    assert (skipped, same) == (0, True)
