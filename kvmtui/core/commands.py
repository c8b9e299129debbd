"""The `:` command line: virsh's verbs in virsh's argument order, parsed and completed.

An operator who knows `virsh migrate web1 desturi --live` should type `:migrate web1 hostb
--live` and be understood, so the grammar here copies virsh's: positionals in virsh's order,
`--flag` and `--option value` (or `--option=value`) anywhere on the line, `--` to end options.
Parsing is pure (no libvirt, no Textual) so every message a user can see is unit-tested.
"""

from __future__ import annotations

import importlib
import re
import shlex
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from kvmtui.core.model import GuestState
from kvmtui.core.uri import quoted
from kvmtui.core.words import did_you_mean

#: What runs a verb: `await handler(controller, command)`. The core stores it without
#: knowing the controller, so parsing and completion stay free of any front-end.
Handler = Callable[..., Awaitable[object]]


@dataclass(frozen=True)
class Verb:
    """One `:` command: its arguments in virsh order, what runs it, and what it may do.

    Option names in `flags`, `valued` and `numeric` are written without the leading `--`;
    `numeric` also holds positional names whose value must be a whole number. `mutating`
    says whether running it changes anything (the controller refuses it read-only): a bool,
    or, for a verb that shows with fewer arguments and changes with more (`desc NAME`
    against `desc NAME TEXT`), what tells from the command. `screen`
    verbs need the full-screen UI (a console, a progress screen), so the one-shot command
    line refuses them before they start anything. A `variadic` verb's last positional takes
    every word left (`send-key NAME KEY...`), as virsh's argv arguments do. `secret` names
    the positionals and options whose value is a secret (a password): the audit trail
    (core/audit.py) records that one was given, never what.
    """

    name: str
    summary: str
    handler: Handler
    positionals: tuple[str, ...] = ()
    optional_positionals: tuple[str, ...] = ()
    flags: frozenset[str] = frozenset()
    valued: frozenset[str] = frozenset()
    numeric: frozenset[str] = frozenset()
    mutating: bool | Callable[[Command], bool] = False
    guest_arg: bool = False
    screen: bool = False
    variadic: bool = False
    secret: frozenset[str] = frozenset()

    def changes(self, command: Command) -> bool:
        """Whether running `command` (one of this verb's) changes anything."""
        return self.mutating(command) if callable(self.mutating) else self.mutating

    @property
    def options(self) -> frozenset[str]:
        """Every option this verb accepts, boolean or valued."""
        return self.flags | self.valued

    @property
    def usage(self) -> str:
        """`migrate NAME DESTHOST [--live] ...`, the line `help VERB` shows."""
        words = [self.name, *self.positionals, *(f"[{p}]" for p in self.optional_positionals)]
        if self.variadic:
            words[-1] += "..."
        words += [f"[--{flag}]" for flag in sorted(self.flags)]
        words += [f"[--{option} {option.upper()}]" for option in sorted(self.valued)]
        return " ".join(words)


class _Registry(Mapping[str, Verb]):
    """The verbs by name, in the order they were registered.

    The modules that register them are named up front (`verbs_from`) and imported on the
    first read: they import the core's every feature (snapshots, clones, storage ...), and
    a screen that shows a table needs none of it (30 ms of a 0.6 s start at 10 hosts x
    1,000 guests). A front-end names them without importing them, so the core still
    imports nothing above it."""

    def __init__(self) -> None:
        self.verbs: dict[str, Verb] = {}
        self.sources: list[str] = []

    def _loaded(self) -> dict[str, Verb]:
        while self.sources:
            importlib.import_module(self.sources.pop(0))
        return self.verbs

    def __getitem__(self, name: str) -> Verb:
        return self._loaded()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


_REGISTRY = _Registry()

#: Every `:` verb by name, in the order they were registered.
VERBS: Mapping[str, Verb] = _REGISTRY


