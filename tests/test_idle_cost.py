"""Idle cost follows change: on real libvirt (test:///), a tick that changes nothing changes
nothing a listener can see, and the worker threads stay few however many hosts there are."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import socket
import threading
import time
from dataclasses import replace

import libvirt
import pytest

from kvmtui.core import fleet as fleet_module
from kvmtui.core import poller as poller_module
from kvmtui.core.fleet import Fleet
from kvmtui.core.model import GuestState, HostSpec, Link
from kvmtui.core.poller import _describe, _Flags
from kvmtui.core.workers import LANE_LIMIT, Workers


async def until(predicate, timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.02)


def ticks(fleet: Fleet) -> int:
    return min(host.poller.ticks for host in fleet.hosts)


@contextlib.asynccontextmanager
async def connected_fleet(
    hosts, refresh: float = 0.1, opens_in_flight: int = 16, expect_up: int | None = None
):
    """A fleet on `hosts`, every host (or `expect_up` of them) connected; closed at the end."""
    fleet = Fleet(hosts, refresh=refresh, opens_in_flight=opens_in_flight)
    await fleet.start()
    want = len(hosts) if expect_up is None else expect_up
    try:
        await until(
            lambda: sum(h.link is Link.CONNECTED for h in fleet.snapshot().hosts) == want,
            what=f"{want} hosts connected",
        )
        yield fleet
    finally:
        await fleet.close()


async def test_ticks_that_change_nothing_keep_the_same_snapshot(demo_hosts):
    fleet = Fleet(demo_hosts, refresh=0.1)
    notices: list[int] = []
    fleet.add_listener(lambda: notices.append(1))
    await fleet.start()
    try:
        await until(
            lambda: all(h.link is Link.CONNECTED for h in fleet.snapshot().hosts),
            what="every host connected",
        )
        await until(lambda: ticks(fleet) >= 3, what="a few ticks")  # first rates are in
        before, heard = fleet.snapshot(), len(notices)
        start = ticks(fleet)
        await until(lambda: ticks(fleet) >= start + 5, what="five more ticks")
        assert fleet.snapshot() is before  # nothing to redraw, so nothing rebuilt
        assert len(notices) == heard  # and nobody was told anything

        target = next(g for g in before.guests if g.state is GuestState.RUNNING)
        await fleet.perform(target, "suspend")
        await until(
            lambda: fleet.find_guest(target.key).state is GuestState.PAUSED, what="the guest paused"
        )
        await until(lambda: len(notices) > heard, what="a change notice")
        after = fleet.snapshot()
        assert after is not before
        unchanged = {g.key: g for g in before.guests if g.key != target.key}
        kept = [g for g in after.guests if unchanged.get(g.key) is g]
        assert len(kept) == len(unchanged)  # every other guest is the very same snapshot
    finally:
        await fleet.close()


async def test_a_settled_host_still_rebuilds_a_guest_an_event_changed(demo_hosts):
    """A host whose records stay the same skips its guests on each tick; an event that
    rewrites a snapshot (here one claiming a running guest paused) must still be corrected
    from the guest's record on the next tick."""
    async with connected_fleet(demo_hosts) as fleet:
        await until(lambda: ticks(fleet) >= 5, what="a few ticks: every host settled")
        target = next(g for g in fleet.snapshot().guests if g.state is GuestState.RUNNING)
        host = fleet.host(target.host)
        conn = libvirt.open(host.spec.uri)
        try:
            dom = conn.lookupByUUIDString(target.uuid)
            host.poller._lifecycle_event(None, dom, libvirt.VIR_DOMAIN_EVENT_SUSPENDED, 0, None)
        finally:
            conn.close()
        assert fleet.find_guest(target.key).state is GuestState.PAUSED  # as the event said
        await until(
            lambda: fleet.find_guest(target.key).state is GuestState.RUNNING,
            timeout=3,
            what="the record's state back on the next ticks",
        )


