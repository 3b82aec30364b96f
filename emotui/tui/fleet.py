"""`emotui fleet`: a tile per camera of every emotui device on a broker, their events in one list,
and arming and thresholds sent back to the selected camera (arming also to every camera of its
device). Runs without models or cameras: it imports none of the vision code (a test guards it)."""

from __future__ import annotations

import math
import time

from PIL import Image
from rich.color import Color
from rich.markup import escape
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.message import Message
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Footer, RichLog

from emotui.fleet import CameraView, Changed, DeviceView, EventArrived, Fleet, FleetClient, Note, Update
from emotui.tui.events import EventsList

LOG_LINES = 500
TILE_REFRESH_S = 0.5  # a changed tile is redrawn within this (the state comes twice a second)
TILE_TICKS = 5  # ... spread over this many ticks, so that no burst of redraws holds up an event's row
TILE_MIN_COLUMNS = 30
TILE_ROWS = 12  # 4 lines of text, the picture below, within a border
TEXT_LINES = 4
THRESHOLD_STEP = 0.05
PICTURE_INTERVAL_S, MANY_TILES = 2.0, 9  # with more tiles than this, each picture changes at most this often
HALF_BLOCK = "\u2580"
MAX_CELL_STYLES = 1 << 16
_CELL_STYLES: dict[tuple[int, ...], Style] = {}
LEVEL_STYLES = {"error": "red", "warning": "yellow", "info": "default"}


class InboxWaiting(Message):
    """Messages arrived for the fleet (posted from paho's thread when the inbox was empty)."""


