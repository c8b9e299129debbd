"""The columns of the two fleet tables: guests across all hosts, and the hosts themselves."""

from __future__ import annotations

import functools
import ipaddress

from rich.text import Text

from kvmtui import format as fmt
from kvmtui.core.guestinfo import GuestInfo
from kvmtui.core.model import GuestSnapshot, GuestState, HostSnapshot, Link
from kvmtui.core.selectors import guest_terms
from kvmtui.core.words import visible
from kvmtui.widgets.live_table import Column, LiveTable

# Words, not only colours: the state must read on a monochrome terminal too.
_STATE_STYLE = {
    GuestState.RUNNING: "green",
    GuestState.PAUSED: "yellow",
    GuestState.PMSUSPENDED: "yellow",
    GuestState.SHUTDOWN: "yellow",
    GuestState.CRASHED: "bold red",
    GuestState.SHUTOFF: "dim",
}
_LINK_STYLE = {Link.CONNECTED: "green", Link.CONNECTING: "yellow", Link.LOST: "bold red"}


def state_text(state: GuestState) -> Text:
    return Text(state.value, style=_STATE_STYLE.get(state, ""))


def link_text(host: HostSnapshot) -> Text:
    label = host.link.value
    if host.link is Link.LOST and host.retry_in is not None:
        label = f"lost, retry {host.retry_in:.0f}s"
    if host.readonly and host.link is Link.CONNECTED:
        label = "connected (ro)"
    return Text(label, style=_LINK_STYLE[host.link])


def virt_text(virt_type: str) -> Text:
    """A guest's domain type; an emulated one (QEMU's TCG, many times slower than KVM)
    reads `TCG` and stands out in words, not only colour."""
    if virt_type == "qemu":
        return Text("TCG", style="bold yellow reverse")
    return Text(virt_type or fmt.DASH)


def kvm_text(kvm: bool | None) -> Text:
    """Whether a host offers KVM: `no` means every guest there runs emulated."""
    if kvm is None:
        return Text(fmt.DASH)
    return Text("yes", style="green") if kvm else Text("NO", style="bold red")


# Cells many rows share, made once: a first table of 10,000 guests made a Text per row for
# each of them. Sharing is safe: LiveTable copies a Text cell before fitting it to a column.
_STATE_CELLS = {state: state_text(state) for state in GuestState}
_virt_cell = functools.lru_cache(maxsize=16)(virt_text)
_memory_cell = functools.lru_cache(maxsize=1024)(fmt.kib)


@functools.lru_cache(maxsize=256)
def _count_cell(count: int) -> str:
    """A count's cell: one string for each count, not one per row."""
    return str(count or fmt.DASH)


def _folded(name: str) -> str:
    """A name's sort value: the name itself when it has no capitals (most have none);
    a lowered copy per row, kept with the sort values, came to 0.6 MB at 10,000 guests."""
    lower = name.lower()
    return name if lower == name else lower


@functools.lru_cache(maxsize=1024)
def _tags_cell(tags: tuple[str, ...]) -> str:
    """A guest's tags, as `:tag` takes them; one string per distinct set of tags."""
    return " ".join(tags) or fmt.DASH


def _disk_cell(guest: GuestSnapshot) -> str | Text:
    """The disk rates, or, once a thin disk was written past its fill mark (core/
    thresholds.py), which disk and how full, in words and bold: `vda>85%`."""
    if guest.disk_alerts:
        return Text(" ".join(a.replace(" ", ">") for a in guest.disk_alerts), style="bold red")
    return fmt.pair(guest.rates.disk_read_bps, guest.rates.disk_write_bps)


#: In the order an operator reads a guest: which, where, is it up, how busy, how big, its
#: address; then the rest. At 80 columns the table scrolls sideways (Right) by whole
#: columns past the name, which stays (LiveTable `_frozen_width`).
GUEST_COLUMNS: list[Column[GuestSnapshot]] = [
    Column("name", "Name", lambda g: g.name, lambda g: _folded(g.name), "N", max_width=24),
    Column("host", "Host", lambda g: g.host, lambda g: g.host, "H", max_width=12),
    Column("state", "State", lambda g: _STATE_CELLS[g.state], lambda g: g.state.value, "T"),
    Column(
        "cpu",
        "CPU%",
        lambda g: fmt.percent(g.rates.cpu_percent),
        lambda g: g.rates.cpu_percent,
        "C",
        numeric=True,
    ),
    Column(
        "memory",
        "Mem",
        lambda g: _memory_cell(g.memory_kib),
        lambda g: g.memory_kib,
        "M",
        numeric=True,
    ),
    Column(
        "used",
        "Used",
        lambda g: _memory_cell(g.memory_used_kib),
        lambda g: g.memory_used_kib,
        "E",
        numeric=True,
    ),
    Column(
        "ip",
        "IP",
        lambda g: g.addresses[0] if g.addresses else fmt.DASH,
        lambda g: _ip_sort(g.addresses),
        "I",
        max_width=15,
    ),
    Column("vcpus", "vCPU", lambda g: _count_cell(g.vcpus), lambda g: g.vcpus, "V", numeric=True),
    Column(
        "disk",
        "Disk r/w",
        _disk_cell,
        lambda g: _total(g.rates.disk_read_bps, g.rates.disk_write_bps),
        "D",
        numeric=True,
    ),
    Column(
        "net",
        "Net rx/tx",
        lambda g: fmt.pair(g.rates.net_rx_bps, g.rates.net_tx_bps),
        lambda g: _total(g.rates.net_rx_bps, g.rates.net_tx_bps),
        "X",
        numeric=True,
    ),
    # Seen on a wider terminal or by scrolling right, and `:validate` names the TCG guests
    # of every host.
    Column("virt", "Virt", lambda g: _virt_cell(g.virt_type), lambda g: g.virt_type, None),
    # What the guest agent says of the inside (core/guestinfo.py), past Virt: on a wide
    # terminal or by scrolling right. Guest-controlled text, control characters visible.
    Column(
        "os",
        "OS",
        lambda g: visible(g.inside.os_name) if g.inside and g.inside.os_name else fmt.DASH,
        lambda g: g.inside.os_name if g.inside else "",
        "O",
        max_width=20,
    ),
    Column(
        "users",
        "Users",
        lambda g: _users(g.inside),
        lambda g: len(g.inside.users) if g.inside else -1,
        "U",
        max_width=16,
    ),
    Column(
        "fs",
        "FS%",
        lambda g: fmt.percent(_fullest(g.inside)),
        lambda g: _fullest(g.inside),
        "F",
        numeric=True,
    ),
    # kvmtui's tags (core/tags.py), last: the `/` filter and `z` groups use them wherever
    # the column is; a wide terminal or Right shows them.
    Column("tags", "Tags", lambda g: _tags_cell(g.tags), lambda g: g.tags, "G", max_width=24),
]


