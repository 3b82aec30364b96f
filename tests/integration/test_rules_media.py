"""The rule engine on real video: nothing on a no-face clip, a visitor alert on a face clip."""

from __future__ import annotations

from datetime import datetime

import pytest

from emotui.alerts.rules import RuleEngine
from emotui.config import AlertRuleConfig, Config
from emotui.pipeline import create_pipeline
from emotui.vision import EMOTIONS

WALL = datetime(2026, 11, 24, 12, 0).timestamp()  # a Tuesday, noon


def _rule(**settings) -> AlertRuleConfig:
    values = {"name": "fear", "emotions": ["fear"], "threshold": 0.6, "min_duration_s": 1.0,
              "inertia_frames": 1, "cooldown_s": 0.0}
    return AlertRuleConfig(**{**values, **settings})


def _engine(*rules: AlertRuleConfig, clock=lambda: WALL, **settings) -> RuleEngine:
    return RuleEngine(list(rules) or [_rule(**settings)], "door", clock=clock)


def test_no_face_video_raises_nothing(media_dir, model_store):
    rules = [_rule(name="any emotion", emotions=list(EMOTIONS), threshold=0.0, min_duration_s=0.0),
             _rule(name="visitor", kind="face", min_duration_s=0.0),
             _rule(name="crowd", kind="crowd", max_faces=0, min_duration_s=0.0)]
    engine = _engine(*rules)  # any face at all would fire all three
    pipeline = create_pipeline(Config(), str(media_dir / "videos" / "nofaces" / "iacv_highway_foreste.mp4"), print)
    assert not [e for result in pipeline.results() for e in engine.evaluate(result)]


def test_face_video_raises_a_visitor_alert_and_ends_it_on_shutdown(media_dir, model_store):
    engine = _engine(_rule(name="visitor", kind="face", min_duration_s=1.0, inertia_frames=3))
    pipeline = create_pipeline(Config(), str(media_dir / "videos" / "faces" / "liveportrait_d6.mp4"), print)
    events = []
    for result in pipeline.results():
        events += [(result.time, e) for e in engine.evaluate(result)]
    events += [(None, e) for e in engine.finish()]
    assert [e.type for _, e in events] == ["new", "end"]
    assert events[0][0] == pytest.approx(1.0, abs=0.1)  # the face is there from the first frame
