"""How a command names a guest, a pool, a volume or a network: one syntax, one finder.

Every resource of the fleet lives on a host, and the same name is often on several (a
network `default` on each). A command says `NAME@HOST`, or `NAME` alone when one host only
has it; `--host HOST` is accepted as the same thing as `@HOST`. When a name is ambiguous,
unknown or on an unknown host, the one sentence a user sees is made here, the same for every
kind of resource.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol, TypeVar

from kvmtui.core.commands import CommandError
from kvmtui.core.uri import quoted
from kvmtui.core.words import did_you_mean


class Named(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def host(self) -> str: ...


N = TypeVar("N", bound=Named)


def split_ref(token: str, host: str | None, names: Iterable[str] = ()) -> tuple[str, str | None]:
    """(name, host) of `NAME@HOST`, or of `NAME` with `--host HOST` (`host`). A name that
    itself holds an `@` and is among `names` is taken whole."""
    if "@" in token and token not in set(names):
        name, _, at = token.rpartition("@")
        if host is not None and at != host:
            raise CommandError(f"{quoted(token)} and --host {host} name different hosts")
        return name, at
    return token, host


def find_named(
    what: str,
    token: str,
    items: Sequence[N],
    *,
    host: str | None = None,
    hosts: Iterable[str] | None = None,
) -> N:
    """The one item `token` (`NAME`, `NAME@HOST`, or NAME with `host`) means among `items`.

    `hosts` are every host's name, so that a host without any such item is not reported as
    unknown (by default, the hosts of `items`). CommandError with one sentence otherwise.
    """
    name, on = split_ref(token, host, (item.name for item in items))
    known_hosts = set(hosts) if hosts is not None else {item.host for item in items}
    if on is not None and on not in known_hosts:
        raise CommandError(f"no host named {quoted(on)}{did_you_mean(on, known_hosts)}")
    found = [item for item in items if item.name == name and on in (None, item.host)]
    if not found:
        if on is not None:
            others = {item.name for item in items if item.host == on}
            raise CommandError(
                f"no {what} {quoted(name)} on host {quoted(on)}{did_you_mean(name, others)}"
            )
        hint = did_you_mean(name, {item.name for item in items})
        raise CommandError(f"no {what} named {quoted(name)}{hint}")
    if len(found) > 1:
        raise ambiguous(what, name, [item.host for item in found])
    return found[0]


def ambiguous(what: str, name: str, hosts: Iterable[str]) -> CommandError:
    """The one sentence for a name several hosts have."""
    on = sorted(set(hosts))
    return CommandError(
        f"{what} {quoted(name)} is on several hosts ({', '.join(on)}): say {name}@{on[0]}"
    )


class _Pair(NamedTuple):
    name: str
    host: str


def resolve_guest(
    token: str,
    guests: Iterable[tuple[str, str]],
    *,
    hosts: Iterable[str] | None = None,
    host: str | None = None,
) -> tuple[str, str]:
    """(name, host) of the guest `token` means, among `guests` as (name, host) pairs."""
    found = find_named("guest", token, [_Pair(*pair) for pair in guests], host=host, hosts=hosts)
    return found.name, found.host
