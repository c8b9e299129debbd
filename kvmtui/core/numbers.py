"""Sizes, rates and counts in words: the one implementation, for the core's own sentences
and for every screen (`kvmtui.format` builds on it; the core may not import that).

One style everywhere text spells a figure out: sizes in binary units with one decimal
(`2.0 GiB`, `512.0 MiB`), bytes whole (`0 B`), rates the same per second (`0 B/s`), and a
count with its noun in the right number (`1 vCPU`, `2 vCPUs`). Narrow table columns use
`kvmtui.format.compact` (`2.0G`) instead; JSON carries the raw numbers.
"""

from __future__ import annotations

_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def size(value_bytes: float) -> str:
    """`2.0 GiB`, `977.0 KiB`, `100 B`: the largest binary unit under 1024 of it."""
    if abs(value_bytes) < 1024:
        return f"{value_bytes:.0f} B"
    value = float(value_bytes)
    for unit in _BINARY_UNITS:
        value /= 1024
        if abs(value) < 1024 or unit == _BINARY_UNITS[-1]:
            break
    return f"{value:.1f} {unit}"


def size_kib(value_kib: float) -> str:
    """libvirt gives memory in KiB: `size_kib(2097152)` is `2.0 GiB`."""
    return size(value_kib * 1024)


def speed(bytes_per_second: float) -> str:
    """A transfer rate: `8.0 MiB/s`, `0 B/s`."""
    return f"{size(bytes_per_second)}/s"


def plural(count: int, word: str, many: str = "") -> str:
    """`1 vCPU`, `2 vCPUs`, `0 guests`: the count and its noun in the right number; `many`
    where adding an s is not it (`plural(n, "entry", "entries")`)."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def duration(seconds: float) -> str:
    """A span said as an operator rounds it: `300 ms` under a second, `40 s` under a
    minute, `2 min 30 s` under an hour, `1 h 5 min` beyond; the forecasts' one spelling."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
