"""The MQTT sink against a real mosquitto broker: every topic and payload, retained availability
(`offline` from the last will, or from emotui itself on SIGTERM), Home Assistant discovery, arming
over MQTT, credentials, and events raised while the broker is down delivered exactly once, in
order, after it is back."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from emotui.alerts.control_state import STATE_FILE, ControlState
from emotui.alerts.discovery import node_id
from emotui.alerts.hub import AlertHub, AlertListener
from emotui.cameras import camera_setups
from emotui.config import AlertRuleConfig, CameraConfig, Config, MqttConfig
from emotui.fleet import FleetClient
from emotui.pipeline import create_pipeline
from emotui.vision import EMOTIONS
from tests.factories import frame_result
from tests.helpers import EVENT_TIMEOUT_S, HeadlessRun, audit_records, private_ca_certs, wait_until
from tests import ha_schema
from tests.mosquitto import Broker, Received, Subscriber, mosquitto_binary

PREFIX = "emotui"
CAMERA = "door"


@pytest.fixture
def broker(tmp_path):
    if mosquitto_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("mosquitto is not installed (CI must have it)")
        pytest.skip("mosquitto is not installed")
    broker = Broker(tmp_path / "broker").start()
    yield broker
    broker.stop()


def _config(tmp_path: Path, port: int, rules: list[AlertRuleConfig]) -> Config:
    config = Config()
    config.source.name = CAMERA
    config.alerts.rules = rules
    config.alerts.dir = str(tmp_path / "alerts")
    config.snapshots.dir = str(tmp_path / "snaps")
    config.mqtt.host = "127.0.0.1"
    config.mqtt.port = port
    return config


class Recorder:
    """The hub's listener: what it announced, in order."""

    def __init__(self) -> None:
        self.events, self.problems, self.armed = [], [], []
        self.listener = AlertListener(on_event=self.events.append, on_problem=self.problems.append,
                                      on_armed=lambda armed, origin, camera: self.armed.append((armed, origin)))


def _payloads(subscriber: Subscriber, topic: str) -> list:
    return [json.loads(m.payload) for m in subscriber.on(topic)]


def _event_key(message: Received) -> tuple[str, str]:
    """(alert id, event type) of a `<prefix>/events` message."""
    event = json.loads(message.payload)
    return event["after"]["id"], event["type"]


