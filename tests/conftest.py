"""Shared fixtures: a demo fleet on libvirt's real in-process test:/// driver."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmtui.config import Settings
from kvmtui.core.demo import build_demo_fleet


@pytest.fixture
def demo_hosts(tmp_path: Path):
    return build_demo_fleet(tmp_path / "fleet")


@pytest.fixture
def demo_settings(demo_hosts) -> Settings:
    return Settings(hosts=demo_hosts, readonly=False, refresh=0.5, theme=None, demo=True)


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """kvmtui's log file (XDG state dir) goes to the test's own directory, not ~/.local."""
    path = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(path))
    return path


@pytest.fixture(autouse=True)
def no_real_editor(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stray `e` (a monkey test, a typo) must never open vi on the test's terminal: the
    editor fails at once unless a test sets its own."""
    monkeypatch.setenv("VISUAL", "false")
    monkeypatch.delenv("EDITOR", raising=False)


@pytest.fixture(autouse=True)
def thawed_collector() -> Iterator[None]:
    """The fleet takes its first tables out of the garbage collector's sight (`gc.freeze`),
    which in one long test process would also freeze every earlier test's garbage for
    good: a worker grew past 1.6 GB. Each test hands what it froze back afterwards."""
    yield
    gc.unfreeze()
