"""Plain, frozen snapshots of hosts and guests: the only shapes the screens ever see.

Slotted: a fleet holds tens of thousands of them, and a per-object dict would double
their memory."""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kvmtui.core.guestinfo import GuestInfo


@dataclass(frozen=True)
class HostSpec:
    """A host as the operator named it: in the config file, with `-c`, or by the demo."""

    name: str
    uri: str
    readonly: bool = False


class Link(Enum):
    """Where a host's connection stands; shown on screen for every host at all times."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    LOST = "lost"


class GuestState(Enum):
    """libvirt's VIR_DOMAIN_* states, by the words `virsh list` uses."""

    NOSTATE = "no state"
    RUNNING = "running"
    BLOCKED = "blocked"
    PAUSED = "paused"
    SHUTDOWN = "in shutdown"
    SHUTOFF = "shut off"
    CRASHED = "crashed"
    PMSUSPENDED = "pmsuspended"

    @functools.cached_property
    def is_active(self) -> bool:
        # cached on the member: asked of every guest at every delivery, a property's
        # lookups of three members cost 0.4 s of the start at 10,000 guests
        return self not in (GuestState.SHUTOFF, GuestState.CRASHED, GuestState.NOSTATE)


@dataclass(frozen=True, slots=True)
class HostInfo:
    """What a host is: read once per connection."""

    hostname: str = ""
    hypervisor: str = ""
    hypervisor_version: str = ""
    libvirt_version: str = ""
    cpu_model: str = ""
    cpus: int = 0
    memory_kib: int = 0
    #: Whether libvirt offers the `kvm` domain type (guests can run accelerated); None
    #: when the capabilities could not be read.
    kvm: bool | None = None


@dataclass(frozen=True, slots=True)
class HostLoad:
    """How busy a host is now: from the node's own CPU and memory counters."""

    cpu_percent: float | None = None
    memory_used_kib: int = 0
    memory_total_kib: int = 0


@dataclass(frozen=True, slots=True)
class HostSnapshot:
    name: str
    uri: str
    link: Link
    readonly: bool
    reason: str = ""
    info: HostInfo = field(default_factory=HostInfo)
    load: HostLoad = field(default_factory=HostLoad)
    guests_running: int = 0
    guests_total: int = 0
    retry_in: float | None = None


@dataclass(frozen=True, slots=True)
class GuestRates:
    """Per-second figures computed from two stats samples; None until two samples exist."""

    cpu_percent: float | None = None
    disk_read_bps: float | None = None
    disk_write_bps: float | None = None
    net_rx_bps: float | None = None
    net_tx_bps: float | None = None


#: No figures yet (one sample so far) or none to have (the guest is not running): one shared
#: value, where a new one per guest cost a first table of 10,000 guests 10,000 objects.
NO_RATES = GuestRates()


@dataclass(frozen=True, slots=True)
class GuestSnapshot:
    """One guest on one host. `key` is stable across refreshes and unique across the fleet."""

    host: str
    name: str
    uuid: str
    state: GuestState
    reason: str = ""
    vcpus: int = 0
    memory_kib: int = 0
    max_memory_kib: int = 0
    persistent: bool = True
    autostart: bool = False
    rates: GuestRates = NO_RATES
    #: The domain type: "kvm" (accelerated), "qemu" (emulated by TCG), "test" ...
    virt_type: str = ""
    #: Whether its definition has a QEMU guest agent channel (None: not read yet), so only
    #: such guests are asked for addresses through the agent.
    agent_channel: bool | None = None
    #: Where it can be reached (the first one is shown) and its NICs' MACs: laid on by the
    #: address service (core/addresses.py) on its own slower cadence, empty until then.
    addresses: tuple[str, ...] = ()
    macs: tuple[str, ...] = ()
    #: What the guest agent said of the inside (OS, users, filesystems): laid on by the
    #: guest-info service (core/guestinfo.py) on its own cadence; None until then.
    inside: GuestInfo | None = None
    #: The memory the guest itself uses (its balloon statistics: available less usable),
    #: None when the guest gives no balloon statistics.
    memory_used_kib: int | None = None
    #: kvmtui's tags in its definition's <metadata> (`web`, `tier=web`; core/tags.py),
    #: sorted; read with the definition and again on a metadata-change event.
    tags: tuple[str, ...] = ()
    #: Disks written past their fill mark (`vda 85%`): laid on by the disk threshold
    #: service (core/thresholds.py) from libvirt's block-threshold events.
    disk_alerts: tuple[str, ...] = ()
    #: `uuid@host`, made once: every delivery to the screens keys every guest of the fleet
    #: by it (the table, the history), tens of thousands of times at 10,000 guests. Interned:
    #: each service that lays something on a row keeps its own copy of the snapshot, and
    #: at 10,000 guests their keys, one string each, came to 2.5 MB.
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", sys.intern(f"{self.uuid}@{self.host}"))

    @property
    def ref(self) -> str:
        """How the operator names this guest on the command line when the name is ambiguous."""
        return f"{self.name}@{self.host}"
