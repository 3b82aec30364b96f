"""MQTT sink (paho-mqtt): alert events, live state, snapshots, arming and Home Assistant discovery.

Topics under the configured prefix (default `emotui`), those of `<camera>` once per camera of the process:
- `<prefix>/available`: `online`, retained; the broker sets `offline` (last will) if emotui vanishes.
- `<prefix>/events`: `{"type": new|update|end, "before": {...}, "after": {...}}` like `frigate/events`.
  Events go through an on-disk outbox and are published in order with QoS 1, so those raised
  while the broker is down are delivered, in order, once it is back.
- `<prefix>/<camera>/state`: `{"faces", "dominant", "emotions", "armed"}`, retained, on change.
- `<prefix>/<camera>/snapshot`: the latest alert snapshot as JPEG, retained.
- `<prefix>/<camera>/armed/set` (`ON`/`OFF`, subscribed: arms that camera) and `<prefix>/<camera>/armed/state`
  (retained).
- `<prefix>/armed/set` (`ON`/`OFF`, subscribed: arms every camera of the process, each echoing its `armed/state`).
- `<prefix>/<camera>/alerts/<rule>/state`: `ON` while the rule has an open alert, retained.
- `<prefix>/<camera>/status`: the source's state (connecting, live, lost, retrying, ...), retained.
- `<prefix>/tracked_object_update`: `{"type": "classification", "model": "emotion", "sub_label", "score", ...}`
  whenever a face's dominant emotion changes, as Frigate publishes its classifications.
- `<prefix>/device`: what the device is and can do (version, host, cameras, rules with their
  thresholds, armed), retained, so that a fleet console discovers it.
- `<prefix>/<camera>/preview`: a small JPEG at `mqtt.preview_fps` (off by default), QoS 0.
- `<prefix>/<camera>/alerts/<rule>/threshold/set` (a number from 0 to 1, subscribed; emotion rules)
  and `.../threshold/state` (retained, the threshold in force, echoed after every change).
- `<prefix>/<camera>/alerts/<rule>/enabled/set` (`ON`/`OFF`, subscribed: switches the rule on or off)
  and `.../enabled/state` (retained).
- `<prefix>/<camera>/event`: `{"event_type": "alert_new"|"alert_end", "rule", "emotion", "score", "track",
  "snapshot", ...}` for Home Assistant's event entity, QoS 1, not retained (a retained one would fire again).
  With `snapshot_follows`, `alert_new` waits for the alert's snapshot (the `update` that brings it, at most
  SNAPSHOT_WAIT_S): the JPEG goes out first, so the image entity shows it when the event fires.
- `<prefix>/<camera>/diagnostics`: `{"processed_fps", "dropped_frames", "queued_events"}`, retained, at most
  every DIAGNOSTICS_INTERVAL_S.
Live state, snapshots, previews and classifications are not queued: they are current values, republished on connect.
The layout is declared in emotui.alerts.topics, Home Assistant's discovery in emotui.alerts.discovery: on
connect the configs of rules and cameras announced before (`stale_discovery`) but gone now are cleared
with an empty retained payload.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping

import numpy as np
import paho.mqtt.client as paho

from emotui import __version__
from emotui.alerts.discovery import camera_configs
from emotui.alerts.events import AlertEvent
from emotui.alerts.network import describe_connection_error
from emotui.alerts.mqtt_client import mqtt_client
from emotui.alerts.outbox import Outbox
from emotui.alerts.rules import RuleEngine
from emotui.alerts.topics import (
    ARMED_SET, ARMED_STATE, DEVICE, DIAGNOSTICS, ENABLED_SET, ENABLED_STATE, EVENT, PREVIEW, SNAPSHOT, STATE, STATUS,
    THRESHOLD_SET, THRESHOLD_STATE, camera_topic, device_topic, parse_topic, rule_topic, topic_slug,
)
from emotui.capture import SourceStatus
from emotui.config import AlertRuleConfig, MqttConfig
from emotui.pipeline import FrameResult
from emotui.vocabulary import EMOTIONS, EventType, RuleKind

STATE_MIN_INTERVAL_S = 0.5  # emotion-only changes of the live state are published at most this often
MAX_IN_FLIGHT = 20  # events published but not yet acknowledged (paho's default in-flight window)
DIAGNOSTICS_INTERVAL_S = 10.0  # a camera's diagnostics are published at most this often
SNAPSHOT_WAIT_S = 2.0  # a new alert's `alert_new` waits at most this long for its snapshot (which may fail)


class _Camera:
    """A camera's topics and what the sink last published on them."""

    def __init__(self, prefix: str, name: str, engine: RuleEngine) -> None:
        self.name = name
        self.rules = rules = engine.current_rules()
        self.topics = {key: camera_topic(prefix, name, topic) for key, topic in (
            ("state", STATE), ("snapshot", SNAPSHOT), ("armed_set", ARMED_SET), ("armed_state", ARMED_STATE),
            ("status", STATUS), ("event", EVENT), ("diagnostics", DIAGNOSTICS))}
        self.armed = armed = engine.armed
        self.thresholds = {rule.name: rule.threshold for rule in rules}  # live, for the device record
        self.enabled = {rule.name: engine.enabled(rule.name) for rule in rules}
        self.diagnostics_at = -math.inf  # when the diagnostics were last published
        self.open_alerts: dict[str, set[str]] = {rule.name: set() for rule in rules}
        self.state: dict = {"faces": 0, "dominant": "none", "emotions": {}, "scores": {}, "armed": armed}
        self.published_state: dict | None = None
        self.state_published_at = 0.0
        self.track_emotions: dict[int, str] = {}
        self.source_status: str | None = None  # JSON of the latest SourceStatus, republished on connect

    def threshold_rules(self) -> list[AlertRuleConfig]:
        """The rules that have a threshold to set (emotion rules)."""
        return [rule for rule in self.rules if rule.kind == RuleKind.EMOTION]