def test_topics_payloads_and_discovery_on_real_video(tmp_path, broker, media_dir, model_store):
    rules = [AlertRuleConfig(name="visitor", kind="face", min_duration_s=0.5, inertia_frames=2),
             AlertRuleConfig(name="fear", emotions=["fear"], threshold=0.6)]
    config = _config(tmp_path, broker.port, rules)
    watcher = Subscriber(broker.port)
    recorder = Recorder()
    hub = AlertHub(config, "face video", recorder.listener, environ={})
    assert watcher.wait_for(lambda ms: any(m.topic == f"{PREFIX}/available" for m in ms))
    pipeline = create_pipeline(config, str(media_dir / "videos" / "faces" / "liveportrait_d6.mp4"), print)
    for result in pipeline.results():
        hub.observe(result)
        if result.time > 2.0:
            break
    pipeline.stop()
    assert wait_until(lambda: len(recorder.events) >= 2), recorder.problems  # new, then the snapshot update
    hub.close()

    # availability: online while running, offline after a clean close, retained both times
    available = watcher.on(f"{PREFIX}/available")
    assert [m.payload for m in available][-2:] == [b"online", b"offline"]

    # events: new -> update (snapshot) -> end, one id, Frigate's before/after shape
    events = _payloads(watcher, f"{PREFIX}/events")
    assert [e["type"] for e in events] == ["new", "update", "end"]
    assert len({e["after"]["id"] for e in events}) == 1
    new, update, end = events
    assert new["before"] == new["after"] and update["before"] == new["after"] and end["before"] == update["after"]
    after = new["after"]
    assert (after["camera"], after["rule"], after["kind"], after["track_id"]) == (CAMERA, "visitor", "face", 1)
    assert after["emotion"] in EMOTIONS and after["end_time"] is None and after["start_time"] > 0
    assert Path(update["after"]["snapshot"]).is_file() and update["after"]["snapshot"].endswith(".png")
    assert end["after"]["end_time"] >= end["after"]["start_time"]
    assert [e["after"] for e in events] == [e.to_dict() for e in recorder.events]  # the same records as the console

    # the rule's binary sensor state, the snapshot JPEG, the live state, the classifications
    assert [m.payload for m in watcher.on(f"{PREFIX}/{CAMERA}/alerts/visitor/state")][-2:] == [b"ON", b"OFF"]
    assert [m.payload for m in watcher.on(f"{PREFIX}/{CAMERA}/alerts/fear/state")] == [b"OFF"]
    (snapshot,) = watcher.on(f"{PREFIX}/{CAMERA}/snapshot")
    assert snapshot.payload[:3] == b"\xff\xd8\xff"  # JPEG
    states = _payloads(watcher, f"{PREFIX}/{CAMERA}/state")
    assert states[0] == {"faces": 0, "dominant": "none", "emotions": {}, "scores": {}, "armed": True}
    assert any(s["faces"] == 1 and s["dominant"] in EMOTIONS and set(s["emotions"]) == {"1"}
               and set(s["scores"]) == set(EMOTIONS) and all(0 <= v <= 1 for v in s["scores"].values())
               for s in states)
    # Home Assistant's event entity: fired on the alert's start and end (not its update), with its details
    fired = _payloads(watcher, f"{PREFIX}/{CAMERA}/event")
    assert [(f["event_type"], f["rule"], f["track"], f["id"]) for f in fired] == [
        ("alert_new", "visitor", 1, after["id"]), ("alert_end", "visitor", 1, after["id"])]
    assert fired[0]["emotion"] in EMOTIONS and fired[1]["snapshot"] == update["after"]["snapshot"]
    assert not any(m.retain for m in watcher.on(f"{PREFIX}/{CAMERA}/event"))
    classifications = _payloads(watcher, f"{PREFIX}/tracked_object_update")
    assert classifications and all(c["type"] == "classification" and c["model"] == "emotion"
                                   and c["sub_label"] in EMOTIONS and 0 < c["score"] <= 1
                                   and c["id"] == f"{CAMERA}-1" and c["camera"] == CAMERA for c in classifications)
    assert [m.payload for m in watcher.on(f"{PREFIX}/{CAMERA}/armed/state")] == [b"ON"]
    watcher.close()

    # retained: a subscriber arriving afterwards sees availability, states and discovery at once
    late = Subscriber(broker.port)
    assert late.wait_for(lambda ms: len({m.topic for m in ms if m.topic.startswith("homeassistant/")}) == 14)
    assert all(m.retain for m in late.messages)
    assert late.on(f"{PREFIX}/available")[0].payload == b"offline"
    assert late.on(f"{PREFIX}/{CAMERA}/armed/state")[0].payload == b"ON"
    assert [m.payload for m in late.on(f"{PREFIX}/{CAMERA}/alerts/visitor/enabled/state")] == [b"ON"]
    configs = {m.topic: json.loads(m.payload) for m in late.messages if m.topic.startswith("homeassistant/")}
    node = node_id(PREFIX, CAMERA)
    assert node.startswith(f"{PREFIX}_{CAMERA}_")
    assert {topic.removeprefix("homeassistant/").removesuffix("/config").replace(f"/{node}/", " ")
            for topic in configs} == {
        "binary_sensor alert_visitor", "binary_sensor alert_fear", "switch rule_visitor", "switch rule_fear",
        "number threshold_fear", "switch armed", "image snapshot", "event alert", "sensor faces",
        "sensor dominant_emotion", "sensor source_status", "sensor processed_fps", "sensor dropped_frames",
        "sensor queued_events"}
    assert [problem for topic, payload in configs.items() for problem in ha_schema.problems(topic, payload)] == []
    for payload in configs.values():
        assert payload["availability_topic"] == f"{PREFIX}/available"
        assert payload["device"]["identifiers"] == [node] and payload["device"]["name"] == "Door"
        assert payload["name"][0].isupper()
        assert "configuration_url" not in payload["device"]  # a headless device has none
    assert len({payload["unique_id"] for payload in configs.values()}) == 14
    assert all(payload["unique_id"].startswith(node) for payload in configs.values())

    def config(component: str, key: str) -> dict:
        return configs[f"homeassistant/{component}/{node}/{key}/config"]

    assert config("binary_sensor", "alert_visitor")["device_class"] == "occupancy"  # a face rule: presence
    fear = config("binary_sensor", "alert_fear")
    assert (fear["device_class"], fear["name"]) == ("problem", "Alert fear")
    assert fear["state_topic"] == f"{PREFIX}/{CAMERA}/alerts/fear/state" and fear["payload_on"] == "ON"
    switch = config("switch", "armed")
    assert (switch["command_topic"], switch["state_topic"], switch["entity_category"]) == (
        f"{PREFIX}/{CAMERA}/armed/set", f"{PREFIX}/{CAMERA}/armed/state", "config")
    rule_switch = config("switch", "rule_fear")
    assert (rule_switch["command_topic"], rule_switch["state_topic"], rule_switch["entity_category"]) == (
        f"{PREFIX}/{CAMERA}/alerts/fear/enabled/set", f"{PREFIX}/{CAMERA}/alerts/fear/enabled/state", "config")
    threshold = config("number", "threshold_fear")
    assert (threshold["command_topic"], threshold["state_topic"], threshold["min"], threshold["max"]) == (
        f"{PREFIX}/{CAMERA}/alerts/fear/threshold/set", f"{PREFIX}/{CAMERA}/alerts/fear/threshold/state", 0.0, 1.0)
    assert late.on(f"{PREFIX}/{CAMERA}/alerts/fear/threshold/state")[0].payload == b"0.6"
    assert config("image", "snapshot")["image_topic"] == f"{PREFIX}/{CAMERA}/snapshot"
    assert config("event", "alert")["event_types"] == ["alert_new", "alert_end"]
    assert config("event", "alert")["state_topic"] == f"{PREFIX}/{CAMERA}/event"
    dominant = config("sensor", "dominant_emotion")
    assert (dominant["device_class"], dominant["options"]) == ("enum", [*EMOTIONS, "none"])
    assert dominant["json_attributes_topic"] == f"{PREFIX}/{CAMERA}/state"
    assert config("sensor", "faces")["value_template"] == "{{ value_json.faces }}"
    status = config("sensor", "source_status")
    assert status["entity_category"] == "diagnostic" and "live" in status["options"]
    assert all(config("sensor", key)["entity_category"] == "diagnostic"
               for key in ("processed_fps", "dropped_frames", "queued_events"))
    late.close()


