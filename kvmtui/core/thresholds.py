"""Thin disks watched: a block threshold on every qcow2 disk of every running guest.

A qcow2 image grows as the guest writes; the pool under it can fill long before the guest's
own filesystem does. libvirt tells once when a disk's image is written past a threshold set
on it (`virDomainSetBlockThreshold`, the BLOCK_THRESHOLD event), so kvmtui sets one on each
qcow2 disk at the configured fill (`disk_threshold` percent of the disk's size) and marks the
guest's row when it fires. A threshold fires once and is then gone: it is set again halfway
between the mark passed and full (85% -> 92% -> 96% ...), so a disk still filling is told
again, and the row shows the highest mark passed.

A reading of a host sets the thresholds missing on its running guests' qcow2 disks (the
bulk statistics say which disks have one); it runs once the host's guests are described
(AFTER_DEFINITIONS: after the fleet's first tables), when a guest starts (lifecycle
events), after a threshold fired and every few minutes. The service is watched for the
whole run of the screen (not only while a view shows it): a disk filling matters whichever
view is up.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import libvirt

from kvmtui.core.host import DomainEvent, Host
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.resource import GuestAnnotations, ResourceService

if TYPE_CHECKING:
    from kvmtui.core.fleet import Fleet

#: The fill (percent of a disk's size) at which a disk is first told; 0 turns it off.
DEFAULT_PERCENT = 85


@dataclass(frozen=True)
class DiskMark:
    """One disk of a running guest with a threshold set (or passed)."""

    uuid: str
    guest: str
    disk: str
    percent: int  # the mark set now
    passed: int  # the highest mark written past, 0 for none


def next_mark(passed: int) -> int:
    """Where the threshold goes after `passed` fired: halfway to full, at most 99%."""
    return min(99, passed + max(1, (100 - passed) // 2))


class DiskThresholds(ResourceService[tuple[DiskMark, ...]]):
    """See the module docstring."""

    EVENTS = frozenset({"lifecycle", "block-threshold"})
    CADENCE = 300.0
    AFTER_DEFINITIONS = True

    def __init__(self, fleet: Fleet, percent: int = DEFAULT_PERCENT) -> None:
        super().__init__(fleet)
        self.percent = percent
        #: Highest mark passed, by (host, uuid, disk): kept across readings.
        self._passed: dict[tuple[str, str, str], int] = {}
        #: Disk targets that are qcow2 files, by (host, uuid): a definition read once.
        self._qcow2: dict[tuple[str, str], tuple[str, ...]] = {}
        self._rows: GuestAnnotations[tuple[str, ...]] = GuestAnnotations(
            lambda guest, alerts: replace(guest, disk_alerts=alerts)
        )

    def on_event(self, event: DomainEvent) -> None:
        if event.kind == "lifecycle":  # started again, maybe with other disks
            self._qcow2.pop((event.host, event.uuid), None)
        if event.kind == "block-threshold" and event.params:
            # (dev, path, threshold, excess); libvirt tells twice: for `vda` and for its
            # image, `vda[6]`
            disk = str(event.params[0]).split("[", 1)[0]
            key = (event.host, event.uuid, disk)
            armed = self._armed(event.host, event.uuid, key[2])
            self._passed[key] = max(self._passed.get(key, 0), armed or self.percent)
            self._rows.outdate()
            self.publish()
        self.refresh_soon([event.host])

    def _armed(self, host: str, uuid: str, disk: str) -> int | None:
        for mark in self.reading(host) or ():
            if mark.uuid == uuid and mark.disk == disk:
                return mark.percent
        return None

    async def read_host(self, host: Host) -> tuple[DiskMark, ...]:
        if not self.percent:
            return ()
        return await host.run(lambda conn: self._arm(conn, host.name), what="domblkthreshold")

    def _arm(self, conn: libvirt.virConnect, host: str) -> tuple[DiskMark, ...]:
        marks: list[DiskMark] = []
        records = conn.getAllDomainStats(
            libvirt.VIR_DOMAIN_STATS_BLOCK, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_RUNNING
        )
        for dom, stats in records:
            disks = [
                (str(stats.get(f"block.{i}.name", "")), int(stats.get(f"block.{i}.capacity", 0)))
                for i in range(int(stats.get("block.count", 0)))
            ]
            if not any(capacity for _disk, capacity in disks):
                continue  # no disk to watch: its definition is not worth a call
            uuid = dom.UUIDString()
            qcow2 = self._qcow2.get((host, uuid))
            if qcow2 is None:
                qcow2 = self._qcow2[(host, uuid)] = _qcow2_disks(dom.XMLDesc(0))
            for index, (disk, capacity) in enumerate(disks):
                if disk not in qcow2 or not capacity:
                    continue
                passed = self._passed.get((host, uuid, disk), 0)
                percent = next_mark(passed) if passed else self.percent
                if not stats.get(f"block.{index}.threshold"):
                    try:
                        dom.setBlockThreshold(disk, capacity * percent // 100, 0)
                    except libvirt.libvirtError as error:
                        if error.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
                            return ()  # a driver without thresholds: nothing to watch
                        raise
                marks.append(DiskMark(uuid, dom.name(), disk, percent, passed))
        return tuple(marks)

    def annotate(self, guests: tuple[GuestSnapshot, ...]) -> tuple[GuestSnapshot, ...]:
        """`guests` with each disk past its mark on its row (`vda 85%`)."""
        if not self._passed:
            return guests
        alerts: dict[tuple[str, str], tuple[str, ...]] = {}
        for (host, uuid, disk), passed in sorted(self._passed.items()):
            alerts[(host, uuid)] = (*alerts.get((host, uuid), ()), f"{disk} {passed}%")
        return self._rows.apply(guests, lambda guest: alerts.get((guest.host, guest.uuid)))


def _qcow2_disks(xml: str) -> tuple[str, ...]:
    """The targets of a definition's qcow2 disks: the thin ones."""
    found = []
    for disk in ET.fromstring(xml).iterfind("devices/disk"):
        driver = disk.find("driver")
        target = disk.find("target")
        if driver is not None and driver.get("type") == "qcow2" and target is not None:
            found.append(target.get("dev", ""))
    return tuple(found)
