"""The threads every blocking libvirt call runs on: few, shared by all hosts, never starved.

A thread per host (or a pool per host) grows with the fleet: 200 hosts cost 200 threads,
which all sit idle between ticks. Instead every host gets a `Lane` into one shared pool:

- a lane runs at most `LANE_LIMIT` calls at a time and queues the rest in its own queue, so
  a hung host holds at most that many threads, and a busy one cannot flood the others;
- the pool keeps at most `size` threads busy with calls that are making progress; a call
  running longer than `stuck_after` seconds is counted as stuck (the host is hung) and a
  watchdog lets a new thread take its place, so the other hosts' ticks go on;
- a call goes to a thread at once unless a thread is at work on a call it started under
  `spread_after` seconds ago: that thread takes it next, and a watchdog adds a thread only
  once a call has waited `spread_after` seconds (the threads at work are slow, or stuck).
  Threads woken side by side for quick calls only fight over the GIL: at 200 hosts x 20
  guests, eight threads woken for every beat's 200 ticks cost twice the idle CPU of one
  thread taking them in turn. `spread_after` is a quarter of a second: one thread takes a
  beat's 200 local ticks in about a tenth, a tick that late goes unseen at a 2 s refresh,
  and at 50 ms a second and a third thread joined every beat only to fight the first for
  the GIL (1.8 against 2.2 CPU-s/min, idle at 200 hosts). A thread already held up longer
  (a hung host's call) is not waited for: every later call would pay `spread_after`;
- the thread that went idle last is woken first, so threads beyond what the work needs
  stay asleep and leave after `idle_exit` seconds.

So the thread count follows the work in flight plus the hung hosts, not the number of hosts:
healthy ticks of a few milliseconds each are served by one thread, slow or remote hosts by
as many as they keep busy.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

#: Calls one host may have running at once: a tick and an action side by side.
LANE_LIMIT = 2
#: glibc's mallopt parameter for the number of malloc arenas (malloc.h).
_M_ARENA_MAX = -8
#: Arenas kvmtui asks glibc for: the loop's and one shared by the worker threads.
ARENAS = 2
#: Seconds an outcome may be held back for the others of its burst (see _Inbox).
HOLD_MAX = 0.05


def _few_malloc_arenas() -> None:
    """Keeps glibc to `ARENAS` malloc arenas unless MALLOC_ARENA_MAX says otherwise.

    By default glibc gives each new thread that meets a busy arena one of its own (up to
    eight per core), and an arena keeps its peak: the worker threads that parse ten hosts'
    guest lists and stats each leave tens of megabytes behind that no later call reuses
    (measured at 10 hosts x 1,000 guests: RSS 306 MB, 275-295 MB with two arenas, same
    speed). No-op where the C library has no mallopt (musl, macOS)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return
    mallopt(ctypes.c_int(_M_ARENA_MAX), ctypes.c_int(ARENAS))


@dataclass
class _Job:
    """A queued call: `run` does it and hands over its outcome (it never raises), `cancel`
    tells whoever waits that it will not run."""

    run: Callable[[], None]
    cancel: Callable[[], object]
    since: float  # when it was queued


