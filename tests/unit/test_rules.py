"""The rule engine: sustained emotions at their edges, inertia, cooldown, presence and crowd rules,
schedules, arming and the new/update/end lifecycle."""

from __future__ import annotations

from datetime import datetime

import pytest

from emotui.alerts.rules import RuleEngine, in_schedule
from emotui.pipeline import FrameResult
from tests.factories import WALL, fear_rule, frame_result, rule_engine


def _result(time: float, scores: dict[int, float], emotion: str = "fear", ended=()) -> FrameResult:
    return frame_result(time, scores, emotion, ended)


def _run(engine: RuleEngine, scores: list[float], step: float = 0.1, track: int = 1) -> list[tuple[float, str]]:
    """Feed one face's scores at 10 fps; (time, type) of every event."""
    fired = []
    for index, score in enumerate(scores):
        time = round(index * step, 3)
        fired += [(time, e.type) for e in engine.evaluate(_result(time, {track: score} if score is not None else {}))]
    return fired


# --- sustained emotion ---------------------------------------------------------------------------


def test_alert_starts_once_when_the_score_holds_for_the_duration():
    engine = rule_engine()
    fired = []
    for t in range(25):
        fired += engine.evaluate(_result(t / 10, {1: 0.7}))
    (event,) = fired
    assert (event.type, event.rule, event.track_id, event.emotion, event.camera) == ("new", "fear", 1, "fear", "door")
    assert event.source_time == pytest.approx(1.0)  # exactly at min_duration_s
    assert event.score == pytest.approx(0.7) and event.peak_score == pytest.approx(0.7)
    assert event.start_time == WALL and event.end_time is None and event.kind == "emotion"


def test_score_exactly_at_the_threshold_counts_and_just_below_does_not():
    # 0.5 is exact in the scores' float32, so "at the threshold" is exactly at it
    assert _run(rule_engine(threshold=0.5), [0.5] * 11) == [(1.0, "new")]
    assert _run(rule_engine(threshold=0.5), [0.4999] * 30) == []


def test_a_dip_before_the_alert_restarts_the_clock():
    fired = _run(rule_engine(min_duration_s=1.0), [0.7] * 8 + [0.2] + [0.7] * 12)
    assert fired == [(1.9, "new")]  # from 0.9, not from 0.0


def test_inertia_one_noisy_frame_never_alerts_and_one_dip_never_ends():
    engine = rule_engine(min_duration_s=0.0, inertia_frames=3)
    noisy = [0.2, 0.9, 0.2, 0.9, 0.9, 0.2, 0.2]  # never three frames in a row
    assert _run(engine, noisy) == []
    engine = rule_engine(min_duration_s=0.0, inertia_frames=3)
    fired = _run(engine, [0.9, 0.9, 0.9, 0.2, 0.9, 0.2, 0.2, 0.2])
    assert fired == [(0.2, "new"), (0.7, "end")]  # starts on the 3rd frame; ends after 3 misses, not 1


def test_alert_ends_and_cooldown_holds_back_the_same_face_and_rule():
    engine = rule_engine(min_duration_s=0.0, cooldown_s=1.0)
    fired = _run(engine, [0.9, 0.2] + [0.9] * 15)
    # new at 0.0, end at 0.1; cooldown until 1.1 although the score is back from 0.2
    assert fired == [(0.0, "new"), (0.1, "end"), (1.1, "new")]


def test_cooldown_is_per_face():
    engine = rule_engine(min_duration_s=0.0, cooldown_s=10.0)
    engine.evaluate(_result(0.0, {1: 0.9}))
    engine.evaluate(_result(0.1, {1: 0.2}))
    events = engine.evaluate(_result(0.2, {1: 0.9, 2: 0.9}))
    assert [(e.type, e.track_id) for e in events] == [("new", 2)]


def test_update_when_the_peak_rises_enough_and_end_carries_the_peak():
    engine = rule_engine(min_duration_s=0.0)
    scores = [0.65, 0.67, 0.66] + [0.66] * 8 + [0.80] + [0.9] * 3 + [0.3]
    events = []
    for index, score in enumerate(scores):
        events += engine.evaluate(_result(index / 10, {1: score}))
    assert [e.type for e in events] == ["new", "update", "end"]
    new, update, end = events
    assert update.source_time == pytest.approx(1.1)  # +0.05 reached at 0.1 s, but updates wait 1 s
    assert update.peak_score == pytest.approx(0.80) and update.id == new.id
    assert end.peak_score == pytest.approx(0.9) and end.score == pytest.approx(0.3)
    assert end.end_time is not None and end.id == new.id


def test_ended_track_ends_its_alert_at_once():
    engine = rule_engine(min_duration_s=0.0, inertia_frames=5)
    for t in range(5):
        engine.evaluate(_result(t / 10, {1: 0.9}))
    events = engine.evaluate(_result(0.5, {}, ended=[1]))
    assert [(e.type, e.track_id) for e in events] == [("end", 1)]
    assert engine.finish() == []  # nothing left open


