"""Small changes to one guest, in virsh's words: undefine with its storage, `domrename`,
`desc`, `send-key` and `inject-nmi`.

Undefining with storage deletes volumes through libvirt only (`virStorageVolDelete`): a disk
file outside every storage pool is refused before anything changes, never unlinked behind
libvirt's back. The paths to delete are read first (`storage_plan`), shown to the operator,
and exactly those are deleted once the guest is gone.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

import libvirt

from kvmtui.core.actions import undefine_flags
from kvmtui.core.clone import check_guest_name
from kvmtui.core.errors import HostError, describe
from kvmtui.core.host import Host
from kvmtui.core.keycodes import keycodes
from kvmtui.core.uri import quoted


@dataclass(frozen=True)
class GuestDisk:
    """One disk of a guest and the storage volume behind it, if libvirt has one."""

    target: str  # vda
    device: str  # disk, cdrom
    source: str  # a path, or "pool/volume"; "" when empty
    volume: str | None  # the volume's path when the source is a libvirt storage volume
    readonly: bool

    def describe(self) -> str:
        where = self.volume or self.source or "empty"
        return f"{self.target} {where}" + (" (read-only)" if self.readonly else "")


def _label(host: Host, uuid: str) -> str:
    """`web on kvm1`, as the host's table names the guest."""
    known = host.guest(uuid)
    return f"{known.name if known else uuid} on {host.name}"


async def guest_disks(host: Host, uuid: str) -> list[GuestDisk]:
    """The disks of the guest's persistent definition, each with its volume when it is one."""
    return await host.run_on_guest(uuid, _disks, "reading the disks of")


def _disks(dom: libvirt.virDomain) -> list[GuestDisk]:
    conn = dom.connect()
    found = []
    for disk in ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).iterfind(
        "devices/disk"
    ):
        target = disk.find("target")
        source = disk.find("source")
        where = ""
        volume: str | None = None
        if source is not None:
            if disk.get("type") == "volume":
                where = f"{source.get('pool', '')}/{source.get('volume', '')}"
                try:
                    volume = (
                        conn.storagePoolLookupByName(source.get("pool", ""))
                        .storageVolLookupByName(source.get("volume", ""))
                        .path()
                    )
                except libvirt.libvirtError:
                    volume = None
            else:
                where = source.get("file") or source.get("dev") or source.get("name") or ""
                try:
                    volume = conn.storageVolLookupByPath(where).path() if where else None
                except libvirt.libvirtError:
                    volume = None
        found.append(
            GuestDisk(
                target.get("dev", "?") if target is not None else "?",
                disk.get("device", "disk"),
                where,
                volume,
                disk.find("readonly") is not None,
            )
        )
    return found


def storage_to_remove(
    disks: Sequence[GuestDisk], chosen: Sequence[str] | None, what: str
) -> list[GuestDisk]:
    """The disks `--storage vda,...` names (targets or sources, as virsh takes them), or
    with `chosen` None (`--remove-all-storage`) every writable disk with a source; CommandError-
    like HostError naming the first that cannot be deleted through libvirt."""
    if chosen is None:
        picked = [d for d in disks if d.source and d.device == "disk" and not d.readonly]
    else:
        picked = []
        for word in chosen:
            match = next((d for d in disks if word in (d.target, d.source, d.volume)), None)
            if match is None:
                known = ", ".join(d.target for d in disks) or "none"
                raise HostError(f"{what}: no disk {quoted(word)} (its disks: {known})")
            if match not in picked:
                picked.append(match)
    for disk in picked:
        if not disk.source:
            raise HostError(f"{what}: disk {disk.target} is empty: nothing to remove")
        if disk.volume is None:
            raise HostError(
                f"{what}: disk {disk.target} ({disk.source}) is in no storage "
                "pool; kvmtui deletes storage only through libvirt: leave it out "
                "(--storage with the others) and remove it by hand"
            )
    return picked


async def other_users(host: Host, uuid: str, disks: Sequence[GuestDisk]) -> dict[str, list[str]]:
    """For each of `disks` (by target) the other guests of the host that use the same
    storage, as their definitions name it: deleting it would take their disk too."""

    def read(conn: libvirt.virConnect) -> dict[str, list[str]]:
        users: dict[str, list[str]] = {}
        for dom in conn.listAllDomains(0):
            if dom.UUIDString() == uuid:
                continue
            names = set()
            for disk in ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).iterfind(
                "devices/disk/source"
            ):
                names |= {
                    disk.get("file"),
                    disk.get("dev"),
                    f"{disk.get('pool')}/{disk.get('volume')}",
                }
            for mine in disks:
                if names & {mine.source, mine.volume}:
                    users.setdefault(mine.target, []).append(dom.name())
        return users

    return await host.run(read, what=f"undefine {_label(host, uuid)}")


