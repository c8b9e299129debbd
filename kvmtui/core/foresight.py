"""Migration foresight: will a live migration finish, in how long, and how long the pause.

Pre-copy live migration (QEMU's, and libvirt's default) sends all of a guest's memory once,
then the pages the guest wrote meanwhile, then those written during that pass, and so on,
until what is left can be sent in the tolerable downtime: then the guest is paused and the
rest goes. Whether that moment ever comes depends on two figures, how fast the guest writes
to its memory (its dirty rate) and how fast the link carries it (the bandwidth). libvirt
measures the first (`virDomainStartDirtyRateCalc`, since 7.2); without it the operator learns
that a migration never finishes after minutes of watching the remaining data not shrink.

Two parts: `measure` asks libvirt for the dirty rate of some guests of one host (a short
calculation, through `host.run`; a driver without it, such as `test:///`, says so once per
host; `measure_guests` does it for guests on any hosts at once), and `forecast` is the
model, pure arithmetic, tested on its own. `Foresight.of` puts them together for one guest
and the options a migration (or an evacuation) is about to use.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

import libvirt

from kvmtui.core import numbers
from kvmtui.core.errors import HostError, describe

if TYPE_CHECKING:
    from kvmtui.core.fleet import Fleet
    from kvmtui.core.host import Host
    from kvmtui.core.migration import MigrationOptions
    from kvmtui.core.model import GuestSnapshot

T = TypeVar("T")
MIB = 1024 * 1024
#: How long libvirt watches the guest's memory: long enough to see a steady writer, short
#: enough to wait for before a migration (the operator can skip it).
CALC_SECONDS = 1
#: How long past the calculation a result may take to be ready before it is given up on.
CALC_GRACE = 5.0
#: QEMU's default tolerable downtime (`downtime-limit`), used when the guest's own cannot be
#: read: the pause the final pass must fit in.
DEFAULT_MAX_DOWNTIME_MS = 300
#: The bandwidth a forecast assumes when the migration sets no cap: what a 1 Gb/s link
#: carries once framing is paid (about 117 MiB/s at best; 110 leaves room for the rest).
ASSUMED_LINK_MIB = 110
#: The bandwidth suggested for a guest that would not converge, as a multiple of the highest
#: dirty rate its measurement allows (`sampled_bound`): each pass at most two thirds of the
#: one before, so the whole migration takes at most three single passes over memory.
SUGGESTED_FACTOR = 1.5
#: What one sampled page stands for: QEMU's page sampling reads 512 pages per GiB of guest
#: memory (its default; libvirt cannot change it) and counts those that changed, so a rate
#: is a whole number of 2 MiB per second of the calculation (a 128 MiB guest: 64 pages).
SAMPLED_BYTES = 1024 * MIB // 512
#: A forecast that needs more passes than this rests on a dirty rate within a few per cent
#: of the bandwidth, closer than a one-second sample can tell apart: not converging.
MAX_PASSES = 100


@dataclass(frozen=True)
class Forecast:
    """The model's answer for one guest at one bandwidth; see `forecast`."""

    memory_bytes: int
    dirty_bps: float
    bandwidth_bps: float
    max_downtime_ms: int
    #: The highest dirty rate the measurement allows (`sampled_bound`); what the suggested
    #: bandwidth is made from, so a low sample does not suggest too little.
    dirty_bound_bps: float
    #: Seconds from start to the guest running on the destination; None: never converges.
    seconds: float | None
    #: The final pause, ms; None when it never converges.
    downtime_ms: float | None
    #: Passes over memory before the final one (the first, whole, pass counts).
    passes: int
    #: True when no cap was set and the bandwidth is the assumed link's (ASSUMED_LINK_MIB).
    assumed: bool = False
    auto_converge: bool = False
    postcopy: bool = False

    @property
    def converges(self) -> bool:
        return self.seconds is not None

    @property
    def bandwidth_mib(self) -> int:
        return round(self.bandwidth_bps / MIB)

    @property
    def suggested_mib(self) -> int:
        """The bandwidth, whole MiB/s as `--bandwidth` takes it, that lets it converge with
        room to spare (SUGGESTED_FACTOR times the highest rate the measurement allows)."""
        return max(1, math.ceil(SUGGESTED_FACTOR * self.dirty_bound_bps / MIB))

    def describe(self) -> str:
        """`converges in about 40 s, downtime about 300 ms (...)` or `will not converge at
        8 MiB/s: dirties 30.0 MiB/s; use bandwidth >= 60 MiB/s, auto-converge or post-copy`."""
        at = f"{self.bandwidth_mib} MiB/s"
        if self.assumed:
            at += " (no cap: a 1 Gb/s link assumed)"
        dirties = f"dirties {numbers.speed(self.dirty_bps)}"
        if self.seconds is not None and self.downtime_ms is not None:
            return (
                f"converges in about {numbers.duration(self.seconds)}, downtime about "
                f"{numbers.duration(self.downtime_ms / 1000)} ({dirties}, "
                f"{numbers.size(self.memory_bytes)} at {at})"
            )
        link = "a link of" if self.assumed else "bandwidth >="
        if self.dirty_bound_bps > self.dirty_bps:
            dirties += f" (up to {numbers.speed(self.dirty_bound_bps)} as sampled)"
        words = [
            f"will not converge at {at}: {dirties}; use {link} {self.suggested_mib} MiB/s, "
            "auto-converge or post-copy"
        ]
        if self.auto_converge:
            words.append("auto-converge is on: it slows the guest's vCPUs until it does")
        if self.postcopy:
            words.append("post-copy is allowed: switch to it (p) once it stalls")
        return "; ".join(words)

    def brief(self) -> str:
        """A narrow column's form: `40 s, 300 ms` or `never at 8 MiB/s`."""
        if self.seconds is None or self.downtime_ms is None:
            return f"never at {self.bandwidth_mib} MiB/s"
        return f"{numbers.duration(self.seconds)}, {numbers.duration(self.downtime_ms / 1000)}"


