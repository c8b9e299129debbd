"""Sizes an operator types (`10G`, `512M`, `1.5T`, `4096`): the one parser for them all.

virsh reads `vol-create-as ... 10G` with libvirt's scaled-integer rules: a bare number is
bytes, `K`/`M`/`G`/`T`/`P`/`E` (or `KiB` ... `EiB`) are powers of 1024 and `KB` ... `EB`
powers of 1000, case-insensitive. kvmtui reads every size the same way so a virsh user's
habits carry over; anything else (`10QB`, `-1G`, `ten`) is refused with one line saying
why, before anything is created.
"""

from __future__ import annotations

import re

_UNITS: dict[str, int] = {"": 1, "b": 1, "byte": 1, "bytes": 1}
for _power, _letter in enumerate("kmgtpe", start=1):
    _UNITS[_letter] = _UNITS[f"{_letter}ib"] = 1024**_power
    _UNITS[f"{_letter}b"] = 1000**_power

#: libvirt holds sizes in unsigned 64-bit integers, but its APIs take signed ones.
MAX_SIZE = 2**63 - 1

_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")


def parse_size(text: str) -> int:
    """Bytes in `text`; ValueError with a one-line reason when it is not a size."""
    match = _SIZE_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size: write a number and a unit, like 10G or 512M")
    number, unit = match.groups()
    scale = _UNITS.get(unit.lower())
    if scale is None:
        raise ValueError(
            f"unknown size unit {unit!r} in {text!r}: use K, M, G, T, P or E "
            "(KiB ... for 1024, KB ... for 1000)"
        )
    if "." in number and scale == 1:
        raise ValueError(f"{text!r}: a size in bytes must be a whole number")
    size = round(float(number) * scale) if "." in number else int(number) * scale
    if size > MAX_SIZE:
        raise ValueError(f"{text!r} is too large (at most 8 EiB)")
    return size
