"""What a guest's QEMU agent does when asked: freeze and thaw its filesystems, trim them, set
its clock from its hardware clock, set a user's password (`virsh domfsfreeze`, `domfsthaw`,
`domfstrim`, `domtime --sync`, `set-user-password`).

Each call is one guest's, through `host.run_on_guest`, so its failure names the guest and
the host and quotes libvirt (an agent that is not there, a driver without the call). Each
returns the sentence that reports its success on that guest: a verb on many guests reports
one outcome per guest. A password goes from the caller to libvirt and nowhere else: it is in
no sentence, no error and no log line of kvmtui.
"""

from __future__ import annotations

import datetime

import libvirt

from kvmtui.core.host import Host
from kvmtui.core.numbers import plural


def _where(host: Host, uuid: str) -> str:
    guest = host.guest(uuid)
    return f"{guest.name if guest else uuid} on {host.name}"


async def fsfreeze(host: Host, uuid: str) -> str:
    frozen = await host.run_on_guest(uuid, lambda dom: dom.fsFreeze(None, 0), "domfsfreeze")
    return f"{_where(host, uuid)}: froze {plural(frozen, 'filesystem')}"


async def fsthaw(host: Host, uuid: str) -> str:
    thawed = await host.run_on_guest(uuid, lambda dom: dom.fsThaw(None, 0), "domfsthaw")
    return f"{_where(host, uuid)}: thawed {plural(thawed, 'filesystem')}"


async def fstrim(host: Host, uuid: str) -> str:
    await host.run_on_guest(uuid, lambda dom: dom.fSTrim(None, 0, 0), "domfstrim")
    return f"{_where(host, uuid)}: filesystems trimmed"


async def sync_time(host: Host, uuid: str) -> str:
    """`domtime --sync`: the guest sets its clock from its hardware clock (which QEMU keeps
    with the host's)."""
    await host.run_on_guest(
        uuid, lambda dom: dom.setTime(None, libvirt.VIR_DOMAIN_TIME_SYNC), "domtime --sync"
    )
    return f"{_where(host, uuid)}: clock synchronised"


async def guest_time(host: Host, uuid: str) -> str:
    """`domtime`: the guest's clock as its agent reads it, in UTC."""
    read = await host.run_on_guest(uuid, lambda dom: dom.getTime(0), "domtime")
    at = datetime.datetime.fromtimestamp(int(read["seconds"]), datetime.UTC)
    return f"{_where(host, uuid)}: guest time {at:%Y-%m-%d %H:%M:%S} UTC"


async def set_user_password(host: Host, uuid: str, user: str, password: str) -> str:
    await host.run_on_guest(
        uuid, lambda dom: dom.setUserPassword(user, password, 0), "set-user-password"
    )
    return f"{_where(host, uuid)}: password of {user} set"
