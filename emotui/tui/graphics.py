"""Real pixels in the preview: the Kitty graphics protocol and Sixel, through textual-image.

`resolve` picks the protocol before the console starts (the terminal is asked while nothing
else reads its replies): `ui.preview_mode = "auto"` asks it (textual-image's queries), "kitty" or
"sixel" force one, "halfblock" (and no answer) keep the character cells. The encoders return the
escape sequences that draw an RGB image at the cursor, for the preview to write:
  * Kitty: zlib-compressed RGB at most KITTY_MAX_WIDTH pixels wide, scaled by the terminal to
    the cells, replacing the previous image of the same id (no flicker, nothing piles up);
  * Sixel: the image at the cells' exact pixel size (Sixel cannot scale), in 256 colours.
Graphics frames are large (tens of KB, see benchmarks/preview_fidelity.py), so the preview draws
them at most GRAPHICS_FPS times a second, usable over SSH.
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
KITTY_MAX_WIDTH = 320
GRAPHICS_FPS = 4.0
_CHUNK = 4096  # the Kitty protocol's largest payload per escape sequence


@dataclass(frozen=True)
class Graphics:
    """The protocol the preview draws with and the terminal's cell size in pixels."""

    protocol: str  # "kitty" or "sixel"
    cell_px: tuple[int, int] = (10, 20)

    def pixel_size(self, cols: int, rows: int) -> tuple[int, int]:
        """Width and height in pixels of the image sent for a cols x rows picture."""
        width, height = cols * self.cell_px[0], rows * self.cell_px[1]
        if self.protocol == "kitty" and width > KITTY_MAX_WIDTH:
            width, height = KITTY_MAX_WIDTH, max(1, round(height * KITTY_MAX_WIDTH / width))
        return width, height

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
    payload = base64.standard_b64encode(zlib.compress(np.ascontiguousarray(rgb).tobytes(), 1)).decode("ascii")
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
