"""The alert hub with real sinks: the audit log's record of a run, the exec hook, privacy, a sink
that hangs not holding up analysis, bad settings, and `emotui run --headless` end to end with a
real HTTP server and `emotui log verify`."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

from emotui.alerts.audit import chain_files, verify
from emotui.alerts.events import AlertSetupError
from emotui.alerts.hub import AUDIT_FILE, AlertHub, AlertListener
from emotui.config import AlertRuleConfig, Config
from tests.factories import frame_result
from tests.helpers import EVENT_TIMEOUT_S, audit_records, run_cli, wait_until
from tests.hookserver import HookServer


def _config(tmp_path: Path, **rule) -> Config:
    config = Config()
    config.source.name = "door"
    config.alerts.rules = [AlertRuleConfig(**{"name": "fear", "min_duration_s": 0.0, "inertia_frames": 1,
                                              "cooldown_s": 0.0, **rule})]
    config.alerts.dir = str(tmp_path / "alerts")
    config.snapshots.dir = str(tmp_path / "snaps")
    return config


def test_the_audit_log_records_a_run_and_verifies(tmp_path):
    shown = []
    hub = AlertHub(_config(tmp_path), "cam", AlertListener(on_event=shown.append), environ={})
    hub.observe(frame_result(0.0, {1: 0.9}))
    hub.set_threshold("fear", 0.95, "console")
    hub.observe(frame_result(0.1, {1: 0.9}))  # below the new threshold: ends after one frame
    hub.close()
    records = audit_records(tmp_path / "alerts")
    assert [r["type"] for r in records] == ["start", "new", "update", "threshold", "end", "stop"]
    assert records[0]["data"]["camera"] == "door" and records[0]["data"]["rules"] == ["fear"]
    assert [r["data"] for r in records if r["type"] in ("new", "update", "end")] == [e.to_dict() for e in shown]
    assert records[2]["data"]["snapshot"].endswith(".png") and Path(records[2]["data"]["snapshot"]).is_file()
    assert records[3]["data"] == {"rule": "fear", "threshold": 0.95, "origin": "console", "camera": "door"}
    report = verify(chain_files(tmp_path / "alerts" / AUDIT_FILE))
    assert report.ok and report.records == 6 and not report.notes


def test_the_console_and_mqtt_disarming_at_once_disarm_once(tmp_path):
    announced = []
    hub = AlertHub(_config(tmp_path), "cam", AlertListener(on_armed=lambda *change: announced.append(change)),
                   environ={})
    both_asked = threading.Barrier(2, timeout=5)
    engine_set_armed = hub.engine.set_armed

    def set_armed_once_both_asked(armed):
        both_asked.wait()
        return engine_set_armed(armed)

    hub.engine.set_armed = set_armed_once_both_asked
    requests = [threading.Thread(target=hub.set_armed, args=(False, origin)) for origin in ("console", "mqtt")]
    for request in requests:
        request.start()
    for request in requests:
        request.join()
    hub.close()
    assert len(announced) == 1 and not announced[0][0]
    assert [r["type"] for r in audit_records(tmp_path / "alerts")].count("disarmed") == 1


def test_restart_continues_the_chain(tmp_path):
    for _ in range(2):
        hub = AlertHub(_config(tmp_path), "cam", environ={})
        hub.observe(frame_result(0.0, {1: 0.9}))
        hub.close()
    records = audit_records(tmp_path / "alerts")
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert [r["type"] for r in records].count("start") == 2
    assert verify([tmp_path / "alerts" / AUDIT_FILE]).ok


def test_exec_hook_runs_an_argv_with_placeholders_and_reports_failures(tmp_path):
    out = tmp_path / "hook.txt"
    config = _config(tmp_path)
    config.snapshots.on_alert = False
    config.alerts.exec = [sys.executable, "-c", "import sys; open(sys.argv[1], 'a').write(' '.join(sys.argv[2:]) + '\\n')",
                          str(out), "{type}", "{rule}", "{camera}", "{track_id}", "{emotion}", "{score}", "$HOME;"]
    config.alerts.exec_on = ["new", "end"]
    hub = AlertHub(config, "cam", environ={})
    hub.observe(frame_result(0.0, {1: 0.9}))
    hub.observe(frame_result(0.1, {1: 0.1}))
    assert wait_until(lambda: out.exists() and len(out.read_text().splitlines()) == 2)
    hub.close()
    assert out.read_text().splitlines() == ["new fear door 1 fear 0.900 $HOME;", "end fear door 1 fear 0.100 $HOME;"]

    problems = []
    config.alerts.exec = [sys.executable, "-c", "import sys; sys.stderr.write('no display'); sys.exit(3)"]
    hub = AlertHub(config, "cam", AlertListener(on_problem=problems.append), environ={})
    hub.observe(frame_result(1.0, {2: 0.9}))
    assert wait_until(lambda: any("exited with 3" in p and "no display" in p for p in problems)), problems
    config.alerts.exec_timeout_s = 0.3
    config.alerts.exec = [sys.executable, "-c", "import time; time.sleep(30)"]
    hub.exec_hook.argv, hub.exec_hook.timeout_s = config.alerts.exec, 0.3
    hub.observe(frame_result(1.1, {3: 0.9}))
    assert wait_until(lambda: any("limit 0.3 s" in p and "killed" in p for p in problems)), problems
    hub.exec_hook.argv = [str(tmp_path / "no-such-program")]
    hub.observe(frame_result(1.2, {4: 0.9}))
    assert wait_until(lambda: any("cannot run" in p and "no-such-program" in p for p in problems)), problems
    hub.close()
    assert sum(r["type"] == "problem" for r in audit_records(tmp_path / "alerts")) >= 3  # problems are kept in the log too


def test_the_bell_rings_for_new_alerts_of_alert_severity_only(tmp_path):
    rings = []
    config = _config(tmp_path)
    config.alerts.rules.append(AlertRuleConfig(name="worry", min_duration_s=0.0, inertia_frames=1, severity="warning"))
    hub = AlertHub(config, "cam", AlertListener(ring_bell=lambda: rings.append("ring")), environ={})
    assert [e.severity for e in hub.observe(frame_result(0.0, {1: 0.9}))] == ["alert", "warning"]
    hub.observe(frame_result(0.1, {1: 0.1}))  # both end
    hub.close()
    assert rings == ["ring"]  # fear's new alert; not worry's, nor the snapshot updates or the ends


def test_a_hanging_webhook_never_holds_up_analysis_or_the_other_sinks(tmp_path):
    """Its server holds the first request until every observe() has returned and the console has
    shown every event: analysis and the other sinks went on while the webhook hung."""
    server = HookServer(0, gate=threading.Event()).start()
    config = _config(tmp_path)
    config.webhook.url, config.webhook.timeout_s = server.url, 60
    shown = []
    hub = AlertHub(config, "cam", AlertListener(on_event=shown.append), environ={})

    def visits() -> None:
        for track in range(1, 21):
            hub.observe(frame_result(track, {track: 0.9}))
            hub.observe(frame_result(track + 0.5, {}, ended=[track]))

    analysis = threading.Thread(target=visits, daemon=True)
    analysis.start()
    try:
        assert wait_until(lambda: len(server.received) == 1)  # the first event's POST, held
        analysis.join(EVENT_TIMEOUT_S)
        assert not analysis.is_alive(), "observe() waited for the webhook"
        assert wait_until(lambda: len(shown) == 60)  # new + snapshot update + end each
        assert len(server.received) == 1  # all while the webhook's first POST was held
    finally:
        server.gate.set()
    assert wait_until(lambda: hub.webhook.delivered == 60)  # then the webhook caught up, in order
    hub.close()
    server.stop()
    assert [r.body for r in server.received] == [event.to_dict() for event in shown]
    assert sum(r["type"] in ("new", "update", "end") for r in audit_records(tmp_path / "alerts")) == 60


def test_no_images_means_no_files_and_nothing_sent(tmp_path):
    server = HookServer(0).start()
    config = _config(tmp_path)
    config.snapshots.images = "none"
    config.webhook.url, config.webhook.include_snapshot = server.url, True
    hub = AlertHub(config, "cam", environ={})
    hub.observe(frame_result(0.0, {1: 0.9}))
    assert wait_until(lambda: len(server.received) == 2)
    hub.close()
    server.stop()
    update = server.received[1].body
    assert update["type"] == "update" and update["snapshot"].endswith(".json")
    assert "snapshot_jpeg" not in update
    assert [p.suffix for p in (tmp_path / "snaps").iterdir()] == [".json"]


def test_unusable_alerts_folder_and_missing_secret_are_clear_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    config = _config(tmp_path)
    config.alerts.dir = str(tmp_path / "file")
    with pytest.raises(AlertSetupError, match="file"):
        AlertHub(config, "cam", environ={})
    config = _config(tmp_path)
    config.webhook.url = "http://127.0.0.1:9/hook"
    config.webhook.headers_env = {"Authorization": "HOOK_TOKEN"}
    with pytest.raises(AlertSetupError, match="HOOK_TOKEN"):
        AlertHub(config, "cam", environ={})
    hub = AlertHub(config, "cam", environ={"HOOK_TOKEN": "Bearer x"})  # the failed start left no lock behind
    hub.close(timeout=0.1)


def test_headless_run_alerts_end_to_end(tmp_path, media_dir, model_store):
    server = HookServer(0).start()
    config_file = tmp_path / "emotui.toml"
    config_file.write_text(
        f'[source]\nname = "door"\n'
        f'[alerts]\ndir = "{tmp_path / "alerts"}"\n'
        '[[alerts.rules]]\nname = "visitor"\nkind = "face"\nmin_duration_s = 0.5\n'
        f'[snapshots]\ndir = "{tmp_path / "snaps"}"\n'
        f'[webhook]\nurl = "{server.url}"\n')
    try:
        done = run_cli("--config", str(config_file), "run", "--headless", "--json", "--changes",
                       "--source", str(media_dir / "videos" / "faces" / "liveportrait_d6.mp4"))
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    alerts = [line["alert"] for line in lines if "alert" in line]
    assert [a["type"] for a in alerts] == ["new", "update", "end"] and alerts[0]["rule"] == "visitor"
    assert lines[-1]["summary"]["alerts"] == 1
    assert [r.body for r in server.received] == alerts  # the webhook got the same events
    verified = run_cli("log", "verify", str(tmp_path / "alerts" / AUDIT_FILE))
    assert verified.returncode == 0 and "intact" in verified.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[webhook]\nurl = "http://127.0.0.1:9/x"\n[webhook.headers_env]\nX-Token = "NOPE_TOKEN"\n')
    failed = run_cli("--config", str(bad), "run", "--headless",
                     "--source", str(media_dir / "videos" / "faces" / "liveportrait_d6.mp4"))
    assert failed.returncode == 2 and "NOPE_TOKEN" in failed.stderr
