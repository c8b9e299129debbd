"""What the QEMU guest agent says about the inside of a guest: its OS, who is logged in, how
full its filesystems are, its hostname, timezone and interfaces (`virsh guestinfo`).

Everything here comes from inside the guest, so it is untrusted text: a guest can name its
host or a user after an escape sequence. The TUI shows it as Rich `Text` (never markup) and
every text output passes it through `words.visible` first.

Only a guest that runs, has an agent channel in its definition and answers is asked. The
agent costs calls per guest (and a guest whose agent is configured but not running costs a
failed call, an agent that hangs a timeout), so the table's columns come from a service on
a slow cadence of its own, never from the stats tick; a guest whose agent did not answer is
asked again only every few rounds, and says why in the Guest tab meanwhile.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import libvirt

from kvmtui.core.errors import describe
from kvmtui.core.host import Host, HostError
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.numbers import size
from kvmtui.core.resource import GuestAnnotations, ResourceService

if TYPE_CHECKING:
    from kvmtui.core.fleet import Fleet


@dataclass(frozen=True, slots=True)
class Filesystem:
    mountpoint: str
    name: str
    fstype: str
    used_bytes: int | None
    total_bytes: int | None

    @property
    def percent(self) -> float | None:
        if self.used_bytes is None or not self.total_bytes:
            return None
        return 100.0 * self.used_bytes / self.total_bytes


@dataclass(frozen=True, slots=True)
class GuestUser:
    name: str
    domain: str = ""
    login_time: float | None = None  # seconds since the epoch


@dataclass(frozen=True, slots=True)
class GuestInterface:
    name: str
    hwaddr: str
    addresses: tuple[str, ...]  # ADDRESS/PREFIX


@dataclass(frozen=True, slots=True)
class GuestInfo:
    """One guest's agent answer; `reason` (and nothing else) when the agent could not say."""

    host: str
    uuid: str
    guest: str
    os_name: str = ""  # the pretty name, else name and version
    os_id: str = ""
    kernel: str = ""
    machine: str = ""
    hostname: str = ""
    timezone: str = ""
    users: tuple[GuestUser, ...] = ()
    filesystems: tuple[Filesystem, ...] = ()
    interfaces: tuple[GuestInterface, ...] = ()
    reason: str = ""  # why the agent gave nothing (libvirt's words)

    @property
    def answered(self) -> bool:
        return not self.reason

    @property
    def problem(self) -> str:
        """Why the agent gave nothing, as one line naming the guest and its host."""
        return f"guestinfo {self.guest} on {self.host}: {self.reason}"

    @property
    def fullest(self) -> Filesystem | None:
        """The filesystem nearest to full: the one that fills up first."""
        known = [fs for fs in self.filesystems if fs.percent is not None]
        return max(known, key=lambda fs: fs.percent or 0.0, default=None)

    @property
    def user_names(self) -> tuple[str, ...]:
        """Each logged-in user once, in the agent's order."""
        return tuple(dict.fromkeys(u.name for u in self.users))

    def fields(self) -> list[tuple[str, str]]:
        """What the Guest tab and `guestinfo NAME` show, label and value, as the agent said
        it (raw: the caller makes control characters visible for a terminal). For an agent
        that answered; `problem` says why one did not."""
        rows = [
            ("OS", self.os_name or "-"),
            ("Kernel", " ".join(w for w in (self.kernel, self.machine) if w) or "-"),
            ("Hostname", self.hostname or "-"),
            ("Timezone", self.timezone or "-"),
            ("Users", ", ".join(self.user_names) or "none logged in"),
        ]
        for fs in self.filesystems:
            used = "-"
            if fs.used_bytes is not None and fs.total_bytes:
                used = f"{size(fs.used_bytes)} of {size(fs.total_bytes)} ({fs.percent:.0f}%)"
            rows.append((f"FS {fs.mountpoint}", f"{used} {fs.fstype} on {fs.name}".strip()))
        for nic in self.interfaces:
            rows.append((f"If {nic.name}", " ".join((nic.hwaddr, *nic.addresses)).strip() or "-"))
        return rows

    @property
    def words(self) -> tuple[str, ...]:
        """What a filter should match the guest by: its OS, hostname and users."""
        return tuple(w for w in (self.os_name, self.os_id, self.hostname, *self.user_names) if w)


# ---- parsing (pure) --------------------------------------------------------------------


def _count(info: Mapping[str, Any], prefix: str) -> int:
    try:
        return int(info.get(f"{prefix}.count", 0))
    except (TypeError, ValueError):
        return 0


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse(host: str, uuid: str, guest: str, info: Mapping[str, Any]) -> GuestInfo:
    """A `virDomainGetGuestInfo` answer (virsh guestinfo's flat `os.name`, `fs.0.used-bytes`
    ... keys) as a GuestInfo."""

    def text(key: str) -> str:
        return str(info.get(key) or "")

    os_name = text("os.pretty-name") or " ".join(
        w for w in (text("os.name"), text("os.version")) if w
    )
    users = tuple(
        GuestUser(
            text(f"user.{i}.name"),
            text(f"user.{i}.domain"),
            login / 1000 if (login := _int(info.get(f"user.{i}.login-time"))) else None,
        )
        for i in range(_count(info, "user"))
    )
    filesystems = tuple(
        Filesystem(
            text(f"fs.{i}.mountpoint"),
            text(f"fs.{i}.name"),
            text(f"fs.{i}.fstype"),
            _int(info.get(f"fs.{i}.used-bytes")),
            _int(info.get(f"fs.{i}.total-bytes")),
        )
        for i in range(_count(info, "fs"))
    )
    interfaces = tuple(
        GuestInterface(
            text(f"if.{i}.name"),
            text(f"if.{i}.hwaddr"),
            tuple(
                f"{text(f'if.{i}.addr.{j}.addr')}/{text(f'if.{i}.addr.{j}.prefix')}"
                for j in range(_count(info, f"if.{i}.addr"))
            ),
        )
        for i in range(_count(info, "if"))
    )
    return GuestInfo(
        host=host,
        uuid=uuid,
        guest=guest,
        os_name=os_name,
        os_id=text("os.id"),
        kernel=text("os.kernel-release"),
        machine=text("os.machine"),
        hostname=text("hostname"),
        timezone=text("timezone.name"),
        users=users,
        filesystems=filesystems,
        interfaces=interfaces,
    )


