"""libvirt's socket watches as libvirtaio sets them: from the per-host threads, applied at
once, without waking the loop for each change (a remote call switches its socket's watch off
before it sends and on again after it reads the answer itself)."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from kvmtui.core.events import TIMER_GRID, _AsyncIOImpl, _LoopFromAnyThread


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def in_thread(call) -> None:
    thread = threading.Thread(target=call)
    thread.start()
    thread.join()


async def test_a_watch_set_from_a_worker_thread_fires_on_the_sleeping_loop(pair):
    ours, theirs = pair
    proxy = _LoopFromAnyThread(asyncio.get_running_loop())
    readable = asyncio.Event()
    in_thread(lambda: proxy.add_reader(ours.fileno(), readable.set))
    theirs.send(b"x")
    await asyncio.wait_for(readable.wait(), 2)


async def test_a_watch_switched_off_from_a_worker_thread_misses_what_arrives_then(pair):
    ours, theirs = pair
    proxy = _LoopFromAnyThread(asyncio.get_running_loop())
    calls: list[str] = []
    proxy.add_reader(ours.fileno(), calls.append, "read")
    in_thread(lambda: proxy.remove_reader(ours.fileno()))
    theirs.send(b"answer")  # as a remote call's answer, which its caller reads itself
    await asyncio.sleep(0.2)
    assert calls == []
    in_thread(lambda: proxy.add_reader(ours.fileno(), calls.append, "read"))
    await asyncio.sleep(0.2)
    assert calls and set(calls) == {"read"}


async def test_reader_and_writer_on_one_socket_are_watched_apart(pair):
    ours, _theirs = pair
    proxy = _LoopFromAnyThread(asyncio.get_running_loop())
    calls: list[str] = []
    proxy.add_reader(ours.fileno(), calls.append, "read")
    proxy.add_writer(ours.fileno(), calls.append, "write")
    await asyncio.sleep(0.1)
    assert "write" in calls and "read" not in calls  # writable at once, nothing to read
    proxy.remove_writer(ours.fileno())
    calls.clear()
    await asyncio.sleep(0.1)
    assert calls == []
    proxy.remove_reader(ours.fileno())


async def test_watches_follow_the_proxy_to_a_new_loop(pair):
    """The next app run (or test) brings a new loop; a connection's watch keeps working."""
    ours, theirs = pair
    proxy = _LoopFromAnyThread(asyncio.get_running_loop())
    readable = threading.Event()
    proxy.add_reader(ours.fileno(), readable.set)

    def second_run() -> None:
        async def main() -> None:
            proxy.bind(asyncio.get_running_loop())
            theirs.send(b"x")
            for _ in range(100):
                if readable.is_set():
                    return
                await asyncio.sleep(0.02)

        asyncio.run(main())

    in_thread(second_run)
    assert readable.is_set()


async def test_switching_a_watch_off_and_on_from_a_worker_thread_does_not_wake_the_loop(
    pair, monkeypatch
):
    """Two such switches per remote call and host per tick: at 200 hosts, waking the loop
    for each cost more CPU than the calls themselves."""
    ours, theirs = pair
    loop = asyncio.get_running_loop()
    proxy = _LoopFromAnyThread(loop)
    wakes: list[object] = []
    real = loop.call_soon_threadsafe
    monkeypatch.setattr(
        loop, "call_soon_threadsafe", lambda *args, **kw: wakes.append(args) or real(*args, **kw)
    )
    readable = asyncio.Event()
    proxy.add_reader(ours.fileno(), readable.set)

    def calls() -> None:
        for _ in range(1000):
            proxy.remove_reader(ours.fileno())
            proxy.add_reader(ours.fileno(), readable.set)

    in_thread(calls)
    assert wakes == []
    theirs.send(b"x")
    await asyncio.wait_for(readable.wait(), 2)


# ---- timers -----------------------------------------------------------------------------


@pytest.fixture
async def timers(monkeypatch):
    """libvirt's timer calls on a loop of their own (not registered with libvirt, which takes
    one registration per process), with the loop's wake-ups from other threads counted."""
    loop = asyncio.get_running_loop()
    impl = _AsyncIOImpl(_LoopFromAnyThread(loop))
    wakes: list[object] = []
    real = loop.call_soon_threadsafe
    monkeypatch.setattr(
        loop, "call_soon_threadsafe", lambda *args, **kw: wakes.append(args) or real(*args, **kw)
    )
    impl.wakes = wakes
    return impl


