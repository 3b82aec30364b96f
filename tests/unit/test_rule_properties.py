"""Property-based tests of the rule engine's timing against a plain reading of the README:
inertia, minimum duration and cooldown on any sequence of scores, and schedule windows (across
midnight too) at any minute of any day."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from emotui.alerts.rules import RuleEngine, in_schedule
from emotui.config import WEEKDAYS, AlertRuleConfig
from tests.factories import frame_result

WALL = datetime(2026, 11, 24, 12, 0).timestamp()
STEP = 0.1  # 10 fps

# one face's fear score per frame, or None when the face is not in that frame
SCORES = st.lists(st.one_of(st.none(), st.sampled_from([0.1, 0.59, 0.6, 0.9])), max_size=60)


def expected_events(scores, threshold, inertia, min_duration, cooldown):
    """(time, type) of the new and end events the README describes: an alert starts once the
    score has been at or above the threshold for `inertia` frames in a row and `min_duration`
    seconds, and not before `cooldown` seconds after the last one ended; it ends after `inertia`
    frames in a row below the threshold; a frame without the face counts neither way."""
    events, open_alert, hits, misses, since, quiet_until = [], False, 0, 0, None, float("-inf")
    for index, score in enumerate(scores):
        time = round(index * STEP, 3)
        if score is None:
            continue
        if score >= threshold:
            hits, misses = hits + 1, 0
            since = time if since is None else since
            if not open_alert and hits >= inertia and time - since >= min_duration - 1e-6 and time >= quiet_until:
                open_alert = True
                events.append((time, "new"))
        else:
            hits, misses = 0, misses + 1
            if not open_alert:
                since = None
            elif misses >= inertia:
                open_alert, since = False, None
                quiet_until = time + cooldown
                events.append((time, "end"))
    return events


@settings(max_examples=300, deadline=None)
@given(scores=SCORES, inertia=st.integers(1, 4), min_duration=st.sampled_from([0.0, 0.3, 1.0]),
       cooldown=st.sampled_from([0.0, 0.5, 2.0]))
def test_alerts_start_and_end_as_the_readme_says_for_any_scores(scores, inertia, min_duration, cooldown):
    rule = AlertRuleConfig(name="fear", emotions=["fear"], threshold=0.6, min_duration_s=min_duration,
                           inertia_frames=inertia, cooldown_s=cooldown)
    engine = RuleEngine([rule], "door", clock=lambda: WALL)
    seen = []
    for index, score in enumerate(scores):
        time = round(index * STEP, 3)
        result = frame_result(time, {1: score} if score is not None else {})
        seen += [(time, str(event.type)) for event in engine.evaluate(result) if event.type != "update"]
    assert seen == expected_events(scores, 0.6, inertia, min_duration, cooldown)


def in_window_by_walking(start: int, end: int, days: list[str], when: datetime) -> bool:
    """Walk back minute by minute from `when` to the most recent start of the window; inside when
    that start is on one of `days` and fewer minutes than the window's length have passed."""
    length = (end - start) % (24 * 60) or 24 * 60
    moment = when.replace(second=0, microsecond=0)
    for back in range(length):
        at = moment - timedelta(minutes=back)
        if at.hour * 60 + at.minute == start % (24 * 60):
            return WEEKDAYS[at.weekday()] in days
    return False


@settings(max_examples=500, deadline=None)
@given(start=st.integers(0, 24 * 60 - 1), end=st.integers(1, 24 * 60),
       days=st.lists(st.sampled_from(WEEKDAYS), min_size=1, unique=True),
       day=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31)),
       near=st.sampled_from(["start", "end", "anywhere"]), offset=st.integers(-1, 1))
def test_a_window_holds_exactly_the_minutes_after_its_start_on_its_days(start, end, days, day, near, offset):
    if start == end:
        return
    if near == "anywhere":  # any minute; else the minute before, at or after an edge, where mistakes hide
        when = day
    else:
        edge = start if near == "start" else end
        when = day.replace(hour=0, minute=0) + timedelta(minutes=edge + offset, seconds=day.second)
    window = f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
    rule = AlertRuleConfig(name="night", schedule=[window], days=days)
    assert in_schedule(rule, when) == in_window_by_walking(start, end, days, when)