async def undefine(host: Host, uuid: str, remove: Sequence[GuestDisk] = ()) -> str:
    """Undefines the guest with the flags it needs, then deletes exactly the volumes of
    `remove`; a volume that cannot go is named in the error, the others are gone."""
    known = host.guest(uuid)
    name = known.name if known else uuid

    def work(dom: libvirt.virDomain) -> None:
        if remove and dom.isActive():
            raise HostError(
                f"undefine {name} on {host.name}: it is running and its disks are "
                "in use: shut it down or destroy it first"
            )
        dom.undefineFlags(undefine_flags(dom))

    await host.run_on_guest(uuid, work, "undefine")
    host.poller.describe_later(uuid)
    failed = []
    for disk in remove:

        def delete(conn: libvirt.virConnect, path: str | None = disk.volume) -> None:
            conn.storageVolLookupByPath(path).delete(0)

        try:
            await host.run(delete)
        except HostError as error:
            failed.append(f"{disk.target} {disk.volume}: {describe(error)}")
    done = f"{name} on {host.name}: undefined"
    if failed:
        raise HostError(f"{done}, but could not delete {'; '.join(failed)}")
    if remove:
        done += f", deleted {', '.join(f'{d.target} {d.volume}' for d in remove)}"
    return done


async def rename(host: Host, uuid: str, new_name: str) -> str:
    """`virsh domrename`: libvirt renames only shut-off guests and says so otherwise."""
    reason = check_guest_name(new_name)

    def work(dom: libvirt.virDomain) -> str:
        old = dom.name()
        if reason:
            raise HostError(f"domrename {old} on {host.name}: {reason}")
        try:
            dom.connect().lookupByName(new_name)
        except libvirt.libvirtError:
            dom.rename(new_name, 0)
            return old
        raise HostError(
            f"domrename {old} on {host.name}: a guest named {quoted(new_name)} already exists there"
        )

    old = await host.run_on_guest(uuid, work, "domrename")
    host.poller.describe_later(uuid)
    return f"{old} on {host.name}: renamed to {new_name}"


def _affect(live: bool, config: bool) -> int:
    flags = 0
    if live:
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
    if config:
        flags |= libvirt.VIR_DOMAIN_AFFECT_CONFIG
    return flags  # neither: VIR_DOMAIN_AFFECT_CURRENT (0), as virsh


def _kind(title: bool) -> int:
    return libvirt.VIR_DOMAIN_METADATA_TITLE if title else libvirt.VIR_DOMAIN_METADATA_DESCRIPTION


async def set_description(
    host: Host,
    uuid: str,
    text: str,
    *,
    title: bool = False,
    live: bool = False,
    config: bool = False,
) -> str:
    """`virsh desc`: sets the title or the description; an empty text removes it. A title
    is one line (libvirt refuses a newline in it)."""
    word = "title" if title else "description"
    await host.run_on_guest(
        uuid,
        lambda dom: dom.setMetadata(_kind(title), text or None, None, None, _affect(live, config)),
        f"desc --{word}",
    )
    host.poller.describe_later(uuid)
    return f"{_label(host, uuid)}: {word} {'set' if text else 'removed'}"


async def description(
    host: Host, uuid: str, *, title: bool = False, live: bool = False, config: bool = False
) -> str:
    """The guest's title or description ("" when it has none)."""

    def read(dom: libvirt.virDomain) -> str:
        try:
            return str(dom.metadata(_kind(title), None, _affect(live, config)))
        except libvirt.libvirtError as error:
            if error.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
                return ""
            raise

    return await host.run_on_guest(uuid, read, "desc")


async def send_key(host: Host, uuid: str, keys: Sequence[str], holdtime: int = 0) -> str:
    """`virsh send-key` with Linux key names or codes, pressed together and released."""
    label = _label(host, uuid)
    try:
        codes = keycodes(keys)
    except ValueError as error:
        raise HostError(f"send-key {label}: {error}") from None
    await host.run_on_guest(
        uuid,
        lambda dom: dom.sendKey(libvirt.VIR_KEYCODE_SET_LINUX, holdtime, codes, len(codes), 0),
        "send-key",
    )
    return f"{label}: sent {' '.join(keys)}"


async def inject_nmi(host: Host, uuid: str) -> str:
    """`virsh inject-nmi`: a non-maskable interrupt, which a guest may answer with a crash
    dump or a panic, as its kernel is set up to."""
    await host.run_on_guest(uuid, lambda dom: dom.injectNMI(0), "inject-nmi")
    return f"{_label(host, uuid)}: NMI injected"
