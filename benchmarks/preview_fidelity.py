"""Preview fidelity benchmark: how close the half-block cells come to the frame, per colour mode; prints JSON.

    .venv/bin/python benchmarks/preview_fidelity.py [--cols 80 --rows 30] [--frames 4] [--media DIR]

For real frames of the research media (frames spread over each face video, and the group and
multi-face photos), each frame is drawn by `render_preview` at the cell grid that fits --cols x
--rows, and the colours the cells show (xterm values for palette indices, VGA values for the 16
ANSI colours) are compared with the frame downscaled to the same grid (2 pixels per cell):
  * `delta_e`: mean CIELAB ΔE 1976 per pixel;
  * `delta_l`: mean lightness error |ΔL*| (what grey mode can be judged on);
  * `delta_e_blurred`: the same after a Gaussian blur (sigma 1 pixel) of both, as the eye
    averages neighbouring cells (credits dithering, which trades per-pixel error for the right
    average);
  * `bytes`: mean bytes a terminal receives for the picture, as Textual writes the strips;
  * `ms`: mean time of one render_preview call.
The graphics modes (`kitty`, `sixel`) get `bytes` and `ms` of one frame's escape sequences at the
same cell grid, with --cell-px pixels per cell (10x20 by default, a common terminal font).
Figures only; tests/integration/test_preview_media.py pins a bound on one frame.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from rich._palettes import EIGHT_BIT_PALETTE, STANDARD_PALETTE
from rich.color import ColorType
from rich.console import Console

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emotui.tui.graphics import Graphics  # noqa: E402
from emotui.tui.preview import annotated_image, fit_cells, render_preview  # noqa: E402
from tests.media import find_media  # noqa: E402

MODES = ("truecolor", "256", "16", "grey")
RICH_SYSTEMS = {"truecolor": "truecolor", "256": "256", "16": "standard", "grey": "256"}


def real_frames(media: Path, per_video: int) -> list[tuple[str, np.ndarray]]:
    """(name, BGR frame): `per_video` frames spread over each face video, then the photos with people."""
    frames = []
    for video in sorted((media / "videos" / "faces").glob("*.mp4")):
        reader = cv2.VideoCapture(str(video))
        count = int(reader.get(cv2.CAP_PROP_FRAME_COUNT))
        for index in np.linspace(0, max(count - 1, 0), per_video + 2)[1:-1].astype(int):
            reader.set(cv2.CAP_PROP_POS_FRAMES, int(index))
            ok, frame = reader.read()
            if ok:
                frames.append((f"{video.name}#{index}", frame))
        reader.release()
    for folder in ("group_annotated", "multi_face"):
        for photo in sorted((media / "photos" / folder).glob("*.jpg")):
            frames.append((photo.name, cv2.imread(str(photo))))
    return frames


def _rgb(colour) -> tuple[int, int, int]:
    if colour.type == ColorType.TRUECOLOR:
        return colour.triplet
    palette = STANDARD_PALETTE if colour.number < 16 else EIGHT_BIT_PALETTE
    return tuple(palette[colour.number])


def shown_pixels(strips) -> np.ndarray:
    """The RGB pixels (2 per cell, top and bottom) the strips show, as an (2 * rows, cols, 3) array."""
    rows = []
    for strip in strips:
        top, bottom = [], []
        for segment in strip:
            if segment.control:
                continue
            style = segment.style
            for char in segment.text:  # upper, lower and full blocks show the foreground, the rest the background
                top.append(_rgb(style.color if char in "\u2580\u2588" else style.bgcolor))
                bottom.append(_rgb(style.color if char in "\u2584\u2588" else style.bgcolor))
        rows += [top, bottom]
    return np.array(rows, dtype=np.uint8)


def terminal_bytes(strips, mode: str) -> int:
    """Bytes a terminal of the mode's colour system receives for the strips, as Textual writes them."""
    console = Console(file=io.StringIO(), color_system=RICH_SYSTEMS[mode], force_terminal=True)
    return sum(len(strip.render(console).encode()) for strip in strips)


def lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)


def fidelity(frame_bgr: np.ndarray, cols: int, rows: int, mode: str) -> dict:
    """ΔE (per pixel and blurred), bytes and render time of one frame in one mode."""
    started = time.perf_counter()
    strips = render_preview(frame_bgr, cols, rows, mode)
    elapsed = time.perf_counter() - started
    reference = cv2.cvtColor(cv2.resize(frame_bgr, (cols, rows * 2), interpolation=cv2.INTER_AREA),
                             cv2.COLOR_BGR2RGB)
    shown = shown_pixels(strips)
    expected, got = lab(reference), lab(shown)
    blur = lambda image: cv2.GaussianBlur(image, (0, 0), 1.0)  # noqa: E731
    return {"delta_e": float(np.linalg.norm(expected - got, axis=-1).mean()),
            "delta_l": float(np.abs(expected[..., 0] - got[..., 0]).mean()),
            "delta_e_blurred": float(np.linalg.norm(blur(expected) - blur(got), axis=-1).mean()),
            "bytes": terminal_bytes(strips, mode), "ms": elapsed * 1000}


def graphics_cost(frame_bgr: np.ndarray, cols: int, rows: int, graphics: Graphics) -> dict:
    """Bytes and time of one frame drawn with a graphics protocol (annotation and encoding)."""
    started = time.perf_counter()
    rgb = annotated_image(frame_bgr, graphics.pixel_size(cols, rows))
    data = graphics.encode(rgb, cols, rows, 1)
    return {"bytes": len(data.encode()), "ms": (time.perf_counter() - started) * 1000}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cols", type=int, default=80)
    parser.add_argument("--rows", type=int, default=30)
    parser.add_argument("--frames", type=int, default=4, help="frames per face video")
    parser.add_argument("--media", type=Path, default=find_media())
    parser.add_argument("--cell-px", type=lambda text: tuple(map(int, text.split("x"))), default=(10, 20),
                        help="pixels per cell for the graphics modes, WxH (default 10x20)")
    args = parser.parse_args(argv)
    frames = real_frames(args.media, args.frames)
    if not frames:
        raise SystemExit(f"preview-fidelity: no face videos or photos in {args.media}")
    results = {}
    for mode in MODES:
        figures = []
        for _, frame in frames:
            cols, rows = fit_cells(frame.shape[1], frame.shape[0], args.cols, args.rows)
            render_preview(frame, cols, rows, mode)  # warm: the mode's lookup table is built once
            figures.append(fidelity(frame, cols, rows, mode))
        results[mode] = {key: round(statistics.fmean(f[key] for f in figures), 2) for key in figures[0]}
    for protocol in ("kitty", "sixel"):
        graphics = Graphics(protocol, args.cell_px)
        figures = [graphics_cost(frame, *fit_cells(frame.shape[1], frame.shape[0], args.cols, args.rows), graphics)
                   for _, frame in frames]
        results[protocol] = {key: round(statistics.fmean(f[key] for f in figures), 2) for key in figures[0]}
    print(json.dumps({"cells": [args.cols, args.rows], "cell_px": list(args.cell_px), "frames": len(frames), "media": str(args.media),
                      "modes": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
