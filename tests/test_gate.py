"""ReadGate: one on-demand read at a time, at most one per refresh unless forced."""

from __future__ import annotations

from kvmtui.core.gate import ReadGate


def test_one_read_at_a_time_and_once_per_interval():
    now = [0.0]
    gate = ReadGate(1.0, clock=lambda: now[0])
    assert gate.begin()
    now[0] = 5.0
    assert not gate.begin()  # still reading: a slow host is not read twice at once
    assert not gate.begin(force=True)
    gate.end()
    now[0] = 5.5
    assert gate.begin()
    gate.end()
    now[0] = 5.9  # a UI refresh from another host's tick: too soon
    assert not gate.begin()
    assert gate.begin(force=True)  # right after a pin
    gate.end()
    now[0] = 6.8
    assert gate.begin()
