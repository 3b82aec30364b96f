"""Snapshots without models: the folder, drawing boxes past the frame edges, redacted sources, no
UI imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import platformdirs

from emotui.capture import redact_source
from emotui.snapshots import (
    annotate,
    default_snapshot_dir,
    face_label,
)
from emotui.vision import EMOTION_COLOURS, EMOTIONS


def _bgr(emotion: str) -> tuple[int, int, int]:
    r, g, b = EMOTION_COLOURS[emotion]
    return b, g, r


def test_default_snapshot_dir_is_in_the_user_data_dir():
    assert default_snapshot_dir() == Path(platformdirs.user_data_dir("emotui")) / "snapshots"


def test_boxes_reaching_past_the_frame_edges_are_drawn_without_error():
    image = np.zeros((120, 160, 3), dtype=np.uint8)
    probabilities = np.full(len(EMOTIONS), 0.01, dtype=np.float32)
    probabilities[EMOTIONS.index("happy")] = 0.94
    from emotui.vision.tracker import TrackedFace

    face = TrackedFace(7, np.array([-20, -10, 90, 200], dtype=np.float32), 0.9, probabilities, 1.0)
    out = annotate(image, [face])
    assert out.shape == image.shape and not np.array_equal(out, image)
    assert tuple(int(c) for c in out[60, 0]) == _bgr("happy")  # the left edge, clipped to x = 0
    assert face_label(face) == "#7 happy 94%"


def test_camera_passwords_do_not_reach_the_sidecar():
    assert redact_source("rtsp://admin:secret@10.0.0.5:554/stream1") == "rtsp://admin:***@10.0.0.5:554/stream1"
    assert redact_source("rtsp://10.0.0.5/stream") == "rtsp://10.0.0.5/stream"
    assert redact_source("0") == "0"
    assert redact_source("/videos/door.mp4") == "/videos/door.mp4"


def test_the_snapshots_module_loads_no_ui_package():
    code = (
        "import sys, emotui.snapshots\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich_pixels')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