def forecast(
    memory_bytes: int,
    dirty_bps: float,
    bandwidth_bps: float,
    max_downtime_ms: int = DEFAULT_MAX_DOWNTIME_MS,
    *,
    dirty_bound_bps: float | None = None,
    assumed: bool = False,
    auto_converge: bool = False,
    postcopy: bool = False,
) -> Forecast:
    """The pre-copy passes of a guest of `memory_bytes` writing `dirty_bps` over a link
    carrying `bandwidth_bps`, pass by pass, as QEMU runs them:

    - the first pass sends every page: memory / bandwidth seconds. Pages never written
      (zeros) cost QEMU a few bytes each, so for a mostly idle guest this is an upper bound;
    - each next pass sends what the guest wrote during the one before, dirty rate x its
      length: each pass is dirty/bandwidth times the last, so at a dirty rate at or above
      the bandwidth the passes never shrink (and it never converges);
    - QEMU stops the guest once what is left fits in the tolerable downtime at the link's
      speed (left <= bandwidth x downtime); that last send is the downtime.

    `dirty_bound_bps`: the highest rate the measurement allows (default: `dirty_bps`, exact).
    """
    never = Forecast(
        memory_bytes,
        dirty_bps,
        bandwidth_bps,
        max_downtime_ms,
        dirty_bps if dirty_bound_bps is None else max(dirty_bps, dirty_bound_bps),
        seconds=None,
        downtime_ms=None,
        passes=0,
        assumed=assumed,
        auto_converge=auto_converge,
        postcopy=postcopy,
    )
    if bandwidth_bps <= 0 or dirty_bps >= bandwidth_bps:
        return never
    fits = bandwidth_bps * max_downtime_ms / 1000  # what the final pause can carry
    left = float(memory_bytes)
    elapsed = 0.0
    passes = 0
    while left > fits:
        if passes >= MAX_PASSES:
            return replace(never, passes=passes)
        spent = left / bandwidth_bps
        elapsed += spent
        passes += 1
        left = dirty_bps * spent
    pause = left / bandwidth_bps
    return replace(never, seconds=elapsed + pause, downtime_ms=pause * 1000, passes=passes)


