"""Sustained-emotion rules: thresholds and durations at their edges, re-arming, ended tracks."""

from __future__ import annotations

import numpy as np
import pytest

from emotui.alerts.rules import RuleEngine
from emotui.config import AlertRuleConfig, Config
from emotui.pipeline import FrameResult, create_pipeline
from emotui.vision import EMOTIONS
from emotui.vision.tracker import TrackedFace


def _result(time: float, scores: dict[int, float], emotion: str = "fear", ended=()) -> FrameResult:
    faces = []
    for track_id, score in scores.items():
        probabilities = np.full(7, (1 - score) / 6, np.float32)
        probabilities[EMOTIONS.index(emotion)] = score
        faces.append(TrackedFace(track_id, np.array([0, 0, 10, 10], np.float32), 0.9, probabilities, 0.0))
    return FrameResult(int(time * 10), time, faces, list(ended), {}, 0.0, np.zeros((1, 1, 3), np.uint8))


def _engine(threshold=0.6, duration=1.0, emotions=("fear",)):
    return RuleEngine([AlertRuleConfig("fear", list(emotions), threshold, duration)])


def test_alert_fires_once_when_the_score_holds_for_the_duration():
    engine = _engine()
    fired = [engine.evaluate(_result(t / 10, {1: 0.7})) for t in range(0, 25)]
    times = [t / 10 for t, events in enumerate(fired) if events]
    assert times == [1.0]  # exactly at min_duration_s, and only once
    (event,) = fired[10]
    assert (event.rule, event.track_id, event.emotion, event.source_time) == ("fear", 1, "fear", 0.0)
    assert event.score == pytest.approx(0.7)


def test_score_exactly_at_the_threshold_counts_and_just_below_does_not():
    at = _engine(threshold=0.6)
    assert any(at.evaluate(_result(t / 10, {1: 0.6})) for t in range(0, 11))
    below = _engine(threshold=0.6)
    assert not any(below.evaluate(_result(t / 10, {1: 0.5999})) for t in range(0, 30))


def test_a_dip_below_the_threshold_restarts_the_clock_and_rearms():
    engine = _engine(duration=1.0)
    scores = [0.7] * 8 + [0.2] + [0.7] * 11 + [0.2] + [0.7] * 11
    fired = [t / 10 for t, s in enumerate(scores) if engine.evaluate(_result(t / 10, {1: s}))]
    assert fired == [1.9, 3.1]


def test_each_face_has_its_own_episode_and_ended_tracks_forget_theirs():
    engine = _engine(duration=0.5)
    engine.evaluate(_result(0.0, {1: 0.9, 2: 0.9}))
    events = engine.evaluate(_result(0.5, {1: 0.9, 2: 0.9}))
    assert sorted(e.track_id for e in events) == [1, 2]
    engine.evaluate(_result(0.6, {1: 0.9}, ended=[2]))
    # track ids are never reused, but a forgotten episode must not leak: nothing is kept for 2
    assert all(track != 2 for _, track in engine._episodes)


def test_live_threshold_change_applies_to_the_next_frame():
    engine = _engine(threshold=0.6, duration=0.0)
    rule = engine.rules[0]
    engine.set_threshold(rule, 0.8)
    assert not engine.evaluate(_result(0.0, {1: 0.7}))
    engine.set_threshold(rule, 0.65)
    assert engine.evaluate(_result(0.1, {1: 0.7}))
    engine.set_threshold(rule, 1.7)
    assert rule.threshold == 1.0


def test_rule_watching_several_emotions_reports_the_strongest():
    engine = _engine(emotions=("angry", "disgust"), duration=0.0)
    (event,) = engine.evaluate(_result(0.0, {1: 0.8}, emotion="disgust"))
    assert event.emotion == "disgust"


def test_no_face_video_raises_nothing(media_dir, model_store):
    engine = _engine(threshold=0.0, duration=0.0)  # any face at all would fire
    pipeline = create_pipeline(Config(), str(media_dir / "videos" / "nofaces" / "iacv_highway_foreste.mp4"), print)
    assert not [e for result in pipeline.results() for e in engine.evaluate(result)]
