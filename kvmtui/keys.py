"""Keys the operator can change: every binding has an id, and the config's `[keys]` table
maps ids to keys, as Textual's keymap does (`App.set_keymap`).

    [keys]
    "guests.start" = "S"            # one key
    "app.help" = "f1,question_mark" # or several, comma-separated

Ids are `PLACE.ACTION` (`guests.destroy`, `detail.xml`, `app.guests`); `?` on any screen
shows its keys as they are in effect, and the whole key map (`key_map`, also
docs/KEYS.md: `scripts/key-map > docs/KEYS.md` writes it, a test keeps them equal).
What the file says is checked before the screen opens (`check_keymap`, as the UI starts), so
a typo, or a key that would silently take another action's place, is one line on stderr
rather than a surprise on screen. The config module cannot check it when it reads the file:
the ids are the screens', and a one-shot command must not load Textual.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.keys import Keys, _character_to_key

from kvmtui.config import Config
from kvmtui.core.uri import quoted
from kvmtui.core.words import did_you_mean
from kvmtui.widgets.key_words import key_label

if TYPE_CHECKING:
    pass

MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})

#: Key names Textual reports: named keys (`f5`, `pageup`), and printable characters'
#: names (`question_mark`), which is what `?` in a binding means.
_NAMED_KEYS = frozenset(
    {key.value.rpartition("+")[2] for key in Keys if not key.value.startswith("<")}
    | {_character_to_key(chr(code)) for code in range(32, 127)}
) - {"ctrl-at"}


def check_keymap(config: Config, app: type[DOMNode]) -> None:
    """Raises the ConfigError, naming the file's line, for the first id of its `[keys]` that
    is no binding's, whose keys are no keys, or that takes a key another binding still has.
    Only a file with a `[keys]` table loads every screen for it."""
    if not config.keys:
        return
    known = tuple(binding_ids())
    for binding_id, keys in config.keys.items():
        if binding_id not in known:
            hint = did_you_mean(binding_id, known)
            raise config.error(
                f"keys.{binding_id}", f"[keys]: unknown binding id {quoted(binding_id)}{hint}"
            )
        problem = key_problem(keys)
        if problem is not None:
            raise config.error(f"keys.{binding_id}", f"[keys]: {quoted(binding_id)}: {problem}")
    clashing = clash(config.keys, app)
    if clashing is not None:
        binding_id, why = clashing
        raise config.error(f"keys.{binding_id}", f"[keys]: {quoted(binding_id)}: {why}")


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
                f" (did you mean {quoted(hint[0])}?)" if hint else ""
            )
    return None


def clash(keymap: Mapping[str, str], app: type[DOMNode]) -> tuple[str, str] | None:
    """(id, why) for the first id in `keymap` given a new key that another binding of the
    same place (screen or widget, with what it inherits), or of the app, still has.

    Textual lets the remapped binding win silently, so the other action would be out of
    reach with no word said; Textual's own clash report does not cover this case. `app`
    is the app's class (this module sits below the app, so it is handed in)."""
    _load_every_class()
    app_bindings = _effective(app, keymap)
    for cls in _kvmtui_classes():
        place = app_bindings if cls is app else [*_effective(cls, keymap), *app_bindings]
        for binding, keys in place:
            if binding.id is None or binding.id not in keymap:
                continue
            for other, other_keys in place:
                taken = (keys - _keys(binding.key)) & other_keys
                if other is not binding and taken:
                    key = sorted(taken)[0]
                    return binding.id, (
                        f"{quoted(key)} is also the key of {quoted(other.id or other.action)}"
                        f" ({other.description or other.action}); give that one another key"
                    )
    return None


def _effective(cls: type[DOMNode], keymap: Mapping[str, str]) -> list[tuple[Binding, set[str]]]:
    """The bindings a node of `cls` has (its own and inherited), each with its keys as
    `keymap` leaves them."""
    found: list[tuple[Binding, set[str]]] = []
    for ancestor in cls.__mro__:
        for binding in vars(ancestor).get("BINDINGS", ()):
            if isinstance(binding, Binding):
                found.append((binding, _keys(keymap.get(binding.id or "", binding.key))))
    return found


def _keys(keys: str) -> set[str]:
    """The key names in a binding's key string, as Textual matches them."""
    return {
        _character_to_key(key) if len(key) == 1 else key
        for key in (key.strip() for key in keys.split(","))
    }