def sampled_bound(dirty_bps: float, seconds: float) -> float:
    """The highest dirty rate a page-sampled measurement of `dirty_bps` over `seconds` is
    consistent with, about two standard deviations up: QEMU counts k changed pages among
    those it sampled, each standing for SAMPLED_BYTES, and such a count varies by about its
    square root (the lab's readings of one steady writer spread 12 to 32 MiB/s). At a few
    MiB/s that is twice the reading; at hundreds, a few per cent more."""
    step = SAMPLED_BYTES / seconds
    changed = dirty_bps / step
    return (changed + 2 * math.sqrt(changed) + 1) * step


# ---- measuring ---------------------------------------------------------------------------

#: Seconds between reads of a calculation's result once it should have ended.
POLL = 0.2

Call = Callable[[libvirt.virConnect], T]


@dataclass(frozen=True)
class DirtyRate:
    """One guest's measured dirty rate and tolerable downtime, or why there is none."""

    bytes_per_second: float | None
    max_downtime_ms: int = DEFAULT_MAX_DOWNTIME_MS
    #: How long it was measured: the longer, the more pages changed, the surer the figure.
    seconds: float = CALC_SECONDS
    #: Why there is no rate (`not measurable on HOST (libvirt's words)`), else empty.
    problem: str = ""


def _start(
    uuids: Sequence[str], seconds: int, host: str
) -> Call[tuple[dict[str, int], dict[str, str]]]:
    """The blocking start of the calculation on each guest, with each one's downtime limit
    (or the problem that stopped it).

    Page sampling (libvirt's default mode) only: it hashes a few hundred pages twice and
    costs the guest nothing. The dirty-bitmap mode crashed QEMU 7.2 under TCG in the lab
    (the guest died), and the dirty-ring one needs KVM's ring: no figure is worth a guest."""

    def start(conn: libvirt.virConnect) -> tuple[dict[str, int], dict[str, str]]:
        started: dict[str, int] = {}
        problems: dict[str, str] = {}
        for uuid in uuids:
            try:
                dom = conn.lookupByUUIDString(uuid)
                dom.startDirtyRateCalc(seconds, 0)
            except libvirt.libvirtError as error:
                problems[uuid] = f"not measurable on {host} ({describe(error)})"
                if error.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
                    # The driver has no such thing: every other guest there would say the same.
                    return {}, dict.fromkeys(uuids, problems[uuid])
                continue
            try:
                started[uuid] = int(dom.migrateGetMaxDowntime(0))
            except libvirt.libvirtError:
                started[uuid] = DEFAULT_MAX_DOWNTIME_MS
        return started, problems

    return start


def _read(uuids: Sequence[str]) -> Call[dict[str, float]]:
    """The blocking read: MiB/s by uuid, for the guests whose calculation has ended."""

    def read(conn: libvirt.virConnect) -> dict[str, float]:
        doms = [conn.lookupByUUIDString(uuid) for uuid in uuids]
        found: dict[str, float] = {}
        for dom, stats in conn.domainListGetStats(doms, libvirt.VIR_DOMAIN_STATS_DIRTYRATE):
            if stats.get("dirtyrate.calc_status") == libvirt.VIR_DOMAIN_DIRTYRATE_MEASURED:
                found[dom.UUIDString()] = float(stats.get("dirtyrate.megabytes_per_second", 0))
        return found

    return read


