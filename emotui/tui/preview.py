"""Live camera preview drawn with half-block characters, fitted to its panel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from emotui.vision.masks import Masks

COLOUR_MODES = ("truecolor", "256", "16", "grey")
AUTO = "auto"
HALF_BLOCK = "▀"  # foreground = top pixel, background = bottom pixel

# Rich's colour systems mapped to the preview's modes ("auto" follows the terminal).
_TERMINAL_MODES = {"truecolor": "truecolor", "256": "256", "standard": "16", "windows": "16"}

# The 16 standard ANSI colours (the VGA values Rich downgrades to).
_ANSI16 = np.array([
    (0, 0, 0), (170, 0, 0), (0, 170, 0), (170, 85, 0), (0, 0, 170), (170, 0, 170), (0, 170, 170),
    (170, 170, 170), (85, 85, 85), (255, 85, 85), (85, 255, 85), (255, 255, 85), (85, 85, 255),
    (255, 85, 255), (85, 255, 255), (255, 255, 255),
], dtype=np.int32)
# xterm 6x6x6 cube (indices 16-231): the nearest cube step of each channel value.
_CUBE_LEVELS = np.array([0, 95, 135, 175, 215, 255], dtype=np.int32)
_CUBE_STEP = np.abs(np.arange(256)[:, None] - _CUBE_LEVELS).argmin(axis=1)
# Grey mode: the xterm grey ramp 232-255 plus the cube's black (16) and white (231).
_GREY_LEVELS = np.array([0, *range(8, 239, 10), 255])
_GREY_INDEX = np.array([16, *range(232, 256), 231])[np.abs(np.arange(256)[:, None] - _GREY_LEVELS).argmin(axis=1)]
_RGB_CODE = 256  # colour codes: 0-255 palette indices, 256 + 0xRRGGBB for truecolor

_STYLES: dict[tuple[int, int], Style] = {}
_MAX_STYLES = 1 << 16  # truecolor can produce unbounded pairs: start over past this


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


def _quantise(rgb: np.ndarray, mode: str) -> np.ndarray:
    """Colour codes (see _RGB_CODE) of an int32 (..., 3) RGB array in the mode's palette."""
    if mode == "truecolor":
        return _RGB_CODE + (rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2])
    if mode == "grey":
        return _GREY_INDEX[(rgb @ np.array([299, 587, 114]) + 500) // 1000]
    if mode == "16":
        # argmin |rgb - c|^2 = argmin |c|^2 - 2 rgb.c: one small matrix product.
        return ((_ANSI16 ** 2).sum(axis=1) - 2 * rgb @ _ANSI16.T).argmin(axis=-1)
    if mode != "256":
        raise ValueError(f"colour mode must be one of {', '.join(COLOUR_MODES)}, not {mode!r}")
    steps = _CUBE_STEP[rgb]
    cube_error = ((rgb - _CUBE_LEVELS[steps]) ** 2).sum(axis=-1)
    # The nearest ramp grey (8 + 10k) is the one nearest the mean of the channels.
    ramp = np.clip((rgb.sum(axis=-1) - 9) // 30, 0, 23)
    grey_error = ((rgb - (8 + 10 * ramp)[..., None]) ** 2).sum(axis=-1)
    cube = 16 + 36 * steps[..., 0] + 6 * steps[..., 1] + steps[..., 2]
    return np.where(grey_error < cube_error, 232 + ramp, cube)


def _colour(code: int) -> Color:
    if code < _RGB_CODE:
        return Color.from_ansi(code)
    code -= _RGB_CODE
    return Color.from_rgb(code >> 16, code >> 8 & 255, code & 255)


def _style(fg: int, bg: int) -> Style:
    """The cached style of a cell; a cell with fg == bg is a space with only the background."""
    style = _STYLES.get((fg, bg))
    if style is None:
        if len(_STYLES) >= _MAX_STYLES:
            _STYLES.clear()
        style = _STYLES[fg, bg] = Style(color=None if fg == bg else _colour(fg), bgcolor=_colour(bg))
    return style


def _row_strip(fg: list[int], bg: list[int], starts: list[int]) -> Strip:
    """One cell row, one segment per run of equal cells."""
    cols = len(fg)
    segments = []
    for start, end in zip(starts, starts[1:] + [cols]):
        top, bottom = fg[start], bg[start]
        segments.append(Segment((HALF_BLOCK if top != bottom else " ") * (end - start), _style(top, bottom)))
    return Strip(segments, cols)


def render_preview(
    image_bgr: np.ndarray, cols: int, rows: int, mode: str, boxes: Sequence[PreviewBox] = (),
    masks: Masks = Masks(),
) -> list[Strip]:
    """The image as `rows` strips of `cols` half-block cells in the colour mode, the masked
    areas shaded and outlined, boxes drawn."""
    height, width = image_bgr.shape[:2]
    small = cv2.resize(image_bgr, (cols, rows * 2), interpolation=cv2.INTER_AREA)
    rgb = masks.draw(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    corners = []
    for face in boxes:
        x1, y1, x2, y2 = face.box
        left, right = (min(max(int(x * cols / width), 0), cols - 1) for x in (x1, x2))
        top, bottom = (min(max(int(y * rows * 2 / height), 0), rows * 2 - 1) for y in (y1, y2))
        cv2.rectangle(rgb, (left, top), (right, bottom), face.colour, 1)
        corners.append((left, top))
    codes = _quantise(rgb.astype(np.int32), mode)
    fg, bg = codes[0::2], codes[1::2]
    pairs = fg.astype(np.int64) << 25 | bg
    changes = pairs[:, 1:] != pairs[:, :-1]
    strips = [
        _row_strip(fg[y].tolist(), bg[y].tolist(), [0, *(np.flatnonzero(changes[y]) + 1).tolist()])
        for y in range(rows)
    ]
    black = int(_quantise(np.zeros(3, dtype=np.int32), mode))
    for face, (left, top) in zip(boxes, corners):
        label = face.label[: cols - left]
        if label:
            colour = int(_quantise(np.array(face.colour, dtype=np.int32), mode))
            strip = strips[top // 2]
            strips[top // 2] = Strip.join([
                strip.crop(0, left),
                Strip([Segment(label, _style(black, colour))], len(label)),
                strip.crop(left + len(label), cols),
            ])
    return strips


class Preview(Widget):
    """The latest frame with its face boxes, fitted and centred; redrawn only when something changed.

    `show` with the same frame object and boxes, or setting the same colour mode, does nothing."""

    DEFAULT_CSS = "Preview { width: 1fr; height: 1fr; }"

    colour_mode: reactive[str] = reactive(AUTO)
    """One of COLOUR_MODES, or "auto" to follow the terminal's colour depth."""

    def __init__(self, colour_mode: str = AUTO, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.colour_mode = colour_mode
        self._image: np.ndarray | None = None
        self._boxes: tuple[PreviewBox, ...] = ()
        self._masks = Masks()
        self._message = "no frame yet"
        self._lines: list[Strip] | None = None
        self._lines_key: tuple | None = None

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
        self._lines = None
        self.refresh()

    def clear(self, message: str = "preview off") -> None:
        """Drop the frame and show a centred message instead."""
        if self._image is None and message == self._message:
            return
        self._image, self._boxes, self._message = None, (), message
        self._lines = None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        key = (self.size, self.active_mode, self.visual_style.rich_style)
        if self._lines is None or key != self._lines_key:
            self._lines, self._lines_key = self._draw(), key
        return self._lines[y]

    def _draw(self) -> list[Strip]:
        """Every line of the widget: the picture (or the message) centred on blank lines."""
        width, height = self.size
        style = self.visual_style.rich_style
        lines = [Strip.blank(width, style)] * height
        if self._image is None:
            lines[height // 2] = Strip([Segment(self._message.center(width), style)]).adjust_cell_length(width, style)
            return lines
        cols, rows = fit_cells(self._image.shape[1], self._image.shape[0], width, height)
        left, top = (width - cols) // 2, (height - rows) // 2
        before = [Segment(" " * left, style)] if left else []
        after = [Segment(" " * (width - cols - left), style)] if width > cols + left else []
        strips = render_preview(self._image, cols, rows, self.active_mode, self._boxes, self._masks)
        for y, strip in enumerate(strips, top):
            lines[y] = Strip([*before, *strip, *after], width)
        return lines
