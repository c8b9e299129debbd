"""Selectors: guests chosen by what they are rather than by name, k9s-style.

`tag:web` (a guest tagged `web`, or with any `web=...` tag), `tier=web` (tagged exactly
`tier=web`), `host:kvm01`, `state:running` (`virsh list`'s states without spaces, and
`state:active` / `state:inactive`), `os:debian` (the OS the guest agent reports: its id, or
the first word of its name); terms separated by spaces or commas must all hold. The
`/` filter, the guest argument of every verb (`:shutdown tag:web`, `kvmtui start
tier=db --yes`) and a view's scope (`:list`, a host's guests) choose through this one
parser and matcher.

Matching is set membership: a guest's terms are made once per distinct (host, state,
tags) (ten thousand guests share a few hundred) and a selector is parsed once per
keystroke, so filtering a fleet is a subset test per row, with no pattern compiled. A word
that is no selector term (`web`, a MAC, an IPv6 address) stays a plain filter word, matched
within the row's text as before.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kvmtui.core.commands import CommandError
from kvmtui.core.model import GuestSnapshot, GuestState
from kvmtui.core.numbers import plural
from kvmtui.core.uri import quoted
from kvmtui.core.words import did_you_mean

#: The `KEY:` terms a selector knows; any other `word:` is a plain filter word.
KEYS = ("tag", "host", "state", "os")

#: `state:WORD` for each state: the enum's name (`shutoff`, `pmsuspended`), and the two
#: sides `virsh list` and `--inactive` take.
STATE_WORDS: dict[str, GuestState] = {state.name.lower(): state for state in GuestState}
ACTIVE, INACTIVE = "state:active", "state:inactive"

_SPLIT = re.compile(r"[\s,]+")


class SelectorError(CommandError):
    """A selector that cannot mean anything (`tag:`, `=web`, `state:sleeping`)."""


def state_term(state: GuestState) -> str:
    return f"state:{state.name.lower()}"


@dataclass(frozen=True)
class Selector:
    """A parsed selector: `terms` a guest must all have (see `guest_terms`), `words` its
    text must all hold. Lower case, as what it is matched with."""

    text: str
    terms: frozenset[str] = frozenset()
    words: tuple[str, ...] = ()

    def matches(self, terms: frozenset[str], text: str) -> bool:
        """Whether a row with these terms and this (lower-case) text is chosen."""
        return self.terms <= terms and all(word in text for word in self.words)

    def chooses(self, guest: GuestSnapshot) -> bool:
        return self.terms <= guest_terms(guest)


def parse(text: str) -> Selector:
    """A selector from the filter line or a verb's guest argument; SelectorError when a
    term is malformed."""
    terms: set[str] = set()
    words: list[str] = []
    for word in _SPLIT.split(text.strip().lower()):
        if not word:
            continue
        key, colon, value = word.partition(":")
        if "=" in word and not (colon and key in KEYS):
            name, _, tag_value = word.partition("=")
            if not name or not tag_value:
                raise SelectorError(f"selector {quoted(word)}: say KEY=VALUE, as tier=web")
            terms.add(word)
        elif colon and key in KEYS:
            if not value:
                raise SelectorError(f"selector {quoted(word)} names no {key}")
            if key == "state" and word not in (ACTIVE, INACTIVE) and value not in STATE_WORDS:
                words_known = [*STATE_WORDS, "active", "inactive"]
                raise SelectorError(
                    f"selector {quoted(word)}: no state {quoted(value)}"
                    f"{did_you_mean(value, words_known)} (states: {', '.join(words_known)})"
                )
            terms.add(word)
        else:
            words.append(word)
    return Selector(text, frozenset(terms), tuple(words))


def is_selector(token: str) -> bool:
    """Whether a verb's guest argument is a selector rather than a guest's name: it has a
    word that looks like a term (`tag:web`, `tier=web` ...), well formed or not, so that a
    malformed one is reported as such rather than as an unknown name."""
    return any(
        "=" in word or (":" in word and word.partition(":")[0] in KEYS)
        for word in _SPLIT.split(token.lower())
    )


def by_selector(token: str, guests: Sequence[GuestSnapshot]) -> bool:
    """Whether a verb's `guests` are those selector `token` chose (and so are confirmed by
    their count), not the one guest it names."""
    return is_selector(token) and not any(token in (g.name, g.ref) for g in guests)


@functools.lru_cache(maxsize=8192)
def _terms(
    host: str, state: GuestState, tags: tuple[str, ...], os_words: tuple[str, ...]
) -> frozenset[str]:
    found = {f"host:{host.lower()}", state_term(state), ACTIVE if state.is_active else INACTIVE}
    found.update(f"os:{word}" for word in os_words)
    for tag in tags:
        tag = tag.lower()
        key, equals, _value = tag.partition("=")
        found.add(f"tag:{tag}")
        if equals:
            found.update((tag, f"tag:{key}"))
    return frozenset(found)


def guest_terms(guest: GuestSnapshot) -> frozenset[str]:
    """What a selector term matches a guest by; shared by every guest alike."""
    return _terms(guest.host, guest.state, guest.tags, _os_words(guest))


def _os_words(guest: GuestSnapshot) -> tuple[str, ...]:
    """`os:` matches the agent's OS id (`debian`) and the first word of the OS name
    (`Debian GNU/Linux 12`: `debian`), lower case, without spaces; none without an agent."""
    inside = guest.inside
    if inside is None:
        return ()
    first = inside.os_name.split(maxsplit=1)[0] if inside.os_name.strip() else ""
    return tuple(dict.fromkeys(w.lower() for w in (inside.os_id, first) if w))


def fleet_terms(guests: Iterable[GuestSnapshot]) -> set[str]:
    """Every selector term some guest has: what Tab offers where a guest is named."""
    found: set[str] = set()
    for terms in {guest_terms(g) for g in guests}:  # shared: a few hundred at most
        found |= terms
    return found


def choose(
    token: str, guests: Sequence[GuestSnapshot], hosts: Iterable[str] = ()
) -> list[GuestSnapshot]:
    """The guests selector `token` chooses; CommandError with one line when it is malformed,
    names an unknown host or tag, or chooses none."""
    selector = parse(token)
    if selector.words:
        raise SelectorError(
            f"selector {quoted(token)}: {quoted(selector.words[0])} is not a term "
            "(tag:TAG, KEY=VALUE, host:HOST, state:STATE, os:OS)"
        )
    known_hosts = {h.lower() for h in hosts} | {g.host.lower() for g in guests}
    for term in sorted(selector.terms):
        key, _, value = term.partition(":")
        if key == "host" and value not in known_hosts:
            raise SelectorError(f"no host named {quoted(value)}{did_you_mean(value, known_hosts)}")
    chosen = [g for g in guests if selector.chooses(g)]
    if chosen:
        return chosen
    tagged = {t for g in guests for t in guest_terms(g) if t.startswith("tag:") or "=" in t}
    unknown = sorted(
        t for t in selector.terms if (t.startswith("tag:") or "=" in t) and t not in tagged
    )
    if unknown:
        tag = unknown[0].removeprefix("tag:")
        known = {t.removeprefix("tag:") for t in tagged}
        raise SelectorError(f"no guest is tagged {quoted(tag)}{did_you_mean(tag, known)}")
    raise SelectorError(f"selector {quoted(token)} matches no guest")


def chosen_phrase(guests: Sequence[GuestSnapshot]) -> str:
    """`3 guests on 2 hosts`: what a selector chose, for the confirmation."""
    return f"{plural(len(guests), 'guest')} on {plural(len({g.host for g in guests}), 'host')}"
