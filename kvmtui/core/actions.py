"""The guest lifecycle actions, as one table: what each does to a domain and how it reads.

The screens, the `:` command line and the hotkeys all go through this table, so an action
behaves and reports the same way whichever way the operator reached it.
"""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import libvirt

from kvmtui.core.model import GuestState
from kvmtui.core.words import guest_state

S = GuestState
#: Every state: actions that fit a guest whatever it is doing (autostart, undefine).
ANY_STATE = frozenset(GuestState)
#: A guest with a running QEMU process: what `destroy` can stop.
ACTIVE = frozenset(state for state in GuestState if state.is_active)


@dataclass(frozen=True)
class GuestAction:
    verb: str
    past: str
    destructive: bool
    call: Callable[..., Any]
    label: str = ""
    #: The states a guest must be in for the action to make sense: a bulk action passes
    #: over the others, and a single one is refused in one line instead of libvirt's error.
    states: frozenset[GuestState] = ANY_STATE
    #: The state the action leads to: a guest already in it is "already running".
    outcome: GuestState | None = None
    #: Only a persistent (defined) guest has one (autostart, undefine).
    persistent_only: bool = False

    def run(self, dom: libvirt.virDomain, **options: Any) -> None:
        self.call(dom, **options)

    def misfit(self, state: GuestState, persistent: bool) -> str:
        """Why the action does not fit a guest in `state` ("already running", "shut
        off", "transient"), or "" when it does."""
        if self.persistent_only and not persistent:
            return "transient"
        if state in self.states:
            return ""
        return f"already {state.value}" if state is self.outcome else state.value

    def done(self, options: Mapping[str, Any]) -> str:
        if self.verb == "autostart" and options.get("disable"):
            return "autostart disabled"
        if options.get("mode"):
            return f"{self.past} ({options['mode']})"
        return self.past


#: virsh's `shutdown --mode` / `reboot --mode` words: the flags for shutdownFlags, reboot.
#: `agent` asks the QEMU guest agent; `acpi` presses the power button. Several may be given,
#: separated by commas (libvirt tries them in its own order).
MODES: Mapping[str, tuple[int, int]] = {
    "acpi": (
        libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN,
        libvirt.VIR_DOMAIN_REBOOT_ACPI_POWER_BTN,
    ),
    "agent": (libvirt.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT, libvirt.VIR_DOMAIN_REBOOT_GUEST_AGENT),
    "initctl": (libvirt.VIR_DOMAIN_SHUTDOWN_INITCTL, libvirt.VIR_DOMAIN_REBOOT_INITCTL),
    "signal": (libvirt.VIR_DOMAIN_SHUTDOWN_SIGNAL, libvirt.VIR_DOMAIN_REBOOT_SIGNAL),
    "paravirt": (libvirt.VIR_DOMAIN_SHUTDOWN_PARAVIRT, libvirt.VIR_DOMAIN_REBOOT_PARAVIRT),
}


def mode_flags(mode: str | None, reboot: bool) -> int:
    """The flags of `--mode MODE[,MODE...]` (0: the hypervisor's choice); an unknown word is
    a ValueError naming the words there are."""
    flags = 0
    for word in (mode or "").split(","):
        if not word:
            continue
        if word not in MODES:
            raise ValueError(f"unknown mode {word!r} (one of {', '.join(MODES)})")
        flags |= MODES[word][int(reboot)]
    return flags


def _autostart(dom: libvirt.virDomain, disable: bool = False) -> None:
    dom.setAutostart(0 if disable else 1)


def undefine_flags(dom: libvirt.virDomain) -> int:
    """The flags this guest's undefine needs, so that what a plain `undefineFlags(0)` refuses
    goes too: its managed-save image, its snapshots' and checkpoints' metadata (the data in
    its disks stays), and the UEFI variables file of a guest that has one. Each flag is
    passed only when the guest has the thing: drivers refuse flags they do not know (the
    test driver knows no NVRAM or checkpoints)."""
    flags = (
        libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    )
    os_element = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).find("os")
    if os_element is not None and (
        os_element.find("nvram") is not None
        or os_element.get("firmware") == "efi"
        or os_element.find("loader[@type='pflash']") is not None
    ):
        flags |= libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    with contextlib.suppress(libvirt.libvirtError):
        if dom.listAllCheckpoints(0):
            flags |= libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
    return flags