async def test_the_hosts_load_is_read_every_tick_only_while_a_view_shows_it(
    demo_hosts, monkeypatch
):
    """A host's CPU counters are a round trip per tick, as costly as a small host's bulk
    stats: unseen, they are read now and then; on screen, every tick."""
    reads: list[str] = []
    real = libvirt.virConnect.getCPUStats
    monkeypatch.setattr(
        libvirt.virConnect,
        "getCPUStats",
        lambda self, *args: reads.append("cpu") or real(self, *args),
    )
    monkeypatch.setattr(poller_module, "LOAD_UNSEEN_EVERY", 1.0)
    async with connected_fleet(demo_hosts) as fleet:
        await until(lambda: ticks(fleet) >= 3, what="a few ticks")
        hosts = len(fleet.hosts)
        await asyncio.sleep(0.5)  # 5 ticks, unseen: at most one read per host
        reads.clear()
        start = ticks(fleet)
        await until(lambda: ticks(fleet) >= start + 5, what="five more ticks")
        assert len(reads) <= 2 * hosts

        fleet.watch_host_load()
        await until(lambda: ticks(fleet) >= start + 7, what="the hosts view's first tick")
        reads.clear()
        start = ticks(fleet)
        await until(lambda: ticks(fleet) >= start + 5, what="five more ticks")
        assert len(reads) >= 4 * hosts  # every tick of every host
        fleet.unwatch_host_load()
        assert not fleet.host_load_seen()


def test_a_hung_host_holds_its_own_lane_only():
    workers = Workers(size=2, stuck_after=0.2, idle_exit=0.5)
    hung, release = workers.lane("hung"), threading.Event()
    started = []

    def hang() -> None:
        started.append(1)
        release.wait(10)

    stuck = [hung.submit(hang) for _ in range(5)]
    try:
        lanes = [workers.lane(f"host{n}") for n in range(200)]
        # Every other host's calls finish although the hung one never returns.
        done = [lane.submit(lambda n=n: n * 2) for n, lane in enumerate(lanes)]
        assert [f.result(timeout=10) for f in done] == [n * 2 for n in range(200)]
        assert len(started) == LANE_LIMIT  # the hung host runs no more than its lane allows
        # 200 hosts, yet a handful of threads: the pool's size plus the hung host's calls.
        assert workers.threads <= workers.size + LANE_LIMIT
    finally:
        release.set()
    assert all(f.result(timeout=10) is None for f in stuck)
    hung.shutdown()


def test_a_burst_of_quick_calls_wakes_one_thread_only():
    """200 hosts' ticks on the same beat, each quick: one thread serves them in turn, since
    threads woken side by side would only fight over the GIL (measured at 200 hosts x 20
    guests: eight threads cost twice the idle CPU of one)."""
    workers = Workers(size=8, spread_after=5.0)
    lanes = [workers.lane(f"host{n}") for n in range(200)]
    for _ in range(3):
        done = [lane.submit(lambda n=n: n) for n, lane in enumerate(lanes)]
        assert [f.result(timeout=10) for f in done] == list(range(200))
    assert workers.threads == 1


def test_a_call_held_up_gets_another_thread_after_spread_after():
    workers = Workers(size=8, spread_after=0.05)
    release = threading.Event()
    slow = workers.lane("slow").submit(lambda: release.wait(10))
    began = time.monotonic()
    assert workers.lane("quick").submit(lambda: "done").result(timeout=10) == "done"
    assert time.monotonic() - began < 5  # not held until the slow call returns
    release.set()
    assert slow.result(timeout=10)
    assert workers.threads == 2


def test_a_thread_held_up_for_long_is_not_waited_for():
    """A hung host's call keeps a thread busy for good: later calls get a thread at once
    instead of each waiting the watchdog's `spread_after` (seen: a hung call early in the
    test run made every later call 50 ms slower)."""
    workers = Workers(size=8, spread_after=1.0)
    release, started = threading.Event(), threading.Event()
    hung = workers.lane("hung").submit(lambda: (started.set(), release.wait(10)))
    assert started.wait(10)
    time.sleep(1.1)  # held up past spread_after
    began = time.monotonic()
    assert workers.lane("quick").submit(lambda: "done").result(timeout=10) == "done"
    assert time.monotonic() - began < 0.5  # not after the watchdog's 1 s
    release.set()
    hung.result(timeout=10)


