"""libvirt's event loop on the app's asyncio loop, safe to poke from the per-host threads.

libvirtaio adds and removes its file-descriptor watches and timers from whatever thread
libvirt happens to call it on. Our connections are opened and used in per-host worker threads,
so those calls arrive off the loop thread, where asyncio's add_reader/create_task are not safe
and do not wake a sleeping loop. The proxy below hands such calls to the loop thread; for file
descriptors it re-derives the watch from libvirtaio's own bookkeeping there, so the order in
which the threads' requests land can never leave a stale watch behind.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import libvirt
import libvirtaio

# libvirt prints every error to stderr by default, which would scribble over the screen;
# the errors still reach us as exceptions with the same text.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


class _LoopFromAnyThread:
    """An asyncio loop as libvirtaio uses it, callable from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, impl_ref: list[Any]) -> None:
        self._impl_ref = impl_ref
        self.bind(loop)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serves `loop` from now on (called on its thread)."""
        self._loop = loop
        self._loop_thread = threading.get_ident()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def _on_loop_thread(self) -> bool:
        return threading.get_ident() == self._loop_thread

    def _resync_fd(self, fd: int) -> None:
        descriptors = self._impl_ref[0].descriptors
        if fd in descriptors:
            descriptors[fd].update()
        else:
            self._loop.remove_reader(fd)
            self._loop.remove_writer(fd)

    def _fd_call(self, method: str, fd: int, *args: Any) -> Any:
        if self._loop.is_closed():
            return None  # the app has ended: a connection closed late has nothing to watch
        if self._on_loop_thread():
            return getattr(self._loop, method)(fd, *args)
        self._loop.call_soon_threadsafe(self._resync_fd, fd)
        return None

    def add_reader(self, fd: int, *args: Any) -> Any:
        return self._fd_call("add_reader", fd, *args)

    def add_writer(self, fd: int, *args: Any) -> Any:
        return self._fd_call("add_writer", fd, *args)

    def remove_reader(self, fd: int) -> Any:
        return self._fd_call("remove_reader", fd)

    def remove_writer(self, fd: int) -> Any:
        return self._fd_call("remove_writer", fd)

    def create_task(self, coro: Any, **kwargs: Any) -> Any:
        if self._loop.is_closed():
            coro.close()  # libvirt's free callback for a connection closed after the app
            return None
        if self._on_loop_thread():
            return self._loop.create_task(coro, **kwargs)
        # A concurrent future: its cancel() reaches the task on the loop thread.
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)


_proxy: _LoopFromAnyThread | None = None


def ensure_libvirt_events(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Puts libvirt's event loop on `loop` (the running one by default).

    Must run on the loop's thread before any connection is opened, or that connection's
    events, keepalives and close callback never fire. libvirt accepts one registration per
    process, so a later loop (a second app run, the next test) takes over the same one; the
    connections of the previous loop must be closed by then.
    """
    global _proxy
    loop = loop or asyncio.get_running_loop()
    if _proxy is not None:
        if _proxy.loop is not loop:
            _proxy.bind(loop)
        return
    impl_ref: list[Any] = []
    _proxy = _LoopFromAnyThread(loop, impl_ref)
    impl = libvirtaio.virEventAsyncIOImpl(loop=_proxy)
    impl_ref.append(impl)
    impl.register()
    libvirtaio._current_impl = impl  # keep getCurrentImpl() truthful for other users
