"""Pure parts of migration: options to libvirt's flags and params, progress, ETA, stalls."""

from __future__ import annotations

import libvirt
import pytest

from kvmtui.core.migration import (
    MigrationOptions,
    MigrationProgress,
    default_migrate_uri,
    eta_seconds,
    not_converging,
)


def test_defaults_are_live_persistent_undefinesource():
    options = MigrationOptions()
    assert options.flags == (
        libvirt.VIR_MIGRATE_LIVE
        | libvirt.VIR_MIGRATE_PERSIST_DEST
        | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    )


def test_extra_flags_add_to_the_defaults():
    options = MigrationOptions.from_flags({"auto-converge", "postcopy"}, bandwidth_mib=20)
    assert {"live", "persistent", "undefinesource"} <= options.chosen
    assert options.flags & libvirt.VIR_MIGRATE_AUTO_CONVERGE
    assert options.flags & libvirt.VIR_MIGRATE_POSTCOPY
    assert options.params("qemu+tcp://10.213.0.2/system") == {
        libvirt.VIR_MIGRATE_PARAM_URI: "tcp://10.213.0.2",
        libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 20,
    }


def test_a_mode_flag_means_exactly_what_was_given_as_in_virsh():
    options = MigrationOptions.from_flags({"offline", "persistent"})
    assert options.flags == libvirt.VIR_MIGRATE_OFFLINE | libvirt.VIR_MIGRATE_PERSIST_DEST


def test_unknown_flag_is_refused():
    with pytest.raises(ValueError, match="bogus"):
        MigrationOptions.from_flags({"bogus"})


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("qemu+tcp://10.213.0.2/system", "tcp://10.213.0.2"),
        ("qemu+ssh://root@hostb:2222/system?keyfile=/k", "tcp://hostb"),
        ("qemu+tcp://[fd00::2]/system", "tcp://[fd00::2]"),
        ("qemu:///system", ""),
        ("test:///default", ""),
    ],
)
def test_default_migrate_uri_is_the_destination_address(uri, expected):
    assert default_migrate_uri(uri) == expected


def test_explicit_uri_wins_and_tunnelled_sends_none():
    given = MigrationOptions(migrate_uri="tcp://192.0.2.9:49152")
    assert given.params("qemu+tcp://hostb/system")[libvirt.VIR_MIGRATE_PARAM_URI] == (
        "tcp://192.0.2.9:49152"
    )
    tunnelled = MigrationOptions.from_flags({"p2p", "tunnelled"})
    assert libvirt.VIR_MIGRATE_PARAM_URI not in tunnelled.params("qemu+tcp://hostb/system")


def test_progress_from_job_stats():
    p = MigrationProgress.from_stats(
        {
            "type": 2,
            "time_elapsed": 4636,
            "data_total": 134750208,
            "data_processed": 88224229,
            "data_remaining": 33687552,
            "memory_bps": 20168048,
            "memory_dirty_rate": 1000,
            "memory_page_size": 4096,
            "memory_iteration": 2,
            "downtime": 300,
            "setup_time": 1,
        }
    )
    assert p.elapsed == pytest.approx(4.636)
    assert p.percent == pytest.approx(75.0)
    assert p.dirty_rate_bps == 4096000
    assert p.iteration == 2 and p.downtime_ms == 300
    assert p.eta == pytest.approx(33687552 / (20168048 - 4096000))


def test_eta_unknown_or_never():
    assert eta_seconds(None, 1e6, 0) is None
    assert eta_seconds(100, 0, 0) is None
    assert eta_seconds(100, 10, None) == 10
    assert eta_seconds(100, 10, 10) is None  # dirtied as fast as sent: never by itself


def _sample(bps: float, dirty: float) -> MigrationProgress:
    return MigrationProgress(throughput_bps=bps, dirty_rate_bps=dirty)


def test_not_converging_needs_several_samples_in_a_row():
    fast = _sample(20e6, 1e6)
    slow = _sample(20e6, 25e6)
    assert not not_converging([slow] * 3)
    assert not_converging([fast, slow, slow, slow, slow])
    assert not not_converging([slow, slow, slow, fast])
    assert not not_converging([_sample(0, 0)] * 5)  # nothing measured yet


def test_remedies_follow_the_options():
    assert "switch to post-copy (p)" in MigrationOptions.from_flags({"postcopy"}).remedies()
    plain = MigrationOptions().remedies()
    assert any("auto-converge" in r for r in plain)
    converging = MigrationOptions.from_flags({"auto_converge"})
    assert not any("auto-converge" in r for r in converging.remedies())


def test_describe_names_what_was_chosen():
    text = MigrationOptions.from_flags({"auto-converge"}, bandwidth_mib=20).describe()
    assert text == "live persistent undefinesource auto-converge bandwidth=20MiB/s"
