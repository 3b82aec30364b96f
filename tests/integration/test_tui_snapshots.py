"""Layout snapshots (pytest-textual-snapshot) at 80x24, 120x40 and 200x50: the main screen (two
faces and one), the events list with an alert's snapshot open, the zoom and the too-small screen.

The app runs for real on a generated image (no research media ends up in the stored SVGs);
then its changing parts — faces, timelines, timings, alerts and clock — are set to fixed values
so the picture only changes when the layout does. Update with `pytest --snapshot-update` after a deliberate
layout change and review the SVG diff."""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pytest

from emotui.config import Config
from emotui.pipeline import FrameResult, MetricsSnapshot
from emotui.tui.app import create_app
from emotui.tui.messages import AlertRaised
from emotui.vision import EMOTIONS
from emotui.vision.tracker import TrackedFace
from tests.helpers import alert_event

SIZES = [(80, 24), (120, 40), (200, 50)]

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


def _faces(count: int) -> list[TrackedFace]:
    return [_face(1, (120, 140, 280, 300), "happy", 0.82, 12.4), _face(2, (410, 140, 530, 260), "fear", 0.64, 3.1)][:count]


async def _freeze(pilot, faces: int = 2) -> None:
    """The app on fixed results: a minute of scores rising (the timelines), then the shown frame."""
    app = pilot.app
    while app.source_state != "ended":
        await pilot.pause(0.05)
    app.log_view.clear()
    app.pipeline.metrics = lambda: MetricsSnapshot(
        25.0, 24.6, {"decode": 1.1, "detect": 2.3, "classify": 0.9, "track": 0.2}, 0, 250)
    for second in range(60):
        rising = [_face(face.track_id, face.box, face.dominant, 0.2 + 0.6 * second / 59, face.dwell_s)
                  for face in _faces(faces)]
        app.timelines.add(FrameResult(second, 10.0 + second, rising, [], {}, 0.0, _scene()))
    app.latest = FrameResult(
        index=250, time=70.0, ended_tracks=[], stage_ms={}, latency_ms=0.0, image=_scene(), faces=_faces(faces))
    snapshot = "snapshots/emotui-20261124-101500-000000.png"  # cwd is the test's tmp_path
    Path("snapshots").mkdir()
    cv2.imwrite(snapshot, _scene())
    for number in range(1, 4):
        app.post_message(AlertRaised(alert_event(number, "end")))
    app.post_message(AlertRaised(dataclasses.replace(alert_event(4, "update"), snapshot=snapshot)))
    app.log_line(f"snapshot saved: {snapshot} (+ .json)", "info")
    while app.camera.shown_index != app.latest.index:  # the preview may wait for its CPU share (at most 1 s)
        await pilot.pause(0.05)
    await pilot.pause(0.5)


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setattr("emotui.tui.app.time.strftime", lambda *_: "10:15:00")  # the header's and events' clock
    cv2.imwrite(str(tmp_path / "door.png"), _scene())  # cwd is tmp_path (isolated_config)
    config = Config()
    config.source.name = "door"
    config.ui.colour = "256"
    config.ui.bell = False
    return create_app(config, "door.png")


@pytest.mark.parametrize("size", SIZES)
def test_layout(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, run_before=_freeze)


@pytest.mark.parametrize("size", SIZES)
def test_layout_with_one_face(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, run_before=partial(_freeze, faces=1))


@pytest.mark.parametrize("size", SIZES)
def test_event_with_its_snapshot(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, press=["enter"], run_before=_freeze)


@pytest.mark.parametrize("size", SIZES)
def test_zoom(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, press=["z", "z"], run_before=_freeze)


def test_too_small(snap_compare, app):
    assert snap_compare(app, terminal_size=(79, 23), run_before=_freeze)


def test_help_screen_layout(snap_compare, app):
    assert snap_compare(app, terminal_size=(80, 24), press=["question_mark"], run_before=_freeze)