class MqttSink:
    name = "mqtt"

    def __init__(self, config: MqttConfig, cameras: dict[str, RuleEngine], outbox: Outbox,
                 on_problem: Callable[[str], None], on_arm: Callable[[bool, str | None], None],
                 environ: Mapping[str, str] = os.environ,
                 on_threshold: Callable[[str, str, float], None] = lambda camera, rule, value: None,
                 on_enable: Callable[[str, str, bool], None] = lambda camera, rule, enabled: None,
                 stale_discovery: set[str] = frozenset(),
                 on_discovery: Callable[[set[str]], None] = lambda topics: None,
                 snapshot_follows: bool = False) -> None:
        """`cameras`: each camera's rule engine (its rules, arming and rule switches at start);
        on_arm hears (armed, camera) from `armed/set` (camera None: the device's
        `<prefix>/armed/set`, every camera); `on_threshold(camera, rule name, value)` and
        `on_enable(camera, rule name, enabled)` apply a valid `threshold/set` or `enabled/set`, and the
        caller echoes it through `set_threshold` or `set_enabled` once it is recorded.
        `stale_discovery`: discovery topics published by an earlier run, cleared on connect unless still
        announced; `on_discovery` hears the topics announced once they are published.
        `snapshot_follows`: each new alert is followed by an `update` with its snapshot (snapshots on alert)."""
        self.config = config
        self.outbox = outbox
        self.wants_snapshot_jpeg = config.snapshots
        self.delivered = 0
        self._on_problem = on_problem
        self._on_arm = on_arm
        self._on_threshold = on_threshold
        self._on_enable = on_enable
        self._stale_discovery = set(stale_discovery)
        self._on_discovery = on_discovery
        self._snapshot_follows = snapshot_follows
        self._waiting_for_snapshot: dict[str, tuple[str, dict, float]] = {}  # alert id -> (topic, alert_new, since)
        prefix = config.prefix.rstrip("/")
        self.topics = {
            "available": f"{prefix}/available",
            "events": f"{prefix}/events",
            "tracked_object_update": f"{prefix}/tracked_object_update",
        }
        self.cameras = {name: _Camera(prefix, name, engine) for name, engine in cameras.items()}
        self._commands: dict[str, str | None] = {  # arming topic -> its camera (None: all of them)
            device_topic(prefix, ARMED_SET): None, **{camera.topics["armed_set"]: camera.name
                                                      for camera in self.cameras.values()}}
        self._last_records: dict[str, dict] = {}  # alert id -> last "after", for "before"
        self._connected = threading.Event()
        self._wake = threading.Event()  # something for the sender: a new event, an acknowledgement, a connection
        self._stopping = threading.Event()
        self._was_connected = False
        self._connect_failure: str | None = None  # why the last attempt failed, reported when it changes
        self._lock = threading.Lock()

        self._client = mqtt_client(config, config.client_id or f"emotui-{next(iter(cameras))}", environ)
        self._client.will_set(self.topics["available"], "offline", qos=1, retain=True)
        self._client.on_connect = self._connected_to_broker
        self._client.on_disconnect = self._disconnected
        self._client.on_connect_fail = self._connect_failed
        self._client.on_message = self._message
        self._client.on_publish = lambda *args: self._wake.set()
        self._client.connect_async(config.host, config.port, config.keepalive_s)
        self._client.loop_start()
        self._sender = threading.Thread(target=self._send_events, name="emotui-mqtt", daemon=True)
        self._sender.start()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # --- what the hub hands over ----------------------------------------------------------

    def submit(self, event: AlertEvent, snapshot_jpeg: bytes | None = None) -> None:
        """Queue the event for `<prefix>/events` and update the rule's state and the snapshot."""
        after = event.to_dict()
        before = self._last_records.get(event.id, after)
        if event.type == EventType.END:
            self._last_records.pop(event.id, None)
        else:
            self._last_records[event.id] = after
        self.outbox.put(self.topics["events"], json.dumps({"type": event.type, "before": before, "after": after}).encode())
        self._wake.set()
        camera = self._camera(event.camera)
        with self._lock:
            open_alerts = camera.open_alerts.setdefault(event.rule, set())
            was_on = bool(open_alerts)
            (open_alerts.discard if event.type == EventType.END else open_alerts.add)(event.id)
            if bool(open_alerts) != was_on:
                self._publish_live(self._rule_topic(camera.name, event.rule), "ON" if open_alerts else "OFF",
                                   retain=True)
            if snapshot_jpeg is not None and self.config.snapshots:
                self._publish_live(camera.topics["snapshot"], snapshot_jpeg, retain=True)
            fired = {"event_type": f"alert_{event.type}", "rule": event.rule, "emotion": event.emotion,
                     "score": event.score, "track": event.track_id, "snapshot": event.snapshot, "id": event.id,
                     "severity": event.severity, "faces": event.faces}
            if event.type == EventType.NEW and self._snapshot_follows:
                self._waiting_for_snapshot[event.id] = camera.topics["event"], fired, time.monotonic()
            else:
                if event.snapshot is not None or event.type == EventType.END:  # not a peak's update before it
                    self._fire_alert_new(event.id, event.snapshot)
                if event.type != EventType.UPDATE:
                    self._publish_live(camera.topics["event"], json.dumps(fired), qos=1)

    def observe(self, result: FrameResult) -> None:
        """Live state and Frigate-style classifications from a frame of `result.camera` ("" is the
        first camera; cheap, called per frame)."""
        camera = self._camera(result.camera)
        emotions = {face.track_id: face.dominant for face in result.faces}
        counts = Counter(emotions.values())
        with self._lock:
            camera.state = {
                "faces": len(result.faces),
                "dominant": counts.most_common(1)[0][0] if counts else "none",
                "emotions": {str(track): emotion for track, emotion in emotions.items()},
                "scores": {emotion: round(float(max(face.probabilities[index] for face in result.faces)), 2)
                           for index, emotion in enumerate(EMOTIONS)} if result.faces else {},
                "armed": camera.armed,
            }
            self._publish_state_if_due(camera)
        for face in result.faces:
            if camera.track_emotions.get(face.track_id) != face.dominant:
                camera.track_emotions[face.track_id] = face.dominant
                self._publish_live(self.topics["tracked_object_update"], json.dumps({
                    "type": "classification", "id": f"{camera.name}-{face.track_id}", "camera": camera.name,
                    "timestamp": time.time(), "model": "emotion", "sub_label": face.dominant,
                    "score": round(float(np.max(face.probabilities)), 4),
                }))
        for track_id in result.ended_tracks:
            camera.track_emotions.pop(track_id, None)

    def _fire_alert_new(self, alert_id: str, snapshot: str | None) -> None:
        """Publish the alert's `alert_new` if it is waiting for its snapshot (called with the lock held)."""
        if (waiting := self._waiting_for_snapshot.pop(alert_id, None)) is not None:
            topic, fired, _ = waiting
            self._publish_live(topic, json.dumps({**fired, "snapshot": snapshot}), qos=1)

    def _fire_overdue_alert_new(self, wait_s: float) -> None:
        """Publish the `alert_new` events that waited `wait_s` for a snapshot in vain (it failed)."""
        now = time.monotonic()
        with self._lock:
            for alert_id, (_, _, since) in list(self._waiting_for_snapshot.items()):
                if now - since >= wait_s:
                    self._fire_alert_new(alert_id, None)

    def _camera(self, name: str) -> _Camera:
        """The named camera; the first for a name it does not know ("": a result of a bare pipeline)."""
        return self.cameras.get(name) or next(iter(self.cameras.values()))

    def publish_status(self, name: str, status: SourceStatus) -> None:
        """A camera's source state (connecting, live, lost, retrying, ended, failed), retained."""
        camera = self.cameras[name]
        with self._lock:
            camera.source_status = json.dumps(status.to_dict())
            self._publish_live(camera.topics["status"], camera.source_status, retain=True)

    def set_armed(self, name: str, armed: bool) -> None:
        camera = self.cameras[name]
        with self._lock:
            camera.armed = armed
            camera.state = {**camera.state, "armed": armed}
            self._publish_live(camera.topics["armed_state"], "ON" if armed else "OFF", retain=True)
            self._publish_state_if_due(camera, force=True)
            self._publish_live(device_topic(self.config.prefix, DEVICE), self._device_record(), retain=True)

    def set_threshold(self, name: str, rule: str, threshold: float) -> None:
        """Echo a rule's threshold in force on `threshold/state` (retained) and in the device record."""
        camera = self.cameras[name]
        with self._lock:
            camera.thresholds[rule] = threshold
            self._publish_live(rule_topic(self.config.prefix, name, rule, THRESHOLD_STATE),
                               self._threshold_text(camera, rule), retain=True)
            self._publish_live(device_topic(self.config.prefix, DEVICE), self._device_record(), retain=True)

    def set_enabled(self, name: str, rule: str, enabled: bool) -> None:
        """Echo a rule's switch on `enabled/state` (retained)."""
        camera = self.cameras[name]
        with self._lock:
            camera.enabled[rule] = enabled
            self._publish_live(rule_topic(self.config.prefix, name, rule, ENABLED_STATE), "ON" if enabled else "OFF",
                               retain=True)

    def diagnostics_due(self, name: str) -> bool:
        """Whether a camera's diagnostics are to be published now (cheap; at most every DIAGNOSTICS_INTERVAL_S)."""
        return self.connected and time.monotonic() - self.cameras[name].diagnostics_at >= DIAGNOSTICS_INTERVAL_S

    def publish_diagnostics(self, name: str, processed_fps: float, dropped_frames: int) -> None:
        """A camera's processed fps and dropped frames, and the events queued for delivery, retained."""
        self.cameras[name].diagnostics_at = time.monotonic()
        self._publish_live(self.cameras[name].topics["diagnostics"], json.dumps({
            "processed_fps": round(processed_fps, 2), "dropped_frames": dropped_frames,
            "queued_events": len(self.outbox)}), retain=True)

    def publish_preview(self, camera: str, jpeg: bytes) -> None:
        """A preview picture (QoS 0, not retained, never queued: a missed one is replaced by the next)."""
        self._publish_live(camera_topic(self.config.prefix, camera, PREVIEW), jpeg)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued for up to `timeout` seconds (the rest stays on disk for the next
        start), say `offline`, and disconnect."""
        deadline = time.monotonic() + timeout
        self._fire_overdue_alert_new(0.0)
        while len(self.outbox) and self.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stopping.set()
        self._wake.set()
        self._sender.join(timeout=2)
        if self.connected:
            info = self._client.publish(self.topics["available"], "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=max(0.5, deadline - time.monotonic()))
            except (RuntimeError, ValueError):
                pass
        self._client.disconnect()
        self._client.loop_stop()

    # --- paho callbacks (its network thread) ------------------------------------------------

    def _connected_to_broker(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._on_problem(f"mqtt: {self._where()} refused the connection: {reason_code}")
            return
        with contextlib.suppress(OSError, AttributeError):  # small packets: no Nagle delay (40 ms with delayed ACKs)
            client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.publish(self.topics["available"], "online", qos=1, retain=True)
        configs = self.discovery_configs() if self.config.discovery else {}  # discovery off: every entity goes
        for topic in sorted(self._stale_discovery - configs.keys()):
            client.publish(topic, b"", qos=1, retain=True)  # removes the entity from Home Assistant
        for topic, payload in configs.items():
            client.publish(topic, json.dumps(payload), qos=1, retain=True)
        if self._stale_discovery != configs.keys():
            self._stale_discovery = set(configs)
            self._on_discovery(set(configs))
        for command in (THRESHOLD_SET, ENABLED_SET):
            client.subscribe(camera_topic(self.config.prefix, "+", f"alerts/+/{command}"), qos=1)
        client.subscribe(device_topic(self.config.prefix, ARMED_SET), qos=1)
        with self._lock:
            for camera in self.cameras.values():
                client.subscribe(camera.topics["armed_set"], qos=1)
                client.publish(camera.topics["armed_state"], "ON" if camera.armed else "OFF", qos=1, retain=True)
                for rule in camera.rules:
                    on = bool(camera.open_alerts.get(rule.name))
                    client.publish(self._rule_topic(camera.name, rule.name), "ON" if on else "OFF", qos=1,
                                   retain=True)
                if camera.source_status is not None:
                    client.publish(camera.topics["status"], camera.source_status, qos=1, retain=True)
                for rule in camera.rules:
                    client.publish(rule_topic(self.config.prefix, camera.name, rule.name, ENABLED_STATE),
                                   "ON" if camera.enabled[rule.name] else "OFF", qos=1, retain=True)
                for rule in camera.threshold_rules():
                    client.publish(rule_topic(self.config.prefix, camera.name, rule.name, THRESHOLD_STATE),
                                   self._threshold_text(camera, rule.name), qos=1, retain=True)
            client.publish(device_topic(self.config.prefix, DEVICE), self._device_record(), qos=1, retain=True)
            self._connected.set()
            self._wake.set()
            for camera in self.cameras.values():
                self._publish_state_if_due(camera, force=True)
        self._connect_failure = None
        if self._was_connected:
            self._on_problem(f"mqtt: reconnected to {self._where()}; {len(self.outbox)} queued events to deliver")
        self._was_connected = True

    def _disconnected(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            self._on_problem(f"mqtt: lost {self._where()} ({reason_code}); events are kept on disk until it is back")

    def _connect_failed(self, client, userdata) -> None:
        """Called by paho while it handles the connection's error, which says why."""
        reason = describe_connection_error(sys.exc_info()[1])
        if reason != self._connect_failure:
            self._connect_failure = reason
            self._on_problem(f"mqtt: cannot reach {self._where()}: {reason}; retrying, events are kept on disk "
                             "meanwhile")

    def _message(self, client, userdata, message) -> None:
        if message.topic in self._commands:
            if (armed := self._on_off(message.topic, message.payload)) is not None:
                self._on_arm(armed, self._commands[message.topic])
        else:
            self._rule_command(message.topic, message.payload)

    def _on_off(self, topic: str, payload: bytes) -> bool | None:
        """`ON` or `OFF` as a bool; anything else is reported, naming the topic, and gives None."""
        text = payload[:40].decode("utf-8", "replace").strip().upper()
        if text not in ("ON", "OFF"):
            self._on_problem(f"mqtt: ignored {topic} payload {text[:20]!r} (expected ON or OFF)")
            return None
        return text == "ON"

    def _rule_command(self, topic: str, payload: bytes) -> None:
        """`<prefix>/<camera>/alerts/<rule>/threshold/set`: a number from 0 to 1 for an emotion rule
        of one of our cameras is applied; `.../enabled/set`: ON or OFF for any of its rules; anything
        else is ignored with a problem naming it."""
        text = payload[:40].decode("utf-8", "replace").strip()
        parsed = parse_topic(topic, {self.config.prefix.rstrip("/")})
        camera = self.cameras.get(parsed.camera) if parsed is not None else None
        if camera is not None and parsed.name == ENABLED_SET:
            rules = {topic_slug(rule.name): rule for rule in camera.rules}
            if parsed.rule not in rules:
                self._on_problem(f"mqtt: ignored {topic} payload {text[:20]!r} (no such camera or rule here)")
            elif (enabled := self._on_off(topic, payload)) is not None:
                self._on_enable(camera.name, rules[parsed.rule].name, enabled)
            return
        rules = {topic_slug(rule.name): rule for rule in camera.threshold_rules()} if camera else {}
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if parsed is None or parsed.rule not in rules:
            problem = "no such camera or emotion rule here"
        elif not 0.0 <= value <= 1.0:  # NaN fails too
            problem = "expected a number from 0 to 1"
        else:
            self._on_threshold(parsed.camera, rules[parsed.rule].name, value)
            return
        self._on_problem(f"mqtt: ignored {topic} payload {text[:20]!r} ({problem})")

    @staticmethod
    def _threshold_text(camera: _Camera, rule: str) -> str:
        return f"{camera.thresholds[rule]:g}"

    def _device_record(self) -> str:
        """`<prefix>/device`: what a fleet console needs to show and command this device."""
        rules: dict[str, tuple[AlertRuleConfig, float]] = {}  # by name: the first camera's that has it
        for camera in self.cameras.values():
            for rule in camera.rules:
                rules.setdefault(rule.name, (rule, camera.thresholds[rule.name]))
        return json.dumps({
            "version": __version__, "host": socket.gethostname(), "cameras": list(self.cameras),
            "armed": all(camera.armed for camera in self.cameras.values()),
            "keepalive_s": self.config.keepalive_s, "preview_fps": self.config.preview_fps,
            "rules": [{"name": rule.name, "slug": topic_slug(rule.name), "kind": rule.kind, "emotions": rule.emotions,
                       "threshold": threshold if rule.kind == RuleKind.EMOTION else None,
                       "severity": rule.severity} for rule, threshold in rules.values()],
        })

    # --- publishing ---------------------------------------------------------------------------

    def _send_events(self) -> None:
        """Publish the outbox in order with QoS 1, up to MAX_IN_FLIGHT at a time, and remove each
        message once the broker has acknowledged it. A message handed to paho is never published
        twice by us: after a reconnect paho resends what was not acknowledged, in order."""
        in_flight: deque[tuple[int, paho.MQTTMessageInfo]] = deque()
        last_sent = 0
        while not self._stopping.is_set():
            self._wake.wait(0.2)  # set by submit, by acknowledgements and on connect
            self._wake.clear()
            try:
                self._fire_overdue_alert_new(SNAPSHOT_WAIT_S)
                while in_flight and in_flight[0][1].is_published():
                    self.outbox.remove(in_flight.popleft()[0])
                    self.delivered += 1
                while self.connected and len(in_flight) < MAX_IN_FLIGHT and self.outbox.newest_id > last_sent:
                    for message in self.outbox.batch(last_sent, MAX_IN_FLIGHT - len(in_flight)):
                        info = self._client.publish(message.topic, message.body, qos=1)
                        last_sent = message.id
                        if info.rc == paho.MQTT_ERR_NO_CONN:  # lost the connection just now: paho keeps
                            info.rc = paho.MQTT_ERR_SUCCESS  # it and sends it after reconnecting
                        elif info.rc != paho.MQTT_ERR_SUCCESS:  # it can never be sent (e.g. too large)
                            self.outbox.remove(message.id)
                            self._on_problem(f"mqtt: dropped an event paho refused: {paho.error_string(info.rc)}")
                            continue
                        in_flight.append((message.id, info))
            except Exception as error:  # never let the sender thread die
                self._on_problem(f"mqtt: could not publish an event: {type(error).__name__}: {error}")
                self._stopping.wait(1.0)
        # unacknowledged messages stay in the outbox for the next start

    def _publish_live(self, topic: str, payload: str | bytes, retain: bool = False, qos: int = 0) -> None:
        if self.connected:
            self._client.publish(topic, payload, qos=qos, retain=retain)

    def _publish_state_if_due(self, camera: _Camera, force: bool = False) -> None:
        """On change: at once when the face count or arming changed, else at most every STATE_MIN_INTERVAL_S."""
        now = time.monotonic()
        published = camera.published_state or {}
        force = force or any(camera.state[key] != published.get(key) for key in ("faces", "armed"))
        if camera.state != camera.published_state and (
                force or now - camera.state_published_at >= STATE_MIN_INTERVAL_S):
            if self.connected:
                self._client.publish(camera.topics["state"], json.dumps(camera.state), qos=0, retain=True)
                camera.published_state, camera.state_published_at = camera.state, now

    def _rule_topic(self, camera: str, rule: str) -> str:
        return rule_topic(self.config.prefix, camera, rule)

    def _where(self) -> str:
        return f"broker {self.config.host}:{self.config.port}"

    def discovery_configs(self) -> dict[str, dict]:
        """Home Assistant MQTT discovery of every camera (emotui.alerts.discovery), by config topic."""
        return {topic: payload for camera in self.cameras.values()
                for topic, payload in camera_configs(self.config, camera.name, camera.rules).items()}
