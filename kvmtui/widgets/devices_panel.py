"""A guest's devices as the detail screen shows them: disks and CD-ROMs, NICs, boot order,
and what takes effect after a restart.

Rendering only (the screen reads libvirt). Sources, names and networks are untrusted text,
so every cell is a `Text`, never markup. What differs between the live and persistent
definitions is marked with `*` as well as colour, so it reads on a monochrome terminal.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from kvmtui import format as fmt
from kvmtui.core.devices import Definition, Disk, GuestDevices, Nic

CHANGED = "yellow"
MARK = "*"


def _table(*headers: str) -> Table:
    table = Table(box=None, padding=(0, 1, 0, 0), header_style="bold")
    table.add_column("", width=1, no_wrap=True)  # the "differs at restart" mark
    for header in headers:
        table.add_column(header, no_wrap=header != "Source", overflow="fold")
    return table


def _row(table: Table, changed: bool, cells: list[str]) -> None:
    style = CHANGED if changed else ""
    table.add_row(
        Text(MARK if changed else "", style=style),
        *(Text(cell or fmt.DASH, style=style) for cell in cells),
    )


def _size(value: int | None) -> str:
    return fmt.DASH if value is None else fmt.compact(value)


def disk_cells(disk: Disk) -> list[str]:
    source = disk.source or ("(empty)" if disk.device in ("cdrom", "floppy") else "")
    return [
        disk.target,
        disk.device,
        disk.bus,
        disk.format,
        _size(disk.capacity),
        _size(disk.allocation),
        source + (" (read-only)" if disk.readonly else ""),
    ]


def nic_cells(number: int, nic: Nic) -> list[str]:
    return [f"net{number}", nic.mac, nic.kind, nic.source, nic.model, nic.target]


def boot_words(definition: Definition) -> str:
    """The boot order with NICs named as the table names them (net0) next to their MAC."""
    names = {nic.mac: f"net{n}" for n, nic in enumerate(definition.nics)}
    return (
        ", ".join(
            f"{names[label]} ({label})" if label in names else label
            for label in definition.boot_order
        )
        or "(the firmware's default)"
    )


def devices_view(devices: GuestDevices) -> RenderableType:
    """The devices tab: the definition the guest runs with (or, shut off, will start with),
    each device and setting a restart would change marked."""
    shown = devices.live
    changed = {d.setting for d in devices.differences}
    summary = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    summary.add_column(style="bold", no_wrap=True)
    summary.add_column()
    summary.add_column(width=1)
    for label, value, setting in (
        (
            "Memory",
            f"{fmt.size_kib(shown.current_memory_kib)} of {fmt.size_kib(shown.memory_kib)} maximum",
            ("memory", "memory (maximum)"),
        ),
        ("vCPUs", f"{shown.vcpus} of {shown.vcpus_max} maximum", ("vCPUs", "vCPUs (maximum)")),
        ("Boot order", boot_words(shown), ("boot order",)),
    ):
        differs = bool(changed & set(setting))
        summary.add_row(
            Text(label),
            Text(value, style=CHANGED if differs else ""),
            Text(MARK if differs else "", style=CHANGED),
        )
    disks = _table("Target", "Device", "Bus", "Format", "Size", "Used", "Source")
    for disk in shown.disks:
        _row(disks, f"disk {disk.target}" in changed, disk_cells(disk))
    nics = _table("NIC", "MAC", "Type", "Source", "Model", "Host dev")
    for number, nic in enumerate(shown.nics):
        _row(nics, f"NIC {nic.mac}" in changed, nic_cells(number, nic))
    parts: list[RenderableType] = [
        summary,
        Text("\nDisks and CD-ROMs", style="bold underline"),
        disks if shown.disks else Text("none"),
        Text("\nNetwork interfaces", style="bold underline"),
        nics if shown.nics else Text("none"),
    ]
    if devices.differences:
        parts += [
            Text(
                f"\n{MARK} Takes effect after a restart (the persistent definition differs)",
                style=f"bold {CHANGED}",
            ),
            _differences(devices),
        ]
    return Group(*parts)


def _differences(devices: GuestDevices) -> Table:
    table = Table(box=None, padding=(0, 2, 0, 0), header_style="bold")
    for header in ("Setting", "Now", "After a restart"):
        table.add_column(header, overflow="fold")
    for difference in devices.differences:
        table.add_row(
            Text(difference.setting),
            Text(difference.live or "(none)"),
            Text(difference.persistent or "(removed)"),
        )
    return table