def verbs_from(package: str) -> None:
    """Names the package whose import registers the verbs (`kvmtui.verbs`): it is imported
    when a verb is first looked up, listed or completed."""
    if package not in _REGISTRY.sources:
        _REGISTRY.sources.append(package)


def verb(
    name: str,
    summary: str,
    *,
    guest: bool = False,
    positionals: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
    flags: Iterable[str] = (),
    valued: Iterable[str] = (),
    numeric: Iterable[str] = (),
    mutating: bool | Callable[[Command], bool] = False,
    screen: bool = False,
    variadic: bool = False,
    secret: Iterable[str] = (),
) -> Callable[[Handler], Handler]:
    """Registers a verb's grammar together with its handler: the one call per verb.

    `guest` puts the guest's NAME first, as nearly all of virsh's verbs have it.
    """

    def register(handler: Handler) -> Handler:
        if name in _REGISTRY.verbs:
            raise ValueError(f"verb {name!r} registered twice")
        _REGISTRY.verbs[name] = Verb(
            name, summary, handler,
            ("NAME", *positionals) if guest else positionals, optional,
            frozenset(flags), frozenset(valued), frozenset(numeric),
            mutating=mutating, guest_arg=guest, screen=screen, variadic=variadic,
            secret=frozenset(secret),
        )  # fmt: skip
        return handler

    return register


#: Positional names whose value is a host name (completed from the host list).
HOST_ARGS = frozenset({"HOST", "DESTHOST"})
#: Positional names whose value is a verb (completed from VERBS).
VERB_ARGS = frozenset({"VERB"})

#: What a missing positional is called in `missing ...` messages.
_ARG_WORDS = {
    "NAME": "guest name",
    "DESTHOST": "destination host",
    "BANDWIDTH": "bandwidth (MiB/s)",
    "DOWNTIME": "downtime (ms)",
    "VCPU": "vCPU number",
    "CPULIST": "CPU list",
    "SNAPSHOT": "snapshot name",
    "COUNT": "vCPU count",
}


#: Other spellings a virsh or vi user reaches for; they parse as the verb they stand for.
ALIASES: Mapping[str, str] = MappingProxyType({"exit": "quit", "q": "quit", "?": "help"})

#: virsh's cpulist: `2`, `0-3`, `0-3,^2`, or `r` to reset to all CPUs.
_CPULIST_RE = re.compile(r"r|\^?\d+(-\d+)?(,\^?\d+(-\d+)?)*")


def with_more_than(count: int) -> Callable[[Command], bool]:
    """`mutating` for a verb that shows with `count` arguments and changes with more."""
    return lambda command: len(command.args) > count


def listed(which: str, state: GuestState) -> bool:
    """Whether `list`'s `which` ("running", "inactive" or "all") takes a guest in `state`:
    as `virsh list`, "running" is every active guest (a paused one too), "inactive" the
    others. One rule for the guest table and the one-shot line."""
    return which == "all" or state.is_active == (which == "running")


class CommandError(ValueError):
    """A `:` line that cannot be run; the message is written for a virsh user."""


@dataclass(frozen=True)
class Command:
    """One parsed `:` line. `options` maps option names (no `--`) to a value or True."""

    verb: str
    args: tuple[str, ...] = ()
    options: Mapping[str, str | bool] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # A read-only copy, so a Command stays what was typed however it was built.
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def flag(self, name: str) -> bool:
        """Whether boolean option `--name` was given."""
        return self.options.get(name) is True

    def value(self, name: str) -> str | None:
        """The value of `--name VALUE`, or None when it was not given."""
        value = self.options.get(name)
        return value if isinstance(value, str) else None


def lookup_verb(word: str) -> Verb:
    """The verb `word` names (aliases included), or CommandError with a suggestion."""
    verb = VERBS.get(ALIASES.get(word, word))
    if verb is None:
        raise CommandError(f"unknown command {quoted(word)}{did_you_mean(word, VERBS)}")
    return verb


