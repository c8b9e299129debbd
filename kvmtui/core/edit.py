"""`:edit NAME`, like `virsh edit`: the persistent XML in the operator's editor, defined
again with validation.

The round trip is the controller's (it asks and reports); this module holds what it needs
that is not about a screen: the draft file, the editor's command line, and the define that
refuses what `virsh edit` would make a different guest of (a changed name or UUID).
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import libvirt

from kvmtui.core.host import Host, HostError
from kvmtui.core.programs import run_in_terminal

#: What `virsh edit` reads: the definition the guest starts from, with its secrets (VNC
#: passwords) so that saving it back does not drop them.
EDIT_FLAGS = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE


def editor_command(path: Path, env: Mapping[str, str] | None = None) -> list[str]:
    """$VISUAL, else $EDITOR, else vi, on `path`; either may carry arguments (`code -w`)."""
    env = os.environ if env is None else env
    editor = env.get("VISUAL", "").strip() or env.get("EDITOR", "").strip() or "vi"
    return [*shlex.split(editor), str(path)]


@contextmanager
def draft(guest: str, text: str) -> Iterator[Path]:
    """A private temporary file holding `text`, named after the guest so the editor's title
    says what is edited; removed afterwards, whatever happened."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", guest)[:40] or "guest"
    handle, name = tempfile.mkstemp(prefix=f"kvmtui-{safe}-", suffix=".xml")
    path = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        yield path
    finally:
        path.unlink(missing_ok=True)


async def read_definition(host: Host, uuid: str) -> str:
    """The persistent XML of a guest, as `virsh edit` opens it."""
    return await host.run_on_guest(uuid, lambda dom: dom.XMLDesc(EDIT_FLAGS), "edit")


def _identity(xml: str) -> tuple[str, str]:
    """(name, uuid) of a domain XML; ValueError when it is not XML at all."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as error:
        raise ValueError(f"not well-formed XML ({error})") from None
    return (root.findtext("name") or "").strip(), (root.findtext("uuid") or "").strip().lower()


async def define_edited(host: Host, uuid: str, original: str, edited: str) -> str:
    """Defines `edited` in place of `original` with libvirt's schema validation and returns
    the report. A changed name or UUID is refused: the definition would describe another
    guest (use domrename to rename)."""
    name, _uuid = _identity(original)
    new_name, new_uuid = _identity(edited)
    if new_uuid != uuid.lower():
        raise ValueError(
            f"edit {name}: the UUID cannot change (it is {uuid}); put it back, or discard"
        )
    if new_name != name:
        raise ValueError(
            f"edit {name}: the name cannot change here (use domrename); put it back, or discard"
        )

    def define(conn: libvirt.virConnect) -> bool:
        dom = conn.defineXMLFlags(edited, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        return bool(dom.isActive())

    try:
        active = await host.run(define, what=f"edit {name} on {host.name}")
    except HostError as error:
        # libvirt's schema errors run over several lines: a report is one line.
        raise HostError(" ".join(str(error).split()), error.code) from error.__cause__

    host.poller.describe_later(uuid)
    later = ", takes effect after a restart" if active else ""
    return f"{name} on {host.name}: definition saved{later}"


async def run_editor(command: list[str]) -> None:
    """Runs the editor on the terminal to its end; ValueError naming the editor and how it
    ended when it cannot start or fails (programs.run_in_terminal)."""
    await run_in_terminal(command, "editor")
