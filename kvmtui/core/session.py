"""One open libvirt connection, shared by threads and closed only once no call still holds it.

libvirt frees a connection when it is closed. A call still running on it in another thread
(a migration that carries the destination's connection for minutes, a stats call stuck on a
dying host) would then touch freed memory and take the whole process down. So every call
holds the session while it runs, and retiring a session closes the connection at once when
it is idle, or else from the thread of the last call to return.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import libvirt


class SessionRetired(Exception):
    """The connection was given up (host lost or closing) before the call could start."""


class Session:
    """A libvirt connection plus the count of calls running on it; see the module doc."""

    def __init__(self, conn: libvirt.virConnect, host: str) -> None:
        self._conn = conn
        self.host = host
        self._lock = threading.Lock()
        self._users = 0
        self._retired = False
        self._teardown: list[Callable[[libvirt.virConnect], None]] = []
        self.closed = threading.Event()

    def on_close(self, step: Callable[[libvirt.virConnect], None]) -> None:
        """Runs `step(conn)` just before the connection closes (deregistering callbacks)."""
        self._teardown.append(step)

    @contextlib.contextmanager
    def use(self) -> Iterator[libvirt.virConnect]:
        """Holds the connection open for the length of one call; any thread may call it."""
        with self._lock:
            if self._retired:
                raise SessionRetired(f"host {self.host} is not connected (connection closed)")
            self._users += 1
        try:
            yield self._conn
        finally:
            with self._lock:
                self._users -= 1
                last = self._retired and self._users == 0
            if last:
                self._close()

    def retire(self) -> None:
        """Refuses new calls and closes the connection as soon as no call holds it.

        Blocking when idle (close is an RPC): call it off the event loop."""
        with self._lock:
            if self._retired:
                return
            self._retired = True
            idle = self._users == 0
        if idle:
            self._close()

    def _close(self) -> None:
        try:
            for step in self._teardown:
                with contextlib.suppress(libvirt.libvirtError):
                    step(self._conn)
            with contextlib.suppress(libvirt.libvirtError):
                self._conn.close()
        finally:
            self.closed.set()
