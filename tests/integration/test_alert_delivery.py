"""Nothing the alert hub handles is lost silently: an exec hook flooded with alerts stays within
its bound and every run is accounted for in the audit log, what is shown is on disk first, events
carry their number in the alert, and a run after a crash closes what the crash left open."""

from __future__ import annotations

import sys

from emotui.alerts.audit import AuditLog, chain_files, verify
from emotui.alerts.command import EXEC_QUEUE_MAX
from emotui.alerts.hub import AUDIT_FILE, AlertHub, AlertListener
from tests.factories import frame_result, visitor_config
from tests.helpers import audit_records, wait_until
from tests.mosquitto import free_port

FLOOD = 3000  # alerts raised in the flood


def test_an_exec_flood_stays_bounded_and_every_run_is_recorded(tmp_path):
    runs = tmp_path / "runs.txt"
    config = visitor_config(tmp_path)
    config.alerts.exec = [sys.executable, "-c", "import sys, time; time.sleep(0.2); open(sys.argv[1], 'a').write('x')",
                          str(runs)]
    hub = AlertHub(config, "cam", environ={})
    for index in range(FLOOD):
        hub.observe(frame_result(index / 10, {index: 0.9}))  # a new face each frame: a new alert
    assert wait_until(lambda: runs.exists())  # the hook is busy
    hub.close(timeout=0.5)  # as on SIGTERM: what waits is recorded, not run
    records = audit_records(tmp_path / "alerts")
    news = sum(r["type"] == "new" for r in records)
    dropped = [r["data"] for r in records if r["type"] == "dropped"]
    turned_away = sum(d["count"] for d in dropped if d["reason"] == f"queue full ({EXEC_QUEUE_MAX})")
    left_at_stop = sum(d["count"] for d in dropped if d["reason"] == "shutting down")
    assert news == FLOOD
    assert {d["what"] for d in dropped} == {"exec runs"} and all(set(d["kinds"]) == {"new"} for d in dropped)
    assert turned_away >= FLOOD - EXEC_QUEUE_MAX - hub.exec_hook.runs  # the queue never held more than its bound
    assert 0 < left_at_stop <= EXEC_QUEUE_MAX
    assert hub.exec_hook.runs + turned_away + left_at_stop == news  # every new alert: run, or recorded as dropped
    assert records[-1]["type"] == "stop" and verify(chain_files(tmp_path / "alerts" / AUDIT_FILE)).ok
    print(f"\nflood: {news} alerts, {hub.exec_hook.runs} hook runs, {turned_away} dropped (queue full), "
          f"{left_at_stop} pending at stop, {len(dropped)} dropped records")


def test_an_event_is_shown_only_once_its_audit_record_is_on_disk_and_carries_its_number(tmp_path):
    config = visitor_config(tmp_path)
    config.snapshots.on_alert = True
    config.snapshots.dir = str(tmp_path / "snaps")
    shown, on_disk_when_shown = [], []

    def show(event) -> None:
        written = {(r["data"].get("id"), r["data"].get("sequence")) for r in audit_records(tmp_path / "alerts")}
        on_disk_when_shown.append((event.id, event.sequence) in written)
        shown.append(event)

    hub = AlertHub(config, "cam", AlertListener(on_event=show), environ={})
    for index in range(20):
        hub.observe(frame_result(index / 10, {index: 0.9}))
    hub.close()
    assert len(shown) == 60 and all(on_disk_when_shown)  # each alert's new, snapshot update and end
    numbers: dict[str, list] = {}
    for event in shown:
        numbers.setdefault(event.id, []).append((event.sequence, event.type))
    assert list(numbers.values()) == [[(1, "new"), (2, "update"), (3, "end")]] * 20


def test_a_start_after_a_crash_records_the_unclean_stop_and_ends_the_open_alerts(tmp_path):
    config = visitor_config(tmp_path)
    log = AuditLog(tmp_path / "alerts" / AUDIT_FILE, 1_000_000, 2)
    log.append("start", {"camera": "door"})
    alert = {"id": "a", "type": "new", "sequence": 1, "end_time": None, "rule": "visitor"}
    log.append("new", alert)
    log.append("update", {**alert, "type": "update", "sequence": 2, "snapshot": "a.png"})
    log.append("new", {**alert, "id": "b"})
    crashed = log.append("end", {**alert, "id": "b", "type": "end", "sequence": 2, "end_time": 5.0})
    log.close()  # killed: no stop record
    problems = []
    AlertHub(config, "cam", AlertListener(on_problem=problems.append), environ={}).close()
    records = audit_records(tmp_path / "alerts")[5:]
    assert [r["type"] for r in records] == ["unclean stop", "end", "start", "stop"]
    assert records[0]["data"] == {"last_seq": 5, "last_time": crashed["time"], "open_alerts": ["a"]}
    assert records[1]["data"]["id"] == "a" and records[1]["data"]["sequence"] == 3
    assert records[1]["data"]["snapshot"] == "a.png" and records[1]["data"]["reason"] == "unclean stop"
    assert records[1]["data"]["end_time"] is not None
    assert problems == [f"the last run did not stop cleanly (see {tmp_path / 'alerts' / AUDIT_FILE}); "
                        "1 alert it left open ended"]
    AlertHub(config, "cam", AlertListener(on_problem=problems.append), environ={}).close()  # a clean stop before
    assert [r["type"] for r in audit_records(tmp_path / "alerts")[9:]] == ["start", "stop"] and len(problems) == 1
    assert verify(chain_files(tmp_path / "alerts" / AUDIT_FILE)).ok


def test_what_a_full_outbox_loses_is_recorded(tmp_path):
    config = visitor_config(tmp_path)
    config.webhook.url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: every event waits
    config.webhook.queue_max, config.webhook.retries, config.webhook.backoff_s = 3, 1000, 60.0
    hub = AlertHub(config, "cam", environ={})
    for index in range(10):
        hub.observe(frame_result(index / 10, {index: 0.9}))
    hub.close(timeout=0.1)
    records = audit_records(tmp_path / "alerts")
    sent = sum(r["type"] in config.webhook.events for r in records)
    dropped = [r["data"] for r in records if r["type"] == "dropped"]
    assert sum(d["count"] for d in dropped) == sent - 3 and dropped[0]["count"] == 1  # the first at once
    assert all(d["what"] == "webhook outbox" and d["reason"] == "outbox full (3): the oldest dropped" for d in dropped)
