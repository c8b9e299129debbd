"""vCPU placement on the demo fleet (libvirt's test:/// driver: it really answers vcpus(),
vcpuPinInfo, getCPUMap and pinVcpuFlags): the vCPUs tab, the pin editor, the `:` verbs,
the host CPU map, read-only mode and the history sparklines."""

from __future__ import annotations

import dataclasses

from textual.pilot import Pilot
from textual.widgets import Sparkline

from kvmtui.app import KvmTuiApp
from kvmtui.core.model import GuestSnapshot, GuestState
from kvmtui.screens.cpumap import CpuMapScreen
from kvmtui.screens.detail import GuestDetailScreen
from kvmtui.screens.pin_editor import PinEditor
from kvmtui.widgets.live_table import LiveTable
from tests.ui.helpers import keys, notifications, screen_text, started, text_of, wait_for

SIZE = (100, 30)


async def command(pilot, line: str) -> None:
    await pilot.press("colon", *keys(line), "enter")


def smp_guest(app: KvmTuiApp) -> GuestSnapshot:
    """A running multi-vCPU guest whose name is unique in the fleet."""
    guests = app.fleet.snapshot().guests
    return next(
        g
        for g in guests
        if g.state is GuestState.RUNNING
        and g.vcpus >= 2
        and sum(1 for o in guests if o.name == g.name) == 1
    )


def rows(table: LiveTable) -> dict[str, list[str]]:
    """What each row of a table shows, by row key, as plain text."""
    return table.shown_texts()


def vcpu_rows(app: KvmTuiApp) -> dict[str, list[str]]:
    return rows(app.screen.query_one("#vcpu-table", LiveTable))


async def vcpu_table_shown(pilot: Pilot) -> None:
    """Both `:vcpuinfo` and a bare `:vcpupin` open the guest on its vCPUs tab."""
    app = pilot.app
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, GuestDetailScreen) and bool(app.screen.query("#vcpu-table")),
        what="the vCPU table",
    )


async def open_vcpus(pilot: Pilot, name: str) -> None:
    await command(pilot, f"vcpuinfo {name}")
    await vcpu_table_shown(pilot)


async def test_vcpus_tab_shows_each_vcpu_with_its_cpu_and_affinity(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        target = smp_guest(app)
        await open_vcpus(pilot, target.name)
        shown = vcpu_rows(app)
        assert sorted(shown) == [str(n) for n in range(target.vcpus)]
        # vCPU, state, CPU now, live affinity, config affinity, grid, CPU%, wait, steal
        assert shown["0"][1] == "running"
        # The demo guests may run on the test node's online CPUs (0, 2, 4) and run on CPU 4.
        assert shown["0"][2] == "4"
        assert shown["0"][3] == "0,2,4" and shown["0"][4] == "0,2,4"
        assert shown["0"][5] == "#.#.#..."
        summary = text_of(app.screen.query_one("#vcpu-summary"))
        assert "which has 8 CPUs (0,2,4 online)" in summary
        assert "Emulator threads: 0,2,4 live, 0,2,4 config" in summary
        await wait_for(pilot, lambda: vcpu_rows(app)["0"][6] != "-", what="a CPU% (2 samples)")


async def test_vcpupin_command_pins_and_bad_list_changes_nothing(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        target = smp_guest(app)
        await command(pilot, f"vcpupin {target.name} 0 1-2")
        await wait_for(pilot, lambda: any("pinned" in n for n in notifications(app)))
        assert f"{target.name} on {target.host}: vCPU 0 pinned to CPUs 1-2 (live)" in (
            notifications(app)
        )
        await command(pilot, f"vcpupin {target.name} 0 9")
        await wait_for(pilot, lambda: any("does not exist" in n for n in notifications(app)))
        assert (
            f"vcpupin {target.name}: CPU 9 does not exist on {target.host} (it has 8 CPUs: 0-7)"
        ) in notifications(app)
        await command(pilot, f"vcpupin {target.name} 0 3-1")
        await wait_for(pilot, lambda: any('bad range "3-1"' in n for n in notifications(app)))
        await command(pilot, f"vcpupin {target.name}")  # only the name: shows the pinning
        await vcpu_table_shown(pilot)
        await wait_for(
            pilot,
            lambda: vcpu_rows(app).get("0", ["", ""])[3:4] == ["1-2"],
            what="vCPU 0 shown pinned to 1-2, untouched by the bad lists",
        )
        assert vcpu_rows(app)["0"][5] == ".##....."
        assert vcpu_rows(app)["1"][3] == "0,2,4"


async def test_pin_editor_takes_a_typed_list_and_explains_a_bad_one(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        target = smp_guest(app)
        await open_vcpus(pilot, target.name)
        await pilot.press("down")  # vCPU 1
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PinEditor), what="the editor")
        assert "Pin vCPU 1 of" in screen_text(app)
        await pilot.press(*["backspace"] * 5, *keys("12"))
        await wait_for(pilot, lambda: "CPU 12 does not exist" in screen_text(app))
        await pilot.press("enter")  # refused: the editor stays open
        assert isinstance(app.screen, PinEditor)
        await pilot.press("backspace", "backspace", *keys("0,^0,3"))
        await wait_for(pilot, lambda: "does not exist" not in screen_text(app))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, GuestDetailScreen))
        await wait_for(pilot, lambda: vcpu_rows(app)["1"][3] == "3", what="vCPU 1 on CPU 3")
        assert any("vCPU 1 pinned to CPUs 3 (live)" in n for n in notifications(app))


