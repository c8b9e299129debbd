"""A console session hands what the guest printed to its reader in as few pieces as it
came in between reads, and its end after the last of it."""

from __future__ import annotations

from types import SimpleNamespace

from kvmtui.core.console import ConsoleSession


class _Session(ConsoleSession):
    def write(self, data: bytes) -> None:
        pass

    def resize(self, cols: int, rows: int) -> None:
        pass

    async def _release(self) -> None:
        pass


def _session() -> _Session:
    fleet = SimpleNamespace(
        add_event_listener=lambda _l: None, remove_event_listener=lambda _l: None
    )
    guest = SimpleNamespace(name="web-1", host="kvm01", uuid="u")
    return _Session(fleet, guest)  # type: ignore[arg-type]  # a stand-in fleet and guest


async def test_output_that_came_between_reads_is_read_in_one_piece_then_the_end():
    session = _session()
    for line in (b"1\r\n", b"2\r\n", b"3\r\n"):
        session._push(line)
    session._end("detached")
    assert await session.read() == b"1\r\n2\r\n3\r\n"
    assert await session.read() is None
    assert await session.read() is None  # ended stays ended


async def test_a_read_waits_for_the_next_output():
    session = _session()
    session._push(b"login: ")
    assert await session.read() == b"login: "
    session._push(b"root\r\n")
    assert await session.read() == b"root\r\n"
