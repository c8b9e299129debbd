"""libvirt's event loop on the app's asyncio loop, safe to poke from the per-host threads.

libvirtaio adds and removes its file-descriptor watches and timers from whatever thread
libvirt happens to call it on. Our connections are opened and used in per-host worker threads,
so most of those calls arrive off the loop thread, where asyncio's add_reader/create_task are
not safe and do not wake a sleeping loop.

Socket watches are the frequent ones: libvirt switches a connection's watch off before every
remote call and on again after it (the calling thread reads the answer itself), so a fleet of
200 hosts asks for a thousand changes a second. Handing each to the loop thread woke the loop
for each, and cost more CPU than the calls it watched. So libvirt's sockets sit in an epoll
set of their own, which any thread changes at once with a system call, and which the loop
watches as a single file descriptor: the loop wakes only when a socket it should read has
something to read. Timers and tasks are rare and go to the loop thread as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import threading
from collections.abc import Callable
from typing import Any

import libvirt
import libvirtaio

# libvirt prints every error to stderr by default, which would scribble over the screen;
# the errors still reach us as exceptions with the same text.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

_Watch = tuple[Callable[..., Any], tuple[Any, ...]]  # a callback and its arguments
_READ, _WRITE = 0, 1
_MASKS = (select.EPOLLIN, select.EPOLLOUT)


class _SocketWatches:
    """libvirt's socket watches: an epoll set any thread may change, read on the loop thread.

    The kernel applies a change at once, also to a wait already under way, so a watch
    switched off before a remote call is off before its answer can arrive."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._lock = threading.Lock()
        #: Per file descriptor: its reader and writer watch, each a _Watch or None.
        self._watches: dict[int, list[_Watch | None]] = {}

    def fileno(self) -> int:
        return self._epoll.fileno()

    def set(self, fd: int, which: int, watch: _Watch | None) -> None:
        with self._lock:
            watches = self._watches.get(fd) or [None, None]
            before = self._mask(watches)
            watches[which] = watch
            after = self._mask(watches)
            if any(watches):
                self._watches[fd] = watches
            else:
                self._watches.pop(fd, None)
            if after != before:
                self._register(fd, before, after)

    @staticmethod
    def _mask(watches: list[_Watch | None]) -> int:
        return sum(mask for mask, watch in zip(_MASKS, watches, strict=True) if watch)

    def _register(self, fd: int, before: int, after: int) -> None:
        if not after:
            with contextlib.suppress(OSError):  # closed already: the kernel dropped it
                self._epoll.unregister(fd)
            return
        try:
            if before:
                self._epoll.modify(fd, after)
            else:
                self._epoll.register(fd, after)
        except FileNotFoundError:  # closed and its number reused: the kernel dropped it
            self._epoll.register(fd, after)
        except FileExistsError:  # closed and reused before its watch was removed
            self._epoll.modify(fd, after)

    def dispatch(self) -> None:
        """Calls the watches of the sockets that are ready (on the loop thread). As
        asyncio's selector does, a hang-up or an error counts as readable and writable."""
        for fd, events in self._epoll.poll(0):
            watches = self._watches.get(fd)
            if watches is None:
                continue  # switched off since the kernel reported it
            for which, mask in enumerate(_MASKS):
                watch = watches[which]
                if watch is not None and events & (mask | select.EPOLLHUP | select.EPOLLERR):
                    callback, args = watch
                    callback(*args)


class _LoopFromAnyThread:
    """An asyncio loop as libvirtaio uses it, callable from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sockets = _SocketWatches()
        self._serve(loop)

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()
        loop.add_reader(self._sockets.fileno(), self._sockets.dispatch)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serves `loop` from now on (called on its thread)."""
        if not self._loop.is_closed():
            self._loop.remove_reader(self._sockets.fileno())
        self._serve(loop)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def _on_loop_thread(self) -> bool:
        return threading.get_ident() == self._loop_thread

    def add_reader(self, fd: int, callback: Callable[..., Any], *args: Any) -> None:
        self._sockets.set(fd, _READ, (callback, args))

    def add_writer(self, fd: int, callback: Callable[..., Any], *args: Any) -> None:
        self._sockets.set(fd, _WRITE, (callback, args))

    def remove_reader(self, fd: int) -> None:
        self._sockets.set(fd, _READ, None)

    def remove_writer(self, fd: int) -> None:
        self._sockets.set(fd, _WRITE, None)

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
    _proxy = _LoopFromAnyThread(loop)
    impl = libvirtaio.virEventAsyncIOImpl(loop=_proxy)
    impl.register()
    libvirtaio._current_impl = impl  # keep getCurrentImpl() truthful for other users
