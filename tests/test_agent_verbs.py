"""The guest-agent actions on libvirt's test:/// driver (which fakes the agent's freeze,
thaw, trim, time and password calls and has no guestInfo): one outcome line per guest, bulk
ones asked about first, the password asked twice and never in any line, `--mode agent` for
shutdown and reboot."""

from __future__ import annotations

from kvmtui.core.commands import Command, parse
from kvmtui.core.model import GuestState
from tests.test_controller import started  # noqa: F401  (the fixture)


def _running(controller, count: int):
    guests = [g for g in controller.fleet.snapshot().guests if g.state is GuestState.RUNNING]
    return guests[:count]


async def test_fsfreeze_on_two_guests_asks_once_and_reports_each(started):  # noqa: F811
    controller, operator = started
    guests = _running(controller, 2)
    await controller.run(Command("domfsfreeze", tuple(g.ref for g in guests)))
    assert [q.title for q in operator.questions] == ["Freeze the filesystems of these guests?"]
    assert operator.questions[0].detail == ", ".join(g.ref for g in guests)
    assert not operator.errors
    assert operator.oks == [
        *(f"{g.name} on {g.host}: froze 2 filesystems" for g in guests),
        "domfsfreeze: done on 2 of 2 guests",
    ]


async def test_a_stopped_guest_among_them_is_one_line_and_passed_over(started):  # noqa: F811
    controller, operator = started
    guests = controller.fleet.snapshot().guests
    up = _running(controller, 1)[0]
    off = next(g for g in guests if g.state is GuestState.SHUTOFF)
    await controller.run(Command("domfstrim", (up.ref, off.ref)))
    assert operator.errors == [f"domfstrim: {off.name} on {off.host} is not running"]
    assert operator.oks == [f"{up.name} on {up.host}: filesystems trimmed"]
    assert not operator.questions  # one guest left to act on, and trimming is harmless


async def test_set_user_password_asks_twice_and_never_shows_the_password(started):  # noqa: F811
    controller, operator = started
    guest = _running(controller, 1)[0]
    operator.typed = ["s3cret-Pw", "s3cret-Pw"]
    await controller.command(f"set-user-password {guest.ref} root")
    assert [q.title for q in operator.questions] == [
        f"New password for root on {guest.name} on {guest.host}:",
        "The same password again, for root:",
    ]
    assert operator.oks == [f"{guest.name} on {guest.host}: password of root set"]
    everything = [
        *operator.oks,
        *operator.errors,
        *(q.title + q.detail for q in operator.questions),
    ]
    assert not any("s3cret" in line for line in everything)


async def test_two_different_passwords_set_nothing(started):  # noqa: F811
    controller, operator = started
    guests = _running(controller, 2)
    operator.typed = ["one", "two"]
    await controller.command(f"set-user-password {guests[0].ref} {guests[1].ref} --user ops")
    assert operator.questions[0].title == "New password for ops on 2 guests:"
    assert operator.errors == ["set-user-password: the two passwords differ; nothing set"]
    assert not operator.oks


async def test_domtime_shows_the_clock_and_sync_changes_it(started):  # noqa: F811
    controller, operator = started
    guest = _running(controller, 1)[0]
    assert not parse(f"domtime {guest.ref}").options
    await controller.command(f"domtime {guest.ref}")
    await controller.command(f"domtime {guest.ref} --sync")
    assert operator.oks[0].startswith(f"{guest.name} on {guest.host}: guest time ")
    assert operator.oks[1] == f"{guest.name} on {guest.host}: clock synchronised"


async def test_shutdown_and_reboot_take_virshs_modes(started):  # noqa: F811
    controller, operator = started
    guest = _running(controller, 1)[0]
    await controller.command(f"reboot {guest.ref} --mode agent")
    await controller.command(f"shutdown {guest.ref} --mode bogus")
    assert operator.oks == [f"{guest.name} on {guest.host}: reboot requested (agent)"]
    assert operator.errors == [
        "shutdown: unknown mode 'bogus' (one of acpi, agent, initctl, signal, paravirt)"
    ]
