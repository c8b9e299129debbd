"""Sizes typed by an operator (`10G`, `512MiB`, `1.5T`), parsed by one function for every
verb that takes one, so `10G` means the same thing everywhere and `10QB` is refused."""

from __future__ import annotations

import re

_UNITS = {
    "": 1, "b": 1,
    "k": 1024, "kib": 1024, "kb": 1000,
    "m": 1024**2, "mib": 1024**2, "mb": 1000**2,
    "g": 1024**3, "gib": 1024**3, "gb": 1000**3,
    "t": 1024**4, "tib": 1024**4, "tb": 1000**4,
    "p": 1024**5, "pib": 1024**5, "pb": 1000**5,
}
_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]*)")


def parse_size(text: str) -> int:
    """Bytes in `text`: a number with an optional unit, binary for K/M/G/T/P and KiB...,
    decimal for KB/MB/GB... as virsh reads them; ValueError with a one-line reason."""
    match = _SIZE_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a size (say e.g. 512M, 10G or 1.5T)")
    number, unit = match.groups()
    scale = _UNITS.get(unit.lower())
    if scale is None:
        raise ValueError(f"{text!r}: unknown unit {unit!r} (use K, M, G, T or P)")
    return round(float(number) * scale)