class _Inbox:
    """Outcomes bound for one event loop, handed over in batches.

    Each hand-over wakes the loop (a thread switch), and the woken loop takes the GIL the
    worker wants back for its next call. At a beat's burst of ticks, that was a wake-up and
    a GIL hand-off per host. So while more calls wait for a thread, an outcome is held (the
    thread goes on to them); the last call of the burst, a thread finding no more work, or
    the watchdog once an outcome has been held `HOLD_MAX` seconds (the thread went on to a
    call that hangs) hands over all that is held, in one wake-up."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pool: Workers) -> None:
        self._loop = loop
        self._pool = pool
        self._lock = threading.Lock()
        self._items: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        self._signalled = False  # a wake-up is on its way
        self.held_since: float | None = None  # when the oldest held outcome came

    def put(self, future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
        hold = self._pool.has_waiting_calls()
        with self._lock:
            self._items.append((future, result, error))
            if self._signalled or (hold and self.held_since is not None):
                return
            if hold:
                self.held_since = time.monotonic()
            else:
                self._signalled = True
        if hold:
            self._pool.watch_held(self)
        else:
            self._wake()

    def flush(self) -> None:
        """Hands over what is held, if anything."""
        with self._lock:
            if self._signalled or self.held_since is None:
                return
            self._signalled = True
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            items, self._items = self._items, []
            self._signalled = False
            self.held_since = None
        for future, result, error in items:
            if future.done():
                continue  # its awaiter timed out or was cancelled
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)


class Lane(concurrent.futures.Executor):
    """One host's way into the shared pool (an Executor, so `run_in_executor` takes it)."""

    def __init__(self, pool: Workers, name: str) -> None:
        self._pool = pool
        self.name = name
        self.queue: deque[_Job] = deque()  # calls waiting
        self.running = 0
        self.served = False  # a call of this lane has run to its end
        #: In the pool's ready queue: a flag, where asking the queue scanned it, a thousand
        #: lanes long when a thousand hosts tick on one beat.
        self.ready = False
        self.closed = False

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as error:  # handed to whoever awaits the call
                    future.set_exception(error)
                else:
                    future.set_result(result)

        self._pool.enqueue(self, _Job(run, future.cancel, time.monotonic()))
        return future

    async def call(self, fn: Callable[[], T], timeout: float) -> T:
        """`fn()` on the pool, awaited for at most `timeout` seconds: what `wait_for` over
        `run_in_executor` does, with less machinery per call (at 200 hosts the ticks alone
        are 100 calls a second): the outcome goes straight to an asyncio future, through
        the loop's inbox. A call whose awaiter gave up before it started does not run."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        inbox = self._pool.inbox(loop)

        def run() -> None:
            if future.done():
                return
            try:
                result = fn()
            except BaseException as error:  # handed to the awaiting coroutine
                inbox.put(future, None, error)
            else:
                inbox.put(future, result, None)

        def cancel() -> None:
            inbox.put(future, None, RuntimeError(f"host {self.name}: connection closed"))

        self._pool.enqueue(self, _Job(run, cancel, time.monotonic()))
        async with asyncio.timeout(timeout):
            return await future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuses new calls and cancels the queued ones; calls already running finish on
        their own (a hung one may never: its thread is the pool's, not ours, to wait for)."""
        self._pool.close_lane(self)


