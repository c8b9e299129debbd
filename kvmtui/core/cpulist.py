"""virsh's CPU-list syntax (`0-3,^2,5`, or `r` for every CPU), read and written.

Every pin the operator types goes through `parse_cpulist`, which checks it against the
host's real CPU count before anything reaches libvirt: libvirt itself silently ignores
bits beyond the host's CPUs, so a typo like `9` on an 8-CPU host would otherwise "work".
`format_cpulist` writes the shortest equivalent list, so affinities read the way virsh
prints them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kvmtui.core.numbers import plural


class CpuListError(ValueError):
    """A CPU list that cannot be used; the message says what is wrong for a virsh user."""


#: Above any real host's CPU count; a bound before a range like `0-99999999999` is built.
MAX_CPU = 65535


def _number(text: str, whole: str) -> int:
    # isdigit() alone takes "²" (superscript two), which int() then refuses: ASCII only.
    if not (text.isascii() and text.isdigit()):
        raise CpuListError(f"bad CPU list item {whole!r}: {text!r} is not a CPU number")
    if len(text) > len(str(MAX_CPU)) or int(text) > MAX_CPU:
        raise CpuListError(f"bad CPU list item {whole!r}: no host has a CPU {text}")
    return int(text)


def _item(item: str) -> range:
    """The CPUs one comma-separated item names (without its `^`)."""
    first, dash, last = item.partition("-")
    start = _number(first.strip(), item)
    if not dash:
        return range(start, start + 1)
    end = _number(last.strip(), item)
    if end < start:
        raise CpuListError(f'bad range "{item}"')
    return range(start, end + 1)


def describe_host(count: int, host: str = "") -> str:
    """`hostb (it has 8 CPUs: 0-7)`: how errors name the CPUs that do exist."""
    where = host or "this host"
    return f"{where} (it has {plural(count, 'CPU')}: {format_cpulist(range(count))})"


def check_cpus(cpus: Iterable[int], count: int, host: str = "") -> frozenset[int]:
    """`cpus` as a frozenset, if it is not empty and every CPU exists on the host."""
    chosen = frozenset(cpus)
    if not chosen:
        raise CpuListError("empty CPU list")
    missing = sorted(cpu for cpu in chosen if cpu < 0 or cpu >= count)
    if missing:
        which = (
            f"CPU {missing[0]} does"
            if len(missing) == 1
            else (f"CPUs {format_cpulist(missing)} do")
        )
        raise CpuListError(f"{which} not exist on {describe_host(count, host)}")
    return chosen


def parse_cpulist(text: str, count: int, host: str = "") -> frozenset[int]:
    """The CPUs `text` names on a host with `count` CPUs; CpuListError says what is wrong.

    Items are added in order and `^N` items removed afterwards, as virsh does, so
    `0-3,^2` is {0, 1, 3}; `r` means every CPU of the host.
    """
    text = text.strip()
    if text == "r":
        return frozenset(range(count))
    if not text:
        raise CpuListError("empty CPU list")
    wanted: set[int] = set()
    unwanted: set[int] = set()
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            raise CpuListError(f"bad CPU list {text!r}: an empty item between commas")
        if item.startswith("^"):
            unwanted.update(_item(item[1:]))
        else:
            wanted.update(_item(item))
    check_cpus(wanted | unwanted, count, host)
    return check_cpus(wanted - unwanted, count, host)


def _runs(cpus: Sequence[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for cpu in cpus:
        if runs and runs[-1][1] == cpu - 1:
            runs[-1] = (runs[-1][0], cpu)
        else:
            runs.append((cpu, cpu))
    return runs


def format_cpulist(cpus: Iterable[int]) -> str:
    """The shortest list naming exactly `cpus`: `0-6,8-11`, or `0-11,^7` when shorter."""
    ordered = sorted(set(cpus))
    if not ordered:
        return ""
    plain = ",".join(str(a) if a == b else f"{a}-{b}" for a, b in _runs(ordered))
    low, high = ordered[0], ordered[-1]
    present = set(ordered)
    holes = [cpu for cpu in range(low, high + 1) if cpu not in present]
    spanned = ",".join([f"{low}-{high}", *(f"^{cpu}" for cpu in holes)])
    return spanned if holes and len(spanned) < len(plain) else plain


def to_cpumap(cpus: Iterable[int], count: int) -> tuple[bool, ...]:
    """The bit tuple libvirt's pin calls take, one entry per host CPU."""
    chosen = frozenset(cpus)
    return tuple(cpu in chosen for cpu in range(count))


def from_cpumap(cpumap: Sequence[bool]) -> frozenset[int]:
    """The CPUs set in a bit tuple libvirt returned."""
    return frozenset(cpu for cpu, on in enumerate(cpumap) if on)
