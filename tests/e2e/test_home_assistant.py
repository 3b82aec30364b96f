"""Home Assistant's side of MQTT against a real mosquitto: the source status of a file published at
start, rule switches and threshold numbers through the topics discovery announces, and the
lifecycle across restarts of real processes (a removed rule's entities cleared, arming and rule
switches kept). Discovery payloads are checked against HA's documented schema (tests/ha_schema.py)."""

from __future__ import annotations

import dataclasses
import json
import signal
from pathlib import Path

from emotui.alerts.discovery import node_id
from emotui.alerts.hub import AlertHub
from emotui.alerts.mqtt import SNAPSHOT_WAIT_S
from emotui.config import AlertRuleConfig
from tests import ha_schema
from tests.e2e.test_mqtt import CAMERA, PREFIX, Recorder, _config, broker  # noqa: F401 (the fixture)
from tests.factories import frame_result
from tests.helpers import EVENT_TIMEOUT_S, HeadlessRun, alert_event, audit_records, wait_until
from tests.mosquitto import Subscriber

NODE = node_id(PREFIX, CAMERA)
VIDEO = Path("videos") / "faces" / "liveportrait_d6.mp4"


def _discovery(messages) -> dict[str, bytes]:
    """The last payload of each discovery topic among the messages."""
    return {m.topic: m.payload for m in messages if m.topic.startswith("homeassistant/")}


def _headless(config_file: Path, media_dir: Path) -> HeadlessRun:
    return HeadlessRun("--config", str(config_file), "run", "--headless", "--json", "--realtime",
                       "--source", str(media_dir / VIDEO))


def _config_file(tmp_path: Path, port: int, rules: list[str]) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[source]\nname = "{CAMERA}"\n[alerts]\ndir = "{tmp_path / "alerts"}"\n'
                    f'[snapshots]\ndir = "{tmp_path / "snaps"}"\n'
                    f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\n' + "".join(rules))
    return path


FEAR = '[[alerts.rules]]\nname = "fear"\nemotions = ["fear"]\nthreshold = 0.6\n'
VISITOR = '[[alerts.rules]]\nname = "visitor"\nkind = "face"\n'
VISITOR_AT_ONCE = AlertRuleConfig(name="visitor", kind="face", min_duration_s=0.0, inertia_frames=1, cooldown_s=0.0)


def test_source_status_of_a_file_and_diagnostics_are_published_from_the_start(tmp_path, broker, media_dir,
                                                                              model_store):
    status, diagnostics = f"{PREFIX}/{CAMERA}/status", f"{PREFIX}/{CAMERA}/diagnostics"
    watcher = Subscriber(broker.port, [status, diagnostics])
    with _headless(_config_file(tmp_path, broker.port, [VISITOR]), media_dir) as run:
        run.read_until(lambda line: "frame" in line)
        assert watcher.wait_for(lambda ms: {m.topic for m in ms} == {status, diagnostics},
                                timeout=EVENT_TIMEOUT_S), "no status or diagnostics while running"
        (first_diagnostics, *_) = [json.loads(m.payload) for m in watcher.on(diagnostics)]
        assert set(first_diagnostics) == {"processed_fps", "dropped_frames", "queued_events"}
        assert first_diagnostics["dropped_frames"] >= 0 and first_diagnostics["queued_events"] >= 0
        late = Subscriber(broker.port, [status])
        assert late.wait_for(lambda ms: [(json.loads(m.payload)["state"], m.retain) for m in ms] == [("live", True)])
        run.process.send_signal(signal.SIGTERM)
        assert run.finish() == 0, run.stderr
    assert json.loads(watcher.on(status)[0].payload)["state"] == "live"
    watcher.close()
    late.close()


