"""Keys the operator can change: every binding has an id, and the config's `[keys]` table
maps ids to keys, as Textual's keymap does (`App.set_keymap`).

    [keys]
    "guests.start" = "S"            # one key
    "app.help" = "f1,question_mark" # or several, comma-separated

Ids are `PLACE.ACTION` (`guests.destroy`, `detail.xml`, `app.guests`); `?` on any screen
shows its keys as they are in effect. What the file says is checked before the screen opens
(`kvmtui.config`), so a typo is one line on stderr, not a key that silently does nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.keys import Keys, _character_to_key

from kvmtui.core.uri import quoted

MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})

#: Key names Textual reports: named keys (`f5`, `pageup`), and printable characters'
#: names (`question_mark`), which is what `?` in a binding means.
_NAMED_KEYS = frozenset(
    {key.value.rpartition("+")[2] for key in Keys if not key.value.startswith("<")}
    | {_character_to_key(chr(code)) for code in range(32, 127)}
) - {"ctrl-at"}


def key_problem(keys: str) -> str | None:
    """What is wrong with `keys` (`"s"`, `"ctrl+e"`, `"f1,question_mark"`), or None."""
    for key in keys.split(","):
        key = key.strip()
        if not key:
            return f"empty key in {quoted(keys)}"
        if len(key) == 1:
            continue
        *modifiers, name = key.split("+")
        unknown = [modifier for modifier in modifiers if modifier not in MODIFIERS]
        if unknown:
            return f"unknown modifier {quoted(unknown[0])} in {quoted(key)}"
        if len(name) != 1 and name not in _NAMED_KEYS:
            hint = difflib.get_close_matches(name, sorted(_NAMED_KEYS), n=1)
            return f"unknown key {quoted(name)}" + (
                f" (did you mean {quoted(hint[0])}?)" if hint else "")
    return None


def binding_ids() -> dict[str, str]:
    """Every binding id of kvmtui's app, screens and widgets, with what the binding does."""
    import kvmtui.app  # noqa: F401  (loads every screen and widget class)

    return {binding.id: binding.description or binding.action
            for binding in all_bindings() if isinstance(binding, Binding) and binding.id}


def all_bindings() -> Iterator[BindingType]:
    """The BINDINGS entries each kvmtui class declares itself (not those it inherits)."""
    pending: list[type[DOMNode]] = [DOMNode]
    seen: set[type[DOMNode]] = set()
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("kvmtui."):
            yield from cls.__dict__.get("BINDINGS", ())
