"""The storage verbs, in virsh's words and argument order: `pool-define-as`, `pool-build`,
`pool-start`, `pool-destroy`, `pool-autostart [--disable]`, `pool-refresh`,
`pool-undefine`, `vol-create-as`, `vol-delete`, `vol-resize`, `vol-clone` and `vol-upload`.

A pool is named `NAME` or `NAME@HOST`, a volume by its name (`@HOST` too) or path; `--host`
(and `--pool` for a volume) says which one when several hosts hold that name. Every change
goes through the controller (read-only refusal, confirmation of what destroys data, one line
of outcome), and the storage views are read again right after it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from kvmtui.controller import Controller, Question
from kvmtui.core.commands import Command, CommandError, verb
from kvmtui.core.sizes import parse_size
from kvmtui.core.storage.lookup import (
    VolumeRef,
    describe_users,
    find_pool,
    find_volume,
    volume_users,
)
from kvmtui.core.storage.pools import PoolSource, define_pool, pool_action
from kvmtui.core.storage.volumes import clone_volume, create_volume, delete_volume, resize_volume
from kvmtui.core.uri import quoted
from kvmtui.verbs.shared import change, one_host

_HOST = ("host",)


def _size(command: Command, text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as error:
        raise CommandError(f"{command.verb}: {error}") from None


def _reread(controller: Controller, host: str) -> Callable[[], Awaitable[None]]:
    """Reads `host`'s pools and volumes again after a change made here."""
    return partial(controller.services.storage.refresh, [host])


# ---- pools ----------------------------------------------------------------------------


@verb(
    "pool-define-as",
    "define a storage pool (dir, netfs or logical)",
    positionals=("POOL", "TYPE"),
    valued=("target", "source-host", "source-path", "source-dev", "host"),
    flags=("build",),
    mutating=True,
)
async def _pool_define_as(controller: Controller, command: Command) -> None:
    name, kind = command.args
    host = one_host(controller, command)
    source = PoolSource(
        target=command.value("target"),
        source_host=command.value("source-host"),
        source_path=command.value("source-path"),
        source_dev=command.value("source-dev"),
    )
    await change(
        controller,
        command,
        lambda: define_pool(host, name, kind, source, build=command.flag("build")),
        hosts=[host.name],
        reread=_reread(controller, host.name),
    )


_POOL_SUMMARIES = {
    "pool-build": "build a pool's storage (make its directory ...)",
    "pool-start": "start an inactive pool",
    "pool-destroy": "stop a pool (its volumes stay on disk)",
    "pool-refresh": "read a pool's volumes again",
    "pool-undefine": "remove an inactive pool's definition",
    "pool-autostart": "start a pool when its host boots",
}
#: What a pool verb asks before it runs: stopping or forgetting a pool.
_POOL_QUESTIONS = {
    "pool-destroy": (
        "Stop pool {pool} on {host}?",
        "Its volumes stay on disk, but guests using them cannot start until the pool runs again.",
        "Stop pool",
    ),
    "pool-undefine": (
        "Undefine pool {pool} on {host}?",
        "Its definition is removed; the data stays on disk.",
        "Undefine",
    ),
}


async def _pool_verb(controller: Controller, command: Command) -> None:
    host, name = await find_pool(
        controller.fleet, command.args[0], command.value("host"), command.verb
    )
    action = f"{command.verb} --disable" if command.flag("disable") else command.verb
    question = None
    if command.verb in _POOL_QUESTIONS:
        title, detail, label = _POOL_QUESTIONS[command.verb]
        question = Question(title.format(pool=name, host=host.name), detail, label)
    await change(
        controller,
        command,
        lambda: pool_action(host, name, action),
        hosts=[host.name],
        question=question,
        reread=_reread(controller, host.name),
    )


for _verb in _POOL_SUMMARIES:
    verb(
        _verb,
        _POOL_SUMMARIES[_verb],
        positionals=("POOL",),
        valued=_HOST,
        flags=("disable",) if _verb == "pool-autostart" else (),
        mutating=True,
    )(_pool_verb)


# ---- volumes --------------------------------------------------------------------------


