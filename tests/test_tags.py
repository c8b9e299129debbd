"""Tags in the guest's own XML and the selectors that choose guests by them, on libvirt's
test:/// driver: what is stored, what the poller reads back, and each bad input's line."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import libvirt
import pytest

from kvmtui.core import clone, selectors, tags
from kvmtui.core.commands import CommandError
from kvmtui.core.guestinfo import GuestInfo
from kvmtui.core.host import HostError
from kvmtui.core.model import GuestSnapshot, GuestState
from kvmtui.core.selectors import SelectorError, choose, guest_terms
from tests.clone_node import TMPL_UUID, clone_host
from tests.nodes import OFF_UUID, WEB_UUID, guest, node_host, until


def test_a_key_holds_one_value_and_a_bare_key_removes_any():
    assert tags.tags_after(("web", "tier=db"), ["tier=web", "owner=al"], []) == (
        "owner=al",
        "tier=web",
        "web",
    )
    assert tags.tags_after(("web", "tier=db", "owner=al"), [], ["tier", "web"]) == ("owner=al",)
    assert tags.tags_after(("tier=db",), [], ["tier=web"]) == ("tier=db",)


@pytest.mark.parametrize("bad", ["", "two words", "a,b", "=web", "tier=", "-x", "x" * 65])
def test_a_tag_is_one_word_or_key_value(bad: str):
    with pytest.raises(CommandError, match="tag"):
        tags.check_tag(bad)


def _guest(name: str, host: str = "kvm01", state=GuestState.RUNNING, tags=()) -> GuestSnapshot:
    return GuestSnapshot(host=host, name=name, uuid=name, state=state, tags=tuple(tags))


FLEET = [
    _guest("web1", tags=("web", "tier=web", "start-order=2")),
    _guest("web2", host="kvm02", tags=("web", "tier=web")),
    _guest("db1", state=GuestState.SHUTOFF, tags=("tier=db", "Owner=Alice")),
    _guest("plain", host="kvm02"),
]


@pytest.mark.parametrize(
    ("selector", "names"),
    [
        ("tag:web", ["web1", "web2"]),
        ("tier=web", ["web1", "web2"]),
        ("tag:tier", ["web1", "web2", "db1"]),
        ("tier=web host:kvm02", ["web2"]),
        ("tier=web,host:KVM02", ["web2"]),
        ("state:shutoff", ["db1"]),
        ("state:inactive", ["db1"]),
        ("state:active host:kvm02", ["web2", "plain"]),
        ("owner=alice", ["db1"]),  # matched without regard to case, as the filter
    ],
)
def test_selectors_choose_by_tag_host_and_state(selector: str, names: list[str]):
    assert [g.name for g in choose(selector, FLEET, ["kvm01", "kvm02"])] == names


@pytest.mark.parametrize(
    ("selector", "said"),
    [
        ("tag:", 'selector "tag:" names no tag'),
        ("=web", 'selector "=web": say KEY=VALUE, as tier=web'),
        ("state:sleeping", 'selector "state:sleeping": no state "sleeping"'),
        ("host:kvm9", 'no host named "kvm9"'),
        ("tag:wbe", 'no guest is tagged "wbe" (did you mean "web"?)'),
        ("tier=cache", 'no guest is tagged "tier=cache"'),
        ("tag:web state:shutoff", 'selector "tag:web state:shutoff" matches no guest'),
        ("tag:web web1", 'selector "tag:web web1": "web1" is not a term'),
    ],
)
def test_each_bad_selector_is_one_line(selector: str, said: str):
    with pytest.raises(SelectorError) as raised:
        choose(selector, FLEET, ["kvm01", "kvm02"])
    assert str(raised.value).startswith(said)
    assert "\n" not in str(raised.value)


def test_os_chooses_by_what_the_guest_agent_says():
    """`os:debian` matches the agent's OS id or the first word of its name; a guest whose
    agent has not answered has no OS to match."""
    debian = GuestInfo("kvm01", "d", "deb", os_name="Debian GNU/Linux 12 (bookworm)")
    lab = GuestInfo("kvm02", "l", "lab", os_name="kvmtui lab guest", os_id="kvmtui-lab")
    fleet = [
        dataclasses.replace(_guest("deb"), inside=debian),
        dataclasses.replace(_guest("lab", host="kvm02"), inside=lab),
        _guest("silent"),
    ]
    assert [g.name for g in choose("os:debian", fleet)] == ["deb"]
    assert [g.name for g in choose("os:kvmtui-lab", fleet)] == ["lab"]
    assert [g.name for g in choose("os:KVMTUI", fleet)] == ["lab"]
    with pytest.raises(SelectorError, match='selector "os:windows" matches no guest'):
        choose("os:windows", fleet)


def test_guests_alike_share_their_terms():
    """The filter's cost at 10,000 guests: terms are made once per (host, state, tags)."""
    a, b = _guest("a", tags=("web",)), _guest("b", tags=("web",))
    assert guest_terms(a) is guest_terms(b)
    assert selectors.parse("tag:web x").matches(guest_terms(a), "ax")


