"""One source per concept: libvirt's numbers in words, libvirt's errors in sentences."""

from __future__ import annotations

import libvirt
import pytest

from kvmtui.core.errors import describe
from kvmtui.core.model import GuestState
from kvmtui.core.words import close_reason, did_you_mean, guest_state, vcpu_state

libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors arrive as exceptions


def test_a_real_libvirt_error_reads_as_libvirts_own_message():
    conn = libvirt.open("test:///default")
    try:
        with pytest.raises(libvirt.libvirtError) as caught:
            conn.lookupByName("test").create()  # it runs already
    finally:
        conn.close()
    assert describe(caught.value) == "internal error: Domain 'test' is already running"


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (TimeoutError(), "no answer (timed out)"),
        (RuntimeError(), "RuntimeError"),
        (ValueError("bad value"), "bad value"),
    ],
)
def test_other_errors_are_never_empty(error, text):
    assert describe(error) == text


def test_states_and_reasons_read_as_virsh_says_them():
    assert guest_state(libvirt.VIR_DOMAIN_SHUTOFF) is GuestState.SHUTOFF
    assert guest_state(libvirt.VIR_DOMAIN_PMSUSPENDED).value == "pmsuspended"
    assert guest_state(99) is GuestState.NOSTATE  # a state a newer libvirt adds
    assert vcpu_state(libvirt.VIR_VCPU_RUNNING) == "running" and vcpu_state(7) == "7"
    assert close_reason(libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE) == "no answer to keepalive"
    assert close_reason(9) == "closed (reason 9)"


def test_did_you_mean_suggests_only_a_near_miss():
    assert did_you_mean("strat", ["start", "shutdown"]) == ' (did you mean "start"?)'
    assert did_you_mean("zzz", ["start", "shutdown"]) == ""