def _cell_style(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Style:
    """The style of a half-block cell, cached (colours kept at 5 bits a channel, so the cache fills slowly)."""
    key = tuple(value >> 3 for value in top + bottom)
    style = _CELL_STYLES.get(key)
    if style is None:
        if len(_CELL_STYLES) >= MAX_CELL_STYLES:
            _CELL_STYLES.clear()
        style = _CELL_STYLES[key] = Style(color=Color.from_rgb(*(v << 3 | 4 for v in key[:3])),
                                          bgcolor=Color.from_rgb(*(v << 3 | 4 for v in key[3:])))
    return style


def picture_strips(image: Image.Image, columns: int, rows: int) -> list[Strip]:
    """The picture in half-block cells (two pixels a cell), aspect kept, within columns x rows."""
    scale = min(columns / image.width, 2 * rows / image.height)
    width, height = max(1, int(image.width * scale)), max(2, int(image.height * scale) // 2 * 2)
    pixels = image.resize((width, height), Image.Resampling.BILINEAR).load()
    return [Strip([Segment(HALF_BLOCK, _cell_style(pixels[x, y], pixels[x, y + 1])) for x in range(width)], width)
            for y in range(0, height, 2)]


class CameraTile(Widget):
    """One camera: device, name, online, source state, faces, dominant emotion, arming, the rules'
    thresholds as the device echoed them, the last alert and the preview picture. Its lines are
    kept as strips, made again only when what they show changes."""

    DEFAULT_CSS = """
    CameraTile { border: round $primary-darken-2; height: 100%; padding: 0 1; }
    CameraTile.selected { border: heavy $accent; }
    CameraTile.offline { border: round $error; color: $text-muted; }
    """

    def __init__(self, camera: CameraView, number: int) -> None:
        super().__init__()
        self.camera = camera
        self.number = number
        self.border_title = f"{number} {camera.name}"
        self.border_subtitle = camera.device
        self._shown: tuple = ()  # what the text lines show
        self._text: list[Strip] = []
        self._picture: tuple[tuple[int, int, int], list[Strip]] = ((-1, 0, 0), [])  # (preview count, size), strips
        self._shown_preview = -1  # the count of the picture to show (the newest when it was last due)
        self._picture_due_at = 0.0
        self.picture_interval_s = 0.0  # the app slows the pictures down when there are many tiles

    def on_click(self, event: events.Click) -> None:
        self.app.select(self.camera.key)

    def draw(self, device: DeviceView, selected_rule: str | None) -> None:
        camera = self.camera
        offline = device.online is False
        shown = (offline, device.online, camera.status, camera.armed, camera.faces, camera.dominant,
                 tuple(camera.thresholds.items()), selected_rule, tuple(sorted(camera.alerts_on)), self._last_alert(),
                 self.content_size)
        now = time.monotonic()
        picture = not offline and camera.preview is not None and self._shown_preview != camera.previews \
            and now >= self._picture_due_at
        if picture:
            self._shown_preview, self._picture_due_at = camera.previews, now + self.picture_interval_s
        if shown == self._shown and not picture:
            return
        whole = picture or shown[:1] != self._shown[:1] or shown[-1:] != self._shown[-1:]  # offline or size changed
        if shown != self._shown:
            if self._shown[:1] != (offline,):  # a change of class restyles the tile: only when needed
                self.set_class(offline, "offline")
            self._shown = shown
            state = "OFFLINE" if offline else "online" if device.online else "?"
            armed = {True: "ARMED", False: "DISARMED", None: "arming ?"}[camera.armed]
            thresholds = " ".join(f"{'*' if slug == selected_rule else ''}{slug}≥{value:.2f}"
                                  f"{'!' if slug in camera.alerts_on else ''}" for slug, value in camera.thresholds.items())
            lines = [
                Text.assemble((state, "bold red" if offline else "green"), f" {camera.status} ",
                              (armed, "bold" if camera.armed else "dim")),
                Text(f"faces {camera.faces}  {camera.dominant}"),
                Text(thresholds or "no thresholds"),
                Text(self._last_alert(), style="red" if camera.alerts_on else ""),
            ]
            self._text = [Strip(list(line.render(self.app.console))) for line in lines]
        # only the text (and the border above it) when the picture is the same: far fewer bytes to the terminal
        self.refresh() if whole else self.refresh(Region(0, 0, self.size.width, TEXT_LINES + 1))

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        if y < TEXT_LINES:
            lines = self._text
        else:
            y -= TEXT_LINES
            lines = self._picture_strips() if self.camera.preview is not None and not self.has_class("offline") else []
        return lines[y].crop_extend(0, width, None) if y < len(lines) else Strip.blank(width)

    def _picture_strips(self) -> list[Strip]:
        """The preview in cells, drawn again only when a new picture came or the tile was resized."""
        key = (self._shown_preview, max(1, self.content_size.width), max(1, self.content_size.height - TEXT_LINES))
        if key != self._picture[0]:
            self._picture = key, picture_strips(self.camera.preview, *key[1:])
        return self._picture[1]

    def _last_alert(self) -> str:
        event = self.camera.last_alert
        if event is None:  # an alert opened before this console connected shows by its retained state
            return f"open {' '.join(sorted(self.camera.alerts_on))}" if self.camera.alerts_on else "no alert"
        return f"{time.strftime('%H:%M:%S', time.localtime(event.start_time))} {event.rule} {event.type}"


class FleetApp(App[int]):
    CSS = """
    #tiles-scroll { height: 2fr; }
    #tiles { grid-gutter: 0; }
    #bottom { height: 1fr; min-height: 8; }
    EventsList { width: 2fr; height: 1fr; border-top: solid $primary-darken-2; }
    #log { width: 1fr; height: 1fr; border-top: solid $primary-darken-2; border-left: solid $primary-darken-2; }
    """
    BINDINGS = [
        Binding("right_square_bracket,n", "select_next(1)", "next camera"),
        Binding("left_square_bracket,p", "select_next(-1)", "previous camera", show=False),
        *(Binding(str(digit), f"select_number({digit})", show=False) for digit in range(1, 10)),
        Binding("a", "toggle_armed", "arm"),
        Binding("A", "toggle_armed_all", "arm all"),
        Binding("plus,equals_sign", "change_threshold(1)", "threshold +"),
        Binding("minus", "change_threshold(-1)", "threshold -"),
        Binding("r", "next_rule", "next rule"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, client_factory, pattern: str) -> None:
        """`client_factory(on_wake, on_note)` makes the FleetClient (a test may point it anywhere)."""
        super().__init__()
        self.fleet = Fleet(pattern)
        self.client: FleetClient = client_factory(lambda: self.post_message(InboxWaiting()),
                                                  lambda text, level: self.call_later(self.log_line, text, level))
        self.tiles: dict[tuple[str, str], CameraTile] = {}
        self.selected: tuple[str, str] | None = None
        self.selected_rule: str | None = None
        self._dirty: dict[tuple[str, str], None] = {}  # tiles to redraw, oldest first
        self._inbox_dropped = 0

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="tiles-scroll", can_focus=False):
            self.grid = Grid(id="tiles")
            yield self.grid
        with Horizontal(id="bottom"):
            self.events_list = EventsList(id="events")
            yield self.events_list
            self.log_view = RichLog(id="log", max_lines=LOG_LINES, markup=True, wrap=True)
            self.log_view.border_title = "log"
            yield self.log_view
        yield Footer()

    def on_mount(self) -> None:
        self.title = "emotui fleet"
        self.events_list.focus()
        self._fit_grid()
        self.set_interval(TILE_REFRESH_S / TILE_TICKS, self._redraw_tiles)
        self.log_line(f"connecting to {self.client.where}", "info")
        self.client.start()

    def on_unmount(self) -> None:
        self.client.stop()

    def on_resize(self, event: events.Resize) -> None:
        self._fit_grid()

    def on_inbox_waiting(self, message: InboxWaiting) -> None:
        new_tiles: list[CameraTile] = []
        for topic, payload in self.client.inbox.take():
            for update in self.fleet.handle(topic, payload):
                self._apply(update, new_tiles)
        if new_tiles:  # mounted together: one layout for a batch (20 devices' retained topics at start)
            self.grid.mount(*new_tiles)
            self._fit_grid()
            if self.selected is None:
                self.select(new_tiles[0].camera.key)
        if self.client.inbox.dropped > self._inbox_dropped:
            self.log_line(f"{self.client.inbox.dropped - self._inbox_dropped} messages dropped: the console "
                          "could not keep up", "warning")
            self._inbox_dropped = self.client.inbox.dropped

    def _apply(self, update: Update, new_tiles: list[CameraTile]) -> None:
        match update:
            case EventArrived(event=event):
                self.events_list.record(event)
            case Note(text=text, level=level):
                self.log_line(text, level)
            case Changed(prefix=prefix, camera=camera):
                keys = [(prefix, camera)] if camera is not None else \
                    [(prefix, name) for name in self.fleet.devices[prefix].cameras]
                for key in keys:
                    if key in self.fleet.cameras and key not in self.tiles:
                        tile = self.tiles[key] = CameraTile(self.fleet.cameras[key], len(self.tiles) + 1)
                        new_tiles.append(tile)
                    self._dirty[key] = None

    def _fit_grid(self) -> None:
        """1, 2x2, 3x3 ... columns by count, as the terminal's width allows; rows of TILE_ROWS."""
        count = max(1, len(self.tiles))
        columns = max(1, min(math.ceil(math.sqrt(count)), self.size.width // TILE_MIN_COLUMNS or 1))
        rows = math.ceil(count / columns)
        tile_rows = max(TILE_ROWS, self.size.height * 2 // 3 // rows)  # few tiles: larger pictures
        self.grid.styles.grid_size_columns = columns
        self.grid.styles.grid_rows = str(tile_rows)
        self.grid.styles.height = tile_rows * rows
        self._dirty.update(dict.fromkeys(self.tiles))  # the pictures fit the new size
        for tile in self.tiles.values():  # many pictures cost the terminal more than a glance needs
            tile.picture_interval_s = PICTURE_INTERVAL_S if len(self.tiles) > MANY_TILES else 0.0

    def _redraw_tiles(self) -> None:
        for key in list(self._dirty)[:math.ceil(len(self.tiles) / TILE_TICKS)]:
            del self._dirty[key]
            if (tile := self.tiles.get(key)) is not None:
                tile.draw(self.fleet.devices[key[0]], self._rule() if key == self.selected else None)

    def select(self, key: tuple[str, str]) -> None:
        previous, self.selected = self.selected, key
        for changed in (previous, key):
            if changed in self.tiles:
                self.tiles[changed].set_class(changed == key, "selected")
                self._dirty[changed] = None
        self.tiles[key].scroll_visible()
        self.log_line(f"selected {key[0]}/{key[1]}", "info")

    def _threshold_rules(self) -> list[str]:
        if self.selected is None:
            return []
        return [rule.slug for rule in self.fleet.devices[self.selected[0]].rules if rule.threshold is not None]

    def _rule(self) -> str | None:
        """The rule `+`/`-` change on the selected camera: the one chosen with `r`, else its first."""
        rules = self._threshold_rules()
        return self.selected_rule if self.selected_rule in rules else rules[0] if rules else None

    def log_line(self, text: str, level: str) -> None:
        follow = self.log_view.is_vertical_scroll_end
        self.log_view.write(f"[dim]{time.strftime('%H:%M:%S')}[/dim] [{LEVEL_STYLES[level]}]{escape(text)}[/]",
                            scroll_end=False)
        if follow:
            self.log_view.scroll_end(animate=False, immediate=True, x_axis=False)

    # --- actions ----------------------------------------------------------------------------

    def action_select_next(self, step: int) -> None:
        keys = list(self.tiles)
        if keys:
            index = keys.index(self.selected) if self.selected in keys else -step
            self.select(keys[(index + step) % len(keys)])

    def action_select_number(self, number: int) -> None:
        keys = list(self.tiles)
        if number <= len(keys):
            self.select(keys[number - 1])

    def action_toggle_armed(self) -> None:
        camera = self.fleet.cameras.get(self.selected) if self.selected else None
        if camera is None:
            return
        armed = camera.armed is False  # disarm unless known to be disarmed
        self.client.arm(camera.device, camera.name, armed)
        self.log_line(f"{camera.device}/{camera.name}: {'arming' if armed else 'disarming'} sent", "info")

    def action_toggle_armed_all(self) -> None:
        """Every camera of the selected camera's device: all armed, unless all are known to be armed."""
        camera = self.fleet.cameras.get(self.selected) if self.selected else None
        if camera is None:
            return
        names = self.fleet.devices[camera.device].cameras
        armed = not all(self.fleet.cameras[camera.device, name].armed is True for name in names)
        self.client.arm(camera.device, None, armed)
        self.log_line(f"{camera.device}: {'arming' if armed else 'disarming'} all {len(names)} cameras sent", "info")

    def action_change_threshold(self, direction: int) -> None:
        camera = self.fleet.cameras.get(self.selected) if self.selected else None
        rule = self._rule()
        if camera is None or rule is None:
            self.log_line("no rule with a threshold on the selected camera", "warning")
            return
        value = round(min(1.0, max(0.0, camera.thresholds.get(rule, 0.5) + direction * THRESHOLD_STEP)), 4)
        self.client.set_threshold(camera.device, camera.name, rule, value)
        self.log_line(f"{camera.device}/{camera.name}: {rule} threshold {value:g} sent", "info")

    def action_next_rule(self) -> None:
        rules = self._threshold_rules()
        if rules:
            self.selected_rule = rules[(rules.index(self._rule()) + 1) % len(rules)]
            self._dirty[self.selected] = None
            self.log_line(f"selected rule {self.selected_rule}", "info")
