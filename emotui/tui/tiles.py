"""Camera tiles: a grid of small previews, one per camera, each with its name, state and faces.

A tile is fed a TileState, a plain snapshot of what it shows, so that any console can use it: the
local one builds them from its pipelines, a fleet console from what devices publish. The grid is
1, 2×2 or 3×3 tiles (grid_side); with more cameras than tiles it shows them a page at a time, the
page holding the selected camera. Arrows move the selection, Enter (or a click on the selected
tile) asks to focus it: the grid posts CameraGrid.Selected and CameraGrid.Opened, the app decides."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from emotui.tui.preview import AUTO, Preview, PreviewBox

MAX_SIDE = 3  # tiles across and down at most: 3x3
MIN_TILE_COLUMNS, MIN_TILE_ROWS = 30, 8  # a 3x3 grid needs tiles at least this big, else 2x2 and pages
ALERT_LINE_FROM_ROWS = 6  # a shorter tile leaves out its last-alert line, for the picture
STATE_STYLES = {
    "live": "bold green", "connecting": "yellow", "retrying": "yellow", "lost": "bold red", "failed": "bold red",
    "error": "bold red", "offline": "bold red", "ended": "dim", "paused": "yellow", "starting": "dim",
}


@dataclass(frozen=True)
class TileState:
    """What a camera tile shows. `state` is a word (live, connecting, retrying…, lost, ended,
    paused, offline), possibly followed by a detail ("retrying, retry in 2 s"); `picture` is the
    newest BGR frame (None: the tile says the state instead); `boxes` are drawn on it."""

    name: str
    state: str
    faces: int = 0
    dominant: str = ""  # the dominant emotion shown, "" with no face
    last_alert: str = ""  # e.g. "fear #3 10:15:03"
    picture: np.ndarray | None = None
    boxes: tuple[PreviewBox, ...] = ()


def grid_side(cameras: int, columns: int, rows: int) -> int:
    """Tiles across (and down) for `cameras` in a columns x rows area: 1 for one camera, 3 for more
    than four when 3x3 tiles of MIN_TILE_COLUMNS x MIN_TILE_ROWS fit, else 2."""
    if cameras <= 1:
        return 1
    if cameras > 4 and columns // MAX_SIDE >= MIN_TILE_COLUMNS and rows // MAX_SIDE >= MIN_TILE_ROWS:
        return MAX_SIDE
    return 2


def state_style(state: str) -> str:
    """The colour of a state by its first word."""
    return STATE_STYLES.get(state.split(",")[0].split()[0] if state.strip() else "", "yellow")


class CameraTile(Vertical):
    """One camera: a title line (number, name, state, faces, dominant emotion), its picture in half
    blocks and a line with its last alert. Clicking it posts Clicked."""

    DEFAULT_CSS = """
    CameraTile { height: 1fr; width: 1fr; }
    CameraTile > .tile-title { height: 1; background: $boost; }
    CameraTile.selected > .tile-title { background: $accent; color: $text; }
    CameraTile > Preview { height: 1fr; }
    CameraTile > .tile-alert { height: 1; color: $text-muted; }
    """

    @dataclass
    class Clicked(Message):
        tile: CameraTile

    def __init__(self, colour_mode: str = AUTO) -> None:
        super().__init__()
        self.index = -1  # the camera's position in the grid's list (-1: none)
        self.preview = Preview(colour_mode=colour_mode)
        self._title = Static(classes="tile-title")
        self._alert = Static(classes="tile-alert")
        self._shown: tuple | None = None

    def compose(self) -> ComposeResult:
        yield self._title
        yield self.preview
        yield self._alert

    def show(self, index: int, state: TileState) -> None:
        """Show camera number index + 1; the picture is drawn again only when it is another frame."""
        self.index = index
        shown = (index, state.name, state.state, state.faces, state.dominant, state.last_alert)
        if shown != self._shown:
            self._shown = shown
            title = Text(no_wrap=True, overflow="ellipsis")
            title.append(f" {index + 1} ", style="bold reverse")
            title.append(f" {state.name} ", style="bold")
            title.append(state.state, style=state_style(state.state))
            title.append(f"  {state.faces} face{'s' if state.faces != 1 else ''}")
            if state.dominant:
                title.append(f"  {state.dominant}")
            self._title.update(title)
            self._alert.update(Text(f" last alert: {state.last_alert}" if state.last_alert else " no alert",
                                    no_wrap=True, overflow="ellipsis"))
        if state.picture is None:
            self.preview.clear(state.state)
        else:
            self.preview.show(state.picture, state.boxes)

    def on_resize(self, event: events.Resize) -> None:
        self._alert.display = event.size.height >= ALERT_LINE_FROM_ROWS

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Clicked(self))


class CameraGrid(Widget, can_focus=True):
    """The cameras as tiles, grid_side(count, width, height) across and down, a page at a time.
    `show(states)` updates the tiles; `selected` is the selected camera's index."""

    DEFAULT_CSS = """
    CameraGrid { layout: grid; grid-gutter: 0 1; height: 1fr; width: 1fr; }
    """
    BINDINGS = [
        Binding("left", "move(-1, 0)", "previous camera", show=False),
        Binding("right", "move(1, 0)", "next camera", show=False),
        Binding("up", "move(0, -1)", "camera above", show=False),
        Binding("down", "move(0, 1)", "camera below", show=False),
        Binding("enter", "open", "focus", show=True),
    ]

    @dataclass
    class Selected(Message):
        """The selection moved to camera `index`."""

        index: int

    @dataclass
    class Opened(Message):
        """Enter, or a click on the selected tile: focus camera `index`."""

        index: int

    def __init__(self, colour_mode: str = AUTO, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tiles = [CameraTile(colour_mode) for _ in range(MAX_SIDE * MAX_SIDE)]
        self.states: list[TileState] = []
        self.selected = 0
        self.side = 1

    def compose(self) -> ComposeResult:
        yield from self.tiles

    @property
    def per_page(self) -> int:
        return self.side * self.side

    def show(self, states: Sequence[TileState]) -> None:
        """Show the cameras of the selected one's page."""
        self.states = list(states)
        self.selected = min(self.selected, max(0, len(self.states) - 1))
        self._layout_tiles()

    def select(self, index: int) -> None:
        """Select camera `index` (its page is shown)."""
        if 0 <= index < len(self.states) and index != self.selected:
            self.selected = index
            self._layout_tiles()
            self.post_message(self.Selected(index))

    def on_resize(self, event: events.Resize) -> None:
        self._layout_tiles()

    def _layout_tiles(self) -> None:
        side = grid_side(len(self.states), self.size.width, self.size.height)
        if side != self.side:
            self.side = side
            self.styles.grid_size_columns = self.styles.grid_size_rows = side
        first = self.selected // self.per_page * self.per_page
        for position, tile in enumerate(self.tiles):
            index = first + position
            tile.display = position < self.per_page
            tile.visible = index < len(self.states)  # an empty cell on the last page
            if tile.display and tile.visible:
                tile.show(index, self.states[index])
                tile.set_class(index == self.selected, "selected")
            else:
                tile.index = -1

    @property
    def page_text(self) -> str:
        """"page 2/3" with more cameras than tiles, else ""."""
        pages = -(-len(self.states) // self.per_page)
        return f"page {self.selected // self.per_page + 1}/{pages}" if pages > 1 else ""

    def action_move(self, across: int, down: int) -> None:
        """Arrows: the next camera left, right, above or below, across pages (cameras in reading order)."""
        self.select(min(max(self.selected + across + down * self.side, 0), len(self.states) - 1))

    def action_open(self) -> None:
        if self.states:
            self.post_message(self.Opened(self.selected))

    def on_camera_tile_clicked(self, message: CameraTile.Clicked) -> None:
        index = message.tile.index
        if index < 0:
            return
        self.focus()
        if index == self.selected:
            self.post_message(self.Opened(index))
        else:
            self.select(index)
