"""The one place an exception becomes the sentence an operator reads.

libvirt's exceptions carry the daemon's own message (`Requested operation is not valid:
domain is not running`) behind a `str()` that may add a prefix or be empty; a timeout has no
text at all. Every layer that shows an error asks `describe`, so the same failure reads the
same in a notification, a status line, the banner and the one-shot command line.
"""

from __future__ import annotations

import logging
from typing import Any

import libvirt

#: Where libvirt's own error reports go: the log, when the front-end gives this logger a
#: handler (the full screen does); nowhere otherwise. Every error still reaches its caller
#: as an exception with the same text, which is what the operator is shown.
LIBVIRT_LOG = logging.getLogger("kvmtui.libvirt")


def _log_libvirt_error(_context: Any, error: Any) -> None:
    """libvirt's error callback: its default prints each error to stderr, which is the
    terminal the screen is drawn on. `error` is libvirt's tuple; the third item is its
    message. Info, not warning: Python's last-resort handler prints warnings to stderr."""
    LIBVIRT_LOG.info("libvirt: %s", error[2] if len(error) > 2 else error)


libvirt.registerErrorHandler(_log_libvirt_error, None)


class HostError(Exception):
    """An action failed; the message names the host and the guest and quotes libvirt.

    Every failure of a call on a host (libvirt's errors, timeouts, a lost connection, a bug
    in the called function) leaves the core as this one type, so the UI needs one `except`.
    `code` keeps libvirt's error code (e.g. VIR_ERR_NO_DOMAIN) for callers that act on it;
    the original exception stays in `__cause__`."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code

    @property
    def timed_out(self) -> bool:
        return isinstance(self.__cause__, TimeoutError)


def describe(error: BaseException) -> str:
    """libvirt's own message for a libvirt error, words for a timeout, else the text (or the
    type's name when there is none): never empty, never a traceback. A HostError is read
    through to what it wraps: its own text (`what` and the host) is for notifications, which
    show it whole; a reason placed after our own words wants libvirt's alone."""
    if isinstance(error, HostError) and error.__cause__ not in (None, error):
        return describe(error.__cause__)
    if isinstance(error, libvirt.libvirtError):
        return error.get_error_message() or str(error) or "libvirt error"
    if isinstance(error, TimeoutError):
        return "no answer (timed out)"
    return str(error) or type(error).__name__
