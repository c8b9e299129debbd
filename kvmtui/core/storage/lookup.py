"""Finding the pool or volume a command names (`NAME`, `NAME@HOST`, `--host`, `--pool`, a
volume's path), and the guests that use a volume."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import libvirt

from kvmtui.core.commands import CommandError
from kvmtui.core.fleet import Fleet
from kvmtui.core.host import Host
from kvmtui.core.names import ambiguous, split_ref
from kvmtui.core.storage.readings import disk_users
from kvmtui.core.uri import quoted
from kvmtui.core.words import did_you_mean


async def _per_host(
    fleet: Fleet, host: str | None, what: str, fn: Callable[[libvirt.virConnect], list[str]]
) -> dict[str, list[str]]:
    """`fn` on `host` or on every connected host, by host name; hosts that fail are left
    out (a lost host has no pools to offer), unless it is the one named."""
    if host is not None:
        chosen = fleet.host(host)
        if not chosen.connected:
            raise CommandError(f"{what}: host {host} is not connected")
        return {host: await chosen.run(fn, what=what)}
    hosts = [h for h in fleet.hosts if h.connected]
    answers = await asyncio.gather(*(h.run(fn, what=what) for h in hosts), return_exceptions=True)
    return {h.name: a for h, a in zip(hosts, answers, strict=True) if isinstance(a, list)}


async def find_pool(fleet: Fleet, token: str, host: str | None, what: str) -> tuple[Host, str]:
    """The host of the pool `token` names (`NAME`, `NAME@HOST`, or NAME on `host`), and
    the pool's name: one clear line when there is no such pool or it is on several hosts."""
    name, host = split_ref(token, host)
    listed = await _per_host(
        fleet, host, what, lambda conn: [p.name() for p in conn.listAllStoragePools(0)]
    )
    found = sorted(h for h, names in listed.items() if name in names)
    if not found:
        where = f" on host {host}" if host else ""
        hint = did_you_mean(name, {n for names in listed.values() for n in names})
        raise CommandError(f"{what}: no pool {quoted(name)}{where}{hint}")
    if len(found) > 1:
        raise CommandError(f"{what}: {ambiguous('pool', name, found)}")
    return fleet.host(found[0]), name


@dataclass(frozen=True)
class VolumeRef:
    host: str
    pool: str
    name: str
    path: str


def _matching_volumes(conn: libvirt.virConnect, token: str, pool: str | None) -> list[str]:
    """`pool\\0name\\0path` of the volumes `token` (a name or a path) may mean."""
    pools = (
        [conn.storagePoolLookupByName(pool)]
        if pool
        else conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE)
    )
    matches = []
    for each in pools:
        if not each.isActive():
            continue
        for vol in each.listAllVolumes(0):
            if token in (vol.name(), vol.path()):
                matches.append(f"{each.name()}\0{vol.name()}\0{vol.path()}")
    return matches


async def find_volume(
    fleet: Fleet, token: str, pool: str | None, host: str | None, what: str
) -> VolumeRef:
    """The volume `token` names (its name, with --pool when several pools hold one, or its
    path; `@HOST` or `host` for the host), else on whichever one connected host holds it."""
    if not token.startswith("/"):
        token, host = split_ref(token, host)
    if pool is not None:
        pool_host, pool = await find_pool(fleet, pool, host, what)
        host = pool_host.name

    def match(conn: libvirt.virConnect) -> list[str]:
        return _matching_volumes(conn, token, pool)

    found = [
        VolumeRef(name, *match.split("\0"))
        for name, matches in (await _per_host(fleet, host, what, match)).items()
        for match in matches
    ]
    if not found:
        where = f" in pool {pool}" if pool else ""
        raise CommandError(
            f"{what}: no volume {quoted(token)}{where}{f' on host {host}' if host else ''}"
        )
    if len(found) > 1:
        places = ", ".join(sorted(f"{v.pool}@{v.host}" for v in found))
        if len({v.pool for v in found}) == 1:
            raise CommandError(f"{what}: {ambiguous('volume', token, (v.host for v in found))}")
        raise CommandError(
            f"{what}: volume {quoted(token)} is in several pools ({places}): add --pool POOL"
        )
    return found[0]


async def volume_users(fleet: Fleet, volume: VolumeRef) -> list[str]:
    """The guests whose disks, live or at their next start, are the volume: on its own host
    by path or `pool/volume`, and `NAME@HOST` for guests of other connected hosts whose disk
    has the same path, since a pool on shared storage (NFS, a cluster file system) shows the
    same file to every host and deleting it from one breaks the guests of all."""

    def read(conn: libvirt.virConnect) -> list[str]:
        users = disk_users(conn, inactive_too=True)
        return sorted(set(users.get(volume.path, [])))

    own = await fleet.host(volume.host).run(
        lambda conn: disk_users(conn, inactive_too=True),
        what=f"guests of {volume.path} on {volume.host}",
    )
    found = {*own.get(volume.path, []), *own.get(f"{volume.pool}/{volume.name}", [])}
    others = [h for h in fleet.hosts if h.connected and h.name != volume.host]
    answers = await asyncio.gather(*(h.run(read) for h in others), return_exceptions=True)
    for other, names in zip(others, answers, strict=True):
        if isinstance(names, list):  # a host that cannot answer is not asked twice
            found.update(f"{name}@{other.name}" for name in names)
    return sorted(found)


def describe_users(volume: VolumeRef, users: Sequence[str]) -> str:
    """The confirmation's detail for deleting `volume`."""
    used = f"Used by {', '.join(users)}." if users else "No guest uses it."
    return f"{volume.path} on {volume.host}. {used} Its data is lost."
