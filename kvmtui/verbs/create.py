"""`:create` (virt-install in one line) and `:evacuate HOST`.

`create` reads its options into a `GuestRequest` (`--disk` as kvmtui's size, `10G`, or as
virt-install's `size=10,pool=P,format=F,bus=B` in GiB), has the core check it against the host
(`provision.plan`) and asks, showing the XML it will define: the answer is the preview.
The create wizard (screens/create.py) builds the same `:create` command, so the one-line
form and the dialog share every check. Without `--host`, the host the placement advice
ranks first takes the guest.

`evacuate` plans live migrations of every running guest of a host to the ranked hosts,
measures their dirty rates, asks with the plan in the order it will run (the quickest
forecast first, those that will not converge last and flagged), and runs them through the
migration manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass, replace
from pathlib import Path

from kvmtui import format as fmt
from kvmtui.controller import Controller, Question
from kvmtui.core import advice, provision
from kvmtui.core.commands import Command, CommandError, verb
from kvmtui.core.foresight import Foresight
from kvmtui.core.migration import JobSnapshot, JobState, MigrationOptions
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.results import Console, CreateWizard, View
from kvmtui.core.sizes import MAX_SIZE, parse_size
from kvmtui.core.tags import tag_list
from kvmtui.core.uri import quoted
from kvmtui.verbs.shared import SKIP_FORECAST, foresee

#: How long `--console` waits for the new guest to appear in the fleet's table.
_APPEAR_TIMEOUT = 10.0

CREATE_VALUED = (
    "host",
    "tags",
    "vcpus",
    "memory",
    "disk",
    "import",
    "cdrom",
    "kernel",
    "initrd",
    "cmdline",
    "network",
    "bridge",
    "firmware",
    "virt-type",
    "pool",
    "user",
    "ssh-key",
    "hostname",
)
CREATE_FLAGS = ("pxe", "cloud-init", "start", "console")


def _size(command: Command, option: str) -> int | None:
    text = command.value(option)
    if text is None:
        return None
    try:
        return parse_size(text)
    except ValueError as error:
        raise CommandError(f"create: --{option}: {error}") from None


#: virt-install's `--disk size=N[,pool=P][,format=F][,bus=B]`, which `--disk` takes beside
#: a plain size (`--disk 10G`).
DISK_KEYS = ("size", "pool", "format", "bus")


@dataclass(frozen=True)
class DiskOption:
    """What `--disk` asks for: a size in bytes and, in virt-install's form, where and how."""

    size: int | None = None
    pool: str | None = None
    format: str | None = None
    bus: str | None = None


def disk_option(text: str | None) -> DiskOption:
    """`--disk 10G` (kvmtui's sizes) or `--disk size=10,pool=images,format=raw,bus=sata`
    (virt-install's, whose size is a number of GiB); CommandError saying what is wrong."""
    if text is None:
        return DiskOption()
    if "=" not in text:
        try:
            return DiskOption(parse_size(text))
        except ValueError as error:
            raise CommandError(f"create: --disk: {error}") from None
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, equals, value = part.partition("=")
        if key not in DISK_KEYS or not equals or not value:
            raise CommandError(
                f"create: --disk: {quoted(part)} is not one of size=GiB, "
                "pool=POOL, format=FORMAT, bus=BUS"
            )
        if key in fields:
            raise CommandError(f"create: --disk: {key}= given twice")
        fields[key] = value
    if "size" not in fields:
        raise CommandError("create: --disk needs size=N, in GiB as virt-install takes it")
    try:
        gib = float(fields["size"])
    except ValueError:
        gib = math.nan  # refused below, with the others
    if not (math.isfinite(gib) and 0 < gib * 2**30 <= MAX_SIZE):
        raise CommandError(
            f"create: --disk size={fields['size']}: give a number of GiB, e.g. size=10"
        )
    return DiskOption(
        round(gib * 2**30), fields.get("pool"), fields.get("format"), fields.get("bus")
    )


def _pool(command: Command, disk: DiskOption) -> str | None:
    """`--pool`, or the pool `--disk` names; both, only when they agree."""
    pool = command.value("pool")
    if pool and disk.pool and pool != disk.pool:
        raise CommandError(f"create: --pool {pool} and --disk pool={disk.pool} disagree")
    return pool or disk.pool


