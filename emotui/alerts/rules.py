"""The rule engine: per face (or per frame, for crowd rules) it follows each rule's condition and
turns it into alerts with a Frigate-like lifecycle: `new` when the condition has held for
`inertia_frames` frames and `min_duration_s` seconds, `update` when the score peaks higher, `end`
when it has failed for `inertia_frames` frames, the face's track ends, the rule leaves its schedule
or the alerts are disarmed. Durations and cooldowns use the source's clock; schedules and the
events' timestamps the wall clock."""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from emotui.alerts.events import AlertEvent
from emotui.config import WEEKDAYS, AlertRuleConfig
from emotui.pipeline import FrameResult
from emotui.vocabulary import EMOTIONS, EventType, RuleKind

TIME_EPSILON = 1e-6  # source times are sums of frame intervals: 1.9 - 0.9 < 1.0 in floating point
UPDATE_MIN_GAIN = 0.05  # an open alert is updated when its peak score rises this much (a crowd's: by a face)
UPDATE_MIN_INTERVAL_S = 1.0  # and at most this often


def in_schedule(rule: AlertRuleConfig, when: datetime) -> bool:
    """Whether `when` falls in one of the rule's windows on one of its days."""
    return in_windows(rule.schedule or ["00:00-24:00"], rule.days, when)


def in_windows(windows: list[str], days: list[str], when: datetime) -> bool:
    """Whether `when` falls in one of the `HH:MM-HH:MM` windows starting on one of `days`. A window
    that crosses midnight (22:00-06:00) belongs to the day it starts on."""
    minute = when.hour * 60 + when.minute
    today, yesterday = WEEKDAYS[when.weekday()], WEEKDAYS[(when - timedelta(days=1)).weekday()]
    for window in windows:
        start = int(window[0:2]) * 60 + int(window[3:5])
        end = int(window[6:8]) * 60 + int(window[9:11])
        if start < end and start <= minute < end and today in days:
            return True
        if start > end and ((minute >= start and today in days) or (minute < end and yesterday in days)):
            return True
    return False


@dataclass
class _Observation:
    met: bool
    score: float
    emotion: str | None
    track_id: int | None
    faces: int
    held_since: float  # source time the condition has held since, if it holds from this frame on


@dataclass
class _Episode:
    since: float  # source time the condition began to hold
    hits: int = 0  # consecutive frames it held
    misses: int = 0  # consecutive frames it failed
    alert: AlertEvent | None = None  # the alert's latest state, once it has started
    reported_peak: float = 0.0  # the peak score in the last record sent
    reported_at: float = 0.0  # source time of that record


