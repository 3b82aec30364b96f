"""Bounded queues turn the newest away and count them; the audit sink records what it turned away
and shows only what it wrote; a start after a crash finds the open alerts across rotated files."""

from __future__ import annotations

import threading
from dataclasses import replace

from emotui.alerts import audit
from emotui.alerts.audit import AuditLog, AuditSink, chain_files, record_unclean_stop, verify
from emotui.alerts.queues import BoundedQueue
from emotui.storage import DiskFull
from tests.helpers import alert_event, audit_records


def test_a_full_queue_turns_the_newest_away_and_counts_them_by_kind_once():
    items = BoundedQueue("things", 2)
    assert [items.offer(n, kind) for n, kind in enumerate(["new", "end", "new", "end", "new"])] == \
        [True, True, False, False, False]
    assert items.drops.take() == {"what": "things", "count": 3, "kinds": {"new": 2, "end": 1},
                                  "reason": "queue full (2)"}
    assert items.drops.take() is None
    items.offer(4, "new")
    assert items.drops.take() is None  # reported a moment ago: more losses wait for the interval (or the stop)
    assert items.drops.take(force=True)["count"] == 1
    assert items.get() == 0  # the oldest kept their order
    items.offer(5, "update")
    assert items.take_pending() == {"end": 1, "update": 1} and items.get(timeout=0.01) is None


def test_the_audit_sink_records_what_its_full_queue_turned_away_and_shows_only_what_it_wrote(tmp_path, monkeypatch):
    monkeypatch.setattr(audit, "AUDIT_QUEUE_MAX", 3)
    held, release, shown, problems = threading.Event(), threading.Event(), [], []

    def show(event) -> None:
        held.set()
        release.wait(30)  # the writer is held up: records pile up behind it
        shown.append(event)

    sink = AuditSink(AuditLog(tmp_path / "alerts.jsonl", 1_000_000, 2), problems.append, DiskFull(problems.append),
                     show)
    sink.submit(alert_event(1))
    assert held.wait(30)
    for number in range(2, 9):
        sink.submit(alert_event(number))
    release.set()
    sink.close()
    records = audit_records(tmp_path)
    assert [r["type"] for r in records] == ["new", "dropped", "new", "new", "new"]  # as soon as the writer is free
    assert records[1]["data"] == {"what": "audit records", "count": 4, "kinds": {"new": 4},
                                  "reason": "queue full (3)"}
    assert [event.id for event in shown] == [r["data"]["id"] for r in records if r["type"] == "new"]
    assert problems == []


def test_an_unclean_stop_finds_the_open_alerts_of_a_run_spanning_rotated_files(tmp_path):
    path = tmp_path / "alerts.jsonl"
    log = AuditLog(path, 1500, 20)
    log.append("start", {})
    log.append("new", replace(alert_event(1), sequence=1).to_dict())
    for number in range(2, 6):
        log.append("new", alert_event(number).to_dict())
        log.append("end", alert_event(number, "end").to_dict())
    log.close()
    assert len(chain_files(path)) > 2  # the run's start is in an older file
    log = AuditLog(path, 1500, 20)
    assert record_unclean_stop(log) == ["alert-1"]
    assert record_unclean_stop(log) == []  # still no stop: another unclean stop, nothing open
    log.append("stop", {})
    assert record_unclean_stop(log) is None
    log.close()
    assert verify(chain_files(path)).ok


def test_a_new_log_or_one_without_a_start_record(tmp_path):
    log = AuditLog(tmp_path / "alerts.jsonl", 1_000_000, 2)
    assert record_unclean_stop(log) is None
    log.append("new", alert_event(1).to_dict())
    assert record_unclean_stop(log) == ["alert-1"]
    log.close()
