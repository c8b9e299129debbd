"""Turning libvirt's cumulative counters into per-second figures.

Every figure on screen is a difference of two samples divided by the wall time between
them (virt-top's method). These functions are pure so the arithmetic is tested with known
numbers rather than trusted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kvmtui.core.model import NO_RATES, GuestRates

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class GuestSample:
    """The cumulative counters of one guest at one moment (monotonic seconds)."""

    at: float
    cpu_time_ns: int | None
    vcpus: int
    disk_read_bytes: int | None
    disk_write_bytes: int | None
    net_rx_bytes: int | None
    net_tx_bytes: int | None


def _sum_indexed(record: Mapping[str, Any], group: str, field: str) -> int | None:
    """Adds `group.N.field` over N < `group.count`; None when the driver reports no such group."""
    count = record.get(f"{group}.count")
    if count is None:
        return None
    total = 0
    for index in range(int(count)):
        value = record.get(f"{group}.{index}.{field}")
        if value is not None:
            total += int(value)
    return total


def sample_from_record(record: Mapping[str, Any], at: float, vcpus: int) -> GuestSample:
    """Reads one `getAllDomainStats` record."""
    cpu = record.get("cpu.time")
    return GuestSample(
        at=at,
        cpu_time_ns=int(cpu) if cpu is not None else None,
        vcpus=int(record.get("vcpu.current", vcpus) or vcpus),
        disk_read_bytes=_sum_indexed(record, "block", "rd.bytes"),
        disk_write_bytes=_sum_indexed(record, "block", "wr.bytes"),
        net_rx_bytes=_sum_indexed(record, "net", "rx.bytes"),
        net_tx_bytes=_sum_indexed(record, "net", "tx.bytes"),
    )


def _rate(before: int | None, after: int | None, seconds: float) -> float | None:
    """A counter's growth per second; None when unknown or when the counter went backwards
    (a guest restarted, a disk was hot-unplugged): a negative rate is never the truth."""
    if before is None or after is None or seconds <= 0 or after < before:
        return None
    return (after - before) / seconds


def cpu_percent(
    cpu_before_ns: int | None, cpu_after_ns: int | None, seconds: float, cpus: int
) -> float | None:
    """100 x d(cpu time) / (d(wall) x 1e9 x cpus): 100 % means every one of `cpus` busy."""
    per_second = _rate(cpu_before_ns, cpu_after_ns, seconds)
    if per_second is None or cpus <= 0:
        return None
    return 100.0 * per_second / (NS_PER_S * cpus)


def guest_rates(before: GuestSample | None, after: GuestSample) -> GuestRates:
    if before is None:
        return NO_RATES
    seconds = after.at - before.at
    return GuestRates(
        cpu_percent=cpu_percent(before.cpu_time_ns, after.cpu_time_ns, seconds, after.vcpus),
        disk_read_bps=_rate(before.disk_read_bytes, after.disk_read_bytes, seconds),
        disk_write_bps=_rate(before.disk_write_bytes, after.disk_write_bytes, seconds),
        net_rx_bps=_rate(before.net_rx_bytes, after.net_rx_bytes, seconds),
        net_tx_bps=_rate(before.net_tx_bytes, after.net_tx_bytes, seconds),
    )


@dataclass(frozen=True)
class NodeCpuSample:
    """A host's cumulative CPU times (ns) from `getCPUStats(ALL_CPUS)`."""

    busy_ns: int
    total_ns: int


def node_cpu_sample(stats: Mapping[str, int]) -> NodeCpuSample:
    busy = int(stats.get("kernel", 0)) + int(stats.get("user", 0))
    total = busy + int(stats.get("idle", 0)) + int(stats.get("iowait", 0))
    return NodeCpuSample(busy_ns=busy, total_ns=total)


def node_cpu_percent(before: NodeCpuSample | None, after: NodeCpuSample) -> float | None:
    """Busy share of all CPU time between two samples: the host's load as `top` shows it."""
    if before is None:
        return None
    total = after.total_ns - before.total_ns
    busy = after.busy_ns - before.busy_ns
    if total <= 0 or busy < 0:
        return None
    return min(100.0, 100.0 * busy / total)


def node_memory_used_kib(stats: Mapping[str, int]) -> tuple[int, int]:
    """(used, total) KiB from `getMemoryStats`: free, buffers and page cache count as free."""
    total = int(stats.get("total", 0))
    free = int(stats.get("free", 0)) + int(stats.get("buffers", 0)) + int(stats.get("cached", 0))
    return max(0, total - free), total