def test_arming_over_mqtt(tmp_path, broker):
    config = _config(tmp_path, broker.port, [AlertRuleConfig(name="fear", min_duration_s=0.0, inertia_frames=1,
                                                            cooldown_s=0.0)])
    recorder = Recorder()
    hub = AlertHub(config, "test", recorder.listener, environ={})
    watcher = Subscriber(broker.port)
    assert wait_until(lambda: hub.mqtt.connected)
    hub.observe(frame_result(0.0, {1: 0.9}))
    assert wait_until(lambda: len(recorder.events) == 2)  # new and its snapshot update

    watcher.publish(f"{PREFIX}/{CAMERA}/armed/set", "OFF")
    assert wait_until(lambda: recorder.armed == [(False, "mqtt")])
    assert not hub.engine.armed
    assert wait_until(lambda: [e.type for e in recorder.events] == ["new", "update", "end"])  # disarming ends it
    assert watcher.wait_for(lambda ms: [m.payload for m in ms if m.topic.endswith("armed/state")][-1:] == [b"OFF"])
    assert hub.observe(frame_result(0.1, {1: 0.9})) == []  # disarmed: silent

    watcher.publish(f"{PREFIX}/{CAMERA}/armed/set", "on")
    assert wait_until(lambda: recorder.armed == [(False, "mqtt"), (True, "mqtt")])
    assert [e.type for e in hub.observe(frame_result(0.2, {1: 0.9}))] == ["new"]
    watcher.publish(f"{PREFIX}/{CAMERA}/armed/set", "maybe")
    assert wait_until(lambda: any("expected ON or OFF" in p for p in recorder.problems))
    assert hub.engine.armed
    hub.close()
    watcher.close()
    audit = audit_records(tmp_path / "alerts")
    assert [(r["type"], r["data"].get("origin")) for r in audit if r["type"] in ("armed", "disarmed")] == [
        ("disarmed", "mqtt"), ("armed", "mqtt")]


