"""Sizes as users type them (`10G`, `512M`, `1.5TiB`): the one parser every verb and dialog
uses, so `10QB` is refused the same way everywhere.

Units are binary, as virsh and qemu-img read them (`G` = GiB); a bare number is bytes.
"""

from __future__ import annotations

import re

_UNITS = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGTPE]?)(?:I?B)?", re.IGNORECASE)
#: libvirt takes sizes as unsigned long long: anything larger is a typo.
_MAX = 2**63 - 1


def parse_size(text: str) -> int:
    """Bytes in `text` (`10G`, `512MiB`, `4096`); ValueError with a one-line reason."""
    match = _SIZE_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a size: {text.strip()[:40]!r} (say e.g. 512M, 10G or 1.5T)")
    number, unit = match.groups()
    size = int(float(number) * 1024 ** _UNITS[unit.upper()])
    if size <= 0:
        raise ValueError(f"size {text.strip()!r} must be more than 0 bytes")
    if size > _MAX:
        raise ValueError(f"size {text.strip()!r} is too large")
    return size
