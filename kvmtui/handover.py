"""Handing the terminal over to another program (the editor, `virsh console`) and taking it
back, however that program ends."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from textual.app import App, SuspendNotSupported

#: The apps whose terminal another program has now. One at a time: keys typed ahead (`e e`)
#: would otherwise start a second editor on the same terminal and suspend the app twice.
_lent: weakref.WeakSet[App[Any]] = weakref.WeakSet()


@contextmanager
def handed_over(app: App[Any], role: str) -> Iterator[None]:
    """For the body the terminal is another program's: the app neither reads keys nor draws,
    yet its event loop (libvirt's keepalive) runs on. Afterwards the app has its terminal
    back, redrawn, whether the body returned or raised.

    Textual's `App.suspend` resumes only when its body returns (Textualize/textual#6692,
    open in 8.2): one that raised (the editor failed) left the app suspended, its screen
    blank and every key echoed raw. So the body's exception is held until the app has
    resumed, then raised. ValueError when this terminal cannot be handed over to the `role`
    (the editor, the console): in tests, there is none; or while another program has it."""
    if app in _lent:
        raise ValueError(f"{role} not started: the terminal is already handed over")
    failure: BaseException | None = None
    _lent.add(app)
    try:
        with app.suspend(), app.batch_update():
            try:
                yield
            except BaseException as error:  # every one: the app resumes before it goes on
                failure = error
    except SuspendNotSupported:
        raise ValueError(f"this terminal cannot be handed over to the {role}") from None
    finally:
        _lent.discard(app)
    if failure is not None:
        raise failure
