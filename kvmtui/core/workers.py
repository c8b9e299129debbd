"""The threads every blocking libvirt call runs on: few, shared by all hosts, never starved.

A thread per host (or a pool per host) grows with the fleet: 200 hosts cost 200 threads,
which all sit idle between ticks. Instead every host gets a `Lane` into one shared pool:

- a lane runs at most `LANE_LIMIT` calls at a time and queues the rest in its own queue, so
  a hung host holds at most that many threads, and a busy one cannot flood the others;
- the pool keeps at most `size` threads busy with calls that are making progress; a call
  running longer than `stuck_after` seconds is counted as stuck (the host is hung) and a
  watchdog lets a new thread take its place, so the other hosts' ticks go on;
- threads start only when work is waiting and none is free, and leave after `idle_exit`
  seconds without work.

So the thread count follows the work in flight plus the hung hosts, not the number of hosts:
healthy ticks of a few milliseconds each are served by a handful of threads.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

#: Calls one host may have running at once: a tick and an action side by side.
LANE_LIMIT = 2
#: glibc's mallopt parameter for the number of malloc arenas (malloc.h).
_M_ARENA_MAX = -8
#: Arenas kvmtui asks glibc for: the loop's and one shared by the worker threads.
ARENAS = 2


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


class Lane(concurrent.futures.Executor):
    """One host's way into the shared pool (an Executor, so `run_in_executor` takes it)."""

    def __init__(self, pool: Workers, name: str) -> None:
        self._pool = pool
        self.name = name
        self.queue: deque[tuple[concurrent.futures.Future[Any], Callable[[], Any]]] = deque()
        self.running = 0
        self.served = False  # a call of this lane has run to its end
        self.closed = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
               ) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._pool.enqueue(self, future, lambda: fn(*args, **kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuses new calls and cancels the queued ones; calls already running finish on
        their own (a hung one may never: its thread is the pool's, not ours, to wait for)."""
        self._pool.close_lane(self)


class Workers:
    """The shared pool; see the module docstring."""

    def __init__(self, size: int = 8, stuck_after: float = 5.0, idle_exit: float = 30.0) -> None:
        _few_malloc_arenas()  # before the first worker thread starts
        self.size = size
        self.stuck_after = stuck_after
        self.idle_exit = idle_exit
        self._lock = threading.Condition()
        self._ready: deque[Lane] = deque()  # lanes with queued calls and a free slot
        self._idle = 0
        self._busy_since: dict[int, float] = {}  # thread id -> when its call started
        self._threads = 0
        self._watchdog: threading.Thread | None = None

    def lane(self, name: str) -> Lane:
        return Lane(self, name)

    @property
    def threads(self) -> int:
        with self._lock:
            return self._threads

    def enqueue(self, lane: Lane, future: concurrent.futures.Future[Any],
                call: Callable[[], Any]) -> None:
        with self._lock:
            if lane.closed:
                raise RuntimeError(f"host {lane.name}: connection closed")
            lane.queue.append((future, call))
            self._mark_ready(lane)
            self._dispatch()

    def close_lane(self, lane: Lane) -> None:
        with self._lock:
            lane.closed = True
            dropped = list(lane.queue)
            lane.queue.clear()
            if lane in self._ready:
                self._ready.remove(lane)
        for future, _call in dropped:
            future.cancel()

    # ---- inside the lock ----------------------------------------------------------------

    def _mark_ready(self, lane: Lane) -> None:
        if lane.queue and lane.running < LANE_LIMIT and lane not in self._ready:
            self._ready.append(lane)

    def _dispatch(self) -> None:
        """Wakes an idle thread for ready work, or starts one if no more than `size`
        threads are making progress."""
        if not self._ready:
            return
        if self._idle:
            self._lock.notify()
            return
        now = time.monotonic()
        progressing = sum(1 for since in self._busy_since.values()
                          if now - since < self.stuck_after)
        if progressing < self.size:
            self._threads += 1
            self._idle += 1  # counted as idle until it takes its first call
            threading.Thread(target=self._work, daemon=True, name="libvirt-worker").start()
        self._start_watchdog()

    def _take(self) -> tuple[Lane, concurrent.futures.Future[Any], Callable[[], Any]] | None:
        """The next call, first from lanes that have been served before: a host that is
        connected and ticking goes ahead of one whose connection is still to be opened
        (ten opens of big test:/// hosts held the first host's first table back until
        every other host had been parsed)."""
        served = self._ready[0] if self._ready and self._ready[0].served else next(
            (lane for lane in self._ready if lane.served), None)  # a scan only at start-up
        if served is not None and served is not self._ready[0]:
            self._ready.remove(served)
            self._ready.appendleft(served)
        while self._ready:
            lane = self._ready.popleft()
            if not lane.queue or lane.running >= LANE_LIMIT:
                continue
            future, call = lane.queue.popleft()
            lane.running += 1
            self._mark_ready(lane)
            return lane, future, call
        return None

    def _start_watchdog(self) -> None:
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=self._watch, daemon=True,
                                              name="libvirt-watchdog")
            self._watchdog.start()

    # ---- threads ------------------------------------------------------------------------

    def _work(self) -> None:
        me = threading.get_ident()
        with self._lock:
            while True:
                job = self._take()
                if job is None:
                    if not self._lock.wait(self.idle_exit) and not self._ready:
                        self._idle -= 1
                        self._threads -= 1
                        return
                    continue
                lane, future, call = job
                self._idle -= 1
                self._busy_since[me] = time.monotonic()
                self._lock.release()
                try:
                    if future.set_running_or_notify_cancel():
                        try:
                            result = call()
                        except BaseException as error:  # handed to whoever awaits the call
                            future.set_exception(error)
                        else:
                            future.set_result(result)
                finally:
                    self._lock.acquire()
                    del self._busy_since[me]
                    self._idle += 1
                    lane.running -= 1
                    lane.served = True
                    self._mark_ready(lane)
                    if self._ready and self._idle > 1:
                        self._lock.notify()

    def _watch(self) -> None:
        """Once a second: work waiting while every busy thread is stuck gets a new thread."""
        while True:
            time.sleep(1.0)
            with self._lock:
                if self._ready and not self._idle:
                    self._dispatch()


#: The pool every host shares.
WORKERS = Workers()
