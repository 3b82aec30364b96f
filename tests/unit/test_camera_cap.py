"""A camera's `detect_fps` cap on its source's clock: which frames are analysed."""

from __future__ import annotations

import pytest

from emotui.capture import Frame
from emotui.pipeline import Pipeline


def taken(detect_fps: float, source_fps: float, frames: int, missing: set[int] = frozenset()) -> list[int]:
    """The indices of the frames a camera capped at `detect_fps` analyses, of a source at
    `source_fps` whose `missing` frames never reach analysis (dropped while it was busy)."""
    camera = Pipeline(capture=None, analyzer=None, name="cam", detect_fps=detect_fps)
    return [index for index in range(frames)
            if index not in missing and camera.take(Frame(index, index / source_fps, 0.0, 0.0, None))]


@pytest.mark.parametrize("detect_fps, source_fps", [(10, 15), (5, 15), (10, 30), (7, 25), (10, 10), (12.5, 25)])
def test_the_cap_analyses_its_rate_of_any_source(detect_fps, source_fps):
    seconds = 10
    analysed = taken(detect_fps, source_fps, int(seconds * source_fps))
    assert len(analysed) == pytest.approx(seconds * min(detect_fps, source_fps), abs=1)


def test_a_frame_that_came_late_loses_only_its_own_slot():
    assert taken(10, 15, 12) == [0, 2, 3, 5, 6, 8, 9, 11]
    assert taken(10, 15, 12, missing={3}) == [0, 2, 4, 5, 6, 8, 9, 11]  # 4 takes 3's slot; 5 keeps its own
    assert taken(10, 15, 30, missing=set(range(1, 20))) == [0, 20, 21, 23, 24, 26, 27, 29]  # no burst after


def test_no_cap_analyses_every_frame_and_a_paused_camera_none():
    assert taken(0, 30, 20) == list(range(20))
    camera = Pipeline(capture=None, analyzer=None, name="cam", detect_fps=0)
    camera.set_paused(True)
    assert not camera.take(Frame(0, 0.0, 0.0, 0.0, None)) and camera.skipped_while_paused == 1
