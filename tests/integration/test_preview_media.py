"""The live preview on a real frame: the bytes a 256-colour terminal receives."""

from __future__ import annotations

import io

import cv2
from rich.console import Console
from rich.segment import Segments

from emotui.tui.preview import PreviewBox, render_preview
from emotui.vision import EMOTION_COLOURS

RICH_SYSTEMS = {"truecolor": "truecolor", "256": "256", "16": "standard", "grey": "256"}
CLIP = ("videos", "faces", "face_recognition_short_hamilton_clip.mp4")


def ansi_bytes(strips, mode: str, width: int) -> int:
    """Bytes a terminal of the mode's colour system receives for the strips."""
    buffer = io.StringIO()
    console = Console(file=buffer, color_system=RICH_SYSTEMS[mode], force_terminal=True, width=width)
    for strip in strips:
        console.print(Segments(list(strip)))
    return len(buffer.getvalue().encode())


def test_a_real_frame_in_256_colours_fits_the_byte_budget(media_dir):
    capture = cv2.VideoCapture(str(media_dir.joinpath(*CLIP)))
    ok, frame = capture.read()
    capture.release()
    assert ok and frame.shape == (360, 640, 3)
    box = PreviewBox((250, 60, 380, 220), EMOTION_COLOURS["neutral"], "#1")
    strips = render_preview(frame, 80, 24, "256", [box])
    assert 0 < ansi_bytes(strips, "256", 80) <= 40_000
