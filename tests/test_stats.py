"""The arithmetic behind every figure on screen, checked with known samples."""

from __future__ import annotations

import pytest

from kvmtui.core.model import GuestRates, GuestState
from kvmtui.core.stats import (
    NodeCpuSample,
    cpu_percent,
    guest_rates,
    node_cpu_percent,
    node_cpu_sample,
    node_memory_used_kib,
    sample_from_record,
)
from kvmtui.core.words import state_reason

# A record as getAllDomainStats returns it: two disks, one NIC, 2 vCPUs.
RECORD = {
    "state.state": 1,
    "state.reason": 1,
    "cpu.time": 10_000_000_000,
    "vcpu.current": 2,
    "vcpu.maximum": 4,
    "balloon.current": 2_097_152,
    "block.count": 2,
    "block.0.rd.bytes": 1000,
    "block.0.wr.bytes": 500,
    "block.1.rd.bytes": 3000,
    "block.1.wr.bytes": 1500,
    "net.count": 1,
    "net.0.rx.bytes": 4096,
    "net.0.tx.bytes": 1024,
}


def _later(**changes: int) -> dict[str, int]:
    return {**RECORD, **changes}


def test_a_record_sums_every_disk_and_nic():
    sample = sample_from_record(RECORD, at=5.0, vcpus=1)
    assert (sample.at, sample.cpu_time_ns, sample.vcpus) == (5.0, 10_000_000_000, 2)
    assert (sample.disk_read_bytes, sample.disk_write_bytes) == (4000, 2000)
    assert (sample.net_rx_bytes, sample.net_tx_bytes) == (4096, 1024)


def test_groups_the_driver_lacks_read_as_unknown_not_zero():
    sample = sample_from_record({"state.state": 5}, at=0.0, vcpus=3)
    assert sample.cpu_time_ns is None and sample.disk_read_bytes is None
    assert sample.net_tx_bytes is None and sample.vcpus == 3


def test_rates_are_growth_over_the_wall_time_between_samples():
    before = sample_from_record(RECORD, at=10.0, vcpus=2)
    # 2 s later: 1 s of CPU over 2 vCPUs and 2 s = 25 %; 8000 bytes read = 4000 B/s.
    after = sample_from_record(
        _later(**{"cpu.time": 11_000_000_000, "block.0.rd.bytes": 9000, "net.0.tx.bytes": 3072}),
        at=12.0,
        vcpus=2,
    )
    rates = guest_rates(before, after)
    assert rates.cpu_percent == pytest.approx(25.0)
    assert rates.disk_read_bps == pytest.approx(4000.0)
    assert rates.disk_write_bps == 0.0
    assert rates.net_rx_bps == 0.0 and rates.net_tx_bps == pytest.approx(1024.0)


def test_no_rates_from_one_sample_or_from_counters_that_went_back():
    first = sample_from_record(RECORD, at=1.0, vcpus=2)
    assert guest_rates(None, first) == GuestRates()
    # The guest restarted: its counters began again; a negative rate is never shown.
    restarted = sample_from_record(_later(**{"cpu.time": 5, "block.0.rd.bytes": 0}), 3.0, 2)
    rates = guest_rates(first, restarted)
    assert rates.cpu_percent is None and rates.disk_read_bps is None
    assert rates.net_rx_bps == 0.0


def test_no_rates_when_no_time_passed():
    sample = sample_from_record(RECORD, at=1.0, vcpus=2)
    assert guest_rates(sample, sample).cpu_percent is None


def test_cpu_percent_is_of_all_the_cpus_given():
    assert cpu_percent(0, 4_000_000_000, 2.0, 4) == pytest.approx(50.0)
    assert cpu_percent(0, 4_000_000_000, 2.0, 0) is None
    assert cpu_percent(None, 4, 2.0, 4) is None


def test_node_cpu_is_the_busy_share_between_two_samples():
    before = node_cpu_sample({"kernel": 100, "user": 300, "idle": 600, "iowait": 0})
    assert before == NodeCpuSample(busy_ns=400, total_ns=1000)
    after = node_cpu_sample({"kernel": 200, "user": 500, "idle": 1200, "iowait": 100})
    # busy grew 300 of a total growth of 1000
    assert node_cpu_percent(before, after) == pytest.approx(30.0)
    assert node_cpu_percent(None, after) is None
    assert node_cpu_percent(after, before) is None  # counters reset: unknown, not negative


def test_node_memory_counts_buffers_and_cache_as_free():
    used, total = node_memory_used_kib(
        {"total": 16_000_000, "free": 2_000_000, "buffers": 1_000_000, "cached": 5_000_000}
    )
    assert (used, total) == (8_000_000, 16_000_000)


def test_state_reasons_read_as_virsh_says_them():
    assert state_reason(GuestState.RUNNING, 1) == "booted"
    assert state_reason(GuestState.PAUSED, 5) == "I/O error"
    assert state_reason(GuestState.SHUTOFF, 2) == "destroyed"
    assert state_reason(GuestState.RUNNING, 0) == ""  # libvirt's "unknown"
    assert state_reason(GuestState.RUNNING, 99) == ""  # a newer libvirt's reason
    assert state_reason(GuestState.RUNNING, None) == ""  # the record had none