class Workers:
    """The shared pool; see the module docstring."""

    def __init__(
        self,
        size: int = 8,
        stuck_after: float = 5.0,
        idle_exit: float = 30.0,
        spread_after: float = 0.25,
    ) -> None:
        _few_malloc_arenas()  # before the first worker thread starts
        self.size = size
        self.stuck_after = stuck_after
        self.idle_exit = idle_exit
        self.spread_after = spread_after
        self._mutex = threading.Lock()
        self._watch_wake = threading.Condition(self._mutex)  # the watchdog waits here
        self._ready: deque[Lane] = deque()  # lanes with queued calls and a free slot
        #: Threads waiting for work, the latest last: the latest is woken first, so threads
        #: beyond what the work needs stay asleep and leave after `idle_exit`.
        self._sleepers: list[threading.Condition] = []
        self._woken = 0  # threads told to look for work that have not yet looked
        self._busy_since: dict[int, float] = {}  # thread id -> when its call started
        self._threads = 0
        self._watch_asleep = False  # the watchdog waits for ready work, with no timeout
        self._watchdog: threading.Thread | None = None
        self._inboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Inbox] = (
            weakref.WeakKeyDictionary()
        )
        self._held: set[_Inbox] = set()  # inboxes that may hold outcomes back

    def lane(self, name: str) -> Lane:
        return Lane(self, name)

    @property
    def threads(self) -> int:
        with self._mutex:
            return self._threads

    def inbox(self, loop: asyncio.AbstractEventLoop) -> _Inbox:
        inbox = self._inboxes.get(loop)
        if inbox is None:
            inbox = self._inboxes[loop] = _Inbox(loop, self)
        return inbox

    def has_waiting_calls(self) -> bool:
        """Whether calls wait for a thread (read without the lock: a hint)."""
        return bool(self._ready)

    def watch_held(self, inbox: _Inbox) -> None:
        """Has the watchdog hand over what `inbox` holds if no thread does within HOLD_MAX."""
        with self._mutex:
            self._held.add(inbox)
            self._watch_asleep = False
            self._watch_wake.notify()  # it may be waiting for longer: spread_after

    def _flush_held(self, older_than: float = 0.0) -> float | None:
        """Hands over what inboxes hold (for more than `older_than` seconds); returns when
        the next of those left is due, or None. Inside the lock."""
        now = time.monotonic()
        due: float | None = None
        for inbox in list(self._held):
            since = inbox.held_since
            if since is None:
                self._held.discard(inbox)  # handed over already
            elif now - since >= older_than:
                inbox.flush()
                self._held.discard(inbox)
            else:
                left = since + older_than - now
                due = left if due is None else min(due, left)
        return due

    def enqueue(self, lane: Lane, job: _Job) -> None:
        with self._mutex:
            if lane.closed:
                raise RuntimeError(f"host {lane.name}: connection closed")
            lane.queue.append(job)
            if self._watchdog is None:
                self._watchdog = threading.Thread(
                    target=self._watch, daemon=True, name="libvirt-watchdog"
                )
                self._watchdog.start()
            self._mark_ready(lane)
            if not (
                self._woken
                or any(job.since - since < self.spread_after for since in self._busy_since.values())
            ):
                self._add_thread()
            # else a thread at work takes it next, unless that thread is held up: then the
            # watchdog sends another after `spread_after`.

    def close_lane(self, lane: Lane) -> None:
        with self._mutex:
            lane.closed = True
            dropped = list(lane.queue)
            lane.queue.clear()
            if lane.ready:
                self._ready.remove(lane)
                lane.ready = False
        for job in dropped:
            job.cancel()

    # ---- inside the lock ----------------------------------------------------------------

    def _mark_ready(self, lane: Lane) -> None:
        if lane.queue and lane.running < LANE_LIMIT and not lane.ready:
            self._ready.append(lane)
            lane.ready = True
            if self._watch_asleep:
                self._watch_asleep = False
                self._watch_wake.notify()

    def _add_thread(self) -> None:
        """One more thread on the ready work: an idle one woken, or a new one if no more
        than `size` threads are making progress (a stuck thread does not count)."""
        if not self._ready:
            return
        if self._sleepers:
            self._woken += 1
            self._sleepers.pop().notify()
            return
        now = time.monotonic()
        progressing = sum(
            1 for since in self._busy_since.values() if now - since < self.stuck_after
        )
        if progressing < self.size:
            self._threads += 1
            self._woken += 1  # counted as woken until it first looks for work
            threading.Thread(target=self._work, daemon=True, name="libvirt-worker").start()

    def _oldest_wait(self) -> float:
        """When the longest-waiting ready call was queued."""
        return min(lane.queue[0].since for lane in self._ready if lane.queue)

    def _take(self) -> tuple[Lane, _Job] | None:
        """The next call, first from lanes that have been served before: a host that is
        connected and ticking goes ahead of one whose connection is still to be opened
        (ten opens of big test:/// hosts held the first host's first table back until
        every other host had been parsed)."""
        served = (
            self._ready[0]
            if self._ready and self._ready[0].served
            else next((lane for lane in self._ready if lane.served), None)
        )  # a scan only at start-up
        if served is not None and served is not self._ready[0]:
            self._ready.remove(served)
            self._ready.appendleft(served)
        while self._ready:
            lane = self._ready.popleft()
            lane.ready = False
            if not lane.queue or lane.running >= LANE_LIMIT:
                continue
            job = lane.queue.popleft()
            lane.running += 1
            self._mark_ready(lane)
            return lane, job
        return None

    # ---- threads ------------------------------------------------------------------------

    def _work(self) -> None:
        me = threading.get_ident()
        asleep = threading.Condition(self._mutex)
        with self._mutex:
            self._woken -= 1  # a new thread looks at once
            while True:
                job = self._take()
                if job is None:
                    self._flush_held()  # out of work: hand over what the burst held
                    self._sleepers.append(asleep)
                    asleep.wait(self.idle_exit)
                    if asleep not in self._sleepers:
                        self._woken -= 1  # woken (perhaps just as the wait timed out)
                    else:
                        self._sleepers.remove(asleep)
                        if not self._ready:
                            self._threads -= 1
                            return
                    continue
                lane, call = job
                self._busy_since[me] = time.monotonic()
                self._mutex.release()
                try:
                    call.run()
                finally:
                    self._mutex.acquire()
                    del self._busy_since[me]
                    lane.running -= 1
                    lane.served = True
                    self._mark_ready(lane)

    def _watch(self) -> None:
        """While calls wait: one that has waited `spread_after` gets another thread (the
        threads at work are slow or stuck), again every `spread_after` while it waits. And
        outcomes held back for HOLD_MAX are handed over."""
        with self._mutex:
            while True:
                timeout = self._flush_held(HOLD_MAX)
                if self._ready:
                    waited = time.monotonic() - self._oldest_wait()
                    if waited >= self.spread_after:
                        self._add_thread()
                        spread = self.spread_after
                    else:
                        spread = self.spread_after - waited
                    timeout = spread if timeout is None else min(timeout, spread)
                self._watch_asleep = timeout is None
                self._watch_wake.wait(timeout)


#: The pool every host shares.
WORKERS = Workers()