async def test_a_burst_of_calls_hands_its_outcomes_to_the_loop_in_a_few_wake_ups(monkeypatch):
    """A wake-up per outcome cost a thread switch and a GIL hand-off per host and tick."""
    loop = asyncio.get_running_loop()
    wakes: list[object] = []
    real = loop.call_soon_threadsafe
    monkeypatch.setattr(
        loop, "call_soon_threadsafe", lambda *args, **kw: wakes.append(args) or real(*args, **kw)
    )
    workers = Workers(size=8, spread_after=5.0)
    lanes = [workers.lane(f"host{n}") for n in range(200)]

    def tick(n: int) -> int:
        time.sleep(0.0002)  # a remote call's wait, the GIL let go
        return n

    results = await asyncio.gather(
        *(lane.call(lambda n=n: tick(n), 10) for n, lane in enumerate(lanes))
    )
    assert results == list(range(200))
    assert len(wakes) <= 10


async def test_an_outcome_held_for_its_burst_is_not_held_behind_a_call_that_hangs():
    """One thread: the quick call's outcome is held since the hung call waits behind it,
    and the thread then hangs in that call: the watchdog hands the outcome over."""
    workers = Workers(size=1, spread_after=5.0)
    go, release = threading.Event(), threading.Event()
    gate = asyncio.ensure_future(workers.lane("gate").call(lambda: go.wait(10), 10))
    await asyncio.sleep(0.1)  # the only thread waits in the gate
    quick = asyncio.ensure_future(workers.lane("quick").call(lambda: "done", 10))
    hung = asyncio.ensure_future(workers.lane("hung").call(lambda: release.wait(10), 20))
    await asyncio.sleep(0)  # both queued behind the gate
    try:
        began = time.monotonic()
        go.set()
        assert await asyncio.wait_for(quick, 2) == "done"
        assert time.monotonic() - began < 1.0
        assert await gate and not hung.done()
    finally:
        release.set()
    assert await hung


def test_a_closed_lane_cancels_what_it_queued():
    workers = Workers(size=4)
    lane, release = workers.lane("a"), threading.Event()
    started = threading.Semaphore(0)

    def hold() -> bool:
        started.release()
        return release.wait(10)

    running = [lane.submit(hold) for _ in range(LANE_LIMIT)]
    for _ in running:
        assert started.acquire(timeout=10)
    queued = lane.submit(lambda: "never")
    lane.shutdown()
    assert queued.cancelled()
    release.set()
    assert all(f.result(timeout=10) for f in running)  # what ran finishes


def test_a_connected_host_goes_ahead_of_hosts_still_to_be_opened():
    """With every thread busy, the next free one serves a host that has been served
    before (its tick, its first table) ahead of the opens of hosts queued earlier."""
    workers = Workers(size=1, stuck_after=60.0)
    connected, release = workers.lane("connected"), threading.Event()
    assert connected.submit(lambda: "opened").result(timeout=10) == "opened"
    order: list[str] = []
    busy = workers.lane("busy").submit(lambda: release.wait(10))
    opening = [
        workers.lane(f"new{n}").submit(lambda n=n: order.append(f"open new{n}")) for n in range(3)
    ]
    tick = connected.submit(lambda: order.append("tick connected"))
    release.set()
    for future in (busy, *opening, tick):
        future.result(timeout=10)
    assert order[0] == "tick connected"


