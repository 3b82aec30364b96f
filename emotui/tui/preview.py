"""Live camera preview drawn with half-block characters, fitted to its panel.

Colours reach the terminal as this module writes them, not as Textual would: each row is runs of
cells, and before a run only the colour that changes is set (a space needs only its background),
as a zero-width control segment; the cells' own styles carry their colours for screenshots and
filters but render to nothing (Textual writes a style's cached `_ansi` as is, and ends every
styled segment with a reset). So a preview row costs no reset between cells, and a forced
colour mode (truecolor in a terminal announcing 256 colours) is honoured, while the rest of the
console keeps the colour system the terminal announces.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from rich.color import Color
from rich.segment import ControlType, Segment
from rich.style import Style
from textual.filter import LineFilter
from textual import events
from textual.app import ComposeResult
from textual.geometry import Region
from textual.css.scalar import Scalar
from textual.dom import NoScreen
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from emotui.tui.graphics import GRAPHICS_FPS, Graphics, kitty_delete
from emotui.tui.palette import COLOUR_MODES, RGB_CODE, code_rgb, quantise, srgb_to_lab
from emotui.vision.masks import Masks

AUTO = "auto"
HALF_BLOCK = "\u2580"  # foreground = top pixel, background = bottom pixel
LOWER_HALF_BLOCK = "\u2584"  # foreground = bottom pixel, background = top pixel
FULL_BLOCK = "\u2588"  # both pixels in the foreground
RESET = "\x1b[0m"

# Rich's colour systems mapped to the preview's modes ("auto" follows the terminal).
_TERMINAL_MODES = {"truecolor": "truecolor", "256": "256", "standard": "16", "windows": "16"}

_CONTROL = ((ControlType.CURSOR_FORWARD, 0),)  # marks a segment as zero-width, written as is
_IMAGE_IDS = itertools.count(0x454D0001)  # Kitty image ids, one per preview widget
BLANK = object()  # a line with nothing but the background
_STYLES: dict[tuple[int | None, int | None], Style] = {}
_MAX_STYLES = 1 << 16  # truecolor can produce unbounded pairs: start over past this


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    """Ascending integers as (start, stop) runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and runs[-1][1] == n:
            runs[-1] = (runs[-1][0], n + 1)
        else:
            runs.append((n, n + 1))
    return runs


def fit_cells(width_px: int, height_px: int, max_cols: int, max_rows: int) -> tuple[int, int]:
    """The largest (cols, rows) within the limits keeping the image aspect; a cell is 1x2 pixels."""
    cols = min(max_cols, round(max_rows * 2 * width_px / height_px))
    rows = min(max_rows, round(cols * height_px / (2 * width_px)))
    return max(1, cols), max(1, rows)


@dataclass(frozen=True)
class PreviewBox:
    """A face box to draw: corners in source-image pixels, RGB colour and a label such as "#3"."""

    box: tuple[float, float, float, float]
    colour: tuple[int, int, int]
    label: str


def _colour(code: int) -> Color:
    if code < RGB_CODE:
        return Color.from_ansi(code)
    code -= RGB_CODE
    return Color.from_rgb(code >> 16, code >> 8 & 255, code & 255)


def _style(fg: int | None, bg: int | None, compact: bool) -> Style:
    """The cached style of a run drawn in these colours (None: not set); `compact`, rendering to
    no escape sequence (the colours are set by the control segment before the run)."""
    style = _STYLES.get((fg, bg, compact))
    if style is None:
        if len(_STYLES) >= _MAX_STYLES:
            _STYLES.clear()
        style = Style(color=None if fg is None else _colour(fg), bgcolor=None if bg is None else _colour(bg))
        if compact:
            style._ansi = ""
        _STYLES[fg, bg, compact] = style
    return style


def sgr_parameter(code: int, background: bool) -> str:
    """The SGR parameter setting a colour code as foreground or background (16 colours as 30-37,
    90-97 / 40-47, 100-107, which 16-colour terminals understand)."""
    if code >= RGB_CODE:
        code -= RGB_CODE
        return f"{48 if background else 38};2;{code >> 16};{code >> 8 & 255};{code & 255}"
    if code < 16:
        return str((40 if background else 30) + code if code < 8 else (100 if background else 90) + code - 8)
    return f"{48 if background else 38};5;{code}"