def _cloud_init(command: Command) -> provision.CloudInit | None:
    if not command.flag("cloud-init"):
        if any(command.value(o) for o in ("user", "ssh-key", "hostname")):
            raise CommandError("create: --user, --ssh-key and --hostname need --cloud-init")
        return None
    user, key_file = command.value("user"), command.value("ssh-key")
    if not user or not key_file:
        raise CommandError("create: --cloud-init needs --user and --ssh-key")
    try:
        key = provision.read_ssh_key(Path(key_file))
    except ValueError as error:
        raise CommandError(f"create: {error}") from None
    return provision.CloudInit(user, key, command.value("hostname") or command.args[0])


def request_from(command: Command, host: str) -> provision.GuestRequest:
    """The request a `:create` line makes; CommandError for a value that is not one."""
    memory = _size(command, "memory")
    if memory is None:
        raise CommandError("create: --memory is needed (e.g. --memory 1G)")
    disk = disk_option(command.value("disk"))
    return provision.GuestRequest(
        name=command.args[0],
        host=host,
        vcpus=int(command.value("vcpus") or 1),
        memory=memory,
        disk_size=disk.size,
        disk_format=disk.format or "qcow2",
        disk_bus=disk.bus or "virtio",
        import_path=command.value("import"),
        cdrom=command.value("cdrom"),
        kernel=command.value("kernel"),
        initrd=command.value("initrd"),
        cmdline=command.value("cmdline"),
        pxe=command.flag("pxe"),
        network=command.value("network"),
        bridge=command.value("bridge"),
        firmware=command.value("firmware") or "bios",
        virt_type=command.value("virt-type"),
        pool=_pool(command, disk),
        cloud_init=_cloud_init(command),
        tags=_tags(command),
    )


def _tags(command: Command) -> tuple[str, ...]:
    """`--tags web,tier=db`, each checked as `:tag` checks it."""
    try:
        return tag_list(command.value("tags") or "")
    except CommandError as error:
        raise CommandError(f"create: --tags: {error}") from None


async def _choose_host(
    controller: Controller, command: Command, request: provision.GuestRequest
) -> str:
    """`--host`, else the host the advice ranks first (said in the confirmation): one
    without a guest of its `anti=` tag, if it has one."""
    named = command.value("host")
    if named:
        controller.fleet.host(named)  # an unknown host fails here, by name
        return named
    anti = advice.anti_of(request.tags)
    ranked = await advice.advise(controller.fleet, request.memory, request.vcpus, anti=anti)
    if not ranked or not ranked[0].fits:
        best = f" (best: {ranked[0].host}, {ranked[0].problem})" if ranked else ""
        raise CommandError(f"create {command.args[0]}: no host can take it{best}")
    return ranked[0].host


@verb(
    "create",
    "create a guest (no NAME: the create wizard); --memory SIZE and a boot "
    "source: --import PATH, --cdrom ISO, --kernel K or --pxe",
    optional=("NAME",),
    valued=CREATE_VALUED,
    flags=CREATE_FLAGS,
    numeric=("vcpus",),
    mutating=True,
)
async def _create(controller: Controller, command: Command) -> GuestSnapshot | None:
    """The new guest, once the fleet lists it (the wizard opens its console itself once it
    has closed, so it asks without --console)."""
    if command.args:
        guest = await create_guest(controller, command)
        if guest is not None and command.flag("console"):
            await controller.operator.show(Console(guest))
        return guest
    if command.options:
        raise CommandError("create: missing guest name")
    await controller.operator.show(CreateWizard())
    return None


async def create_guest(controller: Controller, command: Command) -> GuestSnapshot | None:
    """Checks, asks with the XML, creates; the guest once the fleet lists it, None when
    refused or declined (`change` said why) or when creating failed. A check that fails
    raises CommandError or HostError (nothing is created); the wizard shows it under its
    fields and stays open, the `:` line reports it."""
    probe = request_from(command, "")
    host_name = await _choose_host(controller, command, probe)
    if controller.refused("create", hosts=[host_name]):
        return None
    host = controller.fleet.host(host_name)
    plan = await provision.plan(host, replace(probe, host=host_name))
    made: list[str] = []

    async def create() -> str:
        uuid, sentence = await provision.provision(host, plan, start=command.flag("start"))
        made.append(uuid)
        return sentence

    chosen = "" if command.value("host") else " (ranked first by the placement advice)"
    question = Question(
        f"Create {plan.request.name} on {host_name}{chosen}?",
        "Creates " + "; ".join(plan.creates) + ". Defines:\n\n" + plan.xml,
        "Create",
    )
    if not await controller.change("create", create, hosts=[host_name], question=question):
        return None
    return await _listed(controller, host_name, made[0])


