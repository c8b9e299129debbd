"""Storage on the real lab's host A: a directory pool defined, started, filled through the
one-shot command line (a volume created, resized, cloned; a local file uploaded over the
host's libvirt connection and read back byte for byte), emptied and removed; an upload
cancelled half-way leaves no volume. Bad input says one line and creates nothing.

The pool lives in the test's own directory (host A's libvirtd sees the same file system),
so nothing of the lab's own pools or guests is touched.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.commands import CommandError
from kvmtui.core.fleet import Fleet
from kvmtui.core.model import HostSpec
from kvmtui.core.storage.pools import PoolSource, define_pool, pool_action
from kvmtui.core.storage.service import StorageService
from tests.nodes import until
from tests.ui.helpers import keys, notifications, wait_for

from .labinfo import LabInfo

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[2]
POOL = "kvmtui-storage-test"


def _kvmtui(uri: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvmtui", "-c", uri, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def _ok(uri: str, *args: str) -> str:
    result = _kvmtui(uri, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _refused(uri: str, *args: str) -> str:
    """The one line a refused command says; it must say exactly one."""
    result = _kvmtui(uri, *args)
    assert result.returncode != 0 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr.strip()


def _virtual_size(path: Path) -> tuple[str, int]:
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "-U", "--output=json", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    return info["format"], info["virtual-size"]


@pytest.fixture
def pool_dir(lab: LabInfo, tmp_path: Path) -> Iterator[Path]:
    """An empty directory for the pool; the pool is gone afterwards, whatever happened."""
    directory = tmp_path / "pool"
    directory.mkdir()
    try:
        yield directory
    finally:
        lab.virsh("hosta", "pool-destroy", POOL)
        lab.virsh("hosta", "pool-undefine", POOL)


def test_a_pool_filled_through_the_command_line_and_removed(
    lab: LabInfo, pool_dir: Path, tmp_path: Path
) -> None:
    uri = lab.host("hosta").uri_tcp
    host = "10.213.0.1"  # the name a host given by -c URI goes by
    missing = tmp_path / "no-such-dir"
    said = _refused(uri, "pool-define-as", POOL, "dir", "--target", str(missing))
    assert str(missing) in said and "No such file or directory" in said
    assert lab.virsh("hosta", "pool-info", POOL).returncode != 0, "nothing defined"

    assert _ok(uri, "pool-define-as", POOL, "dir", "--target", str(pool_dir)) == (
        f"pool {POOL} (dir, {pool_dir}) defined on {host}"
    )
    assert _ok(uri, "pool-start", POOL) == f"pool {POOL} on {host}: started"

    _ok(uri, "vol-create-as", POOL, "disk.qcow2", "16M")
    assert _virtual_size(pool_dir / "disk.qcow2") == ("qcow2", 16 * 1024**2)
    assert "exists already" in _refused(uri, "vol-create-as", POOL, "disk.qcow2", "16M")
    assert "unknown size unit 'QB'" in _refused(uri, "vol-create-as", POOL, "big", "10QB")
    assert not (pool_dir / "big").exists()

    _ok(uri, "vol-resize", "disk.qcow2", "32M", "--pool", POOL)
    assert _virtual_size(pool_dir / "disk.qcow2") == ("qcow2", 32 * 1024**2)
    _ok(uri, "vol-clone", "disk.qcow2", "copy.qcow2", "--pool", POOL)
    assert _virtual_size(pool_dir / "copy.qcow2") == ("qcow2", 32 * 1024**2)

    local = tmp_path / "image.raw"
    local.write_bytes(os.urandom(9 * 1024**2 + 123))  # several chunks and a ragged end
    lines = _ok(uri, "vol-upload", POOL, "image.raw", str(local)).splitlines()
    assert lines[-1] == f"{local} uploaded to {pool_dir / 'image.raw'} on {host}"
    assert re.fullmatch(rf"{POOL}/image\.raw@{host}: [\d.]+ MiB of 9\.0 MiB \(\d+%\)", lines[0]), (
        "a progress line comes first"
    )
    assert (pool_dir / "image.raw").read_bytes() == local.read_bytes()

    for name in ("image.raw", "copy.qcow2", "disk.qcow2"):
        assert "add --yes" in _refused(uri, "vol-delete", name, "--pool", POOL)
        _ok(uri, "vol-delete", name, "--pool", POOL, "--yes")
        assert not (pool_dir / name).exists()
    _ok(uri, "pool-destroy", POOL, "--yes")
    _ok(uri, "pool-undefine", POOL, "--yes")
    assert lab.virsh("hosta", "pool-info", POOL).returncode != 0


async def test_an_upload_shows_progress_and_a_cancelled_one_leaves_nothing(
    lab: LabInfo, pool_dir: Path, tmp_path: Path
) -> None:
    local = tmp_path / "big.raw"
    local.write_bytes(os.urandom(64 * 1024**2))
    fleet = Fleet([HostSpec("hosta", lab.host("hosta").uri_tcp)], refresh=60.0)
    await fleet.start()
    try:
        host = fleet.host("hosta")
        await until(lambda: host.connected, "hosta to connect")
        await define_pool(host, POOL, "dir", PoolSource(target=str(pool_dir)))
        await pool_action(host, POOL, "pool-start")
        service = StorageService(fleet)
        seen: list[float] = []

        def follow() -> None:
            """Reads the progress on each notice, as the volumes view does, and cancels
            (the view's `c`) once the first chunks are in."""
            upload = service.uploads().get(f"{POOL}/big.raw@hosta")
            if upload is not None and upload.done:
                seen.append(upload.percent)
                upload.cancel()

        service.add_listener(follow)
        with pytest.raises(CommandError, match="cancelled; the partial volume was deleted"):
            await service.upload(host, POOL, "big.raw", local)
        assert seen and 0 < max(seen) < 100, f"progress shown, stopped half-way: {seen}"
        assert not (pool_dir / "big.raw").exists()
        assert "big.raw" not in {v.name for v in service.volumes()}

        service.remove_listener(follow)
        image = tmp_path / "small.qcow2"  # libvirt reads an uploaded image's own format
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M"], check=True)
        path = await service.upload(host, POOL, "small.qcow2", image)
        assert Path(path).read_bytes() == image.read_bytes()
        volume = next(v for v in service.volumes() if v.name == "small.qcow2")
        assert (volume.format, volume.capacity) == ("qcow2", 64 * 1024**2)
        assert volume.unused and volume.uploading is None
    finally:
        await fleet.close()


async def test_an_upload_from_the_volumes_view_shows_progress_and_c_cancels_it(
    lab: LabInfo, pool_dir: Path, tmp_path: Path
) -> None:
    """The operator's way: the pool defined and started from the `:` line, the upload's row
    reading `uploading N%`, `c` on it, and the volume gone again."""
    local = tmp_path / "big.raw"
    with local.open("wb") as sparse:  # reads back as zeros: quick to make, slow to send;
        sparse.truncate(32 * 1024**3)  # a warm host takes 1 GiB in under a second
    hosts = tuple(HostSpec(name, host.uri_tcp) for name, host in lab.hosts.items())
    app = KvmTuiApp(Settings(hosts=hosts, readonly=False, refresh=1.0, theme=None, demo=False))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: all(h.connected for h in app.fleet.hosts), 30, "both hosts")
        for line in (
            f"pool-define-as {POOL} dir --target {pool_dir} --host hosta",
            f"pool-start {POOL} --host hosta",
            "vols",
            f"vol-upload {POOL} big.raw {local} --host hosta",
        ):
            await pilot.press("colon", *keys(line), "enter")
            await pilot.pause(0.3)
        key = f"{POOL}/big.raw@hosta"
        table = app.screen.table
        await wait_for(
            pilot,
            lambda: (
                key in table.shown_texts() and "uploading" in " ".join(table.shown_texts()[key])
            ),
            30,
            "the upload's row",
        )
        table.select_key(key)
        await wait_for(
            pilot,
            lambda: re.search(r"uploading [1-9]\d?%", " ".join(table.shown_texts()[key])),
            30,
            "some progress",
        )
        await pilot.press("c")
        await wait_for(
            pilot, lambda: any("cancelled" in n for n in notifications(app)), 30, "the cancel"
        )
        assert notifications(app)[-1] == (
            "vol-upload big.raw: cancelled; the partial volume was deleted"
        )
        await wait_for(pilot, lambda: key not in table.shown_texts(), 10, "the row to go")
        assert not (pool_dir / "big.raw").exists()
