"""Sustained-emotion rules: a face whose smoothed score for a watched emotion stays at or above
the rule's threshold for its minimum duration raises one alert, re-armed once the score drops."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from emotui.config import AlertRuleConfig
from emotui.pipeline import FrameResult
from emotui.vision import EMOTIONS


TIME_EPSILON = 1e-6  # source times are sums of frame intervals: 1.9 - 0.9 < 1.0 in floating point


@dataclass(frozen=True)
class AlertEvent:
    rule: str
    track_id: int
    emotion: str
    score: float
    source_time: float  # when the condition started, on the source clock
    raised_at: datetime = field(default_factory=lambda: datetime.now().astimezone())

    def describe(self) -> str:
        return f"{self.rule}: face #{self.track_id} {self.emotion} {self.score:.0%}"


@dataclass
class _Episode:
    since: float
    fired: bool = False


class RuleEngine:
    """Holds the rules (thresholds can be changed live) and each face's progress towards them."""

    def __init__(self, rules: list[AlertRuleConfig]) -> None:
        self.rules = rules
        self._episodes: dict[tuple[str, int], _Episode] = {}

    def set_threshold(self, rule: AlertRuleConfig, value: float) -> None:
        rule.threshold = round(min(1.0, max(0.0, value)), 4)

    def evaluate(self, result: FrameResult) -> list[AlertEvent]:
        events = []
        for face in result.faces:
            for rule in self.rules:
                scores = {e: float(face.probabilities[EMOTIONS.index(e)]) for e in rule.emotions}
                emotion = max(scores, key=scores.get)
                key = (rule.name, face.track_id)
                if scores[emotion] < rule.threshold:
                    self._episodes.pop(key, None)
                    continue
                episode = self._episodes.setdefault(key, _Episode(since=result.time))
                if not episode.fired and result.time - episode.since >= rule.min_duration_s - TIME_EPSILON:
                    episode.fired = True
                    events.append(AlertEvent(rule.name, face.track_id, emotion, scores[emotion], episode.since))
        for track_id in result.ended_tracks:
            for rule in self.rules:
                self._episodes.pop((rule.name, track_id), None)
        return events
