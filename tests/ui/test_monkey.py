"""A seeded keyboard monkey and a hostile-input walk: nothing a user types may crash kvmtui.

The monkey drives the real app (Pilot, 80x24, the test:/// demo fleet) with a seeded mix of
the keys bound on whatever screen it is on, navigation keys, printable characters and hostile
strings (pasted, as a terminal delivers a paste). A crash is an error that reached the app's
last-resort handler (`app.unexpected_errors`) or the app ending with a non-zero status; a
clean quit (`q`, `:quit`) is allowed and the monkey starts a fresh app and goes on. A failure
names the seed and the last 40 keys, so `monkey(seed)` replays it.

Pilot has no terminal to hand over, so a second, smaller monkey types the hand-overs (the
editor, the viewer, `virsh console`) into the real kvmtui in tmux.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import pkgutil
import random
import re
import string
import time
import traceback
import unicodedata
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual import events
from textual.command import CommandPalette
from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input

import kvmtui.screens
from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.screens.create import CreateScreen
from kvmtui.screens.guest_config import CloneDialog
from kvmtui.screens.guests import GuestsScreen
from kvmtui.screens.hosts import HostsScreen
from kvmtui.screens.jobs import JobsScreen
from kvmtui.screens.migrate_dialog import AskNumberScreen, MigrateDialog
from kvmtui.screens.pin_editor import PinEditor
from kvmtui.screens.secret import SecretScreen, ask_secret
from kvmtui.screens.snapshots import SnapshotDialog, SnapshotsScreen
from kvmtui.screens.tags import TagDialog
from kvmtui.views import VIEW_DIGITS, VIEWS
from tests.ui.helpers import fleet_ready, started, wait_for
from tests.ui.terminal import kvmtui_in_tmux, needs_tmux
from tests.ui.test_display_ui import NODE as GRAPHICS_NODE

SIZE = (80, 24)

#: What an operator (or a cat) might type or paste into any field.
HOSTILE = [
    "-",
    "1_",
    "-1",
    "0-",
    "99999999999999999999999",
    "1e309",
    "nan",
    "'",
    '"',
    "\\",
    "%s",
    "[reverse]",
    "[bold]x[\\bold]",
    "[link=x]y",
    "[/]",
    "x@y",
    "../../etc",
    "a" * 300,
    "ünïcödé ñame",
    "名前",
    "💥🔥",
    "",
    "  ",
    "--live",
    "start [b]x",
    "migrate - -",
    "vcpupin x 0 99999999999",
    "emulatorpin x 1_",
    "migrate-setspeed x -5",
    "vcpupin x ² 0",
    "\x1b[2J\x1b[31mred",
    "nul\x00byte",
]
#: Keys every screen may see whatever its bindings say.
NAVIGATION = [
    "enter",
    "enter",
    "escape",
    "escape",
    "tab",
    "shift+tab",
    "up",
    "down",
    "left",
    "right",
    "pageup",
    "pagedown",
    "home",
    "end",
    "backspace",
    "delete",
    "space",
    "ctrl+p",
    "ctrl+a",
    "ctrl+e",
    "ctrl+k",
    "ctrl+d",
    "ctrl+right_square_bracket",
    "ctrl+o",
    "f1",
    "colon",
    "slash",
    "question_mark",
    *VIEW_DIGITS[: len(VIEWS)],  # every view's digit
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
            _get_unicode_name_from_key(REPLACED_KEYS.get(key, key))
        )
    except KeyError:
        char = key if len(key) == 1 else None
    return events.Key(key, char)


class Unsettled(AssertionError):
    """The screen did not handle a key within SETTLE_TIMEOUT: a handler hangs."""


#: Seconds a screen may take to handle one key before the monkey calls it hung.
SETTLE_TIMEOUT = 30.0


async def _settled(app: KvmTuiApp) -> None:
    """Waits until the app and every widget of its screen have handled what was queued
    before the call, as `Pilot._wait_for_screen` does, except that a widget removed
    meanwhile no longer counts: it never runs what was queued to it, and a key that closed
    a dialog in that moment made Pilot's wait sit out its 30 s (CI, seed 101)."""
    pending = {app, *app.screen.walk_children(with_self=True)}
    answered = asyncio.Event()
    waiting = set()
    for widget in pending:
        if widget.call_later(lambda w=widget: (waiting.discard(w), waiting or answered.set())):
            waiting.add(widget)
    deadline = asyncio.get_running_loop().time() + SETTLE_TIMEOUT
    while waiting and any(not (w._closing or w._closed) for w in waiting):
        if asyncio.get_running_loop().time() > deadline:
            raise Unsettled(
                f"no answer in {SETTLE_TIMEOUT:.0f} s from {sorted(repr(w) for w in waiting)[:5]}"
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(answered.wait(), 0.1)


async def _send(app: KvmTuiApp, pilot: Pilot, key: str) -> None:
    """Delivers one key (or paste) and waits until the screen has handled it. Unlike
    `Pilot.press` it does not also wait for the process to go idle (>= 40 ms a key): a fast
    typist does not wait either, and the monkey gets 5,000 keys in under a minute or so."""
    if key.startswith("paste:"):
        (app.focused or app.screen).post_message(events.Paste(key.removeprefix("paste:")))
    else:
        assert app._driver is not None
        app._driver.send_message(_key_event(key))
    await _settled(app)


def _crash(seed: int, sent: int, history: deque[str], app: KvmTuiApp, why: str) -> MonkeyCrash:
    details = (
        "".join(traceback.format_exception(app.unexpected_errors[0]))
        if app.unexpected_errors
        else ""
    )
    return MonkeyCrash(
        f"monkey seed={seed} crashed after {sent} keys: {why}\n"
        f"last {len(history)} keys: {list(history)}\n{details}"
    )


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
                try:
                    await _send(app, pilot, key)
                except Unsettled as hung:
                    raise _crash(seed, sent, history, app, str(hung)) from None
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


# ---- every input line, fed every hostile string ------------------------------------------


async def _home(pilot: Pilot, view: str = "guests") -> None:
    """Back on a view with nothing on top of it, as `1`/`2`/`3` leave it."""
    app = pilot.app
    app.show_view(view)
    await wait_for(
        pilot,
        lambda: len(app.screen_stack) == 1 and app.current_mode == view and app.screen.is_mounted,
        what=f"the {view} view",
    )
    await pilot.pause()


async def _prompt(pilot: Pilot, view: str, key: str) -> None:
    await _home(pilot, view)
    await pilot.press(key)


async def _detail_pin(pilot: Pilot, key: str) -> None:
    """The pin editor, from the detail screen's vCPU tab (Enter a vCPU, `j` the
    emulator)."""
    app = pilot.app
    await _home(pilot)
    await pilot.press("enter", "k")
    await wait_for(pilot, lambda: app.screen.query("#vcpu-table"), what="the vCPU table")
    await pilot.press(key)


async def _secret(pilot: Pilot) -> None:
    await _home(pilot)
    pilot.app.run_worker(ask_secret(pilot.app, "Password for root@kvm9:"))


async def _migrate(pilot: Pilot) -> None:
    await _home(pilot)
    await pilot.press("m")


async def _palette(pilot: Pilot) -> None:
    await _home(pilot)
    await pilot.press("ctrl+p")


async def _ask_number(pilot: Pilot) -> None:
    """The number dialog the migration progress screen opens (its keys need a migration the
    test driver cannot run: the lab's UI test drives those keys)."""
    await _home(pilot)
    pilot.app.push_screen(AskNumberScreen("Maximum tolerable downtime, ms", 1, 2000))


async def _new_snapshot(pilot: Pilot) -> None:
    """The new-snapshot dialog, from the snapshots view of the guest under the cursor."""
    await _home(pilot)
    await pilot.press("t")
    await wait_for(
        pilot, lambda: isinstance(pilot.app.screen, SnapshotsScreen), what="the snapshots view"
    )
    await pilot.press("n")


async def _create(pilot: Pilot) -> None:
    await _home(pilot)
    await pilot.press("colon", *"create", "enter")


#: Each way to an input line, with the screen it opens.
OPENERS: dict[str, tuple[Callable[[Pilot], Awaitable[None]], type[Screen[Any]]]] = {
    "guests :": (lambda pilot: _prompt(pilot, "guests", "colon"), GuestsScreen),
    "guests /": (lambda pilot: _prompt(pilot, "guests", "slash"), GuestsScreen),
    "hosts :": (lambda pilot: _prompt(pilot, "hosts", "colon"), HostsScreen),
    "hosts /": (lambda pilot: _prompt(pilot, "hosts", "slash"), HostsScreen),
    "jobs /": (lambda pilot: _prompt(pilot, "jobs", "slash"), JobsScreen),
    "pin vCPU": (lambda pilot: _detail_pin(pilot, "enter"), PinEditor),
    "pin emulator": (lambda pilot: _detail_pin(pilot, "j"), PinEditor),
    "password": (_secret, SecretScreen),
    "migrate": (_migrate, MigrateDialog),
    "migration number": (_ask_number, AskNumberScreen),
    "clone": (lambda pilot: _prompt(pilot, "guests", "f"), CloneDialog),
    "tags": (lambda pilot: _prompt(pilot, "guests", "number_sign"), TagDialog),
    "new snapshot": (_new_snapshot, SnapshotDialog),
    "command palette": (_palette, CommandPalette),
    "create wizard": (_create, CreateScreen),
}


def _screens_with_inputs() -> set[type[Screen[Any]]]:
    """Every screen class of kvmtui whose own code makes an input line."""
    found: set[type[Screen[Any]]] = set()
    for module_info in pkgutil.iter_modules(kvmtui.screens.__path__):
        module = importlib.import_module(f"kvmtui.screens.{module_info.name}")
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, Screen)
                and value.__module__ == module.__name__
                and re.search(r"\b(Input|PromptLine)\(", inspect.getsource(value))
            ):
                found.add(value)
    return found