async def test_first_rows_do_not_wait_for_a_host_that_never_answers(demo_hosts):
    """A daemon that accepts the connection and then says nothing: the other hosts' guests
    are on show meanwhile, and the silent host is shown as still connecting."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    port = silent.getsockname()[1]
    hung = HostSpec("silent", f"qemu+tcp://127.0.0.1:{port}/system")
    fleet = Fleet((hung, *demo_hosts), refresh=0.2)
    await fleet.start()
    try:
        await until(
            lambda: {g.host for g in fleet.snapshot().guests} == {h.name for h in demo_hosts},
            what="every answering host's guests",
        )
        links = {h.name: h.link for h in fleet.snapshot().hosts}
        assert links.pop("silent") is Link.CONNECTING
        assert set(links.values()) == {Link.CONNECTED}
    finally:
        await fleet.close()
        silent.close()


async def test_virt_types_wait_for_every_first_table_or_a_while(demo_hosts, monkeypatch):
    """Reads that fill in a first table (virt types, then addresses) wait until every host
    has brought its first table: run beside the hosts still loading, they slowed those
    down. A host that never answers holds them back only FIRST_TABLES_WAIT seconds."""
    monkeypatch.setattr(fleet_module, "FIRST_TABLES_WAIT", 1.5)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    hung = HostSpec("silent", f"qemu+tcp://127.0.0.1:{silent.getsockname()[1]}/system")
    fleet = Fleet((hung, demo_hosts[0]), refresh=60.0)
    started = time.monotonic()
    await fleet.start()
    try:
        await until(lambda: fleet.snapshot().guests, what="the answering host's table")
        await asyncio.sleep(0.5)
        assert not any(g.virt_type for g in fleet.snapshot().guests)
        await until(
            lambda: all(g.virt_type == "test" for g in fleet.snapshot().guests),
            what="every virt type",
        )
        assert time.monotonic() - started >= 1.5
    finally:
        await fleet.close()
        silent.close()


async def test_a_hosts_first_table_is_kept_out_of_full_collections(demo_hosts):
    """The guests of a host that has come up are frozen out of the garbage collector's
    passes (a full pass over 10,000 guests paused the screen for a keystroke)."""
    fleet = Fleet(demo_hosts, refresh=60.0)  # the first table only: no tick rebuilds it
    await fleet.start()
    try:
        await until(
            lambda: (
                all(h.link is Link.CONNECTED for h in fleet.snapshot().hosts)
                and all(g.virt_type for g in fleet.snapshot().guests)
            ),
            what="every host connected, its guests described",
        )
        await asyncio.sleep(0)  # the change notice that saw them described has run
        guests = {id(g) for g in fleet.snapshot().guests}
        examined = {id(o) for o in gc.get_objects()}  # what a full pass walks
        assert guests and not guests & examined
    finally:
        await fleet.close()


def test_a_hosts_listed_flags_say_what_asking_each_guest_says(demo_hosts):
    """A first table lists which guests are persistent and autostart once per host instead
    of asking each guest: both ways must agree, a transient and an autostart guest too."""
    conn = libvirt.open(demo_hosts[0].uri)
    try:
        guests = conn.listAllDomains()
        guests[0].setAutostart(1)
        xml = guests[1].XMLDesc(0).replace(guests[1].name(), "transient-one")
        xml = re.sub(r"<uuid>[^<]*</uuid>", "", xml)
        conn.createXML(xml, 0)
        flags = _Flags.read(conn)
        for dom in conn.listAllDomains():
            listed, asked = _describe(dom, flags, read_xml=False), _describe(dom)
            assert listed == replace(asked, virt_type="", agent=None, tags=()), dom.name()
        assert any(_describe(d, flags, read_xml=False).autostart for d in conn.listAllDomains())
        assert not all(
            _describe(d, flags, read_xml=False).persistent for d in conn.listAllDomains()
        )
    finally:
        conn.close()


async def test_definitions_left_out_of_a_first_table_arrive_after_it(demo_hosts, monkeypatch):
    """A first table asks no guest one by one: the test driver's records have the state
    only, so memory, vCPUs and virt type show once the definitions are read, after the
    table, and then say what libvirt's own `info()` says."""
    asked: list[str] = []
    for call in ("info", "XMLDesc"):
        real = getattr(libvirt.virDomain, call)
        monkeypatch.setattr(
            libvirt.virDomain,
            call,
            lambda self, *args, _real=real, _call=call: (asked.append(_call), _real(self, *args))[
                1
            ],
        )
    fleet = Fleet(demo_hosts[:1], refresh=60.0)
    first: list[tuple[int, int, list[str]]] = []
    fleet.add_listener(
        lambda: (
            first
            or not fleet.snapshot().guests
            or first.append(
                (
                    len(fleet.snapshot().guests),
                    sum(
                        1 for g in fleet.snapshot().guests if g.virt_type or g.vcpus or g.memory_kib
                    ),
                    list(asked),
                )
            )
        )
    )
    await fleet.start()
    try:
        await until(
            lambda: (
                fleet.snapshot().guests
                and all(g.virt_type == "test" for g in fleet.snapshot().guests)
            ),
            what="every definition",
        )
        shown, known, calls = first[0]
        assert shown > 8 and known == 0 and calls == []  # the table came first, and alone
        conn = libvirt.open(demo_hosts[0].uri)
        try:
            for guest in fleet.snapshot().guests:
                _state, max_kib, kib, vcpus, _cpu = conn.lookupByUUIDString(guest.uuid).info()
                assert (guest.max_memory_kib, guest.memory_kib, guest.vcpus) == (
                    max_kib,
                    kib,
                    vcpus,
                ), guest.name
        finally:
            conn.close()
        # and the host's memory in use, its running guests' sum on the test driver, with them
        (host,) = fleet.snapshot().hosts
        running = sum(g.memory_kib for g in fleet.snapshot().guests if g.state.is_active)
        assert host.load.memory_used_kib == running > 0
    finally:
        await fleet.close()


