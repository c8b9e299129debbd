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
import enum
import math
import select
import threading
from collections.abc import Callable
from typing import Any

import libvirt
import libvirtaio

# libvirt's own error reports go to the log, never the terminal: importing the errors
# module registers that handler, before the first libvirt call.
from kvmtui.core import errors  # noqa: F401

_Watch = tuple[Callable[..., Any], tuple[Any, ...]]  # a callback and its arguments


class _Keep(enum.Enum):
    KEEP = 0  # a watch left as it is


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

    def set(
        self,
        fd: int,
        reader: _Watch | _Keep | None = _Keep.KEEP,
        writer: _Watch | _Keep | None = _Keep.KEEP,
    ) -> None:
        """Sets the socket's reader and writer watch (None: off), keeping the one not given."""
        with self._lock:
            watches = self._watches.get(fd) or [None, None]
            before = self._mask(watches)
            for which, watch in enumerate((reader, writer)):
                if watch is not _Keep.KEEP:
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
        # twice per remote call: no generator
        return (select.EPOLLIN if watches[0] else 0) | (select.EPOLLOUT if watches[1] else 0)

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

    def on_loop_thread(self) -> bool:
        return threading.get_ident() == self._loop_thread

    def soon(self, callback: Callable[[], object]) -> None:
        """`callback()` on the loop thread: now if this is it, else at its next turn."""
        if self.on_loop_thread():
            callback()
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is served
                self._loop.call_soon_threadsafe(callback)

    def watch(self, fd: int, reader: _Watch | None, writer: _Watch | None) -> None:
        """Both watches of a socket in one change."""
        self._sockets.set(fd, reader, writer)

    def add_reader(self, fd: int, callback: Callable[..., Any], *args: Any) -> None:
        self._sockets.set(fd, reader=(callback, args))

    def add_writer(self, fd: int, callback: Callable[..., Any], *args: Any) -> None:
        self._sockets.set(fd, writer=(callback, args))

    def remove_reader(self, fd: int) -> None:
        self._sockets.set(fd, reader=None)

    def remove_writer(self, fd: int) -> None:
        self._sockets.set(fd, writer=None)

    def create_task(self, coro: Any, **kwargs: Any) -> Any:
        if self._loop.is_closed():
            coro.close()  # libvirt's free callback for a connection closed after the app
            return None
        if self.on_loop_thread():
            return self._loop.create_task(coro, **kwargs)
        # A concurrent future: its cancel() reaches the task on the loop thread.
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)


class _AsyncIOImpl(libvirtaio.virEventAsyncIOImpl):  # type: ignore[misc]  # untyped to mypy
    """libvirtaio, with the switch of a socket's watch made one call.

    libvirtaio's own path for the switch libvirt makes twice per remote call walks the
    descriptor's callbacks three times and sets the reader and the writer apart, all in
    Python on the calling thread, which holds the GIL for it: at 200 hosts it cost about as
    much as the calls' own client side. A socket has one watch in every libvirt we know of;
    one with more takes libvirtaio's way."""

    def __init__(self, loop: _LoopFromAnyThread) -> None:
        super().__init__(loop=loop)  # the loop's stand-in
        self._watches = loop

    def _update_handle(self, watch: int, event: int) -> None:
        callback = self.callbacks[watch]
        callback.event = event
        descriptor = callback.descriptor
        if len(descriptor.callbacks) != 1:
            descriptor.update()
            return
        handle = descriptor._handle  # libvirtaio's dispatch to the callback
        self._watches.watch(
            descriptor.fd,
            (handle, _READABLE) if event & libvirt.VIR_EVENT_HANDLE_READABLE else None,
            (handle, _WRITABLE) if event & libvirt.VIR_EVENT_HANDLE_WRITABLE else None,
        )

    def _update_timeout(self, timer: int, timeout: int) -> None:
        # libvirtaio's, without its debug line and check: libvirt pushes a connection's
        # keepalive back several times per remote call
        self.callbacks[timer].update(timeout=timeout)

    def _add_timeout(self, timeout: int, cb: Callable[..., None], opaque: Any) -> int:
        # libvirtaio's, with its timer class swapped for ours
        timer = _Timer(self, cb, opaque)
        self.callbacks[timer.iden] = timer
        timer.update(timeout=timeout)
        self._pending_inc()
        return int(timer.iden)


