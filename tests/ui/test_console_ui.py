"""The serial console screen on the test driver, which has no consoles: failures stay words."""

from __future__ import annotations

from kvmtui.core.model import GuestState
from kvmtui.screens.console import ConsoleScreen
from kvmtui.screens.guests import GuestsScreen
from tests.ui.helpers import notifications, started, wait_for

SIZE = (80, 24)


async def test_esc_while_attaching_then_a_failure_leaves_the_guest_list(demo_settings):
    """Found by the monkey: the failure used to dismiss again, popping the guest list."""
    async with started(demo_settings, SIZE) as (app, pilot):
        running = next(g for g in app.fleet.snapshot().guests if g.state is GuestState.RUNNING)
        await app.push_screen(ConsoleScreen(running))  # `c`, and the console attaching
        app.pop_screen()  # Esc before the test driver's refusal comes back
        # Closing the screen cancels its attach; a refusal already on its way still lands.
        await wait_for(
            pilot,
            lambda: (
                any("not supported" in n for n in notifications(app))
                or not any(w.group == "console" for w in app.workers)
            ),
            what="the console failure, or the attach cancelled",
        )
        await pilot.pause(0.2)
        assert app.is_running and isinstance(app.screen, GuestsScreen)
