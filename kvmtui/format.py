"""How numbers read on screen and on the one-shot line.

Tables use `top`'s compact binary suffixes (`2.0G`, `977K`) so a column stays narrow at 80
columns; everywhere else sizes, rates and counts are spelled out by kvmtui.core.numbers
(`2.0 GiB`, `0 B/s`, `1 vCPU`), the one implementation, which the core uses too. "No figure"
is `-` (DASH) in every one of them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import humanize

from kvmtui.core import numbers

if TYPE_CHECKING:
    from kvmtui.core.migration import MigrationProgress

DASH = "-"
#: `1 vCPU`, `2 vCPUs`: every count spelled with its noun.
plural = numbers.plural
_SUFFIXES = ("B", "K", "M", "G", "T", "P")


def compact(value: float) -> str:
    """Binary units, at most four characters of number: 512M, 2.0G, 977K, 0."""
    if value < 1:
        return "0"
    for suffix in _SUFFIXES:
        if value < 1024 or suffix == _SUFFIXES[-1]:
            digits = 1 if value < 10 and suffix != "B" else 0
            return f"{value:.{digits}f}{suffix}"
        value /= 1024
    raise AssertionError("unreachable")


def kib(value_kib: int | None) -> str:
    """libvirt reports memory in KiB."""
    return compact(value_kib * 1024) if value_kib else DASH


def rate(bytes_per_second: float | None) -> str:
    return DASH if bytes_per_second is None else compact(bytes_per_second)


def pair(first: float | None, second: float | None) -> str:
    """Two rates as `in/out` in one narrow column."""
    if first is None and second is None:
        return DASH
    return f"{rate(first)}/{rate(second)}"


def percent(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f}"


def share(value: float | None) -> str:
    """A percentage spelled out, `12.5%`, or `-` for no figure (never `-%`)."""
    return DASH if value is None else f"{percent(value)}%"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return DASH
    return humanize.precisedelta(seconds, minimum_unit="seconds", format="%0.0f")


def age(seconds: float | None) -> str:
    """How long ago, roughly: `3 hours`, `a day`; `-` for no figure."""
    return DASH if seconds is None else humanize.naturaldelta(max(0.0, seconds))


def moment(epoch: float) -> str:
    """A moment in local time to the second, as a log line has it: 2026-12-07 01:23:45."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def size(value_bytes: float | None) -> str:
    """`2.0 GiB` (kvmtui.core.numbers), or `-`."""
    return DASH if value_bytes is None else numbers.size(value_bytes)


def size_kib(value_kib: int | None) -> str:
    return DASH if value_kib is None else numbers.size_kib(value_kib)


def speed(bytes_per_second: float | None) -> str:
    """A transfer rate spelled out: `8.0 MiB/s`, `0 B/s`."""
    return DASH if bytes_per_second is None else numbers.speed(bytes_per_second)


def percent_done(progress: MigrationProgress | None) -> str:
    value = progress.percent if progress else None
    return DASH if value is None else f"{value:.0f}%"


def migration_summary(progress: MigrationProgress) -> str:
    """One line for a migration's figures: `:domjobinfo`, the one-shot command's progress."""
    return (
        f"{percent_done(progress)} of {size(progress.data_total)}, "
        f"{size(progress.data_remaining)} left at {speed(progress.throughput_bps)}, "
        f"iteration {progress.iteration or DASH}, elapsed {duration(progress.elapsed)}"
    )


def used_inside(used_kib: int | None, memory_kib: int) -> str:
    """The memory a guest uses by its own balloon statistics, beside what it was given:
    `312.4 MiB of 1.0 GiB`; `-` without balloon statistics (never a guess)."""
    if used_kib is None:
        return DASH
    return f"{numbers.size_kib(used_kib)} of {numbers.size_kib(memory_kib)}"
