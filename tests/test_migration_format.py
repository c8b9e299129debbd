"""How a migration reads: the one flag definition, the Options line, the bar and the graphs.

Pure rendering of frozen JobSnapshots and MigrationJobs: no libvirt call is made or mocked.
"""

from __future__ import annotations

import libvirt
import pytest

from kvmtui.core.commands import VERBS, parse
from kvmtui.core.migration import (
    DEFAULT_FLAGS,
    FLAG_WORDS,
    MAX_BANDWIDTH_MIB,
    MIGRATION_FLAGS,
    JobState,
    MigrationJob,
    MigrationOptions,
    MigrationProgress,
)
from kvmtui.core.model import GuestSnapshot, GuestState
from kvmtui.widgets.migration import (
    bar_text,
    clock,
    columns,
    figure_rows,
    graph_lines,
    pass_marks,
    sparkline,
)

MIB = 2**20


def test_every_flag_has_one_word_one_bit_and_the_grammar_takes_those_and_skip_forecast():
    words = [flag.word for flag in MIGRATION_FLAGS]
    assert len(set(words)) == len(words)
    bits = [flag.bit for flag in MIGRATION_FLAGS]
    assert all(bits) and len(set(bits)) == len(bits)
    assert VERBS["migrate"].flags == FLAG_WORDS | {"skip-forecast"}
    assert set(words) == FLAG_WORDS
    for flag in MIGRATION_FLAGS:
        command = parse(f"migrate web1 hostb --{flag.word}")
        options = MigrationOptions.from_flags({w for w in FLAG_WORDS if command.flag(w)})
        assert options.flags & flag.bit, flag.word
        assert flag.word in options.describe().split()
    assert MigrationOptions(FLAG_WORDS).flags == sum(bits)
    assert MigrationOptions().flags == (
        libvirt.VIR_MIGRATE_LIVE
        | libvirt.VIR_MIGRATE_PERSIST_DEST
        | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    )
    assert {"live", "persistent", "undefinesource"} == DEFAULT_FLAGS


@pytest.mark.parametrize("bandwidth", [-1, MAX_BANDWIDTH_MIB + 1])
def test_a_bandwidth_out_of_range_is_refused(bandwidth):
    with pytest.raises(ValueError, match="bandwidth"):
        MigrationOptions(bandwidth_mib=bandwidth)


def _job(bandwidth: int = 8) -> MigrationJob:
    guest = GuestSnapshot(
        "hosta", "web1", "5f0c7a5e-0000-4000-8000-000000000001", GuestState.RUNNING
    )
    return MigrationJob(1, guest, "hostb", MigrationOptions(bandwidth_mib=bandwidth))


def _reading(
    second: int, iteration: int, remaining_mib: float, bps_mib: float = 8, dirty_mib: float = 1
) -> MigrationProgress:
    return MigrationProgress(
        elapsed=float(second),
        data_total=128 * MIB,
        data_processed=second * 8 * MIB,
        data_remaining=int(remaining_mib * MIB),
        throughput_bps=bps_mib * MIB,
        dirty_rate_bps=dirty_mib * MIB,
        iteration=iteration,
    )


def _options_line(job: MigrationJob) -> str:
    return str(dict(figure_rows(job.snapshot()))["Options"])


def test_the_options_line_follows_speed_downtime_and_postcopy():
    """What `s`, `d` and `p` leave on a job (the manager sets these after libvirt took
    the call): the Options line says what holds now, not what the job started with."""
    job = _job(bandwidth=8)
    assert _options_line(job) == "live persistent undefinesource bandwidth=8MiB/s"
    job.options = MigrationOptions(bandwidth_mib=30)
    job.max_downtime_ms = 500
    job.postcopy = True
    assert _options_line(job) == (
        "live persistent undefinesource bandwidth=30MiB/s "
        "max-downtime=500ms (switched to post-copy)"
    )


def test_sparkline_scales_to_the_top_and_leaves_gaps_blank():
    assert sparkline([0, 50, 100, None], 100) == "▁▅█ "
    assert sparkline([200], 100) == "█"  # a reading above the scale is clipped
    assert sparkline([5, 5], 0) == "▁▁"


def test_columns_span_the_whole_migration_latest_last():
    history = [_reading(s, 1, 100 - s) for s in range(100)]
    shown = columns(history, 10)
    assert len(shown) == 10 and shown[-1] is history[-1]
    assert shown[0].elapsed == 9.0
    assert columns(history[:3], 10) == history[:3]


def test_pass_marks_number_each_memory_pass_where_it_begins():
    readings = [_reading(s, i, 10) for s, i in enumerate([1, 1, 1, 2, 2, 2, 12, 12, 12, 13])]
    assert pass_marks(readings) == "1  2  12 |"
    crowded = [_reading(s, i, 10) for s, i in enumerate([1, 2, 3, 4])]
    assert pass_marks(crowded) == "1 3 "  # no room for 2: the next number says one was passed


def test_graphs_show_a_converging_migration_with_its_passes():
    """Three passes, remaining data falling, the guest dirtying far less than is sent."""
    job = _job()
    remaining = [120, 100, 80, 60, 40, 30, 20, 12, 6, 3]
    iterations = [1, 1, 1, 1, 1, 2, 2, 2, 3, 3]
    job.state = JobState.RUNNING
    # libvirt's first reading, before it has sized the guest: not a point on the graphs.
    job.samples = [MigrationProgress(data_total=0, data_remaining=0, throughput_bps=0)]
    job.samples += [
        _reading(s, i, r) for s, (i, r) in enumerate(zip(iterations, remaining, strict=True))
    ]
    lines = graph_lines(job.snapshot(), 80).plain.splitlines()
    throughput, dirty, left, passes = lines
    assert throughput.startswith("Throughput  ██████████") and throughput.endswith("8.0 MiB/s")
    # The dirty rate on the throughput's scale: an eighth of it, one level up from the floor.
    assert dirty.startswith("Dirty rate  ▂▂▂▂▂▂▂▂▂▂") and dirty.endswith("1.0 MiB/s")
    # Remaining on the scale of the guest's 128 MiB.
    assert left.startswith("Remaining   █▆▅▄▃▃▂▂▁▁") and left.endswith("3.0 MiB")
    assert passes.rstrip() == "Pass        1    2  3"
    assert all(len(line) == 80 for line in lines[:3])


def test_the_bar_reads_without_colour():
    job = _job()
    job.state = JobState.RUNNING
    job.samples = [_reading(3, 1, remaining_mib=32)]
    assert bar_text(job.snapshot(), 8).plain == "██████░░  75%"
    job.state = JobState.SUCCEEDED
    assert bar_text(job.snapshot(), 8).plain == "████████ 100%"


def test_clock_keeps_the_jobs_column_narrow():
    assert [clock(s) for s in (None, 7.9, 754, 3723)] == ["-", "0:07", "12:34", "1:02:03"]