def _split(line: str) -> list[str]:
    """Shell-like words of `line`, with a leading `:` tolerated."""
    try:
        return shlex.split(line.strip().removeprefix(":"))
    except ValueError as error:  # shlex's only complaints are unbalanced quotes and `\` at end
        raise CommandError(f"cannot parse the line: {str(error).lower()}") from None


def parse(line: str) -> Command:
    """Parse one `:` line into a checked Command; CommandError says what is wrong."""
    words = _split(line)
    if not words:
        raise CommandError("no command given")
    verb = lookup_verb(words[0])
    args, options = _parse_words(verb, words[1:])
    args = _selector_words(verb, args)
    _check_args(verb, args)
    _check_numbers(verb, args, options)
    return Command(verb.name, tuple(args), options)


def _parse_words(verb: Verb, words: list[str]) -> tuple[list[str], dict[str, str | bool]]:
    """Split the words after the verb into positionals and options, virsh-style."""
    args: list[str] = []
    options: dict[str, str | bool] = {}
    pending = iter(words)
    for word in pending:
        if word == "--":
            args.extend(pending)
        elif word.startswith("-") and word != "-":
            name, value = _parse_option(verb, word, pending)
            if name in options:
                raise CommandError(f"{verb.name}: --{name} given twice")
            options[name] = value
        else:
            args.append(word)
    return args, options


def _selector_words(verb: Verb, args: list[str]) -> list[str]:
    """`:shutdown tag:web state:running`: a selector's terms next to each other are one
    selector (space = AND, as in the `/` filter) where every word is a guest (`start NAME...`)
    or where the verb has no room for more words. A verb that takes other words after the
    guest (`tag NAME TAG...`) needs them as one word: quoted, or joined with commas
    (`tag:web,state:running`)."""
    from kvmtui.core.selectors import is_selector  # it imports CommandError from here

    if not verb.guest_arg or not args:
        return args
    if verb.variadic and verb.positionals == ("NAME",) and not verb.optional_positionals:
        folded: list[str] = []
        for word in args:
            if folded and is_selector(word) and is_selector(folded[-1]):
                folded[-1] = f"{folded[-1]} {word}"
            else:
                folded.append(word)
        return folded
    room = len(verb.positionals) + len(verb.optional_positionals)
    while not verb.variadic and len(args) > room and is_selector(args[0]) and is_selector(args[1]):
        args[0:2] = [f"{args[0]} {args[1]}"]
    return args


def _parse_option(verb: Verb, word: str, pending: Iterator[str]) -> tuple[str, str | bool]:
    """(name, value) of `--flag`, `--name=value` or `--name value` (taking the next word)."""
    name, equals, value = word.removeprefix("--").partition("=")
    if not word.startswith("--") or name not in verb.options:
        hint = did_you_mean(f"--{name}", (f"--{option}" for option in verb.options))
        raise CommandError(f"{verb.name}: unexpected option {quoted(word)}{hint}")
    if name in verb.flags:
        if equals:
            raise CommandError(f"{verb.name}: --{name} takes no value")
        return name, True
    if not equals:
        value = next(pending, "")
        if value.startswith("--"):
            value = ""
    if not value:
        raise CommandError(f"{verb.name}: --{name} needs a value")
    return name, value


def _check_args(verb: Verb, args: list[str]) -> None:
    """Enough positionals for the verb, and not too many."""
    if len(args) < len(verb.positionals):
        missing = verb.positionals[len(args)]
        raise CommandError(f"{verb.name}: missing {_ARG_WORDS.get(missing, missing.lower())}")
    allowed = len(verb.positionals) + len(verb.optional_positionals)
    if len(args) > allowed and not verb.variadic:
        raise CommandError(
            f"{verb.name}: too many arguments (unexpected {quoted(args[allowed])}); "
            f"usage: {verb.usage}"
        )
    names = verb.positionals + verb.optional_positionals
    for name, arg in zip(names, args, strict=False):
        if name in VERB_ARGS:  # `help nosuch` is a bad line, as `nosuch` is
            try:
                lookup_verb(arg)
            except CommandError as error:
                raise CommandError(f"{verb.name}: {error}") from None


