"""What the guest agent says of the inside, as kvmtui reads it: the flat `virsh guestinfo`
answer parsed, the fullest filesystem, the memory a guest uses by its balloon statistics,
and guest-controlled text with its control characters made visible."""

from __future__ import annotations

from kvmtui.core import guestinfo
from kvmtui.core.guestinfo import parse
from kvmtui.core.model import HostSpec
from kvmtui.core.poller import used_inside_kib
from kvmtui.core.words import visible
from tests.nodes import NODE_XML, WEB_UUID, connected_fleet, guest, until

AGENT_CHANNEL = (
    "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
)

#: What libvirt 9.0 gave for a lab guest running qemu-ga 7.2 (virsh guestinfo linux-a1).
ANSWER = {
    "user.count": 2,
    "user.0.name": "kvmtui",
    "user.0.login-time": 1796605293000,
    "user.1.name": "kvmtui",
    "os.id": "kvmtui-lab",
    "os.name": "kvmtui lab guest",
    "os.pretty-name": "kvmtui lab guest (busybox on Debian 12)",
    "os.version": "12 (busybox)",
    "os.kernel-release": "6.1.0-57-cloud-amd64",
    "os.machine": "x86_64",
    "timezone.name": "UTC",
    "timezone.offset": 0,
    "hostname": "evil\x1b]52;c;Zm9v\x07",
    "fs.count": 2,
    "fs.0.name": "vda",
    "fs.0.mountpoint": "/mnt/disk",
    "fs.0.fstype": "ext4",
    "fs.0.total-bytes": 52685824,
    "fs.0.used-bytes": 14336,
    "fs.1.name": "vdb",
    "fs.1.mountpoint": "/srv",
    "fs.1.fstype": "xfs",
    "fs.1.total-bytes": 1000,
    "fs.1.used-bytes": 900,
    "if.count": 1,
    "if.0.name": "eth0",
    "if.0.hwaddr": "52:54:00:ed:fa:0d",
    "if.0.addr.count": 1,
    "if.0.addr.0.type": "ipv4",
    "if.0.addr.0.addr": "192.168.213.62",
    "if.0.addr.0.prefix": 24,
}


def test_an_agent_answer_reads_as_os_users_and_the_fullest_filesystem():
    info = parse("hosta", "u-1", "linux-a1", ANSWER)
    assert info.answered and info.os_name == "kvmtui lab guest (busybox on Debian 12)"
    assert info.user_names == ("kvmtui",)  # one login each, however many sessions
    assert info.users[0].login_time == 1796605293.0
    fullest = info.fullest
    assert fullest is not None and fullest.mountpoint == "/srv" and fullest.percent == 90.0
    fields = dict(info.fields())
    assert fields["FS /srv"] == "900 B of 1000 B (90%) xfs on vdb"
    assert fields["If eth0"] == "52:54:00:ed:fa:0d 192.168.213.62/24"
    assert fields["Users"] == "kvmtui"
    assert "kvmtui-lab" in info.words and info.hostname in info.words


def test_an_answer_without_a_pretty_name_or_users_still_reads():
    answer = {"os.name": "Debian GNU/Linux", "os.version": "12", "user.count": 0}
    info = parse("h", "u", "g", answer)
    assert info.os_name == "Debian GNU/Linux 12"
    assert dict(info.fields())["Users"] == "none logged in"
    assert info.fullest is None


def test_control_characters_are_made_visible_and_nothing_else_changes():
    assert visible("evil\x1b]52;c;Zm9v\x07") == "evil\\x1b]52;c;Zm9v\\x07"
    assert visible("a\u202eb\u2028c\x9b") == "a\\u202eb\\u2028c\\x9b"  # bidi, separator, CSI
    assert visible("C:\\Users é 日本 [b]") == "C:\\Users é 日本 [b]"


def test_used_inside_comes_from_the_balloon_statistics_or_is_not_there():
    record = {"balloon.current": 131072, "balloon.available": 94508, "balloon.usable": 64692}
    assert used_inside_kib(record) == 94508 - 64692
    assert used_inside_kib({"balloon.available": 1000, "balloon.unused": 400}) == 600
    assert used_inside_kib({"balloon.current": 131072}) is None  # no balloon driver: no guess


async def test_an_agent_that_cannot_answer_is_asked_again_only_every_few_rounds(
    tmp_path, monkeypatch
):
    """libvirt's test:/// driver has no guestInfo: a guest with an agent channel there is a
    guest whose agent never answers. Its reason is laid on its row, and it costs one call
    every RETRY_ROUNDS rounds, not one a round."""
    node = tmp_path / "kvm1.xml"
    node.write_text(NODE_XML.replace("<devices>", f"<devices>{AGENT_CHANNEL}", 1))
    asked: list[str] = []
    real = guestinfo._read_one
    monkeypatch.setattr(
        guestinfo,
        "_read_one",
        lambda conn, host, uuid: asked.append(uuid) or real(conn, host, uuid),
    )
    async with connected_fleet([HostSpec("kvm1", f"test://{node}")]) as fleet:
        host = fleet.hosts[0]
        await until(lambda: host.poller.described_all, "the definitions")
        assert guest(host, WEB_UUID).agent_channel
        book = guestinfo.GuestInfoBook(fleet)
        for _ in range(guestinfo.RETRY_ROUNDS + 1):
            await book.refresh()
        assert asked == [WEB_UUID, WEB_UUID]  # the first round, then the RETRY_ROUNDS-th
        web = next(g for g in book.annotate(tuple(host.guests())) if g.uuid == WEB_UUID)
        assert web.inside is not None and web.inside.problem == (
            "guestinfo web on kvm1: this function is not supported by the connection driver:"
            " virDomainGetGuestInfo"
        )