# ---- blocking reads (on the host's threads) --------------------------------------------


def _read(dom: libvirt.virDomain, host: str) -> GuestInfo:
    """One guest's answer; an agent that cannot answer is a GuestInfo with its reason. One
    more call then tells a guest or connection that is really gone (raised) from an agent
    that is not there."""
    try:
        info = dom.guestInfo(0, 0)  # 0: every kind of information the daemon knows
    except libvirt.libvirtError as error:
        dom.isActive()
        return GuestInfo(host, dom.UUIDString(), dom.name(), reason=error.get_error_message())
    return parse(host, dom.UUIDString(), dom.name(), info)


def _read_one(conn: libvirt.virConnect, host: str, uuid: str) -> GuestInfo | None:
    """One guest's answer; None when it went away or stopped since the fleet saw it run."""
    try:
        return _read(conn.lookupByUUIDString(uuid), host)
    except libvirt.libvirtError as error:
        if error.get_error_code() in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_OPERATION_INVALID):
            return None
        raise


async def guest_info(host: Host, uuid: str) -> GuestInfo:
    """`virsh guestinfo` for one guest, now (the Guest tab, the `guestinfo` verb)."""
    name = host.name
    return await host.run_on_guest(uuid, lambda dom: _read(dom, name), "guestinfo")


# ---- the columns' service --------------------------------------------------------------

#: Seconds between rounds while the guest list shows the columns: logins and filling disks
#: announce themselves by no event. As the address rounds: a round costs a trip and several
#: agent commands per guest, where the stats cost one call per host. The Guest tab and
#: `guestinfo NAME` ask at once.
GUESTINFO_PERIOD = 60.0
#: Seconds one guest's agent may take: libvirt gives up on an agent that does not answer
#: its guest-sync after 5 s; past this the guest counts as not answering this round.
AGENT_TIMEOUT = 10.0
#: A guest whose agent did not answer is asked again only every this many rounds.
RETRY_ROUNDS = 4


class GuestInfoBook(ResourceService[dict[str, GuestInfo]]):
    """Every running guest's agent answer, read per host on a cadence of its own while the
    guest list shows it, laid onto the guest rows by `annotate` (the OS, Users and FS%
    columns and the `/` filter). Only guests with an agent channel are asked, each in a trip
    of its own with a timeout of its own; one whose agent did not answer keeps its reason and
    is asked again every RETRY_ROUNDS rounds, so a guest without a working agent costs one
    failed call (or one timeout) per RETRY_ROUNDS rounds, never a stall of the others. No
    event wakes it: a guest that starts has no agent up for a while anyway, and one that
    stops loses its answer at once (`annotate` lays answers on running guests only)."""

    CADENCE = GUESTINFO_PERIOD
    AFTER_DEFINITIONS = True

    def __init__(self, fleet: Fleet, period: float = GUESTINFO_PERIOD) -> None:
        super().__init__(fleet, period)
        self._annotations = GuestAnnotations[GuestInfo](
            lambda guest, info: replace(guest, inside=info)
        )

    def publish(self) -> None:
        self._annotations.outdate()
        super().publish()

    def info(self, host: str, uuid: str) -> GuestInfo | None:
        return (self.reading(host) or {}).get(uuid)

    async def read_host(self, host: Host) -> dict[str, GuestInfo]:
        before = self.reading(host.name) or {}
        retry = self.rounds % RETRY_ROUNDS == 0
        asked: list[str] = []
        found: dict[str, GuestInfo] = {}
        for guest in host.guests():
            if guest.state.is_active and guest.agent_channel:
                known = before.get(guest.uuid)
                if known is not None and not known.answered and not retry:
                    found[guest.uuid] = known  # its agent did not answer lately
                else:
                    asked.append(guest.uuid)
        for uuid in asked:  # one trip each: the stats tick goes on between them
            call = functools.partial(_read_one, host=host.name, uuid=uuid)
            try:
                info = await host.run(call, AGENT_TIMEOUT, f"guestinfo on {host.name}")
            except HostError as error:
                if not error.timed_out:
                    raise
                known_guest = host.guest(uuid)
                name = known_guest.name if known_guest else uuid
                info = GuestInfo(host.name, uuid, name, reason=describe(error))
            if info is not None:
                found[uuid] = info
        return found

    def annotate(self, guests: tuple[GuestSnapshot, ...]) -> tuple[GuestSnapshot, ...]:
        """`guests` with each running guest's agent answer on it (`GuestSnapshot.inside`);
        unchanged rows come back as the same objects."""
        if not any(self.readings()):
            return guests  # no agent has answered: nothing to lay on (most test fleets)
        return self._annotations.apply(
            guests,
            lambda g: self.info(g.host, g.uuid) if g.state.is_active else None,
        )
