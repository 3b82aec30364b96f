"""Terminal colour palettes: pixels to the nearest palette colour in CIELAB, through lookup tables.

A colour code is a palette index (0-255) or RGB_CODE + 0xRRGGBB for truecolor. The 256-colour
mode uses the xterm 6x6x6 cube and grey ramp (16-255; 0-15 differ between terminals), the 16-colour
mode the VGA values of the 16 ANSI colours, grey the ramp with the cube's black and white. Each
palette mode has a table of 64x64x64 RGB bins built once on first use (a few tenths of a second);
quantising a frame is then a table look-up, cheap enough for a Raspberry Pi. Optional ordered
(Bayer) dithering trades a little per-pixel error for smoother gradients in the coarse palettes.
"""

from __future__ import annotations

from functools import cache

import numpy as np

COLOUR_MODES = ("truecolor", "256", "16", "grey")
RGB_CODE = 256
# Truecolor channels rounded to this step (18-bit colour, at most 2 levels off, below what shows
# in a cell): neighbouring cells then share colours far more often, so a frame needs about 30%
# fewer colour changes, bytes and drawing time.
TRUECOLOR_STEP = 4

ANSI16 = np.array([
    (0, 0, 0), (170, 0, 0), (0, 170, 0), (170, 85, 0), (0, 0, 170), (170, 0, 170), (0, 170, 170),
    (170, 170, 170), (85, 85, 85), (255, 85, 85), (85, 255, 85), (255, 255, 85), (85, 85, 255),
    (255, 85, 255), (85, 255, 255), (255, 255, 255),
], dtype=np.uint8)
_CUBE_LEVELS = np.array([0, 95, 135, 175, 215, 255])
_CUBE = np.stack(np.meshgrid(_CUBE_LEVELS, _CUBE_LEVELS, _CUBE_LEVELS, indexing="ij"), axis=-1).reshape(-1, 3)
_RAMP = np.repeat(np.arange(8, 239, 10)[:, None], 3, axis=1)
XTERM256 = np.concatenate([ANSI16, _CUBE, _RAMP]).astype(np.uint8)
"""RGB of the xterm palette indices 0-255 (0-15 as VGA)."""

_CANDIDATES = {  # palette indices each mode may use
    "256": np.arange(16, 256),
    "16": np.arange(16),
    "grey": np.array([16, *range(232, 256), 231]),
}
# Dithering amplitude per mode, in RGB units: about one palette step (0: none).
DITHER = {"truecolor": 0, "256": 0, "16": 64, "grey": 0}

_BINS = 64
_BIN_OF = (np.arange(256) * (_BINS - 1) + 127) // 255  # channel value -> bin; 0 and 255 exact
_BAYER4 = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]]) / 16 - 15 / 32


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of an (..., 3) array of 8-bit sRGB values, as float32."""
    c = np.asarray(rgb, dtype=np.float32) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array([[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192], [0.1805, 0.0722, 0.9505]],
                            dtype=np.float32)
    xyz /= np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def nearest(rgb: np.ndarray, mode: str) -> np.ndarray:
    """Palette index nearest in CIELAB (ΔE 1976) to each colour of an (..., 3) RGB array."""
    candidates = _CANDIDATES[mode]
    palette = srgb_to_lab(XTERM256[candidates])
    lab = srgb_to_lab(rgb).reshape(-1, 3)
    # argmin |lab - p|^2 = argmin |p|^2 - 2 lab.p: one matrix product, no (n, palette, 3) array.
    distance = (palette ** 2).sum(axis=1) - 2 * lab @ palette.T
    return candidates[distance.argmin(axis=1)].reshape(np.shape(rgb)[:-1])


@cache
def lookup_table(mode: str) -> np.ndarray:
    """The mode's palette index for every RGB bin, as a flat uint8 array (64^3 entries)."""
    levels = np.round(np.arange(_BINS) * 255 / (_BINS - 1))
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    return np.concatenate([nearest(chunk, mode) for chunk in np.array_split(grid, 16)]).astype(np.uint8)


def quantise(rgb: np.ndarray, mode: str) -> np.ndarray:
    """Colour codes of an (H, W, 3) or (..., 3) uint8 RGB image in the mode's palette."""
    if mode == "truecolor":
        rgb = np.minimum((rgb.astype(np.int32) + TRUECOLOR_STEP // 2) // TRUECOLOR_STEP * TRUECOLOR_STEP, 255)
        return RGB_CODE + (rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2])
    if mode not in _CANDIDATES:
        raise ValueError(f"colour mode must be one of {', '.join(COLOUR_MODES)}, not {mode!r}")
    if DITHER[mode] and rgb.ndim == 3:
        height, width = rgb.shape[:2]
        offsets = np.tile(_BAYER4, (height // 4 + 1, width // 4 + 1))[:height, :width, None]
        rgb = np.clip(rgb + offsets * DITHER[mode], 0, 255).astype(np.uint8)
    bins = _BIN_OF[rgb]
    return lookup_table(mode)[(bins[..., 0] * _BINS + bins[..., 1]) * _BINS + bins[..., 2]].astype(np.int32)


def code_rgb(codes: np.ndarray) -> np.ndarray:
    """The RGB a terminal shows for colour codes (the xterm values for palette indices)."""
    codes = np.asarray(codes)
    truecolor = codes - RGB_CODE
    direct = np.stack([truecolor >> 16 & 255, truecolor >> 8 & 255, truecolor & 255], axis=-1)
    return np.where((codes >= RGB_CODE)[..., None], direct, XTERM256[np.minimum(codes, 255)]).astype(np.uint8)