async def test_a_timer_started_from_a_worker_thread_fires_on_the_loop(timers):
    fired = asyncio.Event()
    on: list[bool] = []
    loop_thread = threading.get_ident()

    def callback(_timer, _opaque) -> None:
        on.append(threading.get_ident() == loop_thread)
        fired.set()

    in_thread(lambda: timers._add_timeout(50, callback, None))
    await asyncio.wait_for(fired.wait(), 2)
    assert on and all(on)


async def test_a_timer_pushed_back_from_a_thread_waits_without_waking_the_loop(timers):
    """libvirt pushes a connection's keepalive back on every message: polled every tick, the
    connection's keepalive never fires, and the pushes cost the loop nothing."""
    fired: list[float] = []
    loop = asyncio.get_running_loop()
    timer = timers._add_timeout(300, lambda *_: fired.append(loop.time()), None)
    stop = threading.Event()

    def messages() -> None:
        while not stop.wait(0.05):
            for _ in range(10):
                timers._update_timeout(timer, 300)

    thread = threading.Thread(target=messages)
    thread.start()
    await asyncio.sleep(1.0)
    stop.set()
    thread.join()
    assert fired == []
    assert timers.wakes == []  # pushed back only: never made sooner
    quiet = loop.time()
    await asyncio.sleep(0.6)
    assert fired and fired[0] - quiet >= 0.2  # quiet: fires after its timeout
    timers._remove_timeout(timer)


async def test_timers_of_a_second_or_more_fire_together_on_the_grid(timers):
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    ids = []
    for offset in range(5):
        ids.append(
            timers._add_timeout(1000 + 37 * offset, lambda *_: fired.append(loop.time()), None)
        )
    await asyncio.sleep(1.0 + 0.2 + TIMER_GRID)
    assert len(fired) == 5
    moments = {round(at / TIMER_GRID - 0.04) for at in fired}  # just after a grid point
    assert len(moments) <= 2  # five timers due 37 ms apart: at most two wake-ups
    assert all(at - round(at / TIMER_GRID - 0.04) * TIMER_GRID < 0.02 for at in fired)
    for timer in ids:
        timers._remove_timeout(timer)


async def test_a_zero_timer_fires_every_turn_until_stopped_and_a_stopped_one_never(timers):
    """libvirt hands over queued domain events with a 0 timer: it must not wait for a grid."""
    count = 0

    def callback(_timer, _opaque) -> None:
        nonlocal count
        count += 1

    timer = timers._add_timeout(0, callback, None)
    for _ in range(5):
        await asyncio.sleep(0)
    assert count >= 3
    timers._update_timeout(timer, -1)
    stopped_at = count
    await asyncio.sleep(0.05)
    assert count == stopped_at
    timers._remove_timeout(timer)


async def test_a_timer_whose_callback_sets_its_own_timeout_keeps_that_timeout(timers):
    """libvirt's keepalive, on firing early, sets the time left: that, not the old period."""
    loop = asyncio.get_running_loop()
    fired: list[float] = []

    def callback(timer, _opaque) -> None:
        fired.append(loop.time())
        if len(fired) == 1:
            timers._update_timeout(timer, 300)

    start = loop.time()
    timer = timers._add_timeout(50, callback, None)
    await asyncio.sleep(0.6)
    timers._remove_timeout(timer)
    assert len(fired) == 2
    assert fired[0] - start < 0.2 and fired[1] - fired[0] >= 0.28


def test_a_timer_left_armed_by_an_ended_run_fires_in_the_next():
    """The next app run (or test) brings a new loop; a wake-up left on the old one never
    comes, and must not stand in for one on the new."""
    fired: list[str] = []

    async def first_run():
        proxy = _LoopFromAnyThread(asyncio.get_running_loop())
        impl = _AsyncIOImpl(proxy)
        return proxy, impl, impl._add_timeout(100, lambda *_: fired.append("fired"), None)

    proxy, impl, timer = asyncio.run(first_run())  # ends before the timer is due

    async def second_run() -> None:
        proxy.bind(asyncio.get_running_loop())
        impl._update_timeout(timer, 300)  # later than the old wake-up
        await asyncio.sleep(0.8)
        impl._remove_timeout(timer)

    asyncio.run(second_run())
    assert fired
