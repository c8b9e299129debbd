"""A guest's graphical console: where its display listens, and `o` to open it.

Opening forwards the display to a port on this machine (core/display.py says how) and starts
the viewer on a desktop; on a jump box it shows the two commands to run on the operator's
own machine, which `y` copies to the clipboard (OSC 52, if the terminal allows it).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from kvmtui.core.display import (
    Display,
    DisplayError,
    Opened,
    Via,
    one_display,
    open_display,
    read_displays,
    viewer_failure,
)
from kvmtui.core.host import HostError
from kvmtui.core.model import GuestSnapshot
from kvmtui.widgets.footer import KeysFooter

if TYPE_CHECKING:
    from kvmtui.app import KvmTuiApp


class DisplayScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close", id="display.close"),
        Binding("o", "open", "Open viewer", id="display.open"),
        Binding("y", "copy", "Copy commands", id="display.copy"),
    ]

    app: KvmTuiApp

    def __init__(self, guest: GuestSnapshot, open_now: bool = False) -> None:
        super().__init__()
        self.guest = guest
        self.open_now = open_now
        self.graphics: Display | None = None
        self.opened: Opened | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="display-dialog"):
            yield Static(
                Text(f"Graphical console: {self.guest.name} on {self.guest.host}", style="bold"),
                id="display-title",
            )
            yield Static("reading the display ...", id="display-info")
            yield Static("", id="display-outcome")
        yield KeysFooter()

    def on_mount(self) -> None:
        self._read()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open":
            return self.graphics is not None
        if action == "copy":
            return self.opened is not None and self.opened.commands is not None
        return True

    def _say(self, widget: str, text: Text | str) -> None:
        self.query_one(f"#{widget}", Static).update(text if isinstance(text, Text) else Text(text))

    @work(group="display", exclusive=True)
    async def _read(self) -> None:
        host = self.app.fleet.host(self.guest.host)
        try:
            displays = await read_displays(host, self.guest.uuid, self.guest.name)
            self.graphics = one_display(displays, self.guest.name, self.guest.host)
        except (DisplayError, HostError) as error:
            self._say("display-info", Text(str(error), style="red"))
            return
        self._say("display-info", self.graphics.summary)
        self.refresh_bindings()
        if self.open_now:
            self.action_open()

    @work(group="display", exclusive=True)
    async def action_open(self) -> None:
        if self.graphics is None:
            return
        self._say("display-outcome", "forwarding ...")
        host = self.app.fleet.host(self.guest.host)
        try:
            self.opened = await open_display(
                self.app.displays,
                host,
                self.guest.uuid,
                self.graphics,
                self.app.settings.viewer,
                os.environ,
            )
        except (DisplayError, HostError) as error:
            self._say("display-outcome", Text(str(error), style="red"))
            return
        self._say("display-outcome", outcome(self.opened))
        self.refresh_bindings()
        if self.opened.process is not None:  # the app's: it outlives this screen
            self.app.run_worker(self._watch_viewer(self.opened), group="viewer")

    async def _watch_viewer(self, opened: Opened) -> None:
        failure = await viewer_failure(opened)
        if failure is None:
            return
        self.app.notify(failure, severity="error", timeout=8)
        if self.is_attached and self.opened is opened:
            self._say("display-outcome", Text(failure, style="red"))

    def action_close(self) -> None:
        """Only while on top: keys typed fast may still reach this screen once it is gone."""
        if self.is_current:
            self.dismiss()

    def action_copy(self) -> None:
        if self.opened is None or self.opened.commands is None:
            return
        self.app.copy_to_clipboard("\n".join(self.opened.commands) + "\n")
        self.app.notify("Commands copied (OSC 52: if your terminal allows it)", timeout=4)


def outcome(opened: Opened) -> Text:
    """What was done, in words, with the commands on lines of their own to copy by hand."""
    forward = opened.forward
    if forward.route.via is Via.LOCAL:
        text = Text(f"It listens on this machine: localhost:{forward.local_port}\n\n")
    else:
        how = forward.route.description
        text = Text(
            f"{how[0].upper()}{how[1:]} to localhost:"
            f"{forward.local_port} on this machine, open until kvmtui exits\n\n"
        )
    if opened.viewer is not None:
        text.append("Viewer started: ", style="bold")
        text.append(" ".join(opened.viewer))
        return text
    text.append(f"No viewer here: {opened.why_commands}.\n", style="yellow")
    text.append("On your own machine, run:\n\n")
    assert opened.commands is not None
    for command in opened.commands:
        text.append(f"  {command}\n", style="bold")
    text.append("\n(the first one keeps running; y copies both)", style="dim")
    return text
