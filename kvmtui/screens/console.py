"""A guest's serial console, full screen, with a status line naming guest, host and keys.

Every key goes to the guest except Ctrl+] (detach, as in virsh) and Ctrl+O (hand the real
terminal over: kvmtui steps aside, `virsh console` runs in the terminal, and kvmtui comes
back as it was). When the console ends (the guest stopped or moved, the stream closed) the
screen says why, keeps the last screenful, and `r` reattaches, following the guest if it
moved to another host. A failure to attach is a message naming the guest and the host;
the screen then closes, so the operator is never left on a dead console.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from kvmtui.core.console import ConsoleSession, handover_command, open_console
from kvmtui.core.model import GuestSnapshot
from kvmtui.core.programs import run_in_terminal
from kvmtui.handover import handed_over
from kvmtui.screens.closing import ClosesOnce
from kvmtui.widgets.terminal import TerminalView

if TYPE_CHECKING:
    from kvmtui.app import KvmTuiApp

DETACH_KEY = "ctrl+right_square_bracket"
HANDOVER_KEY = "ctrl+o"


class ConsoleScreen(ClosesOnce[None]):
    VIEW_NAME = "Console"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(DETACH_KEY, "detach", "Detach", key_display="Ctrl+]", id="console.detach"),
        Binding(
            HANDOVER_KEY, "hand_over", "Real terminal", key_display="Ctrl+O", id="console.hand_over"
        ),
        Binding("r", "reattach", "Reattach", id="console.reattach"),
        Binding("escape", "detach", "Back", id="console.back"),
    ]

    app: KvmTuiApp

    def __init__(
        self, guest: GuestSnapshot, devname: str | None = None, force: bool = False
    ) -> None:
        super().__init__()
        self.guest = guest
        self._devname = devname
        self._force = force
        self._session: ConsoleSession | None = None
        self._attached_once = False

    def compose(self) -> ComposeResult:
        yield TerminalView(self._send, self._resized, (DETACH_KEY, HANDOVER_KEY), id="terminal")
        yield Static(id="console-status")

    @property
    def terminal(self) -> TerminalView:
        return self.query_one(TerminalView)

    def on_mount(self) -> None:
        self.terminal.focus()
        self._start()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`r` only once the console ended (while attached, keys belong to the guest)."""
        if action == "reattach":
            # Asked for the footer before compose has run too: no terminal, no reattach yet.
            views = self.query(TerminalView)
            return bool(views) and not views.first().live
        return True

    # ---- attaching ----------------------------------------------------------------------

    def _start(self) -> None:
        self.run_worker(self._console_worker(), group="console", exclusive=True)

    async def _console_worker(self) -> None:
        guest, terminal = self.guest, self.terminal
        self._status(f"attaching to {guest.name} on {guest.host} ...")
        screen = terminal.screen_buffer
        try:
            session = await open_console(
                self.app.fleet, guest, self._devname, self._force, (screen.columns, screen.lines)
            )
        except Exception as error:  # every failure is a message, never a broken screen
            self.app.notify(_failure(guest, error), severity="error", timeout=8)
            if not self._attached_once and self.is_active:
                self.dismiss()
            elif self.is_attached:  # not closed meanwhile (Esc while attaching): say so
                self._status(f"{guest.name} on {guest.host}: not attached · r reattach · Esc back")
            return
        self._attached_once = True
        self._session = session
        terminal.set_live(True)
        self._status(f"{guest.name} on {guest.host} · Ctrl+] detach · Ctrl+O real terminal")
        while (data := await session.read()) is not None:
            terminal.feed(data)
        terminal.set_live(False)
        self._session = None
        reason = session.ended or "closed"
        if reason != "detached":
            self.app.notify(reason, severity="warning", timeout=6)
            self._status(f"{reason} · r reattach · Esc back")
        self.refresh_bindings()

    def _status(self, text: str) -> None:
        self.query_one("#console-status", Static).update(Text(f" {text}"))  # names: as typed

    def _send(self, data: bytes) -> None:
        if self._session is not None:
            self._session.write(data)

    def _resized(self, cols: int, rows: int) -> None:
        if self._session is not None:
            self._session.resize(cols, rows)

    # ---- actions ------------------------------------------------------------------------

    async def _let_go(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def action_detach(self) -> None:
        await self._let_go()
        self.dismiss()

    def action_reattach(self) -> None:
        if self.terminal.live:
            return
        moved = [
            g
            for g in self.app.fleet.snapshot().guests
            if g.uuid == self.guest.uuid and g.state.is_active
        ]
        if moved:
            self.guest = moved[0]
        self._start()

    async def action_hand_over(self) -> None:
        guest = self.guest
        try:
            command = handover_command(self.app.fleet, guest, self._devname)
        except Exception as error:
            self.app.notify(_failure(guest, error), severity="error", timeout=8)
            return
        await self._let_go()
        try:
            with handed_over(self.app, "console"):
                print(f"kvmtui: {guest.name} on {guest.host}; Ctrl+] returns to kvmtui", flush=True)
                await run_in_terminal(command, "console")
        except ValueError as error:  # it did not start, failed, or was killed
            self.app.notify(f"{error}; {guest.name} on {guest.host}", severity="error", timeout=8)
        self._start()


def _failure(guest: GuestSnapshot, error: Exception) -> str:
    text = str(error) or type(error).__name__
    if guest.name in text and guest.host in text:
        return text
    return f"console {guest.name} on {guest.host}: {text}"