def test_every_screen_with_an_input_is_walked():
    """A new dialog with an input line joins OPENERS, or its inputs never meet the hostile
    strings."""
    opened = {screen for _, screen in OPENERS.values()}
    missing = {
        screen.__name__
        for screen in _screens_with_inputs()
        if not any(issubclass(o, screen) for o in opened)
    }
    assert not missing, f"no opener in OPENERS for {sorted(missing)}"


def _inputs(app: KvmTuiApp) -> list[Input]:
    return [field for field in app.screen.query(Input) if field.display]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("where", OPENERS)
async def test_every_input_takes_hostile_strings(demo_settings, where):
    """Each input of the screen (every one, found in the DOM) gets each hostile string and
    Enter; the app must report or refuse, never crash. The screen is reopened when Enter
    closed it."""
    async with started(demo_settings, SIZE) as (app, pilot):
        opener, screen = OPENERS[where]
        await opener(pilot)
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, screen) and _inputs(app),
            what=f"an input on {where}",
        )
        count = len(_inputs(app))
        for index in range(count):
            for text in HOSTILE:
                if len(_inputs(app)) != count:
                    await opener(pilot)
                    await wait_for(
                        pilot,
                        lambda: len(_inputs(app)) == count,
                        what=f"the inputs of {where} after {text!r}",
                    )
                field = _inputs(app)[index]
                field.focus()
                field.value = ""
                await _send(app, pilot, "paste:" + text)
                await pilot.press("enter")  # and wait until what Enter set off has settled
                assert not app.unexpected_errors, (
                    f"{where}, input {field.id or index}, {text!r} + Enter: "
                    + "".join(traceback.format_exception(app.unexpected_errors[0]))
                )
                assert app.return_code is None, f"{where}: {text!r} + Enter ended kvmtui"


