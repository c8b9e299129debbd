"""libvirt's numbers in words, each table written once, and the "did you mean" hint.

States, state reasons, vCPU states and close reasons arrive from libvirt as integers; the guest
table, the vCPU panel, the migration checks, the banner and the one-shot command line all
name them through these tables, in the words `virsh` uses.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from types import MappingProxyType

import libvirt

from kvmtui.core.model import GuestState
from kvmtui.core.uri import quoted

#: virDomainState -> GuestState (whose values are `virsh list`'s words).
GUEST_STATES: Mapping[int, GuestState] = MappingProxyType(
    {
        libvirt.VIR_DOMAIN_NOSTATE: GuestState.NOSTATE,
        libvirt.VIR_DOMAIN_RUNNING: GuestState.RUNNING,
        libvirt.VIR_DOMAIN_BLOCKED: GuestState.BLOCKED,
        libvirt.VIR_DOMAIN_PAUSED: GuestState.PAUSED,
        libvirt.VIR_DOMAIN_SHUTDOWN: GuestState.SHUTDOWN,
        libvirt.VIR_DOMAIN_SHUTOFF: GuestState.SHUTOFF,
        libvirt.VIR_DOMAIN_CRASHED: GuestState.CRASHED,
        libvirt.VIR_DOMAIN_PMSUSPENDED: GuestState.PMSUSPENDED,
    }
)

#: virVcpuState, as `virsh vcpuinfo` says it.
VCPU_STATES: Mapping[int, str] = MappingProxyType(
    {
        libvirt.VIR_VCPU_OFFLINE: "offline",
        libvirt.VIR_VCPU_RUNNING: "running",
        libvirt.VIR_VCPU_BLOCKED: "blocked",
    }
)

#: virConnectCloseReason: why a host's connection ended, for the banner.
CLOSE_REASONS: Mapping[int, str] = MappingProxyType(
    {
        libvirt.VIR_CONNECT_CLOSE_REASON_ERROR: "connection error",
        libvirt.VIR_CONNECT_CLOSE_REASON_EOF: "the daemon closed the connection",
        libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE: "no answer to keepalive",
        libvirt.VIR_CONNECT_CLOSE_REASON_CLIENT: "closed",
    }
)

# Why a guest is in its state (libvirt's VIR_DOMAIN_<STATE>_<REASON> codes), in the words
# `virsh domstate --reason` uses; read from the bulk record's `state.reason`.
_REASONS: dict[GuestState, tuple[str, ...]] = {
    GuestState.RUNNING: (
        "unknown",
        "booted",
        "migrated",
        "restored",
        "from snapshot",
        "unpaused",
        "migration canceled",
        "save canceled",
        "event wakeup",
        "crashed",
        "post-copy",
    ),
    GuestState.BLOCKED: ("unknown",),
    GuestState.PAUSED: (
        "unknown",
        "user",
        "migrating",
        "saving",
        "dumping",
        "I/O error",
        "watchdog",
        "from snapshot",
        "shutting down",
        "creating snapshot",
        "crashed",
        "starting up",
        "post-copy",
        "post-copy failed",
        "api error",
    ),
    GuestState.SHUTDOWN: ("unknown", "user"),
    GuestState.SHUTOFF: (
        "unknown",
        "shutdown",
        "destroyed",
        "crashed",
        "migrated",
        "saved",
        "failed",
        "from snapshot",
        "daemon",
    ),
    GuestState.CRASHED: ("unknown", "panicked"),
    GuestState.PMSUSPENDED: ("unknown",),
}


def state_reason(state: GuestState, code: object) -> str:
    """The reason's words, or "" when libvirt gave none or one it calls unknown."""
    if not isinstance(code, int):
        return ""
    reasons = _REASONS.get(state, ())
    return reasons[code] if 0 < code < len(reasons) else ""


def guest_state(code: int) -> GuestState:
    """The state libvirt's number means; one libvirt adds later reads as "no state"."""
    return GUEST_STATES.get(code, GuestState.NOSTATE)


def vcpu_state(code: int) -> str:
    return VCPU_STATES.get(code, str(code))


def close_reason(code: int) -> str:
    return CLOSE_REASONS.get(code, f"closed (reason {code})")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean "x"?)` for a near miss among `choices`, else nothing."""
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {quoted(close[0])}?)" if close else ""


def visible(text: str) -> str:
    """`text` with every character a terminal would act on instead of print (controls such
    as ESC, C1 controls, line and paragraph separators, bidi overrides and other format
    characters) written as a Python escape: `\\x1b]52;c;...` reads as those characters and
    never reaches the operator's terminal as a sequence. For text from inside a guest (its
    hostname, OS name, users, filesystem paths), which anyone with root in the guest
    chooses: both the screen and every text output show it through this."""
    if text.isprintable():
        return text  # the common case, in one C loop
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


#: A lifecycle event (virDomainEventType) and its details, in `virsh event`'s words.
LIFECYCLE_EVENTS: Mapping[int, tuple[str, tuple[str, ...]]] = MappingProxyType(
    {
        libvirt.VIR_DOMAIN_EVENT_DEFINED: (
            "defined",
            ("added", "updated", "renamed", "from snapshot"),
        ),
        libvirt.VIR_DOMAIN_EVENT_UNDEFINED: ("undefined", ("removed", "renamed")),
        libvirt.VIR_DOMAIN_EVENT_STARTED: (
            "started",
            ("booted", "migrated", "restored", "from snapshot", "event wakeup"),
        ),
        libvirt.VIR_DOMAIN_EVENT_SUSPENDED: (
            "suspended",
            (
                "paused",
                "migrated",
                "I/O error",
                "watchdog",
                "restored",
                "from snapshot",
                "api error",
                "post-copy",
                "post-copy failed",
            ),
        ),
        libvirt.VIR_DOMAIN_EVENT_RESUMED: (
            "resumed",
            ("unpaused", "migrated", "from snapshot", "post-copy", "post-copy failed"),
        ),
        libvirt.VIR_DOMAIN_EVENT_STOPPED: (
            "stopped",
            ("shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from snapshot"),
        ),
        libvirt.VIR_DOMAIN_EVENT_SHUTDOWN: (
            "shutdown",
            ("finished", "finished after guest request", "finished after host request"),
        ),
        libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED: ("pmsuspended", ("memory", "disk")),
        libvirt.VIR_DOMAIN_EVENT_CRASHED: ("crashed", ("panicked", "crashloaded")),
    }
)


def lifecycle_words(event: int, detail: int) -> tuple[str, str]:
    """(what happened, why) for a lifecycle event: ("stopped", "destroyed")."""
    what, details = LIFECYCLE_EVENTS.get(event, (f"event {event}", ()))
    why = details[detail] if 0 <= detail < len(details) else f"detail {detail}"
    return what, why


#: What the hypervisor did on a watchdog or an I/O error, as `virsh event` says it.
WATCHDOG_ACTIONS = ("none", "pause", "reset", "poweroff", "shutdown", "debug", "inject-nmi")
IO_ERROR_ACTIONS = ("none", "pause", "report")
#: The guest agent's state and why it changed.
AGENT_STATES = ("", "connected", "disconnected")
AGENT_REASONS = ("", "domain started", "channel event")
#: What a metadata change event changed.
METADATA_TYPES = ("description", "title", "element")


def word(words: tuple[str, ...], code: object) -> str:
    """`words[code]`, or the number itself when libvirt sends one this table lacks."""
    return words[code] if isinstance(code, int) and 0 <= code < len(words) else str(code)
