"""Layout snapshots (pytest-textual-snapshot) at 80x24 and 120x40.

The app runs for real on a generated image (no research media ends up in the stored SVGs);
then its changing parts — faces, timings and clock — are set to fixed values so the picture
only changes when the layout does. Update with `pytest --snapshot-update` after a deliberate
layout change and review the SVG diff."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotui.config import Config
from emotui.pipeline import FrameResult, MetricsSnapshot
from emotui.tui.app import create_app
from emotui.vision import EMOTIONS
from emotui.vision.tracker import TrackedFace

pytestmark = pytest.mark.usefixtures("model_store")


def _scene() -> np.ndarray:
    """A 640x480 gradient with two light discs where the faces are."""
    ramp = np.linspace(40, 200, 640, dtype=np.uint8)
    image = np.dstack([np.tile(ramp, (480, 1)), np.full((480, 640), 90, np.uint8), np.tile(ramp[::-1], (480, 1))])
    cv2.circle(image, (200, 220), 80, (190, 200, 230), -1)
    cv2.circle(image, (470, 200), 60, (170, 180, 210), -1)
    return np.ascontiguousarray(image)


def _face(track_id: int, box, dominant: str, score: float, dwell: float) -> TrackedFace:
    probabilities = np.full(7, (1 - score) / 6, np.float32)
    probabilities[EMOTIONS.index(dominant)] = score
    return TrackedFace(track_id, np.array(box, np.float32), 0.95, probabilities, dwell)


async def _freeze(pilot) -> None:
    app = pilot.app
    while app.source_state != "ended":
        await pilot.pause(0.05)
    app.alert_log.clear()
    app.pipeline.metrics = lambda: MetricsSnapshot(
        25.0, 24.6, {"decode": 1.1, "detect": 2.3, "classify": 0.9, "track": 0.2}, 0, 250)
    app.latest = FrameResult(
        index=250, time=10.0, ended_tracks=[], stage_ms={}, latency_ms=0.0, image=_scene(),
        faces=[_face(1, (120, 140, 280, 300), "happy", 0.82, 12.4), _face(2, (410, 140, 530, 260), "fear", 0.64, 3.1)],
    )
    app.log_line("ALERT fear: face #2 fear 64%", "alert")
    app.log_line("snapshot saved: snapshots/emotui-20261124-101500-000000.png (+ .json)", "info")
    await pilot.pause(0.5)


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setattr("emotui.tui.app.time.strftime", lambda _: "10:15:00")
    cv2.imwrite(str(tmp_path / "door.png"), _scene())  # cwd is tmp_path (isolated_config)
    config = Config()
    config.ui.colour = "256"
    config.ui.bell = False
    return create_app(config, "door.png")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_layout(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, run_before=_freeze)


def test_help_screen_layout(snap_compare, app):
    assert snap_compare(app, terminal_size=(80, 24), press=["question_mark"], run_before=_freeze)