@verb(
    "vol-create-as",
    "create a volume in a pool",
    positionals=("POOL", "VOLUME", "SIZE"),
    valued=("format", "backing-vol", "host"),
    mutating=True,
)
async def _vol_create_as(controller: Controller, command: Command) -> None:
    token, name, size = command.args
    capacity = _size(command, size)
    fmt = command.value("format") or "qcow2"
    host, pool = await find_pool(controller.fleet, token, command.value("host"), command.verb)

    async def create() -> str:
        path = await create_volume(
            host, pool, name, capacity, fmt=fmt, backing=command.value("backing-vol")
        )
        return f"volume {path} ({fmt}, {size}) created on {host.name}"

    await change(
        controller, command, create, hosts=[host.name], reread=_reread(controller, host.name)
    )


async def _volume(controller: Controller, command: Command) -> VolumeRef:
    return await find_volume(
        controller.fleet,
        command.args[0],
        command.value("pool"),
        command.value("host"),
        command.verb,
    )


@verb(
    "vol-delete",
    "delete a volume and its data",
    positionals=("VOLUME",),
    valued=("pool", "host"),
    flags=("force",),
    mutating=True,
)
async def _vol_delete(controller: Controller, command: Command) -> None:
    volume = await _volume(controller, command)
    host = controller.fleet.host(volume.host)
    users = await volume_users(controller.fleet, volume)
    if users and not command.flag("force"):
        raise CommandError(
            f"vol-delete: {volume.path} on {volume.host} is used by "
            f"{', '.join(users)} (add --force to delete it anyway)"
        )

    async def delete() -> str:
        await delete_volume(host, volume.path)
        return f"volume {volume.path} deleted on {volume.host}"

    question = Question(
        f"Delete volume {volume.name} on {volume.host}?", describe_users(volume, users), "Delete"
    )
    await change(
        controller,
        command,
        delete,
        hosts=[volume.host],
        question=question,
        reread=_reread(controller, volume.host),
    )


@verb(
    "vol-resize",
    "change a volume's capacity",
    positionals=("VOLUME", "SIZE"),
    valued=("pool", "host"),
    flags=("shrink",),
    mutating=True,
)
async def _vol_resize(controller: Controller, command: Command) -> None:
    capacity = _size(command, command.args[1])
    volume = await _volume(controller, command)
    host = controller.fleet.host(volume.host)
    shrink = command.flag("shrink")
    question = None
    if shrink:
        question = Question(
            f"Shrink volume {volume.name} on {volume.host}?",
            f"{volume.path} to {command.args[1]}: data past the new end is lost.",
            "Shrink",
        )

    async def resize() -> str:
        await resize_volume(host, volume.path, capacity, shrink=shrink)
        return f"volume {volume.path} on {volume.host} resized to {command.args[1]}"

    await change(
        controller,
        command,
        resize,
        hosts=[volume.host],
        question=question,
        reread=_reread(controller, volume.host),
    )


@verb(
    "vol-clone",
    "copy a volume within its pool",
    positionals=("VOLUME", "NEWNAME"),
    valued=("pool", "host"),
    mutating=True,
)
async def _vol_clone(controller: Controller, command: Command) -> None:
    volume = await _volume(controller, command)
    host = controller.fleet.host(volume.host)

    async def clone() -> str:
        path = await clone_volume(host, volume.path, command.args[1])
        return f"volume {volume.path} copied to {path} on {volume.host}"

    await change(
        controller, command, clone, hosts=[volume.host], reread=_reread(controller, volume.host)
    )


@verb(
    "vol-upload",
    "upload a local file into a new volume, over the host's connection",
    positionals=("POOL", "VOLUME", "FILE"),
    valued=_HOST,
    mutating=True,
)
async def _vol_upload(controller: Controller, command: Command) -> None:
    token, name, local = command.args
    path = Path(local).expanduser()
    if not path.is_file():
        raise CommandError(f"vol-upload: no file {quoted(local)} here")
    host, pool = await find_pool(controller.fleet, token, command.value("host"), command.verb)
    service = controller.services.storage

    async def upload() -> str:
        uploaded = await service.upload(host, pool, name, path)
        return f"{local} uploaded to {uploaded} on {host.name}"

    await change(
        controller, command, upload, hosts=[host.name], reread=_reread(controller, host.name)
    )