def _row_strip(top: list[int], bottom: list[int], label: dict[int, str], compact: bool = True) -> Strip:
    """One cell row written with as few colour changes as the terminal needs: each cell is drawn
    with the colours already set when it can (a solid cell as a space on the background or a
    full block in the foreground; a two-colour cell as an upper or a lower half block), and
    only the colours that change are set. `label` maps columns to characters drawn in the top
    colour on the bottom one. Not `compact`, the runs are plain styled segments (each written
    with its colours and a reset), which Textual can cut where another widget overlaps: its
    cutting takes a control segment's text for cells."""
    segments: list[Segment] = []
    fg = bg = None
    run: list[str] = []

    def flush() -> None:
        if run:
            segments.append(Segment("".join(run), _style(fg, bg, compact)))
            run.clear()

    for x, (upper, lower) in enumerate(zip(top, bottom)):
        char = label.get(x)
        if char is not None:
            wanted = (upper, lower)
        elif upper == lower:
            char, wanted = (" ", (fg, upper)) if upper == bg or upper != fg else (FULL_BLOCK, (upper, bg))
        elif (fg != upper) + (bg != lower) <= (fg != lower) + (bg != upper):
            char, wanted = HALF_BLOCK, (upper, lower)
        else:
            char, wanted = LOWER_HALF_BLOCK, (lower, upper)
        if wanted != (fg, bg):
            flush()
            if not compact:
                fg, bg = wanted
                run.append(char)
                continue
            parameters = [sgr_parameter(code, background) for code, shown, background
                          in ((wanted[0], fg, False), (wanted[1], bg, True)) if code != shown]
            segments.append(Segment(f"\x1b[{';'.join(parameters)}m", None, _CONTROL))
            fg, bg = wanted
        run.append(char)
    flush()
    if compact:
        segments.append(Segment(RESET, None, _CONTROL))
    return Strip(segments, len(top))


