"""What a new user sees first on the demo: figures that agree across screens, headers that
fit at 100 columns."""

from __future__ import annotations

from kvmtui.screens.cpumap import CpuMapScreen
from kvmtui.widgets.live_table import LiveTable
from tests.ui.helpers import keys, started, text_of, wait_for

SIZE = (100, 30)


async def test_hosts_table_and_cpu_map_agree_on_cpus(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        await pilot.press("2")
        await wait_for(
            pilot,
            lambda: app.current_mode == "hosts" and app.screen.table.row_count == 3,
            what="the hosts table",
        )
        shown = app.screen.table.shown_texts()
        pcpu = next(i for i, c in enumerate(app.screen.table.columns_spec) if c.key == "pcpus")
        assert {row[pcpu] for row in shown.values()} == {"3"}
        await pilot.press("k")  # CPUs, as k is a guest's vCPUs
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, CpuMapScreen) and app.screen.cpu_map is not None,
            what="the CPU map",
        )
        cpu_map = app.screen.cpu_map
        assert cpu_map.cpus.count == 8 and sorted(cpu_map.cpus.online) == [0, 2, 4]
        assert all(v.pcpu in cpu_map.cpus.online for v in cpu_map.vcpus if v.pcpu is not None)
        assert "8 CPUs" in text_of(app.screen.query_one("#status"))


async def test_vcpu_table_headers_fit_even_with_the_sort_arrow(demo_settings):
    async with started(demo_settings, SIZE) as (app, pilot):
        running = next(g for g in app.fleet.snapshot().guests if g.state.is_active and g.vcpus >= 2)
        await pilot.press("colon", *keys(f"vcpuinfo {running.name}@{running.host}"), "enter")
        await wait_for(pilot, lambda: bool(app.screen.query("#vcpu-table")), what="the vCPU table")
        table = app.screen.query_one("#vcpu-table", LiveTable)
        await wait_for(pilot, lambda: table.row_count > 0, what="the vCPUs")
        header = table.render_line(0).text
        assert "…" not in header
        words = header.split()
        assert words[0] == "vCPU▲"  # sorted by vCPU: the arrow fits too
        assert words[1:] == [
            "State",
            "CPU",
            "Affinity",
            "Config",
            "Grid",
            "CPU%",
            "Wait%",
            "Steal%",
        ]