class _Timer(libvirtaio.TimeoutCallback):  # type: ignore[misc]  # untyped to mypy
    """A libvirt timer as one handle on the loop's clock, not a task, due on a coarse grid.

    libvirt keeps a keepalive timer per connection and pushes it back from the calling
    thread on every message, several times per remote call. libvirtaio's task per timer
    ignored the pushes (the timer fired, and woke the loop, every few seconds per
    connection: 100 times a second at 200 hosts). Here a push from any thread only moves
    the due time; the handle, when it comes, sees the timer was pushed back and sleeps again
    until then. So a keepalive fires only when a connection is quiet, as libvirt means it
    to. A timer of a second or more is due on the next multiple of `TIMER_GRID`, so many
    wake the loop together; a keepalive a quarter of a second late changes nothing.
    Shorter ones (0: at the next turn, which libvirt uses to hand over queued events) keep
    their moment. Only a timer started, or made sooner, wakes the loop from another thread."""

    _due: float | None = None  # when it should fire (the loop's clock), None while off
    _changes = 0  # updates so far: a callback that updates its own timer is not re-armed
    _handle: asyncio.TimerHandle | None = None  # the loop's wake-up for it, if any
    _armed_on: asyncio.AbstractEventLoop | None = None  # the loop of that wake-up

    def update(self, timeout: int) -> None:
        self.timeout = timeout
        self._changes += 1
        proxy = self.impl.loop
        self._due = None if timeout < 0 else self._due_after(proxy.loop, timeout)
        handle = self._wake_up()
        if self._due is not None and (handle is None or handle.when() > self._due):
            proxy.soon(self._arm)

    def _wake_up(self) -> asyncio.TimerHandle | None:
        """The wake-up set on the loop served now, if any: one left on the loop of an app
        run that has ended never comes."""
        return self._handle if self._armed_on is self.impl.loop.loop else None

    @staticmethod
    def _due_after(loop: asyncio.AbstractEventLoop, timeout: int) -> float:
        due = loop.time() + timeout / 1000  # the loop's clock is monotonic, any thread may read it
        return math.ceil(due / TIMER_GRID) * TIMER_GRID if timeout >= 1000 else due

    def _arm(self) -> None:
        """Sets the wake-up to the due time, unless one comes at or before it (on the loop)."""
        due, handle = self._due, self._wake_up()
        if due is None or (handle is not None and handle.when() <= due):
            return
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        loop = self.impl.loop.loop
        if not loop.is_closed():
            self._handle, self._armed_on = loop.call_at(due, self._fire), loop

    def _fire(self) -> None:
        self._handle = None
        due = self._due
        if due is None:
            return  # stopped since
        loop = self.impl.loop.loop
        if due > loop.time():
            self._arm()  # pushed back since
            return
        changes = self._changes
        self.cb(self.iden, self.opaque)
        if self._changes == changes and self.timeout >= 0:
            self._due = self._due_after(loop, self.timeout)  # periodic, as libvirt's timers are
        self._arm()


#: The grid the timers of a second or more are due on, in seconds.
TIMER_GRID = 0.25
_READABLE = (libvirt.VIR_EVENT_HANDLE_READABLE,)
_WRITABLE = (libvirt.VIR_EVENT_HANDLE_WRITABLE,)
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
    impl = _AsyncIOImpl(_proxy)
    impl.register()
    libvirtaio._current_impl = impl  # keep getCurrentImpl() truthful for other users