def clip_region(region: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """`region` (x1, y1, x2, y2) rounded to whole pixels within a width x height image, at least one."""
    x1, y1 = (min(max(round(v), 0), size - 1) for v, size in ((region[0], width), (region[1], height)))
    x2, y2 = (min(max(round(v), start + 1), size)
              for v, start, size in ((region[2], x1, width), (region[3], y1, height)))
    return x1, y1, x2, y2


def _crop(image_bgr: np.ndarray, boxes: Sequence[PreviewBox], masks: Masks,
          region: tuple[float, float, float, float]) -> tuple[np.ndarray, list[PreviewBox], Masks]:
    """The image, boxes and masks within `region` (see clip_region)."""
    height, width = image_bgr.shape[:2]
    x1, y1, x2, y2 = clip_region(region, width, height)
    moved = [PreviewBox((b.box[0] - x1, b.box[1] - y1, b.box[2] - x1, b.box[3] - y1), b.colour, b.label)
             for b in boxes]
    scale, offset = np.array([width / (x2 - x1), height / (y2 - y1)]), np.array([x1 / width, y1 / height])
    cropped_masks = Masks(tuple(((polygon - offset) * scale).astype(np.float32) for polygon in masks.polygons))
    return image_bgr[y1:y2, x1:x2], moved, cropped_masks


def annotated_image(image_bgr: np.ndarray, size: tuple[int, int], boxes: Sequence[PreviewBox] = (),
                    masks: Masks = Masks(), region: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """The image (or its `region`) as RGB pixels of `size` (width, height), masks shaded and
    outlined, boxes drawn with their labels: what a graphics protocol shows."""
    if region is not None:
        image_bgr, boxes, masks = _crop(image_bgr, boxes, masks, region)
    height, width = image_bgr.shape[:2]
    rgb = masks.draw(cv2.cvtColor(cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    scale_x, scale_y = size[0] / width, size[1] / height
    thickness = max(1, round(size[0] / 320))
    for face in boxes:
        x1, y1, x2, y2 = face.box
        corner = (round(x1 * scale_x), round(y1 * scale_y))
        cv2.rectangle(rgb, corner, (round(x2 * scale_x), round(y2 * scale_y)), face.colour, thickness)
        scale = thickness * 0.4
        (text_width, text_height), _ = cv2.getTextSize(face.label, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        cv2.rectangle(rgb, corner, (corner[0] + text_width + 2, corner[1] + text_height + 4), face.colour, -1)
        cv2.putText(rgb, face.label, (corner[0] + 1, corner[1] + text_height + 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), thickness, cv2.LINE_AA)
    return rgb


# How much worse (CIELAB ΔE) a cell's previous colour may show its pixel than the new nearest
# colour and still be kept, when a whole row of cells can be kept: a still scene then stops
# shimmering between neighbouring colours with the video's noise and its rows are not sent again,
# while a row that changes is drawn afresh (its runs of one colour unbroken). Not with 16 colours,
# whose ordered dither chooses a worse colour on purpose.
STEADY_MARGIN = {"truecolor": 4.0, "256": 3.0, "16": None, "grey": 3.0}


def steady_codes(rgb: np.ndarray, codes: np.ndarray, previous: np.ndarray | None, mode: str) -> np.ndarray:
    """`codes` for the pixels `rgb` (two pixel rows per cell row), a cell row keeping its `previous`
    codes where they all show their pixels within STEADY_MARGIN of the new codes (all new when
    the shape differs)."""
    margin = STEADY_MARGIN[mode]
    if previous is None or margin is None or previous.shape != codes.shape:
        return codes
    lab = srgb_to_lab(rgb)
    kept_error = np.linalg.norm(srgb_to_lab(code_rgb(previous)) - lab, axis=-1)
    new_error = np.linalg.norm(srgb_to_lab(code_rgb(codes)) - lab, axis=-1)
    close = (kept_error <= new_error + margin).reshape(-1, 2 * codes.shape[1]).all(axis=1)
    return np.where(np.repeat(close, 2)[:, None], previous, codes)


class PreviewRenderer:
    """Draws successive frames as half-block strips, remembering the last one: a cell keeps its
    colour while it still shows its pixel well (steady_codes), and a row whose cells are all the
    same as before is the same Strip object, so a caller redraws only the rows that changed."""

    def __init__(self) -> None:
        self._codes: np.ndarray | None = None  # the last picture's codes before boxes, in its mode
        self._mode: str | None = None
        self._compact = True
        self._rows: list[tuple[np.ndarray, dict[int, str], Strip]] = []  # per row: codes with boxes, labels, strip

    def render(self, image_bgr: np.ndarray, cols: int, rows: int, mode: str, boxes: Sequence[PreviewBox] = (),
               masks: Masks = Masks(), region: tuple[float, float, float, float] | None = None,
               compact: bool = True) -> list[Strip]:
        """The image (or its `region`, x1 y1 x2 y2 in source pixels) as `rows` strips of `cols`
        half-block cells in the colour mode, the masked areas shaded and outlined, boxes drawn
        (`compact`: see _row_strip)."""
        if region is not None:
            image_bgr, boxes, masks = _crop(image_bgr, boxes, masks, region)
        height, width = image_bgr.shape[:2]
        small = cv2.resize(image_bgr, (cols, rows * 2), interpolation=cv2.INTER_AREA)
        rgb = masks.draw(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
        codes = steady_codes(rgb, quantise(rgb, mode), self._codes if mode == self._mode else None, mode)
        self._codes, self._mode = codes, mode
        codes = codes.copy()
        labels: list[dict[int, str]] = [{} for _ in range(rows)]  # per row: column -> character
        black = int(quantise(np.zeros((1, 1, 3), np.uint8), mode)[0, 0])
        for face in boxes:
            x1, y1, x2, y2 = face.box
            left, right = (min(max(int(x * cols / width), 0), cols - 1) for x in (x1, x2))
            top, bottom = (min(max(int(y * rows * 2 / height), 0), rows * 2 - 1) for y in (y1, y2))
            colour = int(quantise(np.array([[face.colour]], np.uint8), mode)[0, 0])
            codes[top:bottom + 1, [left, right]] = colour
            codes[[top, bottom], left:right + 1] = colour
            label = face.label[: cols - left]
            if label:
                row = top // 2
                codes[2 * row:2 * row + 2, left:left + len(label)] = np.array([[black], [colour]])
                labels[row].update(enumerate(label, left))
        previous = self._rows if len(self._rows) == rows and compact == self._compact else [None] * rows
        self._compact = compact
        self._rows = []
        for y, (row_codes, label, before) in enumerate(zip(np.split(codes, rows), labels, previous)):
            if before is not None and label == before[1] and np.array_equal(row_codes, before[0]):
                strip = before[2]
            else:
                strip = _row_strip(row_codes[0].tolist(), row_codes[1].tolist(), label, compact)
            self._rows.append((row_codes, label, strip))
        return [strip for _, _, strip in self._rows]


def render_preview(
    image_bgr: np.ndarray, cols: int, rows: int, mode: str, boxes: Sequence[PreviewBox] = (),
    masks: Masks = Masks(), region: tuple[float, float, float, float] | None = None,
) -> list[Strip]:
    """One frame alone (see PreviewRenderer.render)."""
    return PreviewRenderer().render(image_bgr, cols, rows, mode, boxes, masks, region)


class PictureView(Widget):
    """The latest frame with its face boxes, drawn in cells (a Preview sizes it to the picture);
    redrawn only when something changed, and then only the lines that changed.

    `show` with the same frame object and boxes, or setting the same colour mode, does nothing.
    `zoom(region)` enlarges a part of every frame shown (a face: its box with a margin). With
    `graphics` (see graphics.resolve) the picture is drawn in real pixels, at most GRAPHICS_FPS
    frames a second, the cells under it left blank. While another screen (help, editor, an
    event) is on top, pixels are not drawn (they would cover that screen) and cells are drawn
    as plain styled runs, which Textual can cut where that screen overlaps (_row_strip)."""

    DEFAULT_CSS = "PictureView { width: 1fr; height: 1fr; }"

    colour_mode: reactive[str] = reactive(AUTO)
    """One of COLOUR_MODES, or "auto" to follow the terminal's colour depth."""

    def __init__(self, colour_mode: str = AUTO, graphics: Graphics | None = None, *, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.colour_mode = colour_mode
        self.graphics = graphics
        self._image_id = next(_IMAGE_IDS)
        self._graphics_due = 0.0  # monotonic time from which the next graphics frame may be drawn
        self._graphics_pending = False
        self._graphics_shown = False  # a Kitty image is on the screen (to delete when the frame goes)
        self._image: np.ndarray | None = None
        self._boxes: tuple[PreviewBox, ...] = ()
        self._masks = Masks()
        self._message = "no frame yet"
        self._region: tuple[float, float, float, float] | None = None
        self._renderer = PreviewRenderer()
        self._lines: list[Strip] | None = None
        self._lines_key: tuple | None = None
        self._line_sources: list[object] = []  # per line: the picture row drawn there, BLANK, or a message

    def on_mount(self) -> None:
        self.app.screen_change_signal.subscribe(self, lambda _: self._redraw())

    @property
    def _on_top(self) -> bool:
        """Whether this widget's screen is the one shown on top (nothing covers the picture)."""
        try:
            return self.screen is self.app.screen
        except NoScreen:  # being removed
            return False

    def picture_cells(self, width: int, height: int) -> tuple[int, int] | None:
        """The picture's (cols, rows) fitted in width x height cells; None without a frame."""
        if self._image is None:
            return None
        image_height, image_width = self._image.shape[:2]
        x1, y1, x2, y2 = clip_region(self._region or (0, 0, image_width, image_height), image_width, image_height)
        return fit_cells(x2 - x1, y2 - y1, width, height)

    def _redraw(self) -> None:
        self._lines = None
        self.refresh()

    def get_line_filters(self) -> Sequence[LineFilter]:
        """None: the preview writes its colours exactly itself, and Textual's filters (ANSI colours
        to the theme's truecolor) rebuild every segment, dropping the zero-width colour changes."""
        return ()

    def validate_colour_mode(self, mode: str) -> str:
        if mode != AUTO and mode not in COLOUR_MODES:
            raise ValueError(f"colour mode must be auto or one of {', '.join(COLOUR_MODES)}, not {mode!r}")
        return mode

    @property
    def active_mode(self) -> str:
        """The colour mode in use: the forced one, or the terminal's (grey without colour)."""
        if self.colour_mode != AUTO:
            return self.colour_mode
        return _TERMINAL_MODES.get(self.app.console.color_system, "grey")

    def show(self, image_bgr: np.ndarray, boxes: Sequence[PreviewBox] = (), masks: Masks = Masks()) -> None:
        """Display a BGR frame with face boxes and masks; a frame is new when it is another array
        object or the boxes or masks differ."""
        boxes = tuple(boxes)
        if image_bgr is self._image and boxes == self._boxes and masks is self._masks:
            return
        self._image, self._boxes, self._masks = image_bgr, boxes, masks
        if self.graphics is not None:
            wait = self._graphics_due - time.monotonic()
            if wait > 0:  # too soon: the newest frame is drawn when it is time
                if not self._graphics_pending:
                    self._graphics_pending = True
                    self.set_timer(wait, self._draw_pending)
                return
            self._graphics_due = time.monotonic() + 1 / GRAPHICS_FPS
            self._redraw()
        else:
            self._repaint_changed_lines()

    def _repaint_changed_lines(self) -> None:
        """Draw the frame now and refresh only the lines that differ from those on the screen (all
        of them when none are drawn yet, or the size, place, mode or style changed)."""
        if self._lines is None or self._lines_key != self._lines_key_now():
            self._redraw()
            return
        shown = self._line_sources
        self._lines = self._draw()
        changed = [y for y, (before, now) in enumerate(zip(shown, self._line_sources)) if before is not now]
        for start, stop in _runs(changed):
            self.refresh(Region(0, start, self.size.width, stop - start))

    def _draw_pending(self) -> None:
        self._graphics_pending = False
        self._graphics_due = time.monotonic() + 1 / GRAPHICS_FPS
        self._redraw()

    def zoom(self, region: tuple[float, float, float, float] | None) -> None:
        """Show only `region` (x1, y1, x2, y2 in source-image pixels, clipped to the image) of the
        frames, enlarged to the panel; None shows whole frames again."""
        if region != self._region:
            self._region = None if region is None else tuple(float(v) for v in region)
            self._redraw()

    def clear(self, message: str = "preview off") -> None:
        """Drop the frame and show a centred message instead."""
        if self._image is None and message == self._message:
            return
        self._image, self._boxes, self._message = None, (), message
        self._redraw()

    def _lines_key_now(self) -> tuple:
        return self.region, self.active_mode, self.visual_style.rich_style, self._on_top

    def render_line(self, y: int) -> Strip:
        key = self._lines_key_now()
        if self._lines is None or key != self._lines_key:
            self._lines, self._lines_key = self._draw(), key
        return self._lines[y]

    def _draw(self) -> list[Strip]:
        """Every line of the widget: the picture (or the message) centred on blank lines."""
        width, height = self.size
        style = self.visual_style.rich_style
        lines = [Strip.blank(width, style)] * height
        self._line_sources = [BLANK] * height
        if self._image is None:
            lines[height // 2] = Strip([Segment(self._message.center(width), style)]).adjust_cell_length(width, style)
            self._line_sources[height // 2] = object()
            return self._without_graphics(lines)
        cols, rows = self.picture_cells(width, height)
        left, top = (width - cols) // 2, (height - rows) // 2  # 0 once the Preview has fitted it
        if self.graphics is not None:
            return self._draw_graphics(lines, cols, rows, left, top) if self._on_top \
                else self._without_graphics(lines)
        before = [Segment(" " * left, style)] if left else []
        after = [Segment(" " * (width - cols - left), style)] if width > cols + left else []
        strips = self._renderer.render(self._image, cols, rows, self.active_mode, self._boxes, self._masks,
                                       self._region, compact=self._on_top)
        for y, strip in enumerate(strips, top):
            lines[y] = Strip([*before, *strip, *after], width) if before or after else strip
            self._line_sources[y] = strip
        return lines

    def _draw_graphics(self, lines: list[Strip], cols: int, rows: int, left: int, top: int) -> list[Strip]:
        """Blank lines, the last picture line ending with the image drawn at the picture's corner
        (the cursor saved and restored around it, so it is written after the cells it covers)."""
        assert self.graphics is not None and self._image is not None
        rgb = annotated_image(self._image, self.graphics.pixel_size(cols, rows), self._boxes, self._masks, self._region)
        shown_cols, shown_rows = self.graphics.cells(cols, rows)
        left, top = left + (cols - shown_cols) // 2, top + (rows - shown_rows) // 2
        x, y = self.region.x + left + 1, self.region.y + top + 1  # 1-based screen position
        image = f"\x1b7\x1b[{y};{x}H{self.graphics.encode(rgb, cols, rows, self._image_id)}\x1b8"
        last = top + shown_rows - 1
        lines[last] = Strip([*lines[last], Segment(image, None, _CONTROL)], lines[last].cell_length)
        self._graphics_shown = self.graphics.protocol == "kitty"
        return lines

    def _without_graphics(self, lines: list[Strip]) -> list[Strip]:
        """The lines, the first one removing the Kitty image if one is on the screen."""
        if self._graphics_shown:
            lines[0] = Strip([Segment(kitty_delete(self._image_id), None, _CONTROL), *lines[0]], lines[0].cell_length)
            self._graphics_shown = False
        return lines


class Preview(Widget):
    """A pane showing the latest frame fitted and centred (see PictureView): the picture's own
    widget is sized to the picture, so the blank around it is this pane's, painted with the
    layout rather than sent with every frame. A still image (a snapshot) is shown by a Preview
    of its own, given it once with `show`."""

    DEFAULT_CSS = "Preview { width: 1fr; height: 1fr; align: center middle; }"

    def __init__(self, colour_mode: str = AUTO, graphics: Graphics | None = None, *, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.picture = PictureView(colour_mode, graphics)

    def compose(self) -> ComposeResult:
        yield self.picture

    @property
    def colour_mode(self) -> str:
        """One of COLOUR_MODES, or "auto" to follow the terminal's colour depth."""
        return self.picture.colour_mode

    @colour_mode.setter
    def colour_mode(self, mode: str) -> None:
        self.picture.colour_mode = mode

    @property
    def active_mode(self) -> str:
        return self.picture.active_mode

    @property
    def graphics(self) -> Graphics | None:
        return self.picture.graphics

    def show(self, image_bgr: np.ndarray, boxes: Sequence[PreviewBox] = (), masks: Masks = Masks()) -> None:
        """Display a BGR frame with face boxes and masks (see PictureView.show)."""
        self.picture.show(image_bgr, boxes, masks)
        self._fit()

    def zoom(self, region: tuple[float, float, float, float] | None) -> None:
        """Show only `region` (x1, y1, x2, y2 in source-image pixels) of the frames, enlarged; None: whole frames."""
        self.picture.zoom(region)
        self._fit()

    def clear(self, message: str = "preview off") -> None:
        """Drop the frame and show a centred message instead."""
        self.picture.clear(message)
        self._fit()

    def on_resize(self, event: events.Resize) -> None:
        self._fit()

    def _fit(self) -> None:
        """Size the picture's widget to the picture fitted in this pane (the whole pane for a message)."""
        width, height = self.picture.picture_cells(*self.size) or self.size
        if (self.picture.styles.width, self.picture.styles.height) != (Scalar.from_number(width),
                                                                      Scalar.from_number(height)):
            self.picture.styles.width, self.picture.styles.height = width, height