def test_a_record_with_the_info_figures_saves_the_info_call(demo_hosts):
    """QEMU's bulk record carries state, memory and vCPUs for every guest: a first table
    takes them from there instead of one more call per guest (the test driver's record has
    the state only, so its guests are still asked)."""
    conn = libvirt.open(demo_hosts[0].uri)
    try:
        dom = conn.listAllDomains()[0]
        flags = _Flags.read(conn)
        record = {
            "state.state": 3,
            "balloon.maximum": 4096,
            "balloon.current": 2048,
            "vcpu.current": 3,
        }
        got = _describe(dom, flags, record, read_xml=False)
        assert (got.state, got.max_memory_kib, got.memory_kib, got.vcpus) == (
            GuestState.PAUSED,
            4096,
            2048,
            3,
        )
        # The state alone (the test driver): the definition has the rest, read now or later.
        asked = _describe(dom)
        assert _describe(dom, flags, {"state.state": dom.state()[0]}) == asked
        later = _describe(dom, flags, {"state.state": 3}, read_xml=False)
        assert (later.sized, later.max_memory_kib, later.memory_kib, later.vcpus) == (
            False,
            0,
            0,
            0,
        )
    finally:
        conn.close()


async def test_every_host_waits_for_the_same_beat_on_a_multiple_of_the_refresh():
    """One timer a refresh for the fleet, not a timeout per host and tick."""
    loop = asyncio.get_running_loop()
    first, second = poller_module._beat(0.2), poller_module._beat(0.2)
    assert first is second
    due, _ = poller_module._beats[loop][(0.2, 0.0)]
    assert due / 0.2 == pytest.approx(round(due / 0.2))  # a multiple, not "now + 0.2"
    await first
    assert loop.time() >= due  # however late a loaded machine wakes it
    assert poller_module._beat(0.2) is not first  # the next beat


def test_a_large_fleet_ticks_on_beats_of_at_most_a_hundred_hosts():
    small = {poller_module.beat_offset(i, 100, 2.0) for i in range(100)}
    assert small == {0.0}  # one beat, as before: one wake-up a refresh
    offsets = [poller_module.beat_offset(i, 1000, 2.0) for i in range(1000)]
    assert sorted(set(offsets)) == pytest.approx([n * 0.2 for n in range(10)])
    assert max(offsets.count(offset) for offset in set(offsets)) == 100
