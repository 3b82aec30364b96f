"""The console's pure parts: the shortened source, the per-face timelines and their sparklines, an
event's row."""

from __future__ import annotations

import pytest

from emotui.alerts.events import AlertEvent
from emotui.tui.events import SNAPSHOT_MARK, event_cells
from emotui.tui.timeline import MAX_SAMPLES, SPARKS, TIMELINE_S, Timelines
from emotui.tui.widgets import short_source
from emotui.vision import EMOTIONS
from emotui.vocabulary import EventType, RuleKind, Severity
from tests.factories import frame_result

FEAR = EMOTIONS.index("fear")


@pytest.mark.parametrize("source, shown", [
    ("0", "0"),
    ("demo", "demo"),
    ("/home/cam/videos/front door.mp4", "front door.mp4"),
    ("clips/", "clips"),
    ("rtsp://admin:secret@10.0.0.7:554/stream1?channel=2", "rtsp://10.0.0.7:554"),
    ("http://user@cam.local/video.mjpg", "http://cam.local"),
])
def test_the_source_is_shortened_to_a_file_name_or_a_host_without_credentials(source, shown):
    assert short_source(source) == shown


def test_a_timeline_keeps_the_last_minute_and_draws_its_peaks_oldest_first():
    timelines = Timelines()
    for second in range(0, 120):
        timelines.add(frame_result(float(second), {1: 0.99 if second >= 90 else 0.0}))
    line = timelines.sparkline(1, FEAR, 4)  # 15 s a cell: 60-75, 75-90 low; 90-105, 105-120 high
    assert line == SPARKS[0] * 2 + SPARKS[-1] * 2
    assert timelines.sparkline(1, FEAR, 0) == "" and timelines.sparkline(2, FEAR, 3) == "   "


def test_a_timeline_is_bounded_and_dropped_when_its_track_ends():
    timelines = Timelines()
    for step in range(3 * MAX_SAMPLES):
        timelines.add(frame_result(step * TIMELINE_S / (2 * MAX_SAMPLES), {1: 0.5, 2: 0.5}))
    assert all(len(samples) <= MAX_SAMPLES for samples in timelines._samples.values())
    timelines.add(frame_result(1000.0, {2: 0.5}, ended=[1]))
    assert len(timelines) == 1 and timelines.sparkline(1, FEAR, 2) == "  "


def test_the_same_frame_is_recorded_once():
    timelines = Timelines()
    result = frame_result(5.0, {1: 0.5})
    timelines.add(result)
    timelines.add(result)
    assert len(timelines._samples[1]) == 1


def _event(**changes) -> AlertEvent:
    fields = dict(type=EventType.NEW, id="a1", camera="door", rule="fear", kind=RuleKind.EMOTION,
                  severity=Severity.ALERT, track_id=3, emotion="fear", score=0.7, peak_score=0.72, faces=1,
                  start_time=1_700_000_000.0, end_time=None, timestamp=1_700_000_000.0, source_time=1.0)
    return AlertEvent(**(fields | changes))


def test_an_alert_row_is_filled_in_by_its_end_and_snapshot():
    opened = [str(cell) for cell in event_cells(_event())]
    assert opened[1:] == ["door", "fear", "#3", "fear", "72%", "open", ""]
    ended = [str(cell) for cell in event_cells(_event(type=EventType.END, end_time=1_700_000_004.25,
                                                      snapshot="/tmp/a.png"))]
    assert ended[6:] == ["4.2 s", SNAPSHOT_MARK]
    crowd = [str(cell) for cell in event_cells(_event(kind=RuleKind.CROWD, track_id=None, emotion=None,
                                                      faces=4, peak_score=4.0))]
    assert crowd[3:6] == ["4 faces", "", "4"]
