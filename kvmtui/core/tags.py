"""Tags a guest carries in its own definition: `web`, `tier=web`, `start-order=2`.

They live in the domain's `<metadata>` under kvmtui's own XML namespace, set with
`virDomainSetMetadata`, so they go wherever the XML goes: a live migration, `virsh dumpxml`
and `define`, a clone, a second jump box or a reinstalled kvmtui. No store of kvmtui's own
can lose them or disagree with the host.

    <metadata>
      <kvmtui:tags xmlns:kvmtui="https://kvmtui.dev/xmlns/tags/1">
        <kvmtui:tag>web</kvmtui:tag>
        <kvmtui:tag>tier=web</kvmtui:tag>
      </kvmtui:tags>
    </metadata>

A running guest's tags are set live and, when it is persistent, in its definition too (a
shut-off guest's in its definition only), so they neither vanish at the next boot nor wait
for it. A tag is one word; `KEY=VALUE` holds one value per key (setting `tier=db` replaces
`tier=web`), and removing `KEY` removes it whatever its value.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import libvirt

from kvmtui.core.commands import CommandError
from kvmtui.core.uri import quoted

if TYPE_CHECKING:  # the poller reads tags through domain_xml, below the host
    from kvmtui.core.host import Host

#: kvmtui's XML namespace in a domain's <metadata>, and the prefix libvirt writes it with.
NAMESPACE = "https://kvmtui.dev/xmlns/tags/1"
PREFIX = "kvmtui"
_TAGS = f"{{{NAMESPACE}}}tags"
_TAG = f"{{{NAMESPACE}}}tag"

#: A tag: a word of letters, digits and `_ . - /`, with an optional `=VALUE` (which may
#: also hold `: @ +`). No spaces or commas: those separate a selector's terms.
_TAG_RE = re.compile(r"[\w][\w.\-/]*(=[\w.\-/:@+]+)?")
MAX_TAG = 64


def check_tag(text: str) -> str:
    """`text` as a tag, or CommandError saying what a tag may be."""
    if len(text) > MAX_TAG:
        raise CommandError(f"tag {quoted(text[:20] + '...')} is longer than {MAX_TAG} characters")
    if not _TAG_RE.fullmatch(text):
        raise CommandError(
            f"tag {quoted(text)} is not a tag: one word of letters, digits and _ . - /, "
            "or KEY=VALUE"
        )
    return text


def key_of(tag: str) -> str:
    """`tier` of `tier=web`; a plain tag is its own key."""
    return tag.partition("=")[0]


def value_of(tags: Iterable[str], key: str) -> str | None:
    """The value of `KEY=VALUE` among `tags`, or None when none has that key."""
    return next((t.partition("=")[2] for t in tags if "=" in t and key_of(t) == key), None)


def tags_after(
    current: Sequence[str], add: Sequence[str], remove: Sequence[str]
) -> tuple[str, ...]:
    """`current` with `add` added (a `KEY=VALUE` replacing the key's old value) and `remove`
    removed (a bare `KEY` takes any `KEY=VALUE` with it), sorted."""
    kept = {t for t in current if t not in remove and key_of(t) not in remove}
    for tag in add:
        if "=" in tag:
            kept = {t for t in kept if not ("=" in t and key_of(t) == key_of(tag))}
        kept.add(tag)
    return tuple(sorted(kept))


def has_tag(tags: Iterable[str], tag: str) -> bool:
    """Whether `untag TAG` would remove something from `tags`."""
    return any(t == tag or ("=" not in tag and key_of(t) == tag) for t in tags)


def read_tags(root: ET.Element) -> tuple[str, ...]:
    """The tags in a parsed domain XML (none when it has no kvmtui metadata)."""
    found = root.find(f"metadata/{_TAGS}")
    if found is None:
        return ()
    # interned: a fleet's guests share a few tags, and each parse made its own strings
    return tuple(
        sorted(sys.intern(t.text.strip()) for t in found.iter(_TAG) if t.text and t.text.strip())
    )


ET.register_namespace(PREFIX, NAMESPACE)  # written as kvmtui:tags, as libvirt writes it


def metadata_element(tags: Sequence[str]) -> ET.Element:
    """`<metadata>` holding `tags`, for a new guest's definition (`:create --tags`)."""
    metadata = ET.Element("metadata")
    found = ET.SubElement(metadata, _TAGS)
    for tag in tags:
        ET.SubElement(found, _TAG).text = tag
    return metadata


def tag_list(text: str) -> tuple[str, ...]:
    """`tier=web,anti=web` (or space-separated) as checked tags."""
    return tuple(check_tag(t) for t in re.split(r"[\s,]+", text.strip()) if t)


def _tags_xml(tags: Sequence[str]) -> str:
    root = ET.Element("tags")
    for tag in tags:
        ET.SubElement(root, "tag").text = tag
    return ET.tostring(root, encoding="unicode")


def _current(dom: libvirt.virDomain) -> tuple[str, ...]:
    """The tags libvirt holds for the guest now (live ones when it runs)."""
    try:
        text = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NAMESPACE, 0)
    except libvirt.libvirtError as error:
        if error.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            return ()
        raise
    root = ET.fromstring(text)
    return tuple(sorted(t.text.strip() for t in root.iter("tag") if t.text and t.text.strip()))


@dataclass(frozen=True)
class TagChange:
    """A guest's tags before and after `tag`/`untag`."""

    before: tuple[str, ...]
    after: tuple[str, ...]


async def change_tags(
    host: Host, uuid: str, add: Sequence[str] = (), remove: Sequence[str] = ()
) -> TagChange:
    """Adds and removes tags of one guest: live while it runs, in its definition when it
    is persistent. A host that refuses metadata is a HostError naming guest and host."""

    def work(dom: libvirt.virDomain) -> TagChange:
        before = _current(dom)
        after = tags_after(before, add, remove)
        if after != before:
            flags = libvirt.VIR_DOMAIN_AFFECT_LIVE if dom.isActive() else 0
            if dom.isPersistent():
                flags |= libvirt.VIR_DOMAIN_AFFECT_CONFIG
            dom.setMetadata(
                libvirt.VIR_DOMAIN_METADATA_ELEMENT,
                _tags_xml(after) if after else None,
                PREFIX if after else None,
                NAMESPACE,
                flags,
            )
        return TagChange(before, after)

    change = await host.run_on_guest(uuid, work, "tag")
    if change.after != change.before:
        host.poller.describe_later(uuid)
    return change
