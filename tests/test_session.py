"""A connection given up while a call still runs on it stays open until that call returns."""

from __future__ import annotations

import threading

import libvirt
import pytest

from kvmtui.core.session import Session, SessionRetired


def test_retiring_waits_for_the_call_that_holds_the_connection():
    session = Session(libvirt.open("test:///default"), "demo")
    inside, release = threading.Event(), threading.Event()
    seen: list[str] = []

    def long_call() -> None:
        with session.use() as conn:
            inside.set()
            release.wait(10)
            seen.append(conn.lookupByName("test").name())  # still usable after retire()

    worker = threading.Thread(target=long_call)
    worker.start()
    assert inside.wait(10)
    session.retire()
    assert not session.closed.is_set()
    with pytest.raises(SessionRetired, match="host demo is not connected"), session.use():
        pass
    release.set()
    worker.join(10)
    assert seen == ["test"]
    assert session.closed.is_set()


def test_an_idle_session_closes_at_once_and_runs_its_teardown():
    session = Session(libvirt.open("test:///default"), "demo")
    steps: list[int] = []
    session.on_close(lambda conn: steps.append(conn.getInfo()[2]))
    session.retire()
    assert session.closed.is_set()
    assert steps and steps[0] > 0
