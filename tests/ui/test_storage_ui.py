"""`:pools` and `:vols` on the demo fleet (libvirt's test:/// driver, an `images` pool per
host holding the guests' disks and two unused volumes), driven as an operator would."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kvmtui.screens.confirm import ConfirmScreen
from tests.ui.helpers import notifications, started, status, text_of, wait_for

SIZE = (120, 30)


def rows(app) -> list:
    return app.screen.table.visible_rows()


def names(app) -> set[str]:
    return {f"{row.name}@{row.host}" for row in rows(app)}


async def command(pilot, line: str) -> None:
    """Types `:line` and Enter, and waits for the outcome line it reports."""
    app = pilot.app
    before = {n.identity for n in app._notifications}  # old ones expire: count new ones
    await pilot.press("colon", *line, "enter")
    await wait_for(
        pilot,
        lambda: (
            {n.identity for n in app._notifications} - before
            or isinstance(app.screen, ConfirmScreen)
        ),
        what=f"the outcome of {line}",
    )


async def reread(pilot) -> None:
    """The storage read again from libvirt, so what is shown is what exists now."""
    app = pilot.app
    await app.run_worker(app.services.storage.refresh()).wait()
    await pilot.pause(0.3)


async def show(pilot, view: str, count: int) -> None:
    await pilot.press("colon", *view, "enter")
    await wait_for(pilot, lambda: len(rows(pilot.app)) >= count, what=f"{view} to fill")


async def test_pools_lead_to_their_volumes_and_say_who_uses_them(demo_settings) -> None:
    async with started(demo_settings, SIZE) as (app, pilot):
        await show(pilot, "pools", 3)
        assert names(app) == {"images@kvm01", "images@kvm02", "images@kvm03"}
        shown = app.screen.table.shown_texts()
        assert shown["images@kvm02"][:5] == ["images", "kvm02", "dir", "running", "no"]
        assert shown["images@kvm02"][-1] == "/var/lib/libvirt/images"
        app.screen.table.select_key("images@kvm02")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.view.name == "vols" and rows(app))
        assert {row.host for row in rows(app)} == {"kvm02"}
        assert "pool: images@kvm02" in status(app)
        by_name = {row.name: row for row in rows(app)}
        assert by_name["backup-208.qcow2"].used_by == ("backup-208",)
        texts = app.screen.table.shown_texts()
        assert "unused" in texts["images/old-web.qcow2@kvm02"]
        await pilot.press("escape")  # the pool chosen goes: every host's volumes again
        await wait_for(
            pilot, lambda: {row.host for row in rows(app)} == {"kvm01", "kvm02", "kvm03"}
        )


async def test_a_volume_created_cloned_and_deleted_with_its_path_shown(demo_settings) -> None:
    async with started(demo_settings, SIZE) as (app, pilot):
        await show(pilot, "vols", 30)
        await command(pilot, "vol-create-as images new.qcow2 1G --host kvm01")
        assert notifications(app)[-1] == (
            "volume /var/lib/libvirt/images/new.qcow2 (qcow2, 1G) created on kvm01"
        )
        await wait_for(pilot, lambda: "new.qcow2@kvm01" in names(app))
        await command(pilot, "vol-clone new.qcow2 copy.qcow2 --host kvm01")
        await wait_for(pilot, lambda: "copy.qcow2@kvm01" in names(app))
        app.screen.table.select_key("images/copy.qcow2@kvm01")
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "/var/lib/libvirt/images/copy.qcow2 on kvm01. No guest uses it." in text_of(
            app.screen.query_one("#detail")
        )
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: "copy.qcow2@kvm01" not in names(app))
        assert (
            notifications(app)[-1] == "volume /var/lib/libvirt/images/copy.qcow2 deleted on kvm01"
        )


async def test_a_volume_a_guest_uses_is_not_deleted_unless_forced(demo_settings) -> None:
    async with started(demo_settings, SIZE) as (app, pilot):
        await show(pilot, "vols", 30)
        app.screen.table.select_key("images/backup-208.qcow2@kvm02")
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: notifications(app))
        assert notifications(app)[-1] == (
            "vol-delete: /var/lib/libvirt/images/backup-208.qcow2 on kvm02 is used by "
            "backup-208 (add --force to delete it anyway)"
        )
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("c")  # cancel an upload: there is none into this volume
        await wait_for(pilot, lambda: notifications(app)[-1].startswith("no upload"))
        await command(pilot, "vol-delete backup-208.qcow2 --host kvm02 --force")
        assert "Used by backup-208." in text_of(app.screen.query_one("#detail"))
        await pilot.press("escape")  # Cancel: nothing deleted
        await pilot.pause(0.2)
        await reread(pilot)
        assert "backup-208.qcow2@kvm02" in names(app)


async def test_bad_input_says_one_line_and_creates_nothing(demo_settings, tmp_path: Path) -> None:
    local = tmp_path / "image.raw"
    local.write_bytes(b"\0" * 65536)
    async with started(demo_settings, SIZE) as (app, pilot):
        await show(pilot, "vols", 30)
        before = names(app)
        for line, said in [
            (
                "vol-create-as images big 10QB --host kvm01",
                "vol-create-as: unknown size unit 'QB' in '10QB': use K, M, G, T, P or E "
                "(KiB ... for 1024, KB ... for 1000)",
            ),
            (
                "vol-create-as images old-web.qcow2 1G --host kvm01",
                "vol-create-as old-web.qcow2 in images on kvm01: operation failed: "
                "storage vol already exists",
            ),
            (
                "vol-create-as images x 1G",
                'vol-create-as: pool "images" is on several hosts (kvm01, kvm02, kvm03): '
                "say images@kvm01",
            ),
            (
                "vol-create-as imgs x 1G --host kvm01",
                'vol-create-as: no pool "imgs" on host kvm01 (did you mean "images"?)',
            ),
            (
                "vol-upload images up.raw /nonexistent/file --host kvm01",
                'vol-upload: no file "/nonexistent/file" here',
            ),
            (
                f"vol-upload images up.raw {local} --host kvm01",
                "vol-upload up.raw to images on kvm01: this function is not supported by the "
                "connection driver: virStorageVolUpload",
            ),
            (
                "pool-define-as p zfs --target /x --host kvm01",
                'pool-define-as: unsupported pool type "zfs" (use dir, netfs, logical)',
            ),
            (
                "pool-define-as p netfs --target /mnt/p --host kvm01",
                "pool-define-as: a netfs pool needs --source-host, --source-path",
            ),
        ]:
            await command(pilot, line)
            assert notifications(app)[-1] == said
        await reread(pilot)
        assert names(app) == before


async def test_hostile_names_are_shown_as_typed(demo_settings) -> None:
    async with started(demo_settings, SIZE) as (app, pilot):
        await show(pilot, "vols", 30)
        await command(pilot, "vol-create-as images '[red]x [b]' 1M --host kvm03 --format raw")
        await wait_for(pilot, lambda: "[red]x [b]@kvm03" in names(app))
        texts = app.screen.table.shown_texts()["images/[red]x [b]@kvm03"]
        assert texts[0] == "[red]x [b]" and texts[3] == "raw"
        await command(pilot, "vol-create-as images a/../../etc/x 1M --host kvm03")
        assert notifications(app)[-1] == (
            "vol-create-as: \"a/../../etc/x\" is not a volume name (no '/', no control characters)"
        )


async def test_a_pool_defined_started_stopped_and_undefined_by_keys(demo_settings) -> None:
    async with started(demo_settings, SIZE) as (app, pilot):
        await show(pilot, "pools", 3)
        await command(pilot, "pool-define-as scratch dir --target /srv/scratch --host kvm03")
        assert notifications(app)[-1] == "pool scratch (dir, /srv/scratch) defined on kvm03"
        await wait_for(pilot, lambda: "scratch@kvm03" in names(app))
        table = app.screen.table
        table.select_key("scratch@kvm03")
        assert table.shown_texts()["scratch@kvm03"][3] == "inactive"
        for key, shows in (("s", "running"), ("a", "yes")):
            await pilot.press(key)
            await wait_for(
                pilot,
                lambda s=shows: s in table.shown_texts()["scratch@kvm03"],
                what=f"the pool to show {shows}",
            )
        await pilot.press("ctrl+k")  # stopping a pool asks first
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: table.shown_texts()["scratch@kvm03"][3] == "inactive")
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: "scratch@kvm03" not in names(app))


async def test_a_readonly_host_dims_its_storage_keys(demo_settings) -> None:
    hosts = tuple(dataclasses.replace(h, readonly=h.name == "kvm02") for h in demo_settings.hosts)
    async with started(dataclasses.replace(demo_settings, hosts=hosts), SIZE) as (app, pilot):
        await show(pilot, "vols", 30)
        app.screen.table.select_key("images/old-web.qcow2@kvm02")
        await pilot.pause()
        assert app.screen.check_action("delete", ()) is None  # dimmed
        await pilot.press("ctrl+d")  # says why, asks nothing
        await wait_for(
            pilot,
            lambda: notifications(app)[-1:] == ["vol-delete: host kvm02 is read-only"],
            what="Ctrl+D to say why",
        )
        assert not isinstance(app.screen, ConfirmScreen)
        app.screen.table.select_key("images/old-web.qcow2@kvm01")
        await pilot.pause()
        assert app.screen.check_action("delete", ()) is True
        await command(pilot, "vol-delete old-web.qcow2 --host kvm02")
        assert notifications(app)[-1] == "vol-delete: host kvm02 is read-only"
        assert "old-web.qcow2@kvm02" in names(app)
