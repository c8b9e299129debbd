"""libvirt's socket watches as libvirtaio sets them: from the per-host threads, applied at
once, without waking the loop for each change (a remote call switches its socket's watch off
before it sends and on again after it reads the answer itself)."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from kvmtui.core.events import _LoopFromAnyThread


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
        pair, monkeypatch):
    """Two such switches per remote call and host per tick: at 200 hosts, waking the loop
    for each cost more CPU than the calls themselves."""
    ours, theirs = pair
    loop = asyncio.get_running_loop()
    proxy = _LoopFromAnyThread(loop)
    wakes: list[object] = []
    real = loop.call_soon_threadsafe
    monkeypatch.setattr(loop, "call_soon_threadsafe",
                        lambda *args, **kw: wakes.append(args) or real(*args, **kw))
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