def test_several_cameras_publish_each_under_its_name_and_are_armed_one_by_one(tmp_path, broker):
    config = _config(tmp_path, broker.port, [AlertRuleConfig(name="fear", min_duration_s=0.0, inertia_frames=1,
                                                            cooldown_s=0.0)])
    config.snapshots.on_alert = False
    config.cameras = [CameraConfig(name="door", uri="0"), CameraConfig(name="garden", uri="1")]
    recorder = Recorder()
    hub = AlertHub(config, camera_setups(config), AlertListener(
        on_event=recorder.events.append, on_problem=recorder.problems.append,
        on_armed=lambda armed, origin, camera: recorder.armed.append((armed, origin, camera))), environ={})
    watcher = Subscriber(broker.port)
    rule_states = {f"{PREFIX}/{camera}/alerts/fear/state" for camera in ("door", "garden")}
    assert watcher.wait_for(lambda ms: rule_states <= {m.topic for m in ms})  # subscribed, the retained OFF seen
    for camera in ("door", "garden"):
        hub.observe(dataclasses.replace(frame_result(0.0, {1: 0.9}), camera=camera))
    assert wait_until(lambda: len(recorder.events) == 2)
    assert sorted(event.camera for event in recorder.events) == ["door", "garden"]

    watcher.publish(f"{PREFIX}/garden/armed/set", "OFF")
    assert wait_until(lambda: recorder.armed == [(False, "mqtt", "garden")])
    assert (hub.engines["door"].armed, hub.engines["garden"].armed) == (True, False)
    assert wait_until(lambda: [(e.camera, e.type) for e in recorder.events][-1:] == [("garden", "end")])
    assert watcher.wait_for(lambda ms: [m.payload for m in ms if m.topic == f"{PREFIX}/garden/armed/state"][-1:]
                            == [b"OFF"])
    hub.close()
    assert watcher.wait_for(lambda ms: len([m for m in ms if m.topic == f"{PREFIX}/events"]) == 4)  # door's end too
    watcher.close()
    for camera, armed, faces in (("door", b"ON", 1), ("garden", b"OFF", 1)):
        assert [m.payload for m in watcher.on(f"{PREFIX}/{camera}/armed/state")][-1:] == [armed]
        assert any(state["faces"] == faces for state in _payloads(watcher, f"{PREFIX}/{camera}/state"))
        assert [m.payload for m in watcher.on(f"{PREFIX}/{camera}/alerts/fear/state")][:2] == [b"OFF", b"ON"]
        assert watcher.on(f"homeassistant/switch/{node_id(PREFIX, camera)}/armed/config")
    assert [m.payload for m in watcher.on(f"{PREFIX}/door/alerts/fear/state")][-1] == b"OFF"  # ended at close
    events = _payloads(watcher, f"{PREFIX}/events")
    assert [(e["after"]["camera"], e["type"]) for e in events] == [
        ("door", "new"), ("garden", "new"), ("garden", "end"), ("door", "end")]
    audit = audit_records(tmp_path / "alerts")
    assert [(r["type"], r["data"]["camera"]) for r in audit if r["type"] in ("armed", "disarmed")] == [
        ("disarmed", "garden")]


def _read_alerts(run: HeadlessRun, event_type: str, cameras: set[str], timeout: float = EVENT_TIMEOUT_S) -> None:
    """Read the device's stdout until each of `cameras` has an alert event of `event_type` among the new lines."""
    start = len(run.lines)
    run.read_until(lambda line: cameras <= {line["alert"]["camera"] for line in run.lines[start:]
                                            if line.get("alert", {}).get("type") == event_type}, timeout)