async def measure(
    host: Host, uuids: Sequence[str], seconds: int = CALC_SECONDS
) -> dict[str, DirtyRate]:
    """Each guest's dirty rate, by uuid: the calculation is started on all of them at once,
    awaited `seconds`, then read with one bulk stats call until every guest has its figure
    (`dirtyrate.calc_status` measured) or CALC_GRACE has passed. A guest libvirt could not
    measure gets a `problem`; nothing raises. Cancelling it (the operator skipped) leaves
    nothing behind: libvirt ends the calculation by itself."""
    try:
        downtimes, problems = await host.run(
            _start(uuids, seconds, host.name), what="domdirtyrate-calc"
        )
    except HostError as error:
        problem = f"not measurable on {host.name} ({describe(error)})"
        return {uuid: DirtyRate(None, problem=problem) for uuid in uuids}
    rates = {uuid: DirtyRate(None, problem=problem) for uuid, problem in problems.items()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds + CALC_GRACE
    await asyncio.sleep(seconds)
    while downtimes:
        # A failed read is tried again until the deadline: the calculation may still end.
        with contextlib.suppress(HostError):
            measured = await host.run(_read(list(downtimes)), what="domstats --dirtyrate")
            for uuid, mib in measured.items():
                rates[uuid] = DirtyRate(mib * MIB, downtimes.pop(uuid), seconds)
        if downtimes and loop.time() > deadline:
            problem = f"not measured on {host.name} (no result in {seconds + CALC_GRACE:.0f} s)"
            rates.update({uuid: DirtyRate(None, problem=problem) for uuid in downtimes})
            break
        if downtimes:
            await asyncio.sleep(POLL)
    return rates


async def measure_guests(
    fleet: Fleet, guests: Sequence[GuestSnapshot], seconds: int = CALC_SECONDS
) -> dict[str, DirtyRate]:
    """The dirty rates of `guests`, by `guest.key`, measured on all their hosts at once: one
    wait of `seconds` for any number of guests. A guest that is not running has nothing to
    measure (and no memory to send while it runs)."""
    by_host: dict[str, list[GuestSnapshot]] = {}
    rates: dict[str, DirtyRate] = {}
    for guest in guests:
        if guest.state.is_active:
            by_host.setdefault(guest.host, []).append(guest)
        else:
            rates[guest.key] = DirtyRate(None, problem="none, it is not running")
    readings = await asyncio.gather(
        *(measure(fleet.host(h), [g.uuid for g in gs], seconds) for h, gs in by_host.items())
    )
    for held, reading in zip(by_host.values(), readings, strict=True):
        for guest in held:
            rates[guest.key] = reading[guest.uuid]
    return rates


# ---- what the operator is told ------------------------------------------------------------


@dataclass(frozen=True)
class Foresight:
    """One guest's forecast for one migration, or why there is none: what the dialog, the
    `:migrate` line, the evacuation plan and the jobs view show."""

    guest: str
    forecast: Forecast | None
    problem: str = ""

    @classmethod
    def of(cls, guest: GuestSnapshot, rate: DirtyRate, options: MigrationOptions) -> Foresight:
        """The forecast for `guest`, measured as `rate`, migrated with `options` (their cap,
        else ASSUMED_LINK_MIB; auto-converge and post-copy change the advice)."""
        if rate.bytes_per_second is None:
            return cls(guest.name, None, f"dirty rate: {rate.problem}")
        if "live" not in options:
            return cls(guest.name, None, "no forecast: not live, the guest pauses for the copy")
        cap = options.bandwidth_mib
        return cls(
            guest.name,
            forecast(
                guest.memory_kib * 1024,
                rate.bytes_per_second,
                (cap or ASSUMED_LINK_MIB) * MIB,
                rate.max_downtime_ms,
                dirty_bound_bps=sampled_bound(rate.bytes_per_second, rate.seconds),
                assumed=not cap,
                auto_converge="auto-converge" in options,
                postcopy="postcopy" in options,
            ),
        )

    @classmethod
    def skipped(cls, guest: GuestSnapshot) -> Foresight:
        return cls(guest.name, None, "dirty rate: not measured (skipped)")

    def describe(self) -> str:
        """The sentence after the guest's name."""
        return self.forecast.describe() if self.forecast else self.problem

    @property
    def line(self) -> str:
        return f"{self.guest}: {self.describe()}"

    @property
    def order(self) -> tuple[int, float]:
        """Sorts quickest first, then those with no figure, those that never converge last."""
        if self.forecast is None:
            return (1, 0.0)
        if self.forecast.seconds is None:
            return (2, 0.0)
        return (0, self.forecast.seconds)