class RuleEngine:
    """Owns the rules with their live thresholds, the armed state and each alert's progress; the
    configuration it starts from is never changed. Thread-safe: the pipeline evaluates while the
    console or MQTT arm, disarm or change thresholds, each through the methods below."""

    def __init__(self, rules: list[AlertRuleConfig], camera: str, armed: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        self.camera = camera
        self._rules = {rule.name: copy.deepcopy(rule) for rule in rules}  # names are unique
        self._disabled: set[str] = set()  # rules switched off at run time
        self._armed = armed
        self._clock = clock
        self._lock = threading.RLock()
        self._episodes: dict[tuple[str, int | None], _Episode] = {}
        self._cooldown_until: dict[tuple[str, int | None], float] = {}
        self._source_time = 0.0

    @property
    def armed(self) -> bool:
        return self._armed

    def current_rules(self) -> list[AlertRuleConfig]:
        """Copies of the rules with their live thresholds (changing a copy changes nothing)."""
        with self._lock:
            return [replace(rule) for rule in self._rules.values()]

    def set_threshold(self, rule_name: str, value: float) -> float:
        """Set a rule's threshold, clamped to 0-1 and rounded as the config file keeps it; returns
        it. The next frame is judged by it."""
        with self._lock:
            rule = self._rules[rule_name]
            rule.threshold = round(min(1.0, max(0.0, value)), 4)
            return rule.threshold

    def enabled(self, rule_name: str) -> bool:
        return rule_name not in self._disabled

    def set_enabled(self, rule_name: str, enabled: bool) -> list[AlertEvent] | None:
        """Switch a rule on or off (KeyError for an unknown rule): None if it already was, else the
        `end` records of its alerts switching it off ended (none when switching it on)."""
        with self._lock:
            if rule_name not in self._rules:
                raise KeyError(rule_name)
            if enabled == self.enabled(rule_name):
                return None
            if enabled:
                self._disabled.discard(rule_name)
                return []
            self._disabled.add(rule_name)
            return self._end_where(lambda key: key[0] == rule_name)

    def set_armed(self, armed: bool) -> list[AlertEvent] | None:
        """Arm or disarm: None if the alerts already were, else the `end` records of the alerts
        disarming ended (none when arming)."""
        with self._lock:
            if armed == self._armed:
                return None
            self._armed = armed
            return [] if armed else self._end_where(lambda key: True)

    def finish(self) -> list[AlertEvent]:
        """End every open alert (shutting down)."""
        with self._lock:
            return self._end_where(lambda key: True)

    def evaluate(self, result: FrameResult) -> list[AlertEvent]:
        with self._lock:
            self._source_time = result.time
            now = self._clock()
            when = datetime.fromtimestamp(now).astimezone()
            events: list[AlertEvent] = []
            for rule in self._rules.values():
                if not self._armed or rule.name in self._disabled or not in_schedule(rule, when):
                    events += self._end_where(lambda key, name=rule.name: key[0] == name)
                    continue
                for track_id, observation in self._observe(rule, result).items():
                    if event := self._step(rule, (rule.name, track_id), observation, result.time, now):
                        events.append(event)
            ended = set(result.ended_tracks)
            if ended:
                events += self._end_where(lambda key: key[1] in ended)
                self._cooldown_until = {k: v for k, v in self._cooldown_until.items() if k[1] not in ended}
            return events

    def _observe(self, rule: AlertRuleConfig, result: FrameResult) -> dict[int | None, _Observation]:
        """This frame's condition per face (emotion and face rules) or for the frame (crowd)."""
        count = len(result.faces)
        if rule.kind == RuleKind.CROWD:
            return {None: _Observation(count > rule.max_faces, float(count), None, None, count, result.time)}
        observations = {}
        for face in result.faces:
            if rule.kind == RuleKind.EMOTION:
                scores = {e: float(face.probabilities[EMOTIONS.index(e)]) for e in rule.emotions}
                emotion = max(scores, key=scores.get)
                observations[face.track_id] = _Observation(
                    scores[emotion] >= rule.threshold, scores[emotion], emotion, face.track_id, count, result.time)
            else:  # face: present since the track began
                observations[face.track_id] = _Observation(
                    True, face.score, face.dominant, face.track_id, count, result.time - face.dwell_s)
        return observations

    def _step(self, rule: AlertRuleConfig, key: tuple[str, int | None], seen: _Observation,
              source_time: float, now: float) -> AlertEvent | None:
        episode = self._episodes.get(key)
        if not seen.met:
            if episode is None:
                return None
            episode.hits, episode.misses = 0, episode.misses + 1
            if episode.alert is None:
                del self._episodes[key]  # the condition broke before the alert started: start over
                return None
            episode.alert = replace(episode.alert, score=seen.score, faces=seen.faces)
            return self._end(key, now) if episode.misses >= rule.inertia_frames else None

        if episode is None:
            episode = self._episodes[key] = _Episode(since=seen.held_since)
        episode.hits, episode.misses = episode.hits + 1, 0
        if episode.alert is None:
            if (episode.hits >= rule.inertia_frames
                    and source_time - episode.since >= rule.min_duration_s - TIME_EPSILON
                    and source_time >= self._cooldown_until.get(key, float("-inf"))):
                episode.alert = AlertEvent(
                    type=EventType.NEW, id=f"{now:.6f}-{secrets.token_hex(3)}", camera=self.camera, rule=rule.name,
                    kind=rule.kind, severity=rule.severity, track_id=seen.track_id, emotion=seen.emotion,
                    score=seen.score, peak_score=seen.score, faces=seen.faces, start_time=now, end_time=None,
                    timestamp=now, source_time=source_time)
                episode.reported_peak, episode.reported_at = seen.score, source_time
                return episode.alert
            return None

        alert = replace(episode.alert, score=seen.score, faces=seen.faces,
                        peak_score=max(episode.alert.peak_score, seen.score))
        if alert.peak_score >= episode.reported_peak + UPDATE_MIN_GAIN - TIME_EPSILON and \
                source_time - episode.reported_at >= UPDATE_MIN_INTERVAL_S - TIME_EPSILON:
            alert = replace(alert, type=EventType.UPDATE, emotion=seen.emotion, timestamp=now, source_time=source_time)
            episode.reported_peak, episode.reported_at = alert.peak_score, source_time
            episode.alert = alert
            return alert
        episode.alert = alert  # the next update and the end carry the latest score and the peak
        return None

    def _end(self, key: tuple[str, int | None], now: float, cooldown: bool = True) -> AlertEvent | None:
        episode = self._episodes.pop(key)
        if episode.alert is None:
            return None
        if cooldown:
            self._cooldown_until[key] = self._source_time + self._rules[key[0]].cooldown_s
        return replace(episode.alert, type=EventType.END, end_time=now, timestamp=now, source_time=self._source_time)

    def _end_where(self, matches: Callable[[tuple[str, int | None]], bool]) -> list[AlertEvent]:
        """End the matching alerts from outside their condition (a track that ended, the schedule,
        disarming, shutdown): no cooldown follows."""
        now = self._clock()
        ended = [self._end(key, now, cooldown=False) for key in [k for k in self._episodes if matches(k)]]
        return [event for event in ended if event is not None]