def binding_ids() -> dict[str, str]:
    """Every binding id of kvmtui's app, screens and widgets, with what the binding does."""
    _load_every_class()
    return {
        binding.id: binding.description or binding.action
        for binding in all_bindings()
        if isinstance(binding, Binding) and binding.id
    }


def all_bindings() -> Iterator[BindingType]:
    """The BINDINGS entries each kvmtui class declares itself (not those it inherits)."""
    for cls in _kvmtui_classes():
        yield from vars(cls).get("BINDINGS", ())


def _load_every_class() -> None:
    """Imports every screen and widget module: the app imports a screen only when it is
    first opened, and `[keys]` may name the binding of any of them. The app's own class is
    loaded by whoever asks (it sits above this module)."""
    import kvmtui.screens
    import kvmtui.widgets

    for package in (kvmtui.screens, kvmtui.widgets):
        for module in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)


def _kvmtui_classes() -> Iterator[type[DOMNode]]:
    """Every app, screen and widget class kvmtui defines (the ones imported so far)."""
    pending: list[type[DOMNode]] = [DOMNode]
    seen: set[type[DOMNode]] = set()
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("kvmtui."):
            yield cls


# ---- the key map: every key and what it means, from the bindings themselves -------------

#: What every Shift+letter does on a list: the letter is in the column's header.
SORT = "Sort by the column whose header shows the letter"


@dataclass(frozen=True)
class KeyMeaning:
    """One key (as shown) with one thing it does, and the binding ids that do it."""

    key: str
    meaning: str
    ids: tuple[str, ...]


def _order(key: str) -> tuple[int, str]:
    """Letters first, then other characters, Ctrl keys, named keys; sorts last."""
    if key == "Shift+letter":
        return 4, key
    if len(key) == 1:
        return (0 if key.isalpha() else 1), key.lower() + key
    return (2 if key.startswith("Ctrl+") else 3), key


def key_map() -> list[KeyMeaning]:
    """Every default key of kvmtui's app, screens and widgets with what it does there:
    one row per key and meaning, naming the bindings (ids) that carry it. A key with two
    rows means two things in different places, which the table shows plainly."""
    _load_every_class()
    rows: dict[tuple[str, str], set[str]] = {}
    for binding in all_bindings():
        if not isinstance(binding, Binding) or not binding.id:
            continue
        if ".sort_" in binding.id:
            rows.setdefault(("Shift+letter", SORT), set()).add(
                binding.id.partition(".")[0] + ".sort_COLUMN"
            )
            continue
        for key in binding.key.split(","):
            rows.setdefault(
                (key_label(key.strip()), binding.description or binding.action), set()
            ).add(binding.id)
    return [
        KeyMeaning(key, meaning, tuple(sorted(ids)))
        for (key, meaning), ids in sorted(rows.items(), key=lambda r: (*_order(r[0][0]), r[0][1]))
    ]


KEY_MAP_HEADER = """\
# kvmtui keys

The key map, generated from the bindings (`scripts/key-map > docs/KEYS.md`; a test
fails when this file and the code differ). `?` in kvmtui shows the same table, and the keys
of the screen it is opened on as they are in effect.

The grammar, in k9s's and virsh's spirit:

- **Enter** opens what is under the cursor; **Esc** goes back to exactly where you came
  from: on a view it clears first the scope chip (` host: kvm01 ✕Esc`), then the filter,
  then the marks.
- **/** filters, **:** takes a command (a virsh verb or a view's name), **?** helps, the
  **digits** switch views (a digit or `:view` shows the whole view, unscoped).
- The lifecycle keys are the same on the guest list and on a guest's detail screen, and so
  are the feature keys: `d` describes (as Enter), `y` shows the XML (k9s's YAML key), `e`
  edits it; on the list they open the detail on that tab. `i` and `x` are the Info and XML
  tabs' old keys, kept as the same meanings.
- **Ctrl+letter** is for what cannot be undone (reset, destroy, delete, undefine);
  **Shift+letter** sorts.
- Read-only (`--readonly`, or a host's `readonly`): a key that would change something is
  dimmed in the footer, and pressing it says why in one line.
- Any key can be changed in the config's `[keys]` table by its id (`"guests.start" = "S"`).

| Key | What it does | Binding ids |
|-----|--------------|-------------|
"""


def key_map_markdown() -> str:
    """docs/KEYS.md: the grammar, then `key_map` as a table."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        f"| `{cell(row.key)}` | {cell(row.meaning)} | {', '.join(row.ids)} |" for row in key_map()
    ]
    return KEY_MAP_HEADER + "\n".join(lines) + "\n"