def test_one_command_arms_and_disarms_every_camera_of_a_headless_device(tmp_path, broker, media_dir, model_store):
    cameras = {"door": "liveportrait_d6.mp4", "garden": "liveportrait_d12.mp4"}
    alerts_dir = tmp_path / "alerts"
    config_file = tmp_path / "emotui.toml"
    config_file.write_text(
        f'[source]\nloop = true\n[alerts]\ndir = {json.dumps(str(alerts_dir))}\n'
        '[[alerts.rules]]\nname = "visitor"\nkind = "face"\nmin_duration_s = 0.0\ninertia_frames = 1\n'
        'cooldown_s = 0.0\n'
        f'[snapshots]\non_alert = false\ndir = {json.dumps(str(tmp_path / "snaps"))}\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n[models]\nauto_pull = false\n'
        + "".join(f'[[cameras]]\nname = "{name}"\nuri = {json.dumps(str(media_dir / "videos" / "faces" / video))}\n'
                  for name, video in cameras.items()))
    armed_states = {name: f"{PREFIX}/{name}/armed/state" for name in cameras}
    watcher = Subscriber(broker.port)
    fleet_notes: list[str] = []
    fleet = FleetClient(MqttConfig(host="127.0.0.1", port=broker.port), f"{PREFIX}/#", lambda: None,
                        lambda text, level: fleet_notes.append(text), environ={})
    fleet.start()

    def armed_everywhere(payload: bytes) -> bool:
        return watcher.wait_for(lambda ms: all([m.payload for m in ms if m.topic == topic][-1:] == [payload]
                                               for topic in armed_states.values()))

    with HeadlessRun("--config", str(config_file), "run", "--headless", "--json", "--realtime") as run:
        _read_alerts(run, "new", set(cameras), timeout=4 * EVENT_TIMEOUT_S)  # both cameras alert (models loading)
        assert wait_until(lambda: any(note.startswith("connected") for note in fleet_notes))

        watcher.publish(f"{PREFIX}/armed/set", "maybe")
        assert wait_until(lambda: any(f"ignored {PREFIX}/armed/set payload 'MAYBE' (expected ON or OFF)" in line
                                      for line in run.stderr)), run.stderr
        fleet.arm(PREFIX, None, False)
        assert armed_everywhere(b"OFF"), run.stderr
        late = Subscriber(broker.port, list(armed_states.values()))
        assert late.wait_for(lambda ms: sorted((m.topic, m.payload, m.retain) for m in ms) == [
            (topic, b"OFF", True) for topic in sorted(armed_states.values())])
        late.close()
        assert ControlState(alerts_dir / STATE_FILE, print).armed == {"door": False, "garden": False}
        assert watcher.wait_for(lambda ms: [json.loads(m.payload)["armed"] for m in ms
                                            if m.topic == f"{PREFIX}/device"][-1:] == [False])
        # disarming ends the open alerts; after the first end (every camera is disarmed by then), frames with
        # faces on both cameras (the first of them may have been analysed before) raise nothing
        run.read_until(lambda line: line.get("alert", {}).get("type") == "end")
        disarmed = len(run.lines)
        run.read_until(lambda line: all(sum(1 for seen in run.lines[disarmed:] if seen.get("camera") == name
                                            and seen.get("faces")) > 10 for name in cameras), 2 * EVENT_TIMEOUT_S)
        assert [line["alert"] for line in run.lines[disarmed:] if "alert" in line and line["alert"]["type"] == "new"
                ] == []

        fleet.arm(PREFIX, None, True)
        _read_alerts(run, "new", set(cameras))  # armed again: both alert again
        assert armed_everywhere(b"ON")
        run.process.send_signal(signal.SIGTERM)
        assert run.finish() == 0, run.stderr
    fleet.stop()
    watcher.close()
    assert ControlState(alerts_dir / STATE_FILE, print).armed == {"door": True, "garden": True}
    audit = audit_records(alerts_dir)
    assert [(r["type"], r["data"]) for r in audit if r["type"] in ("armed", "disarmed")] == [
        ("disarmed", {"origin": "mqtt", "camera": None}), ("armed", {"origin": "mqtt", "camera": None})]
    assert [r["data"]["text"] for r in audit if r["type"] == "problem" and "armed/set" in r["data"]["text"]] == [
        f"mqtt: ignored {PREFIX}/armed/set payload 'MAYBE' (expected ON or OFF)"]


def test_broker_down_events_arrive_exactly_once_in_order(tmp_path, broker):
    config = _config(tmp_path, broker.port, [AlertRuleConfig(name="visitor", kind="face", min_duration_s=0.0,
                                                            inertia_frames=1, cooldown_s=0.0)])
    config.snapshots.on_alert = False
    watcher = Subscriber(broker.port, [f"{PREFIX}/events"], client_id="operator", persistent=True)
    recorder = Recorder()
    hub = AlertHub(config, "test", recorder.listener, environ={})
    assert wait_until(lambda: hub.mqtt.connected)
    clock = iter(range(10_000))

    def visits(count: int) -> None:
        """`count` faces come and go: a new and an end event each."""
        for _ in range(count):
            track = next(clock) + 1
            hub.observe(frame_result(track / 10, {track: 0.5}))
            hub.observe(frame_result(track / 10 + 0.05, {}, ended=[track]))

    visits(10)
    assert wait_until(lambda: len(watcher.on(f"{PREFIX}/events")) == 20)
    broker.stop()
    assert wait_until(lambda: not hub.mqtt.connected)
    visits(15)  # 30 events while the broker is down: kept on disk
    assert wait_until(lambda: len(recorder.events) == 50)
    assert len(hub.mqtt.outbox) == 30
    broker.start()
    visits(5)
    visits(1)  # the sentinel: what has not arrived before its end event does not arrive at all
    assert wait_until(lambda: len(recorder.events) == 62)
    sentinel = (recorder.events[-1].id, "end")
    assert watcher.wait_for(lambda ms: ms and _event_key(ms[-1]) == sentinel, timeout=EVENT_TIMEOUT_S), \
        f"{len(watcher.messages)} of 62 arrived"
    hub.close()
    watcher.close()
    received = [_event_key(m) for m in watcher.on(f"{PREFIX}/events")]
    assert received == [(e.id, e.type) for e in recorder.events]  # every event, once, in order
    assert len(set(received)) == 62
    assert any("lost broker" in p for p in recorder.problems) and any("reconnected" in p for p in recorder.problems)


