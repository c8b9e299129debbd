"""A seeded keyboard monkey and a hostile-input walk: nothing a user types may crash kvmtui.

The monkey drives the real app (Pilot, 80x24, the test:/// demo fleet) with a seeded mix of
the keys bound on whatever screen it is on, navigation keys, printable characters and hostile
strings (pasted, as a terminal delivers a paste). A crash is an error that reached the app's
last-resort handler (`app.unexpected_errors`) or the app ending with a non-zero status; a
clean quit (`q`, `:quit`) is allowed and the monkey starts a fresh app and goes on. A failure
names the seed and the last 40 keys, so `monkey(seed)` replays it.
"""

from __future__ import annotations

import random
import string
import traceback
import unicodedata
from collections import deque

import pytest
from textual import events
from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key
from textual.pilot import Pilot

from kvmtui.app import KvmTuiApp
from kvmtui.cli import Settings
from tests.ui.helpers import fleet_ready

SIZE = (80, 24)

#: What an operator (or a cat) might type or paste into any field.
HOSTILE = [
    "-", "1_", "-1", "0-", "99999999999999999999999", "1e309", "nan", "'", '"', "\\", "%s",
    "[reverse]", "[bold]x[\\bold]", "[link=x]y", "[/]", "x@y", "../../etc", "a" * 300,
    "ünïcödé ñame", "名前", "💥🔥", "", "  ", "--live", "start [b]x", "migrate - -",
    "vcpupin x 0 99999999999", "emulatorpin x 1_", "migrate-setspeed x -5",
]
#: Keys every screen may see whatever its bindings say.
NAVIGATION = [
    "enter", "enter", "escape", "escape", "tab", "shift+tab", "up", "down", "left", "right",
    "pageup", "pagedown", "home", "end", "backspace", "delete", "space", "ctrl+p", "ctrl+a",
    "ctrl+e", "ctrl+k", "ctrl+d", "ctrl+right_square_bracket", "ctrl+o", "f1",
    "colon", "slash", "question_mark", "1", "2", "3",
]
PRINTABLE = string.ascii_letters + string.digits + "-_+.,:/[]@'\"\\ "


class MonkeyCrash(AssertionError):
    pass


def _next_key(rng: random.Random, app: KvmTuiApp) -> str:
    roll = rng.random()
    if roll < 0.35:
        bound = sorted(app.active_bindings)
        if rng.random() < 0.9:  # a quit restarts the app: allowed, but let the keys roam
            bound = [key for key in bound if app.active_bindings[key].binding.action != "quit"]
        if bound:
            return rng.choice(bound)
    if roll < 0.7:
        return rng.choice(NAVIGATION)
    if roll < 0.88:
        return rng.choice(PRINTABLE)
    return "paste:" + rng.choice(HOSTILE)


def _key_event(key: str) -> events.Key:
    """The event a terminal sends for `key`, as Textual's own `Pilot.press` builds it."""
    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    try:
        char: str | None = unicodedata.lookup(
            _get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
    except KeyError:
        char = key if len(key) == 1 else None
    return events.Key(key, char)


async def _send(app: KvmTuiApp, pilot: Pilot, key: str) -> None:
    """Delivers one key (or paste) and waits until the screen has handled it. Unlike
    `Pilot.press` it does not also wait for the process to go idle (>= 40 ms a key): a fast
    typist does not wait either, and the monkey gets 5,000 keys in under a minute or so."""
    if key.startswith("paste:"):
        (app.focused or app.screen).post_message(events.Paste(key.removeprefix("paste:")))
    else:
        assert app._driver is not None
        app._driver.send_message(_key_event(key))
    await pilot._wait_for_screen()


def _crash(seed: int, sent: int, history: deque[str], app: KvmTuiApp, why: str) -> MonkeyCrash:
    details = "".join(traceback.format_exception(app.unexpected_errors[0])) \
        if app.unexpected_errors else ""
    return MonkeyCrash(f"monkey seed={seed} crashed after {sent} keys: {why}\n"
                       f"last {len(history)} keys: {list(history)}\n{details}")


async def monkey(settings: Settings, seed: int, count: int) -> int:
    """Sends `count` random keys; returns how many clean quits it restarted from."""
    rng = random.Random(seed)
    history: deque[str] = deque(maxlen=40)
    sent = restarts = 0
    while sent < count:
        app = KvmTuiApp(settings)
        async with app.run_test(size=SIZE) as pilot:
            await fleet_ready(pilot)
            while sent < count and app.return_code is None:
                key = _next_key(rng, app)
                history.append(key)
                await _send(app, pilot, key)
                sent += 1
                if app.unexpected_errors:
                    raise _crash(seed, sent, history, app, repr(app.unexpected_errors[0]))
        if app.return_code:
            raise _crash(seed, sent, history, app, f"exit status {app.return_code}")
        if sent < count:
            restarts += 1
    return restarts


@pytest.mark.timeout(240)
@pytest.mark.parametrize("seed", [101, 202, 303, 404])
async def test_monkey(demo_settings, seed):
    await monkey(demo_settings, seed, 1250)