def test_a_face_missing_from_a_frame_is_neither_a_hit_nor_a_miss():
    engine = rule_engine(min_duration_s=0.0, inertia_frames=2)
    assert _run(engine, [0.9, None, 0.9, None, None, None, 0.2, 0.2]) == [(0.2, "new"), (0.7, "end")]


def test_live_threshold_change_applies_to_the_next_frame():
    configured = fear_rule(threshold=0.6, min_duration_s=0.0)
    engine = rule_engine(configured)
    engine.set_threshold("fear", 0.8)
    assert not engine.evaluate(_result(0.0, {1: 0.7}))
    engine.set_threshold("fear", 0.65)
    assert engine.evaluate(_result(0.1, {1: 0.7}))
    assert engine.set_threshold("fear", 1.7) == 1.0
    assert engine.current_rules()[0].threshold == 1.0
    assert configured.threshold == 0.6  # the engine owns the live value; the config is left as loaded


def test_rule_watching_several_emotions_reports_the_strongest():
    for strongest in ("angry", "disgust"):
        engine = rule_engine(emotions=["angry", "disgust"], min_duration_s=0.0)
        (event,) = engine.evaluate(_result(0.0, {1: 0.8}, emotion=strongest))
        assert event.emotion == strongest


def test_new_update_and_end_records_carry_the_alert_as_it_stands():
    clock = iter([WALL, WALL + 1, WALL + 2, WALL + 3, WALL + 4, WALL + 5])
    engine = rule_engine(fear_rule(name="fear", severity="warning", min_duration_s=0.0), clock=lambda: next(clock))
    (new,) = engine.evaluate(_result(0.0, {1: 0.7, 2: 0.1}))
    assert (new.type, new.severity, new.faces) == ("new", "warning", 2)
    assert new.score == new.peak_score == pytest.approx(0.7)
    assert (new.start_time, new.timestamp, new.end_time, new.source_time) == (WALL, WALL, None, 0.0)
    assert engine.evaluate(_result(0.5, {1: 0.9})) == []  # risen, but within a second of the last record
    (update,) = engine.evaluate(_result(1.0, {1: 0.95, 3: 0.2, 4: 0.2}))
    assert (update.type, update.id, update.faces, update.score, update.peak_score) == \
        ("update", new.id, 3, pytest.approx(0.95), pytest.approx(0.95))
    assert (update.emotion, update.start_time, update.timestamp, update.source_time) == ("fear", WALL, WALL + 2, 1.0)
    (end,) = engine.evaluate(_result(1.1, {1: 0.2}))
    assert (end.type, end.id, end.faces, end.score, end.peak_score) == \
        ("end", new.id, 1, pytest.approx(0.2), pytest.approx(0.95))
    assert (end.start_time, end.end_time, end.timestamp, end.source_time) == (WALL, WALL + 3, WALL + 3, 1.1)
    again = rule_engine(min_duration_s=0.0).evaluate(_result(0.0, {1: 0.7}))
    assert again[0].id != new.id


def test_an_update_comes_exactly_a_second_after_the_last_record_and_not_before():
    engine = rule_engine(min_duration_s=0.0)
    assert [e.type for e in engine.evaluate(_result(0.0, {1: 0.7}))] == ["new"]
    assert engine.evaluate(_result(0.9, {1: 0.8})) == []
    assert [e.type for e in engine.evaluate(_result(1.0, {1: 0.8}))] == ["update"]
    assert engine.evaluate(_result(2.0, {1: 0.84})) == []  # a rise of less than 0.05
    assert [e.type for e in engine.evaluate(_result(2.1, {1: 0.85}))] == ["update"]  # exactly 0.05


def test_thresholds_are_kept_to_four_decimals_as_the_config_file_writes_them():
    engine = rule_engine()
    assert engine.set_threshold("fear", 0.123456) == 0.1235
    assert engine.current_rules()[0].threshold == 0.1235


def test_finish_ends_every_open_alert_and_nothing_else():
    engine = rule_engine(fear_rule(min_duration_s=0.0), fear_rule(name="visitor", kind="face", min_duration_s=5.0))
    engine.evaluate(_result(0.0, {1: 0.7, 2: 0.1}))
    ended = engine.finish()
    assert [(e.type, e.rule, e.track_id) for e in ended] == [("end", "fear", 1)]  # the visitor had not begun
    assert engine.finish() == []


def test_a_face_present_before_a_face_rule_counts_from_when_its_track_began():
    engine = rule_engine(fear_rule(name="visitor", kind="face", min_duration_s=2.0, inertia_frames=1))
    # the face has been tracked for 2.5 s (dwell) when the rule first sees it: it already qualifies
    (new,) = engine.evaluate(_result(2.5, {1: 0.1}))
    assert new.type == "new"


# --- presence ------------------------------------------------------------------------------------