async def test_pin_editor_grid_toggles_cpus(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        target = smp_guest(app)
        await open_vcpus(pilot, target.name)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PinEditor))
        await pilot.press("tab")  # to the grid: cursor on CPU 0
        await pilot.press("space", "right", "space")  # CPU 0 off, CPU 1 on
        assert app.screen.query_one("#pin-list").value == "1-2,4"
        await pilot.press("shift+tab", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, GuestDetailScreen))
        await wait_for(pilot, lambda: vcpu_rows(app)["0"][3] == "1-2,4")


async def test_cpu_map_shows_vcpus_per_cpu_and_overcommit(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        target = smp_guest(app)
        await command(pilot, f"vcpupin {target.name} 0 4")  # an online CPU of the test node
        await wait_for(pilot, lambda: any("pinned" in n for n in notifications(app)))
        await pilot.press("2")
        await wait_for(
            pilot,
            lambda: app.current_mode == "hosts" and app.screen.table.row_count == 3,
            what="the hosts table",
        )
        app.screen.table.select_key(target.host)
        await pilot.pause()
        assert app.screen.table.current.name == target.host
        await pilot.press("k")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, CpuMapScreen) and app.screen.cpu_map is not None,
            what="the CPU map",
        )
        cpu_map = app.screen.cpu_map
        running = sum(
            g.vcpus
            for g in app.fleet.snapshot().guests
            if g.host == target.host and g.state.is_active
        )
        assert cpu_map.running_vcpus == running
        headline = text_of(app.screen.query_one("#status"))
        assert f"CPU map: {target.host}" in headline
        # The hosts view's pCPU (3: getInfo's online CPUs) is what the ratio is reckoned on.
        assert app.fleet.host(target.host).snapshot().info.cpus == 3
        assert "-%" not in headline  # no load figure reads "-", as everywhere
        assert f"3 of 8 CPUs online, {running} vCPUs, {running / 3:.2f}:1 overcommit" in headline
        grid = text_of(app.screen.query_one("#pcpu-grid"))
        assert f"{target.name}:0" in grid.splitlines()[5]  # header + CPUs 0..4: on CPU 4
        table_rows = rows(app.screen.query_one("#cpumap-vcpus", LiveTable))
        assert table_rows[f"{target.uuid}:0"][3] == "4"
        assert app.fleet.host_load_seen()  # its host history: the load read every tick
        await pilot.press("escape")
        await wait_for(
            pilot,
            lambda: app.current_mode == "hosts" and not isinstance(app.screen, CpuMapScreen),
            what="the hosts view",
        )
        assert app.fleet.host_load_seen()  # the hosts view's own CPU% column
        await pilot.press("1")
        await wait_for(pilot, lambda: app.current_mode == "guests", what="the guests view")
        await wait_for(
            pilot, lambda: not app.fleet.host_load_seen(), what="no view showing the hosts' load"
        )


