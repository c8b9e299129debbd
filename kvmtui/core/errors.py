"""The one place an exception becomes the sentence an operator reads.

libvirt's exceptions carry the daemon's own message (`Requested operation is not valid:
domain is not running`) behind a `str()` that may add a prefix or be empty; a timeout has no
text at all. Every layer that shows an error asks `describe`, so the same failure reads the
same in a notification, a status line, the banner and the one-shot command line.
"""

from __future__ import annotations

import libvirt


def describe(error: BaseException) -> str:
    """libvirt's own message for a libvirt error, words for a timeout, else the text (or the
    type's name when there is none): never empty, never a traceback."""
    if isinstance(error, libvirt.libvirtError):
        return error.get_error_message() or str(error) or "libvirt error"
    if isinstance(error, TimeoutError):
        return "no answer (timed out)"
    return str(error) or type(error).__name__
