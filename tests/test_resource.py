"""The resource-service base (kvmtui.core.resource) on libvirt's real test driver: what a
service reads, when, and what it costs while nobody looks."""

from __future__ import annotations

import asyncio

import pytest

from kvmtui.core.commands import CommandError
from kvmtui.core.names import find_named
from kvmtui.core.services import Services
from kvmtui.core.storage.service import StorageService
from tests.nodes import connected_fleet, node_specs, until

SCRATCH = "<pool type='dir'><name>scratch</name><target><path>/srv/scratch</path></target></pool>"


async def test_an_unwatched_service_reads_nothing_and_its_getters_start_nothing(tmp_path):
    async with connected_fleet(node_specs(tmp_path, "kvm1", "kvm2")) as fleet:
        services = Services(fleet)
        for service in services.watchable(tuple(services.publishers())):
            assert service.readings() == []
        assert services.networks.networks() == [] and services.storage.pools() == []
        await asyncio.sleep(0.5)
        assert all(s.rounds == 0 for s in services.watchable(tuple(services.publishers())))
        assert not services.storage.watched


async def test_a_watched_service_follows_libvirt_events_without_a_cadence(tmp_path):
    """A pool defined behind the service's back (not through a verb, which asks for a
    reading itself) shows because libvirt said so; after the last watcher leaves, an event
    reads nothing."""
    async with connected_fleet(node_specs(tmp_path, "kvm1", "kvm2")) as fleet:
        storage = StorageService(fleet)
        assert storage.cadence is None
        storage.watch()
        await until(lambda: storage.read_once, "the first reading")
        assert {p.key for p in storage.pools()} == {"images@kvm1", "images@kvm2"}
        kvm2 = fleet.host("kvm2")
        await kvm2.run(lambda conn: conn.storagePoolDefineXML(SCRATCH, 0))
        await until(
            lambda: "scratch@kvm2" in {p.key for p in storage.pools()},
            "the defined pool, from its event",
        )
        assert storage.rounds == 1  # one host read again, not every host
        storage.unwatch()
        await kvm2.run(lambda conn: conn.storagePoolLookupByName("scratch").undefine())
        await asyncio.sleep(0.6)
        assert "scratch@kvm2" in {p.key for p in storage.pools()}  # nobody looks: not read
        storage.watch()  # back on screen: read as it is now
        await until(
            lambda: "scratch@kvm2" not in {p.key for p in storage.pools()}, "the reading on watch"
        )


async def test_a_host_that_cannot_be_read_says_why_under_its_name(tmp_path):
    async with connected_fleet(node_specs(tmp_path, "kvm1")) as fleet:
        storage = StorageService(fleet)
        host = fleet.host("kvm1")
        await host.close()  # as a host lost between two readings
        await storage.refresh(["kvm1"])
        assert storage.pools() == []
        assert "kvm1" in storage.errors and "kvm1" in storage.errors["kvm1"]


class _Row:
    def __init__(self, name: str, host: str) -> None:
        self.name, self.host = name, host


@pytest.mark.parametrize(
    ("token", "host", "found", "error"),
    [
        ("default", None, None, 'network "default" is on several hosts (a, b): say default@a'),
        ("default@b", None, ("default", "b"), None),
        ("default", "b", ("default", "b"), None),
        ("default@b", "a", None, '"default@b" and --host a name different hosts'),
        ("lab", None, ("lab", "a"), None),
        ("lab@b", None, None, 'no network "lab" on host "b"'),
        ("lab@c", None, None, 'no host named "c"'),
        ("labb", None, None, 'no network named "labb" (did you mean "lab"?)'),
        ("odd@name", None, ("odd@name", "a"), None),  # a name with @ in it is still a name
    ],
)
def test_one_finder_and_one_sentence_for_every_kind(token, host, found, error):
    rows = [_Row("default", "a"), _Row("default", "b"), _Row("lab", "a"), _Row("odd@name", "a")]
    if error is None:
        got = find_named("network", token, rows, host=host)
        assert (got.name, got.host) == found
    else:
        with pytest.raises(CommandError) as caught:
            find_named("network", token, rows, host=host)
        assert str(caught.value) == error
