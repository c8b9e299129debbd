"""One grammar, read on screen: the `:` line typed ahead, `:help VERB`, the palette, the
footer and columns at 80 columns, the migration dialogs, empty tables."""

from __future__ import annotations

from textual import events

from kvmtui.widgets.command_line import PromptLine
from tests.ui.helpers import started, wait_for

SMALL = (80, 24)
LARGE = (120, 40)


async def test_a_pasted_line_completes_what_was_pasted(demo_settings):
    """`:sta<Tab>` arriving at once (pasted, or typed faster than the app reads) completes
    `sta`, not an empty line with `sta` appended after the completion."""
    async with started(demo_settings, SMALL) as (app, pilot):
        for key, char in (("colon", ":"), ("s", "s"), ("t", "t"), ("a", "a"), ("tab", "\t")):
            app.post_message(events.Key(key, char))
        line = app.screen.query_one(PromptLine)
        await wait_for(pilot, lambda: len(line.value) >= 3, what="the line to fill")
        await pilot.pause()
        assert line.has_focus
        assert line.value == "start"
