"""The live preview on real frames: how close the cells come to the picture per colour mode, and
the bytes a 256-colour terminal receives."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from rich._palettes import EIGHT_BIT_PALETTE, STANDARD_PALETTE
from rich.console import Console

from emotui.tui.preview import PreviewBox, render_preview
from emotui.vision import EMOTION_COLOURS
from tests.terminal_output import terminal_pixels

RICH_SYSTEMS = {"truecolor": "truecolor", "256": "256", "16": "standard", "grey": "256"}
CLIP = ("videos", "faces", "face_recognition_short_hamilton_clip.mp4")
PHOTO = ("photos", "group_annotated", "2008_001322.jpg")
# Mean CIELAB ΔE (see mean_delta_e) a few percent above the figures measured; before the
# perceptual palettes (nearest in RGB, no dithering) the clip / the photo measured 256: 4.71 / 7.32,
# 16: 6.41 / 13.01, grey: 5.25 / 12.31 (benchmarks/preview_fidelity.py measures more frames).
MAX_DELTA_E = {"clip": {"truecolor": 0.5, "256": 4.85, "16": 5.8, "grey": 5.45},
               "photo": {"truecolor": 0.5, "256": 6.55, "16": 11.65, "grey": 12.7}}


def first_frame(media_dir) -> np.ndarray:
    capture = cv2.VideoCapture(str(media_dir.joinpath(*CLIP)))
    ok, frame = capture.read()
    capture.release()
    assert ok and frame.shape == (360, 640, 3)
    return frame


def written(strips, mode: str) -> list[str]:
    console = Console(file=io.StringIO(), color_system=RICH_SYSTEMS[mode], force_terminal=True)
    return [strip.render(console) for strip in strips]


def rgb(colour) -> tuple[int, int, int]:
    """The RGB of a decoded colour: xterm values for palette indices, VGA for the 16 ANSI colours."""
    if isinstance(colour, tuple):
        return colour
    return tuple((STANDARD_PALETTE if colour < 16 else EIGHT_BIT_PALETTE)[colour])


def mean_delta_e(frame: np.ndarray, cols: int, rows: int, mode: str) -> float:
    """Mean CIELAB ΔE between the frame downscaled to the cells' pixels and what they show, both
    blurred a little (Gaussian, sigma 1 pixel) as the eye averages neighbouring cells: dithering
    trades per-pixel error for the right colour on average."""
    shown = []
    for line in written(render_preview(frame, cols, rows, mode), mode):
        cells = terminal_pixels(line)
        shown += [[rgb(top) for top, _ in cells], [rgb(bottom) for _, bottom in cells]]
    reference = cv2.cvtColor(cv2.resize(frame, (cols, rows * 2), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    lab = lambda image: cv2.cvtColor(np.asarray(image, np.float32) / 255, cv2.COLOR_RGB2Lab)  # noqa: E731
    blur = lambda image: cv2.GaussianBlur(lab(image), (0, 0), 1.0)  # noqa: E731
    return float(np.linalg.norm(blur(reference) - blur(shown), axis=-1).mean())


@pytest.mark.parametrize("mode", ["truecolor", "256", "16", "grey"])
def test_the_cells_stay_close_to_real_frames_in_every_colour_mode(media_dir, mode):
    photo = cv2.imread(str(media_dir.joinpath(*PHOTO)))
    assert photo is not None
    for name, frame, cols, rows in (("clip", first_frame(media_dir), 80, 23), ("photo", photo, 80, 27)):
        assert mean_delta_e(frame, cols, rows, mode) <= MAX_DELTA_E[name][mode], name


def test_a_real_frame_in_256_colours_fits_the_byte_budget(media_dir):
    """80x30 cells of a face clip in 256 colours: at most 14 KB (27 KB with a reset per run)."""
    frame = cv2.resize(first_frame(media_dir), (640, 480), interpolation=cv2.INTER_AREA)  # 4:3 as the console benchmark
    box = PreviewBox((250, 80, 380, 290), EMOTION_COLOURS["neutral"], "#1")
    strips = render_preview(frame, 80, 30, "256", [box])
    assert 0 < sum(len(line.encode()) for line in written(strips, "256")) <= 14_000
