"""What each view and main screen looks like, as SVG snapshots of the seeded demo fleet at
80x24 and 120x40: a change to a layout, a column or a colour shows as a picture diff.

The baselines live in `__snapshots__/` beside this file; after a deliberate change to what
the screens show, regenerate them and look at the diff before committing:

    .venv/bin/python -m pytest tests/snapshots --snapshot-update

A failed run writes `snapshot_report.html` (old and new side by side) in the working dir.
The fleet is frozen (see `frozen_settings` in conftest.py), so a snapshot changes only when
the code does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from kvmtui.app import KvmTuiApp
from kvmtui.cli import Settings
from kvmtui.views import VIEWS
from tests.ui.helpers import fleet_ready, select, wait_for

Scene = Callable[[Pilot], Awaitable[None]]

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}

#: A running guest on the first host, so the migrate dialog has somewhere to send it.
RUNNING_GUEST = "web-101@kvm01"


async def settled(pilot: Pilot) -> None:
    """Lets the app run until three screenshots 0.2 s apart agree: a view's rows come from a
    core read that answers a moment after the view shows, and a snapshot taken before it
    would catch a half-filled table. Input cursors stop blinking first, so they agree."""
    shots: list[str] = []
    for _ in range(50):
        for line in pilot.app.screen.query(Input):
            line.cursor_blink = False
        shots.append(pilot.app.export_screenshot())
        if len(shots) >= 3 and len(set(shots[-3:])) == 1:
            return
        await pilot.pause(0.2)
    raise AssertionError(f"the screen did not settle in 10 s: {pilot.app.screen}")


async def ready(pilot: Pilot) -> None:
    """The guest table filled in, every active guest's address read (the demo's leases come
    in a round of their own, a moment after the first tables) and the screen settled: a
    dialog or help screen opened on it keeps what it showed underneath at that moment."""
    await fleet_ready(pilot)

    def addressed() -> bool:
        rows = pilot.app.screen.table.visible_rows()  # type: ignore[attr-defined]  # guests
        return all(g.addresses for g in rows if g.state.is_active)

    await wait_for(pilot, addressed, timeout=20.0, what="every active guest's address")
    await settled(pilot)


async def press(pilot: Pilot, binding_id: str) -> None:
    """Presses a key bound to `binding_id` now, as the operator would, then lets the screen
    settle: found by id along the focused widget's binding chain (the config's keymap
    applied), a scene survives a change of keys; the baseline then changes only where the
    footer or help shows the new key."""
    for _node, bindings in pilot.app.screen._binding_chain:
        for key, bound in bindings.key_to_bindings.items():
            if any(binding.id == binding_id for binding in bound):
                await pilot.press(key)
                await settled(pilot)
                return
    raise AssertionError(f"no key is bound to {binding_id} on {pilot.app.screen}")


def view(name: str) -> Scene:
    """A registry view, shown by its key (a digit) as the operator would."""

    async def scene(pilot: Pilot) -> None:
        await ready(pilot)
        await press(pilot, f"app.{name}")

    return scene


async def detail(pilot: Pilot) -> None:
    await ready(pilot)
    await select(pilot, RUNNING_GUEST)
    await settled(pilot)
    await press(pilot, "guests.detail")


async def help_screen(pilot: Pilot) -> None:
    await ready(pilot)
    await press(pilot, "app.help")


async def migrate_dialog(pilot: Pilot) -> None:
    await ready(pilot)
    await select(pilot, RUNNING_GUEST)
    await settled(pilot)
    await press(pilot, "guests.migrate")
    await settled(pilot)  # the ranking and the forecast come a moment after the dialog


async def cpu_map(pilot: Pilot) -> None:
    await ready(pilot)
    await press(pilot, "app.hosts")
    await press(pilot, "hosts.cpu_map")


SCENES: dict[str, Scene] = {
    **{v.name: view(v.name) for v in VIEWS},
    "detail": detail,
    "help": help_screen,
    "migrate": migrate_dialog,
    "cpumap": cpu_map,
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("scene", SCENES)
def test_screen(
    snap_compare: Callable[..., bool], frozen_settings: Settings, scene: str, size: str
) -> None:
    assert snap_compare(
        KvmTuiApp(frozen_settings), terminal_size=SIZES[size], run_before=SCENES[scene]
    )