def _undefine(dom: libvirt.virDomain) -> None:
    # As `virsh undefine`: keeps disks; a running guest becomes transient and lives on.
    dom.undefineFlags(undefine_flags(dom))


ACTIONS: dict[str, GuestAction] = {
    a.verb: a
    for a in (
        GuestAction(
            "start",
            "started",
            False,
            lambda d: d.create(),
            "Start",
            frozenset({S.SHUTOFF, S.CRASHED}),
            S.RUNNING,
        ),
        GuestAction(
            "shutdown",
            "shutdown requested",
            False,
            lambda d, mode=None: d.shutdownFlags(mode_flags(mode, reboot=False)),
            "Shut down",
            frozenset({S.RUNNING, S.BLOCKED}),
        ),
        GuestAction(
            "reboot",
            "reboot requested",
            False,
            lambda d, mode=None: d.reboot(mode_flags(mode, reboot=True)),
            "Reboot",
            frozenset({S.RUNNING, S.BLOCKED}),
        ),
        GuestAction(
            "reset",
            "reset",
            True,
            lambda d: d.reset(0),
            "Reset",
            frozenset({S.RUNNING, S.BLOCKED, S.PAUSED}),
        ),
        GuestAction(
            "destroy", "destroyed (forced off)", True, lambda d: d.destroy(), "Destroy", ACTIVE
        ),
        GuestAction(
            "suspend",
            "suspended",
            False,
            lambda d: d.suspend(),
            "Suspend",
            frozenset({S.RUNNING, S.BLOCKED}),
            S.PAUSED,
        ),
        GuestAction(
            "resume",
            "resumed",
            False,
            lambda d: d.resume(),
            "Resume",
            frozenset({S.PAUSED}),
            S.RUNNING,
        ),
        GuestAction(
            "managedsave",
            "saved (managedsave)",
            False,
            lambda d: d.managedSave(0),
            "Managed save",
            frozenset({S.RUNNING, S.BLOCKED, S.PAUSED}),
        ),
        GuestAction(
            "autostart", "autostart enabled", False, _autostart, "Autostart", persistent_only=True
        ),
        GuestAction("undefine", "undefined", True, _undefine, "Undefine", persistent_only=True),
    )
}


def _yes(flag: int | bool) -> str:
    return "yes" if flag else "no"


def dominfo(dom: libvirt.virDomain) -> list[tuple[str, str]]:
    """The fields of `virsh dominfo`, read from one domain."""
    state, max_mem, mem, vcpus, cpu_time = dom.info()
    os_type = ""
    with contextlib.suppress(libvirt.libvirtError):
        os_type = dom.OSType()
    try:
        managed_save = _yes(dom.hasManagedSaveImage(0))
    except libvirt.libvirtError:
        managed_save = "unknown"
    dom_id = dom.ID()
    return [
        ("Id", str(dom_id) if dom_id >= 0 else "-"),
        ("Name", dom.name()),
        ("UUID", dom.UUIDString()),
        ("OS Type", os_type),
        ("State", guest_state(state).value),
        ("CPU(s)", str(vcpus)),
        ("CPU time", f"{cpu_time / 1e9:.1f}s"),
        ("Max memory", f"{max_mem} KiB"),
        ("Used memory", f"{mem} KiB"),
        ("Persistent", _yes(dom.isPersistent())),
        ("Autostart", _yes(dom.autostart()) if dom.isPersistent() else "-"),
        ("Managed save", managed_save),
        *((label, text) for label, kind in _METADATA if (text := _metadata(dom, kind))),
    ]


#: What `virsh desc` sets, shown after dominfo's own fields when a guest has them.
_METADATA = (
    ("Title", libvirt.VIR_DOMAIN_METADATA_TITLE),
    ("Description", libvirt.VIR_DOMAIN_METADATA_DESCRIPTION),
)


def _metadata(dom: libvirt.virDomain, kind: int) -> str:
    """The guest's title or description as it runs now; "" when it has none."""
    try:
        return str(dom.metadata(kind, None, 0))
    except libvirt.libvirtError:
        return ""
