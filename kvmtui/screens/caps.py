"""`:caps` (what hosts offer their guests, with the findings of the fleet check under each)
and `:validate` (the findings alone, every host): one scrolling page of text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from kvmtui.core.capabilities import Check, HostCaps, Level, facts

#: Words first, colour second: the level reads on a monochrome terminal.
_LEVEL_STYLE = {Level.PASS: "green", Level.WARN: "yellow", Level.FAIL: "bold red"}
_LABEL = 16


def findings_text(findings: Sequence[Check]) -> Text:
    text = Text()
    for check in findings:
        text.append(f"  {check.level.value:<5}", style=_LEVEL_STYLE[check.level])
        text.append(f"{check.what:<{_LABEL - 4}}")
        text.append(f"{check.detail}\n")  # libvirt's words and guest names: plain text
    return text


def caps_text(caps: HostCaps, findings: Sequence[Check]) -> Text:
    text = Text(f" {caps.host} ", style="bold reverse")
    text.append("\n")
    for label, value in facts(caps):
        text.append(f"  {label:<{_LABEL}}", style="bold")
        style = "bold red" if label == "KVM" and not caps.kvm else ""
        text.append(f"{value}\n", style=style)
    mine = [c for c in findings if c.host == caps.host]
    if mine:
        text.append("  Acceleration check\n", style="bold underline")
        text.append_text(findings_text(mine))
    return text


def validation_text(findings: Sequence[Check]) -> Text:
    """Per host, what stops its guests from running accelerated (FAIL), what limits them
    (WARN) and what is fine (PASS)."""
    text = Text()
    for host in dict.fromkeys(c.host for c in findings):
        mine = [c for c in findings if c.host == host]
        failed = sum(1 for c in mine if c.level is Level.FAIL)
        verdict = f"{failed} FAIL" if failed else "accelerated guests possible"
        text.append(f" {host} ", style="bold reverse")
        text.append(f"  {verdict}\n", style="bold red" if failed else "green")
        text.append_text(findings_text(mine))
        text.append("\n")
    return text


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
                    yield Static(caps_text(caps, self.findings), classes="host")
            else:
                yield Static(validation_text(self.findings), classes="host")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#report").focus()
