"""The `:` command line, --readonly, help, the hosts view and the detail screen."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

from kvmtui.app import KvmTuiApp
from kvmtui.core.model import GuestState
from tests.ui.helpers import (
    fleet_ready,
    guest,
    keys,
    notifications,
    screen_text,
    status,
    text_of,
    wait_for,
)

SIZE = (100, 30)


async def command(pilot, line: str) -> None:
    await pilot.press("colon", *keys(line), "enter")


async def test_command_line_runs_virsh_verbs(demo_settings):
    app = KvmTuiApp(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await fleet_ready(pilot)
        target = next(
            g
            for g in app.fleet.snapshot().guests
            if g.state is GuestState.SHUTOFF and g.name != "shared-tools"
        )
        await command(pilot, f"start {target.name}")
        await wait_for(pilot, lambda: guest(app, target.name).state is GuestState.RUNNING)
        assert any(f"{target.name} on {target.host}: started" in n for n in notifications(app))
        await command(pilot, f"suspend {target.name}@{target.host}")
        await wait_for(pilot, lambda: guest(app, target.name).state is GuestState.PAUSED)


async def test_bad_commands_say_what_is_wrong(demo_settings):
    app = KvmTuiApp(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await fleet_ready(pilot)
        await command(pilot, "strat web-101")
        await wait_for(pilot, lambda: notifications(app))
        assert 'did you mean "start"' in notifications(app)[-1]
        await command(pilot, "start no-such-guest")
        await wait_for(pilot, lambda: len(notifications(app)) >= 2)
        assert 'no guest named "no-such-guest"' in notifications(app)[-1]
        await command(pilot, "start shared-tools")  # on two hosts
        await wait_for(pilot, lambda: len(notifications(app)) >= 3)
        assert "shared-tools@kvm01" in notifications(app)[-1]
        assert "several hosts" in notifications(app)[-1]


async def test_tab_completes_verbs_and_guest_names(demo_settings):
    app = KvmTuiApp(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await fleet_ready(pilot)
        await pilot.press("colon", *keys("destr"), "tab")
        prompt = app.screen.query_one("#prompt")
        assert prompt.value == "destroy"
        await pilot.press(*keys(" web-1"), "tab")
        assert prompt.value == "destroy web-101"


async def test_host_command_narrows_the_table(demo_settings):
    app = KvmTuiApp(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await fleet_ready(pilot)
        await command(pilot, "host kvm03")
        await wait_for(
            pilot,
            lambda: {g.host for g in app.screen.table.visible_rows()} == {"kvm03"},
            what="only kvm03's guests",
        )
        rows = app.screen.table.visible_rows()
        assert rows and {g.host for g in rows} == {"kvm03"}
        assert "host: kvm03" in status(app)
        await command(pilot, "host")
        await wait_for(
            pilot,
            lambda: (
                {g.host for g in app.screen.table.visible_rows()} == {"kvm01", "kvm02", "kvm03"}
            ),
            what="every host's guests again",
        )


async def test_list_shows_running_guests_as_virsh_list(demo_settings):
    """`:list` is `virsh list`: the running (and paused) guests; `--inactive` the shut-off
    ones; `--all` every guest."""
    app = KvmTuiApp(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await fleet_ready(pilot)
        every = app.fleet.snapshot().guests

        def shown() -> set[str]:
            return {g.ref for g in app.screen.table.visible_rows()}

        for line, expected in [
            ("list", {g.ref for g in every if g.state.is_active}),
            ("list --inactive", {g.ref for g in every if not g.state.is_active}),
            ("list --all", {g.ref for g in every}),
        ]:
            await command(pilot, line)
            await wait_for(pilot, lambda expected=expected: shown() == expected, what=line)
        assert GuestState.SHUTOFF in {g.state for g in every}


async def test_readonly_hides_actions_and_refuses_commands(demo_settings):
    settings = dataclasses.replace(
        demo_settings,
        readonly=True,
        hosts=tuple(dataclasses.replace(h, readonly=True) for h in demo_settings.hosts),
    )
    app = KvmTuiApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await fleet_ready(pilot)
        assert "READ-ONLY" in status(app)
        target = next(g for g in app.fleet.snapshot().guests if g.state is GuestState.RUNNING)
        app.screen.table.select_key(target.key)
        await pilot.press("ctrl+k")  # hidden binding: nothing happens, no dialog
        await pilot.pause()  # until the key has been handled
        assert not app.screen.query("#question")
        await command(pilot, f"destroy {target.ref}")
        await wait_for(pilot, lambda: notifications(app))
        assert "read-only" in notifications(app)[-1]
        assert guest(app, target.name, target.host).state is GuestState.RUNNING


async def test_help_lists_the_screens_keys(demo_settings):
    app = KvmTuiApp(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await fleet_ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        text = screen_text(app)
        for words in ("Start", "Destroy", "Sort by Name", "Mark", ":migrate NAME DESTHOST"):
            assert words in text
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.table is not None


async def test_hosts_view_shows_each_host(demo_settings):
    app = KvmTuiApp(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await fleet_ready(pilot)
        await pilot.press("2")
        await wait_for(pilot, lambda: len(app.screen.table.visible_rows()) == 3)
        hosts = app.screen.table.visible_rows()
        assert [h.name for h in hosts] == ["kvm01", "kvm02", "kvm03"]
        assert all(h.info.libvirt_version == "9.0.0" and h.info.cpus for h in hosts)
        await pilot.press("enter")  # a host's guests
        await wait_for(
            pilot,
            lambda: {g.host for g in app.screen.table.visible_rows()} == {"kvm01"},
            what="kvm01's guests",
        )


async def test_detail_shows_dominfo_and_xml(demo_settings):
    app = KvmTuiApp(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await fleet_ready(pilot)
        chosen = app.screen.table.current
        await pilot.press("enter")
        await wait_for(pilot, lambda: "UUID" in text_of(app.screen.query_one("#dominfo")))
        assert chosen.uuid in text_of(app.screen.query_one("#dominfo"))
        await pilot.press("x")
        await wait_for(pilot, lambda: "<domain" in text_of(app.screen.query_one("#xml-text")))
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.table.current.key == chosen.key


async def test_lost_host_is_shown_with_its_reason_and_others_work(demo_settings):
    bad = dataclasses.replace(
        demo_settings.hosts[0], name="deadhost", uri="qemu+tcp://127.0.0.1:1/system"
    )
    settings = dataclasses.replace(demo_settings, hosts=(*demo_settings.hosts, bad))
    app = KvmTuiApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await fleet_ready(pilot)
        await wait_for(pilot, lambda: "deadhost lost" in text_of(app.screen.query_one("#banner")))
        assert "Connection refused" in text_of(app.screen.query_one("#banner"))
        assert "hosts 3/4 up" in status(app)


async def test_many_lost_hosts_are_counted_first_on_the_banner_then_the_first_listed(
    demo_settings,
):
    bad = tuple(
        dataclasses.replace(demo_settings.hosts[0], name=f"gone{n}", uri=f"test:///gone{n}.xml")
        for n in range(7)
    )
    settings = dataclasses.replace(demo_settings, hosts=(*demo_settings.hosts, *bad))
    app = KvmTuiApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await fleet_ready(pilot)
        banner = lambda: text_of(app.screen.query_one("#banner"))  # noqa: E731
        await wait_for(pilot, lambda: "7 hosts not connected: 7 lost" in banner(), what="count")
        lines = banner().strip().splitlines()
        assert "7 hosts not connected: 7 lost, 0 connecting" in lines[0]
        assert [line.split()[:2] for line in lines[1:]] == [[f"gone{n}", "lost:"] for n in range(4)]
        assert "gone4.xml" not in banner()  # counted on the first line, listed on the hosts view
        assert "hosts 3/10 up" in status(app)


def test_core_does_not_import_textual():
    code = (
        "import sys, pkgutil, importlib, kvmtui.core\n"
        "for m in pkgutil.walk_packages(kvmtui.core.__path__, 'kvmtui.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'rich'))\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, f"kvmtui.core imports the UI toolkit: {result.stdout}"
