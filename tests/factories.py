"""Hand-made pipeline results for alert tests: faces with chosen scores, no models needed; and a
config whose rule alerts on every face at once."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from emotui.alerts.rules import RuleEngine
from emotui.config import AlertRuleConfig, Config
from emotui.pipeline import FrameResult
from emotui.vision import EMOTIONS
from emotui.vision.tracker import TrackedFace

WALL = datetime(2026, 11, 24, 12, 0).timestamp()  # a Tuesday, noon


def face(track_id: int, score: float, emotion: str = "fear", dwell: float = 0.0) -> TrackedFace:
    """A face whose smoothed `emotion` score is `score`, the rest shared equally."""
    probabilities = np.full(7, (1 - score) / 6, np.float32)
    probabilities[EMOTIONS.index(emotion)] = score
    x = 40 * track_id
    return TrackedFace(track_id, np.array([x, 20, x + 30, 60], np.float32), 0.9, probabilities, dwell)


def frame_result(time: float, scores: dict[int, float], emotion: str = "fear", ended=(),
                 image: np.ndarray | None = None) -> FrameResult:
    """A result at `time` with one face per (track id, score); each face's dwell equals `time`."""
    faces = [face(track_id, score, emotion, dwell=time) for track_id, score in scores.items()]
    if image is None:
        image = np.full((120, 160, 3), 90, np.uint8)
    return FrameResult(int(time * 10), time, faces, list(ended), {}, 0.0, image)


def visitor_config(tmp_path: Path) -> Config:
    """Camera "door", one rule "visitor" alerting on each face at once (no inertia, no cooldown), the
    audit log in tmp_path/alerts, no snapshots."""
    config = Config()
    config.source.name = "door"
    config.alerts.rules = [AlertRuleConfig(name="visitor", kind="face", min_duration_s=0.0, inertia_frames=1,
                                           cooldown_s=0.0)]
    config.alerts.dir = str(tmp_path / "alerts")
    config.snapshots.on_alert = False
    return config


def fear_rule(**settings) -> AlertRuleConfig:
    """A fear rule (threshold 0.6, 1 s, no inertia or cooldown) with `settings` changed."""
    values = {"name": "fear", "emotions": ["fear"], "threshold": 0.6, "min_duration_s": 1.0,
              "inertia_frames": 1, "cooldown_s": 0.0}
    return AlertRuleConfig(**{**values, **settings})


def rule_engine(*rules: AlertRuleConfig, clock=lambda: WALL, **settings) -> RuleEngine:
    """An engine for camera "door" on `rules`, or on one fear_rule(**settings), at noon on WALL's day."""
    return RuleEngine(list(rules) or [fear_rule(**settings)], "door", clock=clock)