def test_events_left_in_the_outbox_are_delivered_by_the_next_run(tmp_path, broker):
    config = _config(tmp_path, broker.port, [AlertRuleConfig(name="visitor", kind="face", min_duration_s=0.0,
                                                            inertia_frames=1)])
    config.snapshots.on_alert = False
    broker.stop()
    first = Recorder()
    hub = AlertHub(config, "test", first.listener, environ={})
    hub.observe(frame_result(0.0, {1: 0.5}))
    hub.close(timeout=0.2)  # the broker is down: the new and end events stay on disk
    assert [e.type for e in first.events] == ["new", "end"]
    assert any("cannot reach broker" in p for p in first.problems)

    broker.start()
    watcher = Subscriber(broker.port, [f"{PREFIX}/events"])
    hub = AlertHub(config, "test", Recorder().listener, environ={})
    assert watcher.wait_for(lambda ms: len(ms) == 2)
    hub.close()
    watcher.close()
    assert [_event_key(m) for m in watcher.on(f"{PREFIX}/events")] == [(e.id, e.type) for e in first.events]


@pytest.mark.parametrize(("stop", "exit_code", "broker_saw"), [
    (signal.SIGKILL, -signal.SIGKILL, "closed its connection"),  # no goodbye: the broker publishes the last will
    (signal.SIGTERM, 0, "disconnected"),  # a clean stop: emotui publishes `offline`, then disconnects (no will)
], ids=["SIGKILL", "SIGTERM"])
def test_availability_turns_offline_when_the_process_vanishes_or_stops(tmp_path, broker, media_dir, model_store,
                                                                        stop, exit_code, broker_saw):
    config_file = tmp_path / "emotui.toml"
    config_file.write_text(
        f'[source]\nname = "{CAMERA}"\n[alerts]\ndir = "{tmp_path / "alerts"}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\nkeepalive_s = 60\n')
    watcher = Subscriber(broker.port, [f"{PREFIX}/available"])
    with HeadlessRun("--config", str(config_file), "run", "--headless", "--json", "--realtime",
                     "--source", str(media_dir / "videos" / "faces" / "liveportrait_d6.mp4")) as run:
        run.read_until(lambda line: "frame" in line)  # running, its signal handlers in place
        assert watcher.wait_for(lambda ms: [m.payload for m in ms] == [b"online"], timeout=EVENT_TIMEOUT_S)
        run.process.send_signal(stop)
        assert run.finish() == exit_code, run.stderr
    assert watcher.wait_for(lambda ms: [m.payload for m in ms] == [b"online", b"offline"], timeout=EVENT_TIMEOUT_S)
    watcher.close()
    assert f"Client emotui-{CAMERA} {broker_saw}." in (broker.folder / "mosquitto.log").read_text()
    late = Subscriber(broker.port, [f"{PREFIX}/available"])
    assert late.wait_for(lambda ms: [(m.payload, m.retain) for m in ms] == [(b"offline", True)])
    late.close()