def _users(inside: GuestInfo | None) -> str:
    """The logged-in users' names; `-` when the agent did not say."""
    if inside is None or not inside.answered:
        return fmt.DASH
    return visible(",".join(inside.user_names)) or "none"


def _fullest(inside: GuestInfo | None) -> float | None:
    fullest = inside.fullest if inside is not None else None
    return fullest.percent if fullest is not None else None


def _ip_sort(addresses: tuple[str, ...]) -> tuple[int, int]:
    """Addresses sort as numbers (10.0.0.9 before 10.0.0.10); guests without one last."""
    try:
        first = ipaddress.ip_address(addresses[0].split("%")[0]) if addresses else None
    except ValueError:
        first = None
    return (0, int(first)) if first is not None else (1, 0)


def _total(a: float | None, b: float | None) -> float | None:
    return None if a is None and b is None else (a or 0) + (b or 0)


def _host_memory(h: HostSnapshot) -> str:
    if not h.load.memory_total_kib:
        return fmt.DASH
    return f"{fmt.kib(h.load.memory_used_kib)}/{fmt.kib(h.load.memory_total_kib)}"


HOST_COLUMNS: list[Column[HostSnapshot]] = [
    Column("name", "Host", lambda h: h.name, lambda h: h.name, "N"),
    Column("state", "State", link_text, lambda h: h.link.value, "T"),
    Column(
        "guests",
        "Guests",
        lambda h: f"{h.guests_running}/{h.guests_total}",
        lambda h: h.guests_running,
        "G",
        numeric=True,
    ),
    Column(
        "cpu",
        "CPU%",
        lambda h: fmt.percent(h.load.cpu_percent),
        lambda h: h.load.cpu_percent,
        "C",
        numeric=True,
    ),
    Column("kvm", "KVM", lambda h: kvm_text(h.info.kvm), lambda h: h.info.kvm, None),
    Column(
        "pcpus",
        "pCPU",
        lambda h: str(h.info.cpus or fmt.DASH),
        lambda h: h.info.cpus,
        "P",
        numeric=True,
    ),
    Column(
        "memory",
        "Mem used/total",
        _host_memory,
        lambda h: h.load.memory_used_kib,
        "M",
        numeric=True,
    ),
    Column("hypervisor", "Hypervisor", lambda h: _hypervisor(h), lambda h: _hypervisor(h), None),
    Column(
        "libvirt",
        "libvirt",
        lambda h: h.info.libvirt_version or fmt.DASH,
        lambda h: h.info.libvirt_version,
        None,
    ),
    Column(
        "model",
        "CPU model",
        lambda h: h.info.cpu_model or fmt.DASH,
        lambda h: h.info.cpu_model,
        None,
    ),
    Column("uri", "URI", lambda h: h.uri, lambda h: h.uri, "U"),
]


def _hypervisor(h: HostSnapshot) -> str:
    if not h.info.hypervisor:
        return fmt.DASH
    return f"{h.info.hypervisor} {h.info.hypervisor_version}"


def _inside_words(inside: GuestInfo | None) -> tuple[str, ...]:
    return inside.words if inside is not None else ()


def guest_table() -> LiveTable[GuestSnapshot]:
    return LiveTable(
        GUEST_COLUMNS,
        lambda g: g.key,
        lambda g: " ".join(
            (
                g.name,
                g.host,
                g.state.value,
                *g.tags,
                *g.addresses,
                *g.macs,
                *_inside_words(g.inside),
            )
        ),
        terms=guest_terms,
        markable=True,
        sort_column="host",
        id="guests",
    )


def host_table() -> LiveTable[HostSnapshot]:
    return LiveTable(
        HOST_COLUMNS,
        lambda h: h.name,
        lambda h: f"{h.name} {h.uri} {h.link.value}",
        sort_column="name",
        id="hosts",
    )
