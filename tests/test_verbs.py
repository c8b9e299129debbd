"""The `:` verb registry: every verb has a handler, and every option it parses is used.

The lists come from the registry itself, so a verb added later is checked without
editing this file.
"""

from __future__ import annotations

import ast
import inspect

import pytest

import kvmtui.verbs.shared  # importing the package registers every verb
from kvmtui.core import actions
from kvmtui.core.commands import VERBS, Verb


def _reached(verb: Verb) -> list[ast.AST]:
    """The handler's body (not its decorator, which declares the grammar) and, transitively,
    the bodies of the functions it calls (its module's and those the verbs share) and the
    module-level tables it reads."""
    body = [
        n
        for module in (inspect.getmodule(verb.handler), kvmtui.verbs.shared)
        for n in ast.parse(inspect.getsource(module)).body
    ]
    functions = {n.name: n for n in body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    tables = {
        t.id: n.value
        for n in body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    reached: list[ast.AST] = []
    pending = [verb.handler.__name__]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in tables:
            reached.append(tables[name])
            continue
        for statement in functions[name].body:
            reached.append(statement)
            pending += [
                n.id
                for n in ast.walk(statement)
                if isinstance(n, ast.Name) and (n.id in functions or n.id in tables)
            ]
    return reached


def _strings_and_attributes(nodes: list[ast.AST]) -> tuple[set[str], set[str]]:
    walked = [n for node in nodes for n in ast.walk(node)]
    strings = {n.value for n in walked if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return strings, {n.attr for n in walked if isinstance(n, ast.Attribute)}


def test_the_registry_holds_the_virsh_verbs():
    assert {"list", "start", "destroy", "migrate", "vcpupin", "console", "help"} <= set(VERBS)
    assert set(actions.ACTIONS) <= set(VERBS), "every lifecycle action is a : verb"


@pytest.mark.parametrize("verb", list(VERBS.values()), ids=list(VERBS))
def test_every_verb_has_an_async_handler(verb: Verb):
    assert inspect.iscoroutinefunction(verb.handler), verb.name
    assert list(inspect.signature(verb.handler).parameters)[:2] == ["controller", "command"]


@pytest.mark.parametrize(
    "verb",
    [v for v in VERBS.values() if v.options],
    ids=[name for name, v in VERBS.items() if v.options],
)
def test_every_parsed_option_is_used_by_its_handler(verb: Verb):
    """An option is used when the code the handler runs asks for it by name, or hands the
    whole option set on (`command.options`)."""
    strings, attributes = _strings_and_attributes(_reached(verb))
    for option in verb.options:
        assert option in strings or "options" in attributes, (
            f"{verb.name}: --{option} is parsed but its handler never uses it"
        )


def test_screen_verbs_are_the_ones_that_need_a_screen():
    assert {v.name for v in VERBS.values() if v.screen} == {"quit", "viewer"}