#: The largest number a `:` argument may hold: libvirt takes vCPU numbers, MiB/s and ms
#: as C ints, and what is larger is a typo, not a setting.
MAX_NUMBER = 2**31 - 1


def is_whole_number(text: str) -> bool:
    """ASCII digits up to MAX_NUMBER: `isdigit()` alone takes "²", which int() refuses."""
    return (
        text.isascii()
        and text.isdigit()
        and len(text) <= len(str(MAX_NUMBER))
        and int(text) <= MAX_NUMBER
    )


def _check_numbers(verb: Verb, args: list[str], options: Mapping[str, str | bool]) -> None:
    """Whole numbers where virsh wants them, and a cpulist that looks like one."""
    names = verb.positionals + verb.optional_positionals
    given: dict[str, str] = dict(zip(names, args, strict=False))
    limit = f"a whole number from 0 to {MAX_NUMBER}"
    for name in verb.numeric & set(given):
        if not is_whole_number(given[name]):
            raise CommandError(f"{verb.name}: {_ARG_WORDS[name]} must be {limit}")
    for name in verb.numeric & set(options):
        if not is_whole_number(str(options[name])):
            raise CommandError(f"{verb.name}: --{name} must be {limit}")
    if "CPULIST" in given and not _CPULIST_RE.fullmatch(given["CPULIST"]):
        raise CommandError(f"{verb.name}: CPU list must look like 2, 0-3 or 0-3,^2 (or r)")


def complete(line: str, guest_names: Sequence[str], host_names: Sequence[str]) -> list[str]:
    """Sorted candidates for the last word of `line` (the one being typed).

    The first word completes to verbs; a word starting with `-` to the verb's options not
    yet given; a guest position to `guest_names` (pass `name@host` forms too if you want
    them offered); a host position to `host_names`. Anything else completes to nothing.
    """
    words = line.lstrip().removeprefix(":").split()
    if not words or line[-1:].isspace():
        words.append("")
    *before, current = words
    if not before:
        return _matching(current, VERBS)
    verb = VERBS.get(ALIASES.get(before[0], before[0]))
    if verb is None:
        return []
    if current.startswith("-"):
        given = {word.removeprefix("--").partition("=")[0] for word in before[1:]}
        return _matching(current, [f"--{name}" for name in verb.options - given])
    position = _positional_index(verb, before[1:])
    return _matching(current, _candidates(verb, position, guest_names, host_names))


def _positional_index(verb: Verb, words: list[str]) -> int | None:
    """Which positional the next word fills, or None when it is an option's value."""
    index = 0
    expecting_value = False
    for word in words:
        if expecting_value:
            expecting_value = False
        elif word.startswith("--") and word != "--":
            expecting_value = word.removeprefix("--") in verb.valued
        else:
            index += 1
    return None if expecting_value else index


def _candidates(
    verb: Verb, position: int | None, guest_names: Sequence[str], host_names: Sequence[str]
) -> Sequence[str]:
    """What may stand at positional `position` of `verb`."""
    names = verb.positionals + verb.optional_positionals
    if position is None or position >= len(names):
        return []
    if verb.guest_arg and position == 0:
        return guest_names
    if names[position] in HOST_ARGS:
        return host_names
    if names[position] in VERB_ARGS:
        return list(VERBS)
    return []


def _matching(prefix: str, candidates: Iterable[str]) -> list[str]:
    """The distinct candidates starting with `prefix`, sorted."""
    return sorted({candidate for candidate in candidates if candidate.startswith(prefix)})
