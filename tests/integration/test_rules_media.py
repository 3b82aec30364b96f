"""The rule engine on real video: nothing on a no-face clip, a visitor alert on a face clip."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotui.config import Config
from emotui.pipeline import create_pipeline
from emotui.vision import EMOTIONS
from tests.factories import fear_rule, rule_engine


def test_no_face_video_raises_nothing(media_dir, model_store):
    rules = [fear_rule(name="any emotion", emotions=list(EMOTIONS), threshold=0.0, min_duration_s=0.0),
             fear_rule(name="visitor", kind="face", min_duration_s=0.0),
             fear_rule(name="crowd", kind="crowd", max_faces=0, min_duration_s=0.0)]
    engine = rule_engine(*rules)  # any face at all would fire all three
    pipeline = create_pipeline(Config(), str(media_dir / "videos" / "nofaces" / "iacv_highway_foreste.mp4"), print)
    assert not [e for result in pipeline.results() for e in engine.evaluate(result)]


def test_face_video_raises_a_visitor_alert_and_ends_it_on_shutdown(media_dir, model_store):
    engine = rule_engine(fear_rule(name="visitor", kind="face", min_duration_s=1.0, inertia_frames=3))
    pipeline = create_pipeline(Config(), str(media_dir / "videos" / "faces" / "liveportrait_d6.mp4"), print)
    events = []
    for result in pipeline.results():
        events += [(result.time, e) for e in engine.evaluate(result)]
    events += [(None, e) for e in engine.finish()]
    assert [e.type for _, e in events] == ["new", "end"]
    assert events[0][0] == pytest.approx(1.0, abs=0.1)  # the face is there from the first frame


def _face_then_nobody(source, target, face_frames: int, empty_s: float) -> float:
    """A clip of the first `face_frames` frames of `source`, then `empty_s` of grey; its fps."""
    reader = cv2.VideoCapture(str(source))
    fps = reader.get(cv2.CAP_PROP_FPS)
    writer = None
    for _ in range(face_frames):
        ok, frame = reader.read()
        assert ok
        if writer is None:
            writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, frame.shape[1::-1])
        writer.write(frame)
    for _ in range(int(empty_s * fps)):
        writer.write(np.full_like(frame, 90))
    writer.release()
    return fps


def test_the_track_and_its_alert_end_when_the_face_leaves_not_at_shutdown(media_dir, model_store, tmp_path):
    clip = tmp_path / "leaves.mp4"
    fps = _face_then_nobody(media_dir / "videos" / "faces" / "liveportrait_d20.mp4", clip, 50, 3.0)
    config = Config()
    engine = rule_engine(fear_rule(name="visitor", kind="face", min_duration_s=0.0, inertia_frames=3))
    last_face = ended_at = None
    events = []
    for result in create_pipeline(config, str(clip), print).results():
        if result.faces:
            last_face = result.time
        if result.ended_tracks:
            ended_at = result.time
            assert result.ended_tracks == [1]
        events += [(result.time, e.type) for e in engine.evaluate(result)]
    assert last_face == pytest.approx(49 / fps, abs=1.5 / fps)
    # the track ends max_absence_s after the face was last seen, and its alert with it
    assert ended_at == pytest.approx(last_face + config.tracker.max_absence_s, abs=2.5 / fps)
    assert [t for t, kind in events if kind == "end"] == [ended_at]
    assert engine.finish() == []  # nothing left open for shutdown to end
