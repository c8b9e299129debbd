"""kvmtui as an operator runs it: over `ssh -t` into lab host A, in tmux at 80x24, driven
with keys (scripts/e2e-ssh-80x24 says what it checks, step by step)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .labinfo import LabInfo

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "e2e-ssh-80x24"


@pytest.mark.timeout(240)
def test_console_and_terminal_handover_over_ssh_at_80x24(lab_fresh: LabInfo) -> None:
    done = subprocess.run(
        [str(SCRIPT)], capture_output=True, text=True, timeout=220, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0 and "e2e OK" in done.stdout, done.stdout + done.stderr
