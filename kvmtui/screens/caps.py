"""`:caps` (what hosts offer their guests, with the findings of the fleet check under each)
and `:validate` (the findings alone, every host): one scrolling page.

Values are libvirt's words and guest names: always plain `Text`, never markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from kvmtui.core.capabilities import Check, HostCaps, Level, facts
from kvmtui.widgets.footer import KeysFooter

#: Words first, colour second: the level reads on a monochrome terminal.
_LEVEL_STYLE = {Level.PASS: "green", Level.WARN: "yellow", Level.FAIL: "bold red"}


def _grid() -> Table:
    """Two or three columns whose last one wraps under itself, not under the labels."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    return grid


def findings_table(findings: Sequence[Check]) -> Table:
    grid = _grid()
    grid.add_column(no_wrap=True)
    grid.add_column()
    for check in findings:
        grid.add_row(
            Text(f" {check.level.value}", style=_LEVEL_STYLE[check.level]),
            Text(check.what),
            Text(check.detail),
        )
    return grid


def _heading(host: str, note: Text | None = None) -> Text:
    text = Text()
    text.append(f" {host} ", style="bold reverse")
    if note is not None:
        text.append("  ")
        text.append_text(note)
    return text


def caps_view(caps: HostCaps, findings: Sequence[Check]) -> RenderableType:
    grid = _grid()
    grid.add_column()
    for label, value in facts(caps):
        style = "bold red" if label == "KVM" and not caps.kvm else ""
        grid.add_row(Text(f" {label}", style="bold"), Text(value, style=style))
    parts: list[RenderableType] = [_heading(caps.host), grid]
    mine = [c for c in findings if c.host == caps.host]
    if mine:
        parts += [Text(" Acceleration check", style="bold underline"), findings_table(mine)]
    return Group(*parts, Text(""))


def validation_view(findings: Sequence[Check]) -> RenderableType:
    """Per host, what stops its guests from running accelerated (FAIL), what limits them
    (WARN) and what is fine (PASS)."""
    parts: list[RenderableType] = []
    for host in dict.fromkeys(c.host for c in findings):
        mine = [c for c in findings if c.host == host]
        failed = sum(1 for c in mine if c.level is Level.FAIL)
        verdict = (
            Text(f"{failed} FAIL", style="bold red")
            if failed
            else Text("accelerated guests possible", style="green")
        )
        parts += [_heading(host, verdict), findings_table(mine), Text("")]
    return Group(*parts)


class CapsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back", id="caps.back"),
    ]

    def __init__(self, caps: Sequence[HostCaps], findings: Sequence[Check]) -> None:
        super().__init__()
        self.caps = list(caps)
        self.findings = list(findings)

    def compose(self) -> ComposeResult:
        title = "Host capabilities" if self.caps else "Fleet check: running accelerated (KVM)"
        yield Static(Text(f" {title} ", style="bold reverse"), id="title")
        with VerticalScroll(id="report"):
            if self.caps:
                for caps in self.caps:
                    yield Static(caps_view(caps, self.findings), classes="host")
            else:
                yield Static(validation_view(self.findings), classes="host")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#report").focus()
