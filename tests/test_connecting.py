"""Connecting many hosts at once (on real libvirt, test:///): opens go through the fleet's
gate, a bounded number at a time, and a host refused for a real reason shows its reason
while the others keep connecting."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import libvirt
import pytest

from kvmtui.core.demo import write_fleet
from kvmtui.core.model import HostSpec, Link
from tests.test_idle_cost import connected_fleet, until


class OpenCounter:
    """libvirt's open, counting the opens running at once (each held 0.3 s: the shared
    pool gives calls waiting that long more threads, so opens let through overlap)."""

    def __init__(self, real):
        self._real = real
        self._lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.opened = 0

    def __call__(self, uri=None, *args, **kwargs):
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.3)  # long enough for the pool to spread opens over threads
            return self._real(uri, *args, **kwargs)
        finally:
            with self._lock:
                self.running -= 1
                self.opened += 1


@pytest.fixture
def counted_opens(monkeypatch: pytest.MonkeyPatch) -> OpenCounter:
    counter = OpenCounter(libvirt.open)
    monkeypatch.setattr(libvirt, "open", counter)
    return counter


async def test_a_fleet_opens_no_more_hosts_at_once_than_its_gate(
    tmp_path: Path, counted_opens: OpenCounter
):
    hosts = write_fleet(tmp_path, hosts=12, guests_per_host=2)
    async with connected_fleet(hosts, refresh=0.5, opens_in_flight=3) as fleet:
        assert [h.link for h in fleet.snapshot().hosts] == [Link.CONNECTED] * 12
    assert counted_opens.opened == 12  # each host opened once: nothing timed out queued
    assert 1 <= counted_opens.most <= 3


async def test_a_refused_host_shows_its_reason_while_the_others_connect(
    tmp_path: Path, counted_opens: OpenCounter
):
    good = write_fleet(tmp_path, hosts=6, guests_per_host=2)
    missing = tmp_path / "gone.xml"
    bad = HostSpec("gone", f"test://{missing}")
    hosts = (*good[:3], bad, *good[3:])
    async with connected_fleet(hosts, refresh=0.5, opens_in_flight=2, expect_up=6) as fleet:
        await until(lambda: fleet.host("gone").link is Link.LOST, what="the bad host lost")
        lost = fleet.host("gone").snapshot()
        assert str(missing) in lost.reason
        assert lost.retry_in is not None  # retried later, on its own
        up = [h.name for h in fleet.snapshot().hosts if h.link is Link.CONNECTED]
        assert up == [h.name for h in good]