def test_username_and_password_come_from_the_environment(tmp_path):
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed") if not os.environ.get("CI") else pytest.fail("no mosquitto")
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "doorpi", "s3cret"], check=True)
    broker = Broker(tmp_path / "broker", f"password_file {passwords}\n", allow_anonymous=False).start()
    try:
        config = _config(tmp_path, broker.port, [AlertRuleConfig(name="fear")])
        good = AlertHub(config, "test", Recorder().listener,
                        environ={"EMOTUI_MQTT_USERNAME": "doorpi", "EMOTUI_MQTT_PASSWORD": "s3cret"})
        assert wait_until(lambda: good.mqtt.connected)
        good.close()
        config.alerts.dir = str(tmp_path / "alerts-2")
        recorder = Recorder()
        bad = AlertHub(config, "test", recorder.listener,
                       environ={"EMOTUI_MQTT_USERNAME": "doorpi", "EMOTUI_MQTT_PASSWORD": "wrong"})
        assert wait_until(lambda: any("refused the connection" in p and "authori" in p.lower()
                                 for p in recorder.problems)), recorder.problems
        assert not bad.mqtt.connected
        assert not any("wrong" in p or "s3cret" in p for p in recorder.problems)  # secrets never shown
        bad.close(timeout=0.2)
    finally:
        broker.stop()


def test_tls_with_a_private_ca(tmp_path):
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed") if not os.environ.get("CI") else pytest.fail("no mosquitto")
    certs = private_ca_certs(tmp_path / "certs")
    broker = Broker(tmp_path / "broker", f"cafile {certs / 'ca.pem'}\ncertfile {certs / 'server.pem'}\n"
                                         f"keyfile {certs / 'server.key'}\n").start()
    try:
        config = _config(tmp_path, broker.port, [AlertRuleConfig(name="fear")])
        config.mqtt.tls, config.mqtt.ca_file = True, str(certs / "ca.pem")
        hub = AlertHub(config, "test", Recorder().listener, environ={})
        assert wait_until(lambda: hub.mqtt.connected)
        hub.close()
        config.mqtt.ca_file = str(certs / "missing.pem")
        with pytest.raises(Exception, match="mqtt.ca_file: no such file"):
            AlertHub(config, "test", Recorder().listener, environ={})
    finally:
        broker.stop()


def test_source_status_is_published_retained_and_outages_are_audited(tmp_path, broker):
    from emotui.capture import SourceStatus

    config = _config(tmp_path, broker.port, [AlertRuleConfig(name="fear")])
    hub = AlertHub(config, "test", Recorder().listener, environ={})
    assert wait_until(lambda: hub.mqtt.connected)
    live = Subscriber(broker.port, [f"{PREFIX}/{CAMERA}/status"])
    hub.source_status(SourceStatus("lost", "stream stalled", outages=1))
    hub.source_status(SourceStatus("retrying", "connection refused", retry_at=time.time() + 1.0, outages=1))
    hub.source_status(SourceStatus("live", outages=1, reconnects=1))
    assert live.wait_for(lambda ms: len(ms) == 3, timeout=EVENT_TIMEOUT_S)  # the broker has handled all three
    live.close()
    watcher = Subscriber(broker.port, [f"{PREFIX}/{CAMERA}/status"])
    assert watcher.wait_for(lambda ms: len(ms) == 1, timeout=EVENT_TIMEOUT_S)
    (latest,) = _payloads(watcher, f"{PREFIX}/{CAMERA}/status")  # only the latest state is retained
    assert (latest["state"], latest["outages"], latest["reconnects"]) == ("live", 1, 1)
    assert watcher.messages[0].retain
    hub.source_status(SourceStatus("lost", "closed", outages=2))
    assert watcher.wait_for(lambda ms: len(ms) == 2)
    assert json.loads(watcher.messages[-1].payload)["detail"] == "closed"
    hub.close()
    watcher.close()
    audit = audit_records(tmp_path / "alerts")
    assert [(r["data"]["state"], r["data"]["outages"]) for r in audit if r["type"] == "source"] == [
        ("lost", 1), ("live", 1), ("lost", 2)]