async def test_contended_cpu_reads_without_colour():
    from kvmtui.core.placement import HostCpuMap, HostCpus, PcpuInfo, VcpuRef
    from kvmtui.screens.cpumap import headline, pcpu_table
    from tests.ui.helpers import Console, io

    refs = tuple(VcpuRef("g", "u", n, "running", 0, frozenset({0})) for n in range(2))
    cpu_map = HostCpuMap(
        "h",
        HostCpus("h", 2, frozenset({0, 1})),
        (PcpuInfo(0, True, 50.0, refs), PcpuInfo(1, True, 0.0, ())),
        refs,
    )
    console = Console(width=100, record=True, file=io.StringIO(), color_system=None)
    console.print(pcpu_table(cpu_map))
    lines = console.export_text().splitlines()
    assert "CONTENDED (2)" in lines[1] and "g:0 g:1" in lines[1]
    assert "CONTENDED" not in lines[2]
    assert "1.00:1" in headline(cpu_map).plain and "1 CONTENDED" in headline(cpu_map).plain


async def test_cpu_map_pins_the_chosen_vcpu(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        app.open_cpu_map("kvm02")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, CpuMapScreen)
                and app.screen.table is not None
                and app.screen.table.row_count > 0
            ),
        )
        chosen = app.screen.table.current
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PinEditor))
        await pilot.press(*["backspace"] * 5, *keys("2"), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CpuMapScreen))
        key = f"{chosen.uuid}:{chosen.number}"
        await wait_for(pilot, lambda: rows(app.screen.table)[key][3] == "2")


async def test_readonly_hides_pin_keys_and_refuses_pin_commands(demo_settings):
    settings = dataclasses.replace(
        demo_settings,
        readonly=True,
        hosts=tuple(dataclasses.replace(h, readonly=True) for h in demo_settings.hosts),
    )
    async with started(settings, SIZE) as (app, pilot):
        target = smp_guest(app)
        await command(pilot, f"vcpupin {target.name} 0 1")
        await wait_for(pilot, lambda: any("read-only" in n for n in notifications(app)))
        await command(pilot, f"emulatorpin {target.name} 1")
        await wait_for(pilot, lambda: sum("read-only" in n for n in notifications(app)) == 2)
        await open_vcpus(pilot, target.name)
        await pilot.press("enter", "j")
        await wait_for(
            pilot,
            lambda: sum("read-only" in n for n in notifications(app)) == 4,
            what="Enter and j each to say why",
        )
        assert not isinstance(app.screen, PinEditor)
        footer_keys = {b.binding.key for b in app.screen.active_bindings.values() if b.enabled}
        assert "j" not in footer_keys
        assert vcpu_rows(app)["0"][3] == "0,2,4"
        app.open_cpu_map(target.host)
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, CpuMapScreen)
                and app.screen.table is not None
                and app.screen.table.row_count > 0
            ),
        )
        await pilot.press("enter", "p")
        await pilot.pause()  # until the keys have been handled
        assert isinstance(app.screen, CpuMapScreen)
        assert "p" not in {b.binding.key for b in app.screen.active_bindings.values() if b.enabled}


async def test_history_tab_draws_sparklines(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        target = smp_guest(app)
        await wait_for(
            pilot,
            lambda: len(app.history.guest(target.key, "cpu")) >= 3,
            what="three ticks of history",
        )
        app.open_detail(target)
        await wait_for(pilot, lambda: app.screen.query("#guest-history"), what="the detail")
        await pilot.press("g")  # the History tab's key
        await wait_for(pilot, lambda: "CPU:" in screen_text(app))
        sparks = {s.id: s for s in app.screen.query(Sparkline)}
        assert set(sparks) == {"spark-cpu", "spark-memory", "spark-used", "spark-disk", "spark-net"}
        assert len(sparks["spark-memory"].data) >= 3
        assert "Memory:" in screen_text(app) and "peak over" in screen_text(app)
        # The test driver gives no CPU figure: "-" as in the table's CPU% column, not 0.0 %.
        assert app.fleet.find_guest(target.key).rates.cpu_percent is None
        assert "CPU: - now, - peak over" in screen_text(app)
