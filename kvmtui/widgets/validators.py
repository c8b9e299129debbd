"""Validators for every input line: a typed value is checked, and the reason for a refusal
shown, before anything reaches int(), a parser's caller or libvirt.

Each wraps the core's own checker (`parse`, `parse_cpulist`, `check_name`), so the message
under a field is the message the action itself would give.
"""

from __future__ import annotations

import unicodedata

from textual.validation import ValidationResult, Validator

from kvmtui.core.commands import CommandError, parse
from kvmtui.core.cpulist import CpuListError, parse_cpulist
from kvmtui.core.snapshots import check_name


class PlainText(Validator):
    """Any text without control characters: a filter or a password is matched or sent as
    typed, but a pasted escape, NUL or newline is never what was meant."""

    def validate(self, value: str) -> ValidationResult:
        bad = next((ch for ch in value if unicodedata.category(ch) == "Cc"), None)
        if bad is not None:
            return self.failure(f"control character {bad!a} is not allowed", value)
        return self.success()


class CommandLine(Validator):
    """A `:` line the command parser accepts (virsh's verbs and argument order)."""

    def validate(self, value: str) -> ValidationResult:
        try:
            parse(value)
        except CommandError as error:
            return self.failure(str(error), value)
        return self.success()


class CpuList(Validator):
    """A virsh CPU list (`0-3,^2`, `r`) naming only CPUs the host has."""

    def __init__(self, count: int, host: str) -> None:
        super().__init__()
        self.count = count
        self.host = host

    def validate(self, value: str) -> ValidationResult:
        try:
            parse_cpulist(value, self.count, self.host)
        except CpuListError as error:
            return self.failure(str(error), value)
        return self.success()


def refusal(result: ValidationResult | None) -> str:
    """Why a value was refused, for the line under the field; "" when it was accepted."""
    if result is None or result.is_valid:
        return ""
    return "; ".join(result.failure_descriptions)


class SnapshotName(Validator):
    """A name `check_name` takes; empty too when libvirt may choose one (a single guest)."""

    def __init__(self, may_be_empty: bool) -> None:
        super().__init__()
        self.may_be_empty = may_be_empty

    def validate(self, value: str) -> ValidationResult:
        if not value and self.may_be_empty:
            return self.success()
        try:
            check_name(value)
        except ValueError as error:
            return self.failure(str(error), value)
        return self.success()