def test_face_rule_alerts_when_a_face_appears_and_ends_with_its_track():
    engine = rule_engine(fear_rule(name="visitor", kind="face", min_duration_s=0.0, inertia_frames=2))
    assert engine.evaluate(_result(0.0, {7: 0.1})) == []  # one frame is not yet a face (inertia)
    (new,) = engine.evaluate(_result(0.1, {7: 0.1}))
    assert (new.type, new.kind, new.track_id, new.score) == ("new", "face", 7, pytest.approx(0.9))
    assert engine.evaluate(_result(0.2, {})) == []  # unseen for a frame: still the same visit
    (end,) = engine.evaluate(_result(1.5, {}, ended=[7]))
    assert end.type == "end" and end.id == new.id


def test_face_rule_with_a_duration_alerts_on_faces_that_stay():
    engine = rule_engine(fear_rule(name="linger", kind="face", min_duration_s=3.0))
    fired = []
    for t in range(40):  # _result gives each face a dwell equal to the time
        fired += [(t / 10, e.type) for e in engine.evaluate(_result(t / 10, {1: 0.5}))]
    assert fired == [(3.0, "new")]


def test_crowd_rule_counts_faces_and_updates_when_more_arrive():
    engine = rule_engine(fear_rule(name="crowd", kind="crowd", max_faces=2, min_duration_s=0.0, inertia_frames=1))
    assert engine.evaluate(_result(0.0, {1: 0.5, 2: 0.5})) == []  # two is not more than two
    (new,) = engine.evaluate(_result(0.1, {1: 0.5, 2: 0.5, 3: 0.5}))
    assert (new.type, new.track_id, new.score, new.faces) == ("new", None, 3.0, 3)
    (update,) = engine.evaluate(_result(1.2, {1: 0.5, 2: 0.5, 3: 0.5, 4: 0.5}))
    assert (update.type, update.peak_score) == ("update", 4.0)
    (end,) = engine.evaluate(_result(1.3, {1: 0.5}))
    assert (end.type, end.peak_score, end.score) == ("end", 4.0, 1.0)


# --- schedules and arming ------------------------------------------------------------------------


@pytest.mark.parametrize(("when", "expected"), [
    ("2026-11-24 21:59", False), ("2026-11-24 22:00", True), ("2026-11-25 05:59", True),
    ("2026-11-25 06:00", False), ("2026-11-24 12:00", False),
])
def test_window_across_midnight(when, expected):
    rule = fear_rule(schedule=["22:00-06:00"])
    assert in_schedule(rule, datetime.fromisoformat(when)) is expected


def test_days_belong_to_the_day_a_window_starts():
    rule = fear_rule(schedule=["22:00-06:00"], days=["fri"])
    assert in_schedule(rule, datetime.fromisoformat("2026-11-27 23:00"))  # Friday night
    assert in_schedule(rule, datetime.fromisoformat("2026-11-28 05:00"))  # Saturday morning, Friday's window
    assert not in_schedule(rule, datetime.fromisoformat("2026-11-28 23:00"))  # Saturday night
    weekdays = fear_rule(days=["mon", "tue", "wed", "thu", "fri"])  # no windows: all day on those days
    assert in_schedule(weekdays, datetime.fromisoformat("2026-11-24 03:00"))
    assert not in_schedule(weekdays, datetime.fromisoformat("2026-11-29 12:00"))


def test_rule_outside_its_schedule_is_silent_and_leaving_it_ends_the_alert():
    now = {"t": datetime(2026, 11, 24, 21, 59, 58).timestamp()}
    engine = rule_engine(fear_rule(schedule=["22:00-06:00"], min_duration_s=0.0), clock=lambda: now["t"])
    assert engine.evaluate(_result(0.0, {1: 0.9})) == []
    now["t"] += 3  # 22:00:01
    assert [e.type for e in engine.evaluate(_result(0.1, {1: 0.9}))] == ["new"]
    now["t"] = datetime(2026, 11, 25, 6, 0, 1).timestamp()
    assert [e.type for e in engine.evaluate(_result(0.2, {1: 0.9}))] == ["end"]


def test_disarm_ends_open_alerts_and_silences_rules_until_armed():
    engine = rule_engine(min_duration_s=0.0)
    (new,) = engine.evaluate(_result(0.0, {1: 0.9}))
    (end,) = engine.set_armed(False)
    assert (end.type, end.id) == ("end", new.id)
    assert engine.evaluate(_result(0.1, {1: 0.9})) == []
    assert engine.set_armed(True) == []
    assert [e.type for e in engine.evaluate(_result(0.2, {1: 0.9}))] == ["new"]  # no cooldown after a disarm


def test_arming_to_the_state_the_alerts_are_in_changes_nothing():
    engine = rule_engine(min_duration_s=0.0)
    engine.evaluate(_result(0.0, {1: 0.9}))
    assert engine.set_armed(True) is None
    assert len(engine.set_armed(False)) == 1 and engine.set_armed(False) is None and not engine.armed


# --- real video ----------------------------------------------------------------------------------
