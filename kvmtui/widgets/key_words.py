"""Keys and screens named as the operator reads them, for help and the key map."""

from __future__ import annotations

_KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "colon": ":",
    "space": "Space",
    "escape": "Esc",
    "enter": "Enter",
    "less_than_sign": "<",
    "greater_than_sign": ">",
    "up": "↑",
    "down": "↓",
    "left": "←",
    "right": "→",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "home": "Home",
    "end": "End",
    "tab": "Tab",
    "right_square_bracket": "]",
}


def key_label(key: str) -> str:
    """A key as the operator reads it: `Ctrl+K`, `?`, `Esc`."""
    *modifiers, name = key.split("+")
    name = name.upper() if modifiers and len(name) == 1 else _KEY_NAMES.get(name, name)
    return "+".join([*(m.capitalize() for m in modifiers), name])


def words_of(class_name: str) -> str:
    """ "Leases" for LeasesScreen, "Migration progress" for MigrationProgressScreen: a
    screen's name as help titles it when it gives none (VIEW_NAME)."""
    name = class_name.removesuffix("Screen")
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in name).split()
    return " ".join(words).capitalize() if words else class_name