def test_rule_switch_and_threshold_number_change_the_running_rules_and_are_audited(tmp_path, broker):
    rules = [AlertRuleConfig(name="fear", emotions=["fear"], threshold=0.6, min_duration_s=0.0, inertia_frames=1,
                             cooldown_s=0.0),
             AlertRuleConfig(name="visitor", kind="face", min_duration_s=0.0, inertia_frames=1, cooldown_s=0.0)]
    config = _config(tmp_path, broker.port, rules)
    config.snapshots.on_alert = False
    recorder = Recorder()
    watcher = Subscriber(broker.port)
    hub = AlertHub(config, "test", recorder.listener, environ={})
    assert watcher.wait_for(lambda ms: len(_discovery(ms)) == 14)
    configs = {topic: json.loads(payload) for topic, payload in _discovery(watcher.messages).items()}
    assert [problem for topic, payload in configs.items() for problem in ha_schema.problems(topic, payload)] == []
    switch = configs[f"homeassistant/switch/{NODE}/rule_fear/config"]
    number = configs[f"homeassistant/number/{NODE}/threshold_fear/config"]

    assert [(e.rule, e.type) for e in hub.observe(frame_result(0.0, {1: 0.9}))] == [("fear", "new"), ("visitor", "new")]
    watcher.publish(switch["command_topic"], "OFF")  # as HA's switch sends it: ends the open alert
    assert watcher.wait_for(lambda ms: [m.payload for m in ms if m.topic == switch["state_topic"]][-1:] == [b"OFF"])
    assert not hub.engine.enabled("fear")
    assert wait_until(lambda: ("fear", "end") in [(e.rule, e.type) for e in recorder.events])
    assert [e.rule for e in hub.observe(frame_result(0.1, {1: 0.95}))] == []  # fear off; visitor still open
    assert [(e.rule, e.type) for e in hub.observe(frame_result(0.2, {2: 0.95}, ended=[1]))] == [
        ("visitor", "new"), ("visitor", "end")]  # a new face: only the visitor rule speaks

    watcher.publish(number["command_topic"], "0.8")  # as HA's number sends it
    assert watcher.wait_for(lambda ms: [m.payload for m in ms if m.topic == number["state_topic"]][-1:] == [b"0.8"])
    assert [rule.threshold for rule in hub.engine.current_rules()] == [0.8, rules[1].threshold]
    watcher.publish(switch["command_topic"], "maybe")
    watcher.publish(f"{PREFIX}/{CAMERA}/alerts/nosuch/enabled/set", "ON")
    watcher.publish(switch["command_topic"], "ON")  # the sentinel: after the bad ones
    assert watcher.wait_for(lambda ms: [m.payload for m in ms if m.topic == switch["state_topic"]][-1:] == [b"ON"])
    assert [(e.rule, e.type) for e in hub.observe(frame_result(0.3, {2: 0.85}))] == [("fear", "new")]
    assert [p.split()[2] for p in recorder.problems if p.startswith("mqtt: ignored")] == [
        switch["command_topic"], f"{PREFIX}/{CAMERA}/alerts/nosuch/enabled/set"]
    hub.close()
    watcher.close()
    audit = audit_records(tmp_path / "alerts")
    assert [(r["type"], r["data"]) for r in audit if r["type"] in ("rule enabled", "rule disabled", "threshold")] == [
        ("rule disabled", {"rule": "fear", "origin": "mqtt", "camera": CAMERA}),
        ("threshold", {"rule": "fear", "threshold": 0.8, "origin": "mqtt", "camera": CAMERA}),
        ("rule enabled", {"rule": "fear", "origin": "mqtt", "camera": CAMERA})]


def test_alert_new_fires_once_its_snapshot_is_on_the_image_entity(tmp_path, broker):
    """Seen with a real Home Assistant: `alert_new` fired before the image entity had the alert's
    snapshot, with `snapshot: null`, so an automation on it sent the previous alert's picture."""
    event, snapshot = f"{PREFIX}/{CAMERA}/event", f"{PREFIX}/{CAMERA}/snapshot"
    config = _config(tmp_path, broker.port, [VISITOR_AT_ONCE])
    watcher = Subscriber(broker.port, [f"{PREFIX}/available", event, snapshot])
    hub = AlertHub(config, "test", Recorder().listener, environ={})
    assert watcher.wait_for(lambda ms: [m.payload for m in ms] == [b"online"])
    hub.observe(frame_result(0.0, {1: 0.9}))
    assert watcher.wait_for(lambda ms: len(ms) == 3)
    first, second = watcher.messages[1:]
    assert first.topic == snapshot and first.payload[:3] == b"\xff\xd8\xff"
    fired = json.loads(second.payload)
    assert (second.topic, fired["event_type"]) == (event, "alert_new")
    assert Path(fired["snapshot"]).is_file()
    hub.close()
    watcher.close()


def test_alert_new_waits_past_a_peak_update_for_the_update_with_its_snapshot(tmp_path, broker):
    """A peak can rise (an update) before a slow snapshot is saved: `alert_new` still waits for it."""
    event = f"{PREFIX}/{CAMERA}/event"
    watcher = Subscriber(broker.port, [f"{PREFIX}/available", event])
    hub = AlertHub(_config(tmp_path, broker.port, [VISITOR_AT_ONCE]), "test", Recorder().listener, environ={})
    assert watcher.wait_for(lambda ms: [m.payload for m in ms] == [b"online"])
    hub.mqtt.submit(alert_event(1))
    hub.mqtt.submit(dataclasses.replace(alert_event(1, "update"), peak_score=0.9))
    hub.mqtt.submit(dataclasses.replace(alert_event(1, "update"), snapshot="/snaps/alert-1.png"))
    hub.mqtt.submit(alert_event(1, "end"))
    assert watcher.wait_for(lambda ms: len(ms) == 3)
    fired = [json.loads(m.payload) for m in watcher.messages[1:]]
    assert [(f["event_type"], f["snapshot"]) for f in fired] == [
        ("alert_new", "/snaps/alert-1.png"), ("alert_end", None)]
    hub.close()
    watcher.close()


