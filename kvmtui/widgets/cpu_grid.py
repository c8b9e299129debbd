"""An affinity grid over a host's physical CPUs: one cell per CPU, toggled with keys.

Each cell reads `[x]`, `[ ]` or `[-]` (offline) next to the CPU's number, so the choice
is clear without colour; while the grid has focus, the cursor cell is drawn reversed.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

CELL_WIDTH = 7
BAR_LIMIT = 32


def affinity_bar(cpus: frozenset[int], count: int) -> str:
    """A one-line picture of an affinity, `#` per allowed CPU and `.` per other one."""
    bar = "".join("#" if cpu in cpus else "." for cpu in range(min(count, BAR_LIMIT)))
    return bar + ("…" if count > BAR_LIMIT else "")


class CpuGrid(Widget, can_focus=True):
    """See the module docstring. `selected` is the chosen set of CPUs."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(-1)", "Previous CPU", show=False, id="cpugrid.left"),
        Binding("right", "move(1)", "Next CPU", show=False, id="cpugrid.right"),
        Binding("up", "move_row(-1)", "CPU above", show=False, id="cpugrid.up"),
        Binding("down", "move_row(1)", "CPU below", show=False, id="cpugrid.down"),
        Binding("space", "toggle_cpu", "Toggle CPU", id="cpugrid.toggle"),
        Binding("a", "all", "All CPUs", id="cpugrid.all"),
    ]

    selected: reactive[frozenset[int]] = reactive(frozenset())
    cursor: reactive[int] = reactive(0)

    class Changed(Message):
        def __init__(self, grid: CpuGrid) -> None:
            super().__init__()
            self.grid = grid
            self.selected = grid.selected

    def __init__(
        self, count: int, online: frozenset[int], selected: frozenset[int], *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.count = count
        self.online = online
        self.set_reactive(CpuGrid.selected, frozenset(selected))

    @property
    def per_row(self) -> int:
        return max(1, (self.size.width or 80) // CELL_WIDTH)

    def render(self) -> Text:
        text = Text()
        for cpu in range(self.count):
            if cpu and cpu % self.per_row == 0:
                text.append("\n")
            mark = "x" if cpu in self.selected else (" " if cpu in self.online else "-")
            style = "reverse" if cpu == self.cursor and self.has_focus else ""
            text.append(f"{cpu:>3}[{mark}]", style=style)
            text.append(" " * (CELL_WIDTH - 6))
        return text

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        per_row = max(1, width // CELL_WIDTH)
        return max(1, -(-self.count // per_row))

    def set_selected(self, cpus: frozenset[int]) -> None:
        """Shows a choice made elsewhere (the typed list) without echoing it back."""
        self.set_reactive(CpuGrid.selected, frozenset(cpus))
        self.refresh()

    def action_move(self, step: int) -> None:
        self.cursor = (self.cursor + step) % self.count

    def action_move_row(self, step: int) -> None:
        target = self.cursor + step * self.per_row
        if 0 <= target < self.count:
            self.cursor = target

    def action_toggle_cpu(self) -> None:
        self.selected = self.selected ^ {self.cursor}
        self.post_message(self.Changed(self))

    def action_all(self) -> None:
        self.selected = frozenset(range(self.count))
        self.post_message(self.Changed(self))

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