async def _listed(controller: Controller, host: str, uuid: str) -> GuestSnapshot:
    """The new guest as the fleet lists it: its lifecycle event arrives shortly after the
    definition, and a console or a key on it needs it listed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _APPEAR_TIMEOUT
    while (guest := controller.fleet.host(host).guest(uuid)) is None:
        if loop.time() > deadline:
            raise CommandError(f"create: the new guest did not appear on {host}")
        await asyncio.sleep(0.05)
    return guest


def _plan_text(
    plan: advice.Evacuation, moved: list[advice.Move], seen: dict[str, Foresight]
) -> str:
    """The plan as it will run: each move with its forecast under it (`!` where it will not
    converge), then the guests that stay. When none has a forecast for one reason (a host
    that cannot measure, skipped), the reason is said once, first."""
    reasons = {f.problem for f in seen.values() if f.forecast is None}
    once = len(reasons) == 1 and all(f.forecast is None for f in seen.values())
    lines = [reasons.pop()] if once else []
    for move in moved:
        foresight = seen[move.guest.key]
        never = foresight.forecast is not None and not foresight.forecast.converges
        lines.append(f"{move.guest.name} -> {move.dest}  ({move.why})")
        if not once:
            lines.append(f"  {'! ' if never else ''}{foresight.describe()}")
    lines.extend(f"{m.guest.name} stays: {m.why}" for m in plan.moves if m.dest is None)
    return "\n".join(lines)


@verb(
    "evacuate",
    "live-migrate every running guest of a host to the ranked hosts",
    positionals=("HOST",),
    flags=(SKIP_FORECAST,),
    mutating=True,
)
async def _evacuate(controller: Controller, command: Command) -> None:
    source = command.args[0]
    controller.fleet.host(source)  # an unknown host fails here, by name
    plan = await advice.plan_evacuation(controller.fleet, source)
    if not plan.moves:
        controller.operator.ok(f"evacuate {source}: no running guest to move")
        return
    if not plan.placed:
        raise CommandError(f"evacuate {source}: {plan.describe('; ')}")
    manager = controller.services.migrations
    options = MigrationOptions()
    if controller.refused("evacuate", [m.guest for m in plan.placed]):
        return
    if command.flag(SKIP_FORECAST):
        seen = {m.guest.key: Foresight.skipped(m.guest) for m in plan.placed}
    else:
        seen = await foresee(controller, [m.guest for m in plan.placed], options)
    # The manager runs them in this order, a few at a time: the quick ones leave first.
    moved = sorted(plan.placed, key=lambda m: seen[m.guest.key].order)
    jobs: list[JobSnapshot] = []

    async def start() -> str:
        for move in moved:
            assert move.dest is not None
            jobs.append(manager.start(move.guest, move.dest, options, seen[move.guest.key]))
        return (
            f"evacuating {fmt.plural(len(jobs), 'guest')} from {source}, "
            f"{manager.concurrency} at a time"
        )

    never = sum(1 for f in seen.values() if f.forecast is not None and not f.forecast.converges)
    question = Question(
        f"Evacuate {source}: live-migrate {fmt.plural(len(moved), 'guest')}"
        + (f" ({never} will not converge)?" if never else "?"),
        _plan_text(plan, moved, seen),
        "Evacuate",
    )
    if not await controller.change(
        "evacuate",
        start,
        guests=[m.guest for m in moved],
        hosts=sorted({m.dest for m in moved if m.dest}),
        question=question,
    ):
        return
    with contextlib.suppress(CommandError):  # a terminal has no jobs view: it waits
        await controller.operator.show(View("jobs"))
    done = await asyncio.gather(*(manager.wait(job.id) for job in jobs))
    failed = [job for job in done if job.state is not JobState.SUCCEEDED]
    for job in failed:
        controller.operator.error(
            f"evacuate {source}: {job.guest} {job.state.value}: {job.message}"
        )
    if not failed:
        controller.operator.ok(
            f"{source} evacuated: " + ", ".join(f"{job.guest} on {job.dest}" for job in done)
        )
