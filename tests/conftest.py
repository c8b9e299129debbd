"""Shared fixtures: a demo fleet on libvirt's real in-process test:/// driver."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvmtui.cli import Settings
from kvmtui.core.demo import build_demo_fleet


@pytest.fixture
def demo_hosts(tmp_path: Path):
    return build_demo_fleet(tmp_path / "fleet")


@pytest.fixture
def demo_settings(demo_hosts) -> Settings:
    return Settings(hosts=demo_hosts, readonly=False, refresh=0.5, theme=None, demo=True)