# ---- the hand-overs, in a real terminal -----------------------------------------------------

#: The real-terminal monkey's keys (tmux names): the hand-overs (`e` the editor, `v` and `o`
#: the viewer, `c` then Ctrl+O the console's `virsh console`) among the keys that reach them
#: from anywhere. `run_test()` has no terminal to hand over, so the monkey above cannot.
HANDOVER_KEYS = [
    "e",
    "e",
    "v",
    "o",
    "o",
    "c",
    "C-o",
    "C-o",
    "Escape",
    "Enter",
    "Down",
    "Up",
    "1",
    "2",
    "t",
    "Tab",
]
#: Keys between two checks that the guest list comes back.
HANDOVER_BATCH = 10


def _back_to_the_guest_list(term, why: str, tries: int = 4) -> None:
    """Escape twice and `1`, again while a screen opened by a key typed ahead (a console
    attaching on a loaded machine) comes up only after them; a hand-over that did not come
    back never shows the list, however often."""
    for attempt in range(tries):
        for key in ("Escape", "Escape", "1"):  # apart: Escape then 1 would be Alt+1
            time.sleep(0.3)
            term.press(key)
        try:
            term.wait_for(
                lambda screen: "kvmtui: guests" in screen and "Name" in screen,
                what=f"guest list ({why})",
                timeout=20.0 if attempt == tries - 1 else 5.0,
            )
            return
        except AssertionError:
            if attempt == tries - 1:
                raise


@needs_tmux
@pytest.mark.timeout(240)
@pytest.mark.parametrize("seed", [505, 606])
def test_monkey_hands_over_in_a_real_terminal(tmp_path, seed):
    """The real kvmtui in tmux with an editor and a viewer that fail and a console that
    cannot attach: after every HANDOVER_BATCH keys, Escape twice and `1` bring the guest
    list back. A hand-over that does not come back leaves a blank screen echoing keys."""
    node = tmp_path / "win.xml"
    node.write_text(GRAPHICS_NODE)
    config = tmp_path / "kvmtui.toml"
    config.write_text(
        f'viewer = "false"\n[[host]]\nname = "win"\nuri = "test://{node}"\n'
        '[[host]]\nname = "test"\nuri = "test:///default"\n'
    )
    rng = random.Random(seed)
    history: deque[str] = deque(maxlen=40)
    env = {"VISUAL": "false", "EDITOR": "", "DISPLAY": ":99"}
    with kvmtui_in_tmux(tmp_path, ["--config", str(config)], env, size=SIZE) as term:
        term.wait_for(lambda screen: "win1" in screen, what="the guest list")
        for sent in range(0, 120, HANDOVER_BATCH):
            for key in rng.choices(HANDOVER_KEYS, k=HANDOVER_BATCH):
                history.append(key)
                term.press(key)
            why = f"seed={seed} after {sent + HANDOVER_BATCH} keys, the last {list(history)}"
            _back_to_the_guest_list(term, why)
            assert term.exit_status() is None, f"kvmtui ended ({why})"
