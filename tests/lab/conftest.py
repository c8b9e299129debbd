"""Fixtures for the two-host lab. Every test under tests/lab gets the `lab` marker.

- `lab` (session): runs `scripts/lab up` once (idempotent; a no-op when the runner already
  brought the lab up), then returns a LabInfo. If the lab cannot start the tests skip with
  the reason, or fail when env CI is set. With KVMTUI_LAB_TEARDOWN=1 the session ends with
  `scripts/lab down`.
- `lab_fresh` (function): the lab with every guest back home in its initial state, before
  and after the test (the after runs even when the test fails).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .labinfo import LAB_SCRIPT, LabInfo, run_lab, state_dir

HERE = Path(__file__).resolve().parent


def _truthy(value: str | None) -> bool:
    return bool(value) and value.strip().lower() not in ("0", "false", "no", "off")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.lab)


def _unavailable(reason: str) -> None:
    if _truthy(os.environ.get("CI")):
        pytest.fail(f"the lab is required on CI: {reason}", pytrace=False)
    pytest.skip(f"lab unavailable: {reason}")


@pytest.fixture(scope="session")
def lab() -> Iterator[LabInfo]:
    if os.geteuid() != 0:
        _unavailable("needs root (it runs libvirtd, sshd and a network namespace)")
    if not shutil.which("virsh") and not shutil.which("apt-get"):
        _unavailable("neither libvirt's virsh nor apt-get to install it")
    try:
        cp = run_lab("up", timeout=1200)
    except Exception as e:  # TimeoutExpired, OSError
        _unavailable(f"{LAB_SCRIPT} up: {e}")
    else:
        if cp.returncode != 0:
            _unavailable(f"{LAB_SCRIPT} up exited {cp.returncode}:\n{cp.stderr[-3000:]}")
    info = LabInfo.load(state_dir() / "lab.json")
    try:
        yield info
    finally:
        if _truthy(os.environ.get("KVMTUI_LAB_TEARDOWN")):
            run_lab("down", timeout=300)


@pytest.fixture
def lab_fresh(lab: LabInfo) -> Iterator[LabInfo]:
    lab.reset_guests()
    try:
        yield lab
    finally:
        lab.reset_guests()
