"""Hardware verbs and `edit` from the shell (`kvmtui setvcpus web 3`, `kvmtui edit web`), on
libvirt's test:/// driver: the terminal kvmtui runs on is the editor's, as with virsh edit."""

from __future__ import annotations

import dataclasses
import io
import sys
from pathlib import Path

import pytest

from kvmtui.config import Settings
from kvmtui.core.model import HostSpec
from kvmtui.oneshot import run_command
from kvmtui.verbs.hardware import EDIT_ATTEMPTS
from tests.nodes import NODE_XML


@pytest.fixture
def node_settings(tmp_path: Path) -> Settings:
    path = tmp_path / "kvm1.xml"
    path.write_text(NODE_XML)
    return Settings(
        hosts=(HostSpec("kvm1", f"test://{path}"),),
        readonly=False,
        refresh=0.5,
        theme=None,
        demo=False,
    )


async def _run(settings: Settings, *words: str, yes: bool = False) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = await run_command(
        dataclasses.replace(settings, command=words, yes=yes),
        stdin=io.StringIO(),
        stdout=out,
        stderr=err,
    )
    return status, out.getvalue(), err.getvalue()


async def test_setvcpus_from_the_shell(node_settings):
    assert await _run(node_settings, "setvcpus", "web", "3") == (
        0,
        "web on kvm1: 3 vCPUs (live)\n",
        "",
    )
    status, _out, err = await _run(node_settings, "setmem", "web", "3G")
    assert status == 1
    assert err == (
        "kvmtui: setmem web on kvm1: 3.0 GiB is more than its maximum of 2.0 GiB "
        "(raise it with setmaxmem first)\n"
    )


async def test_an_editor_that_never_fixes_it_ends_even_with_yes(
    node_settings, tmp_path, monkeypatch
):
    """Each run adds one more element libvirt's schema refuses: a new text every time, and
    --yes answers "edit again" each time; the edit still ends, one line per refusal."""
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\np = Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('<devices>', '<devices><bogus/>', 1))\n"
    )
    monkeypatch.setenv("VISUAL", f"{sys.executable} {script}")
    status, out, err = await _run(node_settings, "edit", "off", yes=True)
    lines = err.splitlines()
    assert status == 1 and out == ""
    assert len(lines) == EDIT_ATTEMPTS + 1
    assert all(
        line.startswith("kvmtui: edit off on kvm1: XML document failed to validate")
        for line in lines[:-1]
    )
    assert lines[-1] == (
        f"kvmtui: edit off on kvm1: refused {EDIT_ATTEMPTS} times; discarded, nothing changed"
    )