def test_alert_new_fires_without_a_snapshot_that_cannot_be_saved(tmp_path, broker):
    event = f"{PREFIX}/{CAMERA}/event"
    config = _config(tmp_path, broker.port, [VISITOR_AT_ONCE])
    (tmp_path / "snaps").write_text("a file where the snapshot folder should be")
    recorder = Recorder()
    watcher = Subscriber(broker.port, [f"{PREFIX}/available", event])
    hub = AlertHub(config, "test", recorder.listener, environ={})
    assert watcher.wait_for(lambda ms: [m.payload for m in ms] == [b"online"])
    hub.observe(frame_result(0.0, {1: 0.9}))
    assert watcher.wait_for(lambda ms: len(ms) == 2, timeout=SNAPSHOT_WAIT_S + 5), recorder.problems
    fired = json.loads(watcher.messages[1].payload)
    assert (fired["event_type"], fired["snapshot"]) == ("alert_new", None)
    assert any("snapshot" in problem for problem in recorder.problems)
    hub.close()
    watcher.close()


def test_removed_rule_is_cleared_and_arming_and_switches_survive_a_restart(tmp_path, broker, media_dir, model_store):
    watcher = Subscriber(broker.port)
    armed, visitor = f"{PREFIX}/{CAMERA}/armed", f"{PREFIX}/{CAMERA}/alerts/visitor/enabled"
    with _headless(_config_file(tmp_path, broker.port, [FEAR, VISITOR]), media_dir) as run:
        run.read_until(lambda line: "frame" in line)
        assert watcher.wait_for(lambda ms: len(_discovery(ms)) == 14, timeout=EVENT_TIMEOUT_S)
        watcher.publish(f"{armed}/set", "OFF")  # from HA: disarm, and switch the visitor rule off
        watcher.publish(f"{visitor}/set", "OFF")
        assert watcher.wait_for(lambda ms: [m.payload for m in ms if m.topic in (f"{armed}/state", f"{visitor}/state")]
                                [-2:] == [b"OFF", b"OFF"], timeout=EVENT_TIMEOUT_S)
        run.process.send_signal(signal.SIGTERM)
        assert run.finish() == 0, run.stderr
    first_run = _discovery(watcher.messages)
    fear_topics = {topic for topic in first_run if "fear" in topic}
    assert len(fear_topics) == 3  # its binary sensor, switch and number
    watcher.messages.clear()

    with _headless(_config_file(tmp_path, broker.port, [VISITOR]), media_dir) as run:  # fear removed
        run.read_until(lambda line: "frame" in line)
        assert watcher.wait_for(lambda ms: all(_discovery(ms).get(t) == b"" for t in fear_topics),
                                timeout=EVENT_TIMEOUT_S), _discovery(watcher.messages)
        assert watcher.wait_for(lambda ms: f"{visitor}/state" in {m.topic for m in ms})
        run.process.send_signal(signal.SIGTERM)
        assert run.finish() == 0, run.stderr
    # what the second run published: the kept arming and switch, and empty retained configs for fear alone
    assert {m.payload for m in watcher.on(f"{armed}/state")} == {b"OFF"}
    assert {m.payload for m in watcher.on(f"{visitor}/state")} == {b"OFF"}
    assert {topic for topic, payload in _discovery(watcher.messages).items() if payload == b""} == fear_topics
    watcher.close()
    late = Subscriber(broker.port, ["homeassistant/#"])  # retained: HA, starting now, sees no fear entity
    assert late.wait_for(lambda ms: len(ms) == 11)
    assert not any("fear" in m.topic for m in late.messages)
    late.close()
    audit = audit_records(tmp_path / "alerts")
    assert [(r["type"], r["data"].get("origin")) for r in audit if r["type"] in ("disarmed", "rule disabled")] == [
        ("disarmed", "mqtt"), ("rule disabled", "mqtt")]
    (restored,) = [r["data"] for r in audit if r["type"] == "restored"]
    assert (restored["armed"], restored["disabled"]) == (False, ["visitor"])
    state = json.loads((tmp_path / "alerts" / "state.json").read_text())
    assert state["cameras"][CAMERA] == {"armed": False, "enabled": {"visitor": False}}


def test_discovery_switched_off_removes_every_entity_at_the_next_start(tmp_path, broker):
    config = _config(tmp_path, broker.port, [AlertRuleConfig(name="fear")])
    watcher = Subscriber(broker.port, ["homeassistant/#"])
    hub = AlertHub(config, "test", Recorder().listener, environ={})
    assert watcher.wait_for(lambda ms: len(_discovery(ms)) == 12)  # fear's 3, the camera's 9
    hub.close()
    announced = set(_discovery(watcher.messages))
    config.mqtt.discovery = False
    hub = AlertHub(config, "test", Recorder().listener, environ={})
    assert watcher.wait_for(lambda ms: {t for t, payload in _discovery(ms).items() if payload == b""} == announced)
    hub.close()
    watcher.close()
    assert json.loads((tmp_path / "alerts" / "state.json").read_text())["discovery"] == []
