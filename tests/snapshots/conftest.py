"""The frozen demo fleet the snapshots are taken of: the seeded demo fleet (the same guests,
names, sizes and states every run) with no figure that moves with time."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest

from kvmtui.cli import Settings
from kvmtui.core.demo import build_demo_fleet
from kvmtui.core.model import HostSpec

#: Seconds between stats ticks: longer than any test, so the first tick is the only one and
#: every figure on screen is the one it read.
FROZEN_REFRESH = 3600.0
#: What every guest's CPU time reads (ns): libvirt's test driver reports the wall clock.
FROZEN_CPU_TIME_NS = 42 * 10**9


@pytest.fixture
def frozen_hosts() -> Iterator[tuple[HostSpec, ...]]:
    """The demo fleet's node files under a path of the same length every run, wherever the
    test runs: the hosts view shows each host's URI, and the width of that column sets its
    scrollbar's thumb (pytest's own tmp_path grows with its run counter and the test name)."""
    with tempfile.TemporaryDirectory(prefix="kvmtui-snapshots-", dir="/tmp") as directory:
        yield build_demo_fleet(Path(directory))


@pytest.fixture
def frozen_settings(
    frozen_hosts: tuple[HostSpec, ...], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The demo fleet as `kvmtui --demo` shows it, frozen. The test driver keeps no CPU,
    disk or network counters (those columns read "-"), so a rate never moves; the one
    figure it takes from the clock, a guest's CPU time in `virDomainGetInfo` (the detail
    screen's dominfo), is pinned here."""
    real_info = libvirt.virDomain.info

    def frozen_info(dom: libvirt.virDomain) -> list[Any]:
        state, max_memory, memory, vcpus, _cpu_time = real_info(dom)
        return [state, max_memory, memory, vcpus, FROZEN_CPU_TIME_NS]

    monkeypatch.setattr(libvirt.virDomain, "info", frozen_info)
    return Settings(
        hosts=frozen_hosts, readonly=False, refresh=FROZEN_REFRESH, theme=None, demo=True
    )
