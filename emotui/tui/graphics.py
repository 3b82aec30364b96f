"""Real pixels in the preview: the Kitty graphics protocol and Sixel, through textual-image.

`resolve` picks the protocol before the console starts (the terminal is asked while nothing
else reads its replies): `ui.preview_mode = "auto"` asks it (textual-image's queries), "kitty" or
"sixel" force one, "halfblock" (and no answer) keep the character cells. The encoders return the
escape sequences that draw an RGB image at the cursor, for the preview to write:
  * Kitty: RGB with 5 bits per channel (half the bytes once compressed), zlib-compressed, at most
    MAX_WIDTH pixels wide and scaled by the terminal to the picture's cells, replacing the
    previous image of the same id (no flicker, nothing piles up);
  * Sixel: the picture at its cells' pixel size, at most MAX_WIDTH pixels wide (Sixel cannot
    scale, and its encoding is slow: a wider panel shows it smaller, centred).
Measured on the research media (benchmarks/preview_fidelity.py, 80x30 cells of 10x20 pixels) a
frame is about 90 KB and 5 ms in Kitty, 44 KB and 27 ms in Sixel (on the console's thread; 4-5
times longer on a loaded machine), so the preview draws at most GRAPHICS_FPS of them a second:
under 200 KB/s, usable over SSH, and a few percent of a core.
"""

from __future__ import annotations

import base64
import sys
import zlib
from dataclasses import dataclass
from typing import get_args

import numpy as np

from emotui.config.schema import PreviewMode

PREVIEW_MODES = get_args(PreviewMode)
MAX_WIDTH = {"kitty": 320, "sixel": 240}  # pixels
GRAPHICS_FPS = 2.0
_CHUNK = 4096  # the Kitty protocol's largest payload per escape sequence


@dataclass(frozen=True)
class Graphics:
    """The protocol the preview draws with and the terminal's cell size in pixels."""

    protocol: str  # "kitty" or "sixel"
    cell_px: tuple[int, int] = (10, 20)

    def pixel_size(self, cols: int, rows: int) -> tuple[int, int]:
        """Width and height in pixels of the image sent for a cols x rows picture."""
        width, height = cols * self.cell_px[0], rows * self.cell_px[1]
        limit = MAX_WIDTH[self.protocol]
        return (width, height) if width <= limit else (limit, max(1, round(height * limit / width)))

    def cells(self, cols: int, rows: int) -> tuple[int, int]:
        """The cells the image of a cols x rows picture covers (Kitty: all; Sixel: its pixels')."""
        if self.protocol == "kitty":
            return cols, rows
        width, height = self.pixel_size(cols, rows)
        return -(-width // self.cell_px[0]), -(-height // self.cell_px[1])

    def encode(self, rgb: np.ndarray, cols: int, rows: int, image_id: int) -> str:
        """The escape sequences drawing an (H, W, 3) uint8 RGB image of pixel_size(cols, rows)
        over cols x rows cells at the cursor."""
        if self.protocol == "kitty":
            return kitty_image(rgb, cols, rows, image_id)
        return sixel_image(rgb)


def resolve(preview_mode: str) -> Graphics | None:
    """The graphics to draw the preview with (None: half blocks) for `ui.preview_mode`."""
    if preview_mode not in PREVIEW_MODES:
        raise ValueError(f"preview mode must be one of {', '.join(PREVIEW_MODES)}, not {preview_mode!r}")
    if preview_mode == "halfblock":
        return None
    on_terminal = sys.__stdout__ is not None and sys.__stdout__.isatty()
    protocol = preview_mode
    if preview_mode == "auto":
        if not on_terminal:
            return None
        from textual_image.renderable import Image, SixelImage, TGPImage  # asks the terminal on import

        protocol = {TGPImage: "kitty", SixelImage: "sixel"}.get(Image)
        if protocol is None:
            return None
    if not on_terminal:
        return Graphics(protocol)
    from textual_image._terminal import get_cell_size  # the window's pixel size per cell, or VT340's 10x20

    cell = get_cell_size()
    return Graphics(protocol, (cell.width, cell.height))


def kitty_image(rgb: np.ndarray, cols: int, rows: int, image_id: int) -> str:
    """Kitty graphics commands transmitting `rgb` and placing it over cols x rows cells at the
    cursor (which stays), replacing image `image_id`; no reply is asked for."""
    height, width = rgb.shape[:2]
    payload = base64.standard_b64encode(zlib.compress((rgb & 0xF8).tobytes(), 1)).decode("ascii")
    chunks = [payload[start:start + _CHUNK] for start in range(0, len(payload), _CHUNK)]
    header = f"a=T,f=24,o=z,s={width},v={height},c={cols},r={rows},i={image_id},p=1,C=1,q=2"
    return "".join(f"\x1b_G{header + ',' if index == 0 else ''}m={int(index < len(chunks) - 1)};{chunk}\x1b\\"
                   for index, chunk in enumerate(chunks))


def kitty_delete(image_id: int) -> str:
    """The Kitty command removing image `image_id` and its placements."""
    return f"\x1b_Ga=d,d=I,i={image_id},q=2\x1b\\"


def sixel_image(rgb: np.ndarray) -> str:
    """`rgb` as a Sixel image (DCS ... ST) at its pixel size."""
    from PIL import Image
    from textual_image._sixel import image_to_sixels

    return image_to_sixels(Image.fromarray(rgb))
