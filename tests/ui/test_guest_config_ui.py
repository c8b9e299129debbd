"""Clone, undefine with storage, domrename, desc, send-key and inject-nmi as an operator meets
them: keys, dialogs and `:` lines on libvirt's test:/// driver, read back from the screen
and from libvirt."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Static
from textual.widgets._toast import Toast

from kvmtui.app import KvmTuiApp
from kvmtui.config import Settings
from kvmtui.core.model import HostSpec
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.detail import GuestDetailScreen
from kvmtui.screens.guest_config import CloneDialog, UndefineDialog
from kvmtui.widgets.toggles import TickBox
from tests.clone_node import write_node
from tests.ui.helpers import keys, notifications, select, table_names, text_of, wait_for

SIZE = (110, 32)


@asynccontextmanager
async def node_app(
    tmp_path: Path, readonly: bool = False, hosts: tuple[str, ...] = ("kvm1",), toasts: bool = False
) -> AsyncIterator[tuple[KvmTuiApp, Pilot]]:
    """The app on the clone node (web, off, bare, tmpl on each host) with its guests listed;
    `toasts` draws the notifications (Textual's test mode leaves them out)."""
    specs = tuple(HostSpec(name, write_node(tmp_path / f"{name}.xml"), readonly) for name in hosts)
    settings = Settings(hosts=specs, readonly=False, refresh=0.5, theme=None, demo=False)
    app = KvmTuiApp(settings)
    async with app.run_test(size=SIZE, notifications=toasts) as pilot:
        await wait_for(
            pilot,
            lambda: len(app.screen.table.visible_rows()) == 4 * len(hosts),
            what="every guest",
        )
        yield app, pilot


async def _volumes(app: KvmTuiApp, host: str = "kvm1") -> set[str]:
    """The pool's volumes, read through the app's own host: a test:/// node lives in the
    connection that opened it."""
    return set(
        await app.fleet.host(host).run(lambda c: c.storagePoolLookupByName("images").listVolumes())
    )


async def _command(pilot: Pilot, line: str) -> None:
    await pilot.press("colon", *keys(line), "enter")


async def _answer(pilot: Pilot, yes: bool) -> str:
    """Waits for the confirmation, answers it, and returns what it asked."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
    asked = "\n".join(text_of(w) for w in app.screen.query(Static))
    await pilot.press(*(("tab", "enter") if yes else ("enter",)))
    return asked


async def test_f_clones_the_guest_under_the_cursor(tmp_path):
    async with node_app(tmp_path) as (app, pilot):
        await select(pilot, "tmpl@kvm1")
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, CloneDialog), what="the dialog")
        name = app.screen.query_one("#clone-name", Input)
        assert name.value == "tmpl-clone"
        # A taken name is refused under the field and the dialog stays.
        name.value = "off"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, CloneDialog)
        assert "kvm1 already has a guest of that name" in text_of(app.screen.query_one("#why"))
        name.value = "fresh"
        await pilot.press("tab", "space")
        assert app.screen.query_one("#clone-linked", TickBox).value
        await pilot.press("tab", "tab", "enter")  # past Cancel to Clone
        await wait_for(pilot, lambda: "fresh@kvm1" in table_names(app), what="the clone")
        await wait_for(
            pilot,
            lambda: any("cloned to fresh (linked" in n for n in notifications(app)),
            what="the report",
        )
        assert {"fresh-vda.qcow2", "fresh-vdb.qcow2"} <= await _volumes(app)


async def test_clone_line_refusals_change_nothing(tmp_path):
    async with node_app(tmp_path) as (app, pilot):
        before = await _volumes(app), table_names(app)
        for line, error in (
            ("clone tmpl off", 'clone tmpl on kvm1: a guest named "off" already exists there'),
            ("clone web web2", "clone web on kvm1: it is running and its disks would change"),
            ("clone tmpl x --host elsewhere", "no host named 'elsewhere'"),
            ("clone nosuch x", 'no guest named "nosuch"'),
        ):
            await _command(pilot, line)
            await wait_for(
                pilot, lambda e=error: any(e in n for n in notifications(app)), what=error
            )
        assert (await _volumes(app), table_names(app)) == before


async def test_clone_onto_another_host_leaves_nothing_when_it_cannot_copy(tmp_path):
    """A linked clone stays with its backing files (refused, with the reason); a full one
    streams the volumes, which the test driver cannot: one line, and no volume or guest left
    on either host (the lab test copies for real)."""
    async with node_app(tmp_path, hosts=("kvm1", "kvm2")) as (app, pilot):
        before = (await _volumes(app), await _volumes(app, "kvm2"), table_names(app))
        await _command(pilot, "clone tmpl@kvm1 copy --host kvm2 --linked")
        await wait_for(
            pilot,
            lambda: any(
                "a linked clone stays on kvm1, with the volumes it is backed by" in n
                for n in notifications(app)
            ),
            what="the refusal",
        )
        await _command(pilot, "clone tmpl@kvm1 copy --host kvm2")
        await wait_for(
            pilot,
            lambda: any(
                "clone tmpl on kvm1: copying vda to copy-vda" in n and "on kvm2" in n
                for n in notifications(app)
            ),
            what="the failed copy",
        )
        assert (await _volumes(app), await _volumes(app, "kvm2"), table_names(app)) == before
        await _command(pilot, "clone tmpl@kvm2 copy --host kvm2")
        await wait_for(pilot, lambda: "copy@kvm2" in table_names(app), what="the clone")
        assert "copy@kvm1" not in table_names(app)


async def test_ctrl_d_deletes_only_the_ticked_volume_after_naming_it(tmp_path):
    async with node_app(tmp_path) as (app, pilot):
        await select(pilot, "tmpl@kvm1")
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, UndefineDialog), what="the dialog")
        boxes = list(app.screen.query(TickBox))
        assert [str(b.label) for b in boxes] == [
            "vda /var/lib/images/tmpl.qcow2",
            "vdb /var/lib/images/tmpl-data.raw",
            "vdc /var/lib/images/data.raw (read-only)",
        ]
        assert not any(b.value for b in boxes)
        boxes[0].value = True
        await pilot.click("#undefine-go")
        asked = await _answer(pilot, yes=True)
        assert "Undefine tmpl on kvm1 and delete 1 volume?" in asked
        assert "vda  /var/lib/images/tmpl.qcow2" in asked and "tmpl-data" not in asked
        await wait_for(pilot, lambda: "tmpl@kvm1" not in table_names(app), what="tmpl gone")
        assert await _volumes(app) == {"web.qcow2", "data.raw", "tmpl-data.raw"}


async def test_undefine_storage_lines(tmp_path):
    async with node_app(tmp_path) as (app, pilot):
        # web's vdc lives outside every pool: refused before anything changes.
        await _command(pilot, "undefine web --remove-all-storage")
        await wait_for(
            pilot,
            lambda: any(
                "kvmtui deletes storage only through libvirt" in n for n in notifications(app)
            ),
            what="the refusal",
        )
        assert "web@kvm1" in table_names(app)
        # Declining the question keeps everything.
        await _command(pilot, "undefine tmpl --storage vdb")
        assert "tmpl-data.raw" in await _answer(pilot, yes=False)
        await _command(pilot, "undefine tmpl --storage vdc")  # web's disk too: said so
        assert "vdc  /var/lib/images/data.raw  (also a disk of web!)" in await _answer(
            pilot, yes=False
        )
        await pilot.pause()
        assert "tmpl@kvm1" in table_names(app) and "tmpl-data.raw" in await _volumes(app)
        await _command(pilot, "undefine tmpl --remove-all-storage")
        asked = await _answer(pilot, yes=True)
        assert "delete 2 volumes" in asked
        await wait_for(pilot, lambda: "tmpl@kvm1" not in table_names(app), what="tmpl gone")
        assert await _volumes(app) == {"web.qcow2", "data.raw"}


async def test_rename_desc_send_key_and_nmi_lines(tmp_path):
    async with node_app(tmp_path) as (app, pilot):
        await _command(pilot, "domrename off spare")
        await wait_for(pilot, lambda: "spare@kvm1" in table_names(app), what="the new name")
        assert "off@kvm1" not in table_names(app)
        await _command(pilot, "domrename web web2")
        await wait_for(
            pilot,
            lambda: any("cannot rename active domain" in n for n in notifications(app)),
            what="the refusal",
        )

        await _command(pilot, "desc web --title '[red]Front end[/red]'")
        await _command(pilot, "desc web Serves the shop")
        await wait_for(
            pilot,
            lambda: any("description set" in n for n in notifications(app)),
            what="the description",
        )
        await select(pilot, "web@kvm1")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, GuestDetailScreen)
                and "Serves the shop" in text_of(app.screen.query_one("#dominfo"))
            ),
            what="the detail screen",
        )
        info = text_of(app.screen.query_one("#dominfo"))
        assert "[red]Front end[/red]" in info  # as typed, not as markup
        await pilot.press("escape")

        await _command(pilot, "send-key web KEY_LEFTCTRL KEY_LEFTALT KEY_DELETE")
        await wait_for(
            pilot,
            lambda: any(
                "sent KEY_LEFTCTRL KEY_LEFTALT KEY_DELETE" in n for n in notifications(app)
            ),
            what="the keys",
        )
        await _command(pilot, "send-key web KEY_DELTE")
        await wait_for(
            pilot,
            lambda: any('unknown key "KEY_DELTE"' in n for n in notifications(app)),
            what="the bad key",
        )
        await _command(pilot, "inject-nmi web")
        assert "crash dump or a kernel panic" in await _answer(pilot, yes=True)
        await wait_for(
            pilot, lambda: any("NMI injected" in n for n in notifications(app)), what="the NMI"
        )


async def test_a_read_only_host_refuses_clone_and_undefine(tmp_path):
    async with node_app(tmp_path, readonly=True) as (app, pilot):
        await select(pilot, "tmpl@kvm1")
        await pilot.press("f", "ctrl+d")
        await wait_for(
            pilot,
            lambda: sum("host kvm1 is read-only" in n for n in notifications(app)) == 2,
            what="each key to say why",
        )
        assert not isinstance(app.screen, CloneDialog | UndefineDialog)
        await _command(pilot, "clone tmpl copy")
        await wait_for(
            pilot,
            lambda: any("clone: host kvm1 is read-only" in n for n in notifications(app)),
            what="the refusal",
        )
        assert "copy@kvm1" not in table_names(app)


async def test_a_clone_named_like_markup_reads_as_typed(tmp_path):
    name = "[bold red]x'<&>"  # markup, quotes, XML: all data
    async with node_app(tmp_path, toasts=True) as (app, pilot):
        await select(pilot, "tmpl@kvm1")
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, CloneDialog), what="the dialog")
        app.screen.query_one("#clone-name", Input).value = name
        await pilot.press("enter")
        await wait_for(pilot, lambda: f"{name}@kvm1" in table_names(app), what="the clone")
        await wait_for(
            pilot,
            lambda: (
                f"cloned to {name} (full copy: vda -> {name}-vda.qcow2"
                in "\n".join(str(t.render()) for t in app.screen.query(Toast))
            ),
            what="the toast, as typed",
        )
