"""Checking connection URIs before anything dials them, and naming hosts after them.

A typo in a URI should be reported the moment the operator gives it (on the command line or
in the config file), with the part that is wrong named, not minutes later as a libvirt
connection failure on one row of the host table.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath
from urllib.parse import SplitResult, urlsplit

#: libvirt's hypervisor drivers, as they appear before the `+` or `://` of a URI.
DRIVERS = frozenset(
    {
        "bhyve", "ch", "esx", "gsx", "hyperv", "libxl", "lxc", "openvz", "parallels", "phyp",
        "qemu", "test", "vbox", "vmwarefusion", "vmwareplayer", "vmwarews", "vpx", "vz", "xen",
    }
)  # fmt: skip

#: libvirt's remote transports, as they appear after the `+` of a URI.
TRANSPORTS = frozenset({"ext", "libssh", "libssh2", "ssh", "tcp", "tls", "unix"})

#: Drivers whose path names an instance (`/system`, `/session`, a test file): `qemu:///` is
#: refused by libvirt itself, so it is refused here first.
_NAMED_PATH_DRIVERS = frozenset({"qemu", "test"})

#: Our own scheme: a host reached over kvmtui's SSH connection, libvirt path optional.
SSH_SCHEME = "ssh"

_HOST_RE = re.compile(r"[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def quoted(text: str) -> str:
    """`text` in double quotes with control characters escaped, so a message stays one line."""
    return json.dumps(text, ensure_ascii=False)


def validate_uri(uri: str) -> str | None:
    """None if `uri` is a URI kvmtui can connect to, else a short reason it is not."""
    if not uri.strip():
        return "empty URI"
    if any(char.isspace() for char in uri):
        return "a URI cannot contain spaces"
    scheme, sep, _rest = uri.partition("://")
    if not sep or not scheme:
        return "no scheme (expected e.g. qemu:///system or qemu+ssh://host/system)"
    if not _SCHEME_RE.fullmatch(scheme):
        return f"bad scheme {quoted(scheme)}"
    try:
        parts = urlsplit(uri)
    except ValueError:  # urlsplit's only complaint: an unbalanced "[" in the host part
        return "bad IPv6 address (unbalanced brackets)"
    return _check_authority(parts) or _check_scheme(scheme.lower(), parts)


def _check_scheme(scheme: str, parts: SplitResult) -> str | None:
    """Check the driver and transport, and the path each of them needs."""
    if scheme == SSH_SCHEME:
        return _check_ssh(parts)
    driver, plus, transport = scheme.partition("+")
    if driver not in DRIVERS:
        return f"unknown driver {quoted(driver)}"
    if plus and transport not in TRANSPORTS:
        return f"unknown transport {quoted(transport)}"
    if not parts.path:
        return f"no path (expected e.g. {driver}:///system)"
    if driver in _NAMED_PATH_DRIVERS and parts.path == "/":
        return f"no instance path (expected e.g. {driver}:///system)"
    return None


def _check_ssh(parts: SplitResult) -> str | None:
    """`ssh://[user@]host[:port][/path]`: the host is required, the path defaults later."""
    if not _split_netloc(parts.netloc)[1]:
        return "ssh:// needs a host (e.g. ssh://root@web3)"
    return None


def _check_authority(parts: SplitResult) -> str | None:
    """Check the `user@host:port` part, which may be empty for a local URI."""
    user, host, port = _split_netloc(parts.netloc)
    if user == "":
        return "empty user name before @"
    if host and not _HOST_RE.fullmatch(host):
        return f"bad host name {quoted(host)}"
    if port is None:
        return None
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        return f"bad port {quoted(port)}"
    if not host:
        return "a port needs a host"
    return None


def _split_netloc(netloc: str) -> tuple[str | None, str, str | None]:
    """(user or None, host, port or None) from `[user@]host[:port]`, case preserved."""
    user: str | None = None
    if "@" in netloc:
        user, _, netloc = netloc.rpartition("@")
    host, port = netloc, None
    if ":" in netloc.rpartition("]")[2]:
        host, _, port = netloc.rpartition(":")
    return user, host, port


def default_host_name(uri: str) -> str:
    """A short name for the host behind `uri`, for the host column and `NAME@HOST`.

    A remote URI gives its host name; a test-driver file gives the file's stem (so several
    test files get distinct names); any other local URI is `localhost`.
    """
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    host = _split_netloc(parts.netloc)[1].strip("[]")
    if host:
        return host
    if parts.scheme.partition("+")[0].lower() == "test":
        stem = PurePosixPath(parts.path).stem
        return "test" if stem in ("", "default") else stem
    return "localhost"