def _inactive_tags(dom: libvirt.virDomain) -> list[str]:
    root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return list(tags.read_tags(root))


async def test_tags_go_live_and_into_the_definition_and_come_back_with_the_guest(tmp_path):
    async with node_host(tmp_path) as host:
        change = await tags.change_tags(host, WEB_UUID, ["web", "tier=web"])
        assert change == tags.TagChange((), ("tier=web", "web"))
        await until(lambda: guest(host, WEB_UUID).tags == ("tier=web", "web"), "tags read back")
        stored = await host.run_on_guest(WEB_UUID, _inactive_tags)
        assert stored == ["tier=web", "web"], "a running persistent guest keeps them at boot"

        await tags.change_tags(host, OFF_UUID, ["tier=db"])
        await until(lambda: guest(host, OFF_UUID).tags == ("tier=db",), "a shut-off guest's")

        await tags.change_tags(host, WEB_UUID, remove=["tier", "web"])
        await until(lambda: guest(host, WEB_UUID).tags == (), "tags removed")


async def test_tags_set_by_someone_else_are_read_on_the_metadata_event(tmp_path):
    """`virsh metadata --edit` on the host, or a second kvmtui: the event brings them."""
    async with node_host(tmp_path) as host:

        def elsewhere(dom: libvirt.virDomain) -> None:
            dom.setMetadata(
                libvirt.VIR_DOMAIN_METADATA_ELEMENT,
                "<tags><tag>from-virsh</tag></tags>",
                "x",
                tags.NAMESPACE,
                libvirt.VIR_DOMAIN_AFFECT_LIVE,
            )

        await host.run_on_guest(WEB_UUID, elsewhere)
        await until(lambda: guest(host, WEB_UUID).tags == ("from-virsh",), "the event's")


def test_a_guest_without_kvmtui_metadata_has_no_tags():
    root = ET.fromstring("<domain><metadata><other xmlns='urn:x'/></metadata></domain>")
    assert tags.read_tags(root) == ()


async def test_a_host_that_refuses_metadata_is_one_line_naming_guest_and_host(tmp_path):
    """libvirt's own refusal (here: a read-only connection, past the controller's check)."""
    async with node_host(tmp_path, readonly=True) as host:
        with pytest.raises(HostError) as raised:
            await tags.change_tags(host, WEB_UUID, ["web"])
    said = str(raised.value)
    assert said.startswith("tag web on kvm1: ") and "read only" in said and "\n" not in said


async def test_a_clone_carries_its_sources_tags(tmp_path):
    """They are in the XML, which a clone copies."""
    async with clone_host(tmp_path) as host:
        await tags.change_tags(host, TMPL_UUID, ["tier=web", "anti=web"])
        await clone.clone_guest(host, TMPL_UUID, "copy", linked=True)
        root = ET.fromstring(
            await host.run(
                lambda c: c.lookupByName("copy").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            )
        )
    assert tags.read_tags(root) == ("anti=web", "tier=web")
