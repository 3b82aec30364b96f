"""Layout snapshots of the console with four cameras at 80x24, 120x40 and 200x50: the grid of
tiles, and one camera focused full size with its bars and timelines.

As in test_tui_snapshots, the app runs for real on generated images (one per camera), then its
changing parts are set to fixed values: results, timelines, timings, states, alerts and clock."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from emotui.config import CameraConfig, Config
from emotui.pipeline import FrameResult, MetricsSnapshot
from emotui.tui.app import create_app
from emotui.tui.messages import AlertRaised
from tests.helpers import alert_event
from tests.integration.test_tui_snapshots import SIZES, _face, _faces, _scene

pytestmark = pytest.mark.usefixtures("model_store")

CAMERAS = ("door", "garage", "yard", "hall")
STATES = ("", "", "lost", "ended")  # live, live, lost, ended (what each tile says)


def _camera_scene(index: int) -> np.ndarray:
    """The snapshot scene, each camera's in its own tint."""
    return np.ascontiguousarray(np.roll(_scene(), index, axis=2))


async def _freeze(pilot) -> None:
    """Every camera on fixed results (a minute of rising scores for its timelines), fixed states, and
    alerts on two cameras."""
    app = pilot.app
    while "hall: source ended: " not in "\n".join(line.text for line in app.log_view.lines):  # every analysis done
        await pilot.pause(0.05)
    app.log_view.clear()
    for index, (camera, state) in enumerate(zip(app.cameras, STATES)):
        camera.pipeline.metrics = lambda: MetricsSnapshot(
            10.0, 9.8, {"decode": 1.1, "detect": 2.3, "classify": 0.9, "track": 0.2}, 0, 250)
        faces = _faces(2) if index == 0 else _faces(1) if index == 1 else []
        for second in range(60):
            rising = [_face(face.track_id, face.box, face.dominant, 0.2 + 0.6 * second / 59, face.dwell_s)
                      for face in faces]
            camera.timelines.add(FrameResult(second, 10.0 + second, rising, [], {}, 0.0, _camera_scene(index)))
        camera.latest = FrameResult(index=250, time=70.0, ended_tracks=[], stage_ms={}, latency_ms=0.0,
                                    image=_camera_scene(index), faces=faces, camera=camera.name)
        camera.source_state = state
    for number, camera in ((1, "door"), (2, "garage"), (3, "door")):
        app.post_message(AlertRaised(dataclasses.replace(alert_event(number, "end"), camera=camera)))
    await pilot.pause(1.0)  # the tiles refresh at TILE_FPS


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setattr("emotui.tui.app.time.strftime", lambda *_: "10:15:00")  # the header's, events' and tiles' clock
    config = Config()
    for index, name in enumerate(CAMERAS):
        cv2.imwrite(str(tmp_path / f"{name}.png"), _camera_scene(index))  # cwd is tmp_path (isolated_config)
        config.cameras.append(CameraConfig(name=name, uri=f"{name}.png"))
    config.ui.colour = "256"
    config.ui.bell = False
    return create_app(config)


@pytest.mark.parametrize("size", SIZES)
def test_grid_of_four_cameras(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, run_before=_freeze)


@pytest.mark.parametrize("size", SIZES)
def test_a_focused_camera(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, press=["2"], run_before=_freeze)