def test_threshold_set_is_validated_applied_recorded_and_echoed(tmp_path, broker):
    rules = [AlertRuleConfig(name="fear", emotions=["fear"], threshold=0.6),
             AlertRuleConfig(name="visitor", kind="face")]
    config = _config(tmp_path, broker.port, rules)
    recorder = Recorder()
    hub = AlertHub(config, "test", recorder.listener, environ={})
    watcher = Subscriber(broker.port)
    assert wait_until(lambda: hub.mqtt.connected)
    state = f"{PREFIX}/{CAMERA}/alerts/fear/threshold/state"
    assert watcher.wait_for(lambda ms: any(m.topic == state for m in ms) and any(
        m.topic == f"{PREFIX}/device" for m in ms))
    assert watcher.on(state)[-1].payload == b"0.6"
    (device,) = _payloads(watcher, f"{PREFIX}/device")
    assert device["cameras"] == [CAMERA] and device["armed"] is True
    assert [(r["name"], r["kind"], r["threshold"]) for r in device["rules"]] == [
        ("fear", "emotion", 0.6), ("visitor", "face", None)]

    bad = [("fear", "high"), ("fear", "1.5"), ("fear", "-0.1"), ("fear", "nan"), ("visitor", "0.5"),
           ("nosuch", "0.5")]
    for rule, value in bad:
        watcher.publish(f"{PREFIX}/{CAMERA}/alerts/{rule}/threshold/set", value)
    watcher.publish(f"{PREFIX}/other/alerts/fear/threshold/set", "0.5")  # not one of our cameras
    watcher.publish(f"{PREFIX}/{CAMERA}/alerts/fear/threshold/set", "0.75")  # the sentinel: valid, after the rest
    assert watcher.wait_for(lambda ms: [m.payload for m in ms if m.topic == state][-1:] == [b"0.75"])
    assert [r.threshold for r in hub.engine.current_rules()] == [0.75, rules[1].threshold]
    ignored = [p for p in recorder.problems if p.startswith("mqtt: ignored")]
    assert [p.split()[2:4] for p in ignored] == [
        [f"{PREFIX}/{CAMERA}/alerts/{rule}/threshold/set", "payload"] for rule, _ in bad] + [
        [f"{PREFIX}/other/alerts/fear/threshold/set", "payload"]]
    assert all(repr(value) in problem for (_, value), problem in zip(bad, ignored))
    assert watcher.wait_for(lambda ms: [json.loads(m.payload)["rules"][0]["threshold"] for m in ms
                                        if m.topic == f"{PREFIX}/device"][-1] == 0.75)
    hub.set_threshold("fear", 0.5, "console")  # the console's change is echoed too
    assert watcher.wait_for(lambda ms: [m.payload for m in ms if m.topic == state][-1:] == [b"0.5"])
    hub.close()
    watcher.close()
    late = Subscriber(broker.port, [state])  # retained
    assert late.wait_for(lambda ms: [m.payload for m in ms] == [b"0.5"])
    late.close()
    audit = audit_records(tmp_path / "alerts")
    assert [r["data"] for r in audit if r["type"] == "threshold"] == [
        {"rule": "fear", "threshold": 0.75, "origin": "mqtt", "camera": CAMERA},
        {"rule": "fear", "threshold": 0.5, "origin": "console", "camera": CAMERA}]
    assert sum("threshold/set" in r["data"].get("text", "") for r in audit if r["type"] == "problem") == len(bad) + 1


@pytest.mark.parametrize("images", ["full", "blurred", "none"])
def test_preview_pictures_follow_the_rate_the_width_and_privacy(tmp_path, broker, images):
    import cv2
    import numpy as np

    config = _config(tmp_path, broker.port, [AlertRuleConfig(name="fear", emotions=["fear"], threshold=0.99)])
    config.mqtt.preview_fps = 5.0
    config.mqtt.preview_width = 160
    config.snapshots.images = images
    hub = AlertHub(config, "test", Recorder().listener, environ={})
    topic = f"{PREFIX}/{CAMERA}/preview"
    watcher = Subscriber(broker.port, [topic, f"{PREFIX}/{CAMERA}/state"])
    assert wait_until(lambda: hub.mqtt.connected)
    image = np.random.default_rng(13).integers(0, 256, (240, 320, 3), np.uint8)  # noise: blurring evens it
    for index in range(40):  # frames fed at once: the 5 fps cap lets one through
        hub.observe(frame_result(index / 100, {1: 0.3}, image=image))
    hub.mqtt.set_armed(CAMERA, False)  # a state change after the frames (armed until now): the sentinel
    assert watcher.wait_for(lambda ms: any(json.loads(m.payload).get("armed") is False for m in ms
                                           if m.topic.endswith("/state")))
    previews = watcher.on(topic)
    if images == "none":
        assert previews == []
    else:
        (preview,) = previews
        assert not preview.retain
        picture = cv2.imdecode(np.frombuffer(preview.payload, np.uint8), cv2.IMREAD_COLOR)
        assert picture.shape == (120, 160, 3)
        inside_face = picture[18:28, 23:33].astype(int)  # within face #1's box (40-70, 20-60), at half size
        assert bool(inside_face.std() < 12) == (images == "blurred"), inside_face.std()  # about 26 and 5
    hub.close()
    watcher.close()
