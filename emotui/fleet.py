"""The fleet: every emotui device publishing on a broker, as `emotui fleet` sees it.

`FleetClient` subscribes to the devices' topics (one subscription for the prefix pattern) and
keeps what arrives in a bounded `Inbox`; `Fleet` turns those messages into devices and cameras,
checking every payload and every bound, and says what changed. Neither needs a model or a camera,
and neither imports the vision code (a test guards it): the console runs on any machine that
reaches the broker."""

from __future__ import annotations

import io
import json
import math
import os
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields

from PIL import Image, UnidentifiedImageError

from emotui.alerts.events import AlertEvent
from emotui.alerts.mqtt_client import mqtt_client
from emotui.alerts.topics import (
    ARMED_SET, ARMED_STATE, AVAILABLE, DEVICE, EVENTS, PREVIEW, RULE_STATE, STATE, STATUS, THRESHOLD_SET,
    THRESHOLD_STATE, Topic, camera_topic, device_prefix, device_topic, parse_topic, pattern_matches, rule_topic,
    subscription,
)
from emotui.config import MqttConfig
from emotui.vocabulary import EventType, RuleKind, Severity

MAX_DEVICES = 64
MAX_CAMERAS = 64  # tiles, over all devices
MAX_RULES = 64  # per device
MAX_NAME_CHARS = 64  # camera and rule names, host and version as shown
MAX_JSON_BYTES = 64 * 1024  # a device record, a state, an event
MAX_PREVIEW_BYTES = 256 * 1024  # a preview JPEG (320x240 is 10-20 KB)
MAX_PREVIEW_PIXELS = 1920 * 1080  # a JPEG announcing more is not decoded
PREVIEW_KEPT_SIZE = (160, 120)  # a decoded preview is kept at most this large
MAX_PENDING = 512  # messages under a prefix not announced yet (retained messages come in any order)
INBOX_MAX = 10_000  # messages waiting for the console; beyond, the oldest are dropped and counted
NOTE_INTERVAL_S = 10.0  # the same kind of bad input from one device is noted at most this often


@dataclass
class CameraView:
    """What a camera's tile shows."""

    device: str  # its device's prefix
    name: str
    status: str = ""  # the source's state, once published
    faces: int = 0
    dominant: str = "none"
    armed: bool | None = None
    alerts_on: set[str] = field(default_factory=set)  # rule slugs with an open alert
    thresholds: dict[str, float] = field(default_factory=dict)  # rule slug -> threshold echoed by the device
    last_alert: AlertEvent | None = None
    preview: Image.Image | None = None  # RGB, at most PREVIEW_KEPT_SIZE
    previews: int = 0  # pictures received

    @property
    def key(self) -> tuple[str, str]:
        return self.device, self.name


@dataclass(frozen=True)
class RuleInfo:
    name: str
    slug: str
    kind: str
    threshold: float | None  # None: the rule has none to set (face, crowd)


@dataclass
class DeviceView:
    prefix: str
    online: bool | None = None  # None until its availability arrives
    host: str = ""
    version: str = ""
    keepalive_s: float | None = None
    rules: list[RuleInfo] = field(default_factory=list)
    cameras: list[str] = field(default_factory=list)  # in the order of its record, then as seen


@dataclass(frozen=True)
class Changed:
    """A device's tiles (camera None: all of them) must be redrawn."""

    prefix: str
    camera: str | None = None


@dataclass(frozen=True)
class EventArrived:
    prefix: str
    event: AlertEvent


@dataclass(frozen=True)
class Note:
    """Something for the log: a device came or went, a threshold was echoed, bad input was ignored."""

    text: str
    level: str = "info"  # info, warning, error


Update = Changed | EventArrived | Note


def _text(value: object) -> str | None:
    return value[:MAX_NAME_CHARS] if isinstance(value, str) else None


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def parse_event(payload: bytes) -> AlertEvent:
    """The `after` record of a `<prefix>/events` message; ValueError says what is wrong."""
    record = json.loads(payload)
    after = record.get("after") if isinstance(record, dict) else None
    if not isinstance(after, dict):
        raise ValueError("no `after` record")
    names = {f.name for f in fields(AlertEvent)}
    values = {name: after.get(name) for name in names if name in after}
    for name in ("id", "camera", "rule"):
        if not _text(values.get(name)):
            raise ValueError(f"`{name}` must be text")
    for name in ("score", "peak_score", "start_time", "timestamp", "source_time"):
        if _number(values.get(name)) is None:
            raise ValueError(f"`{name}` must be a number")
    if values.get("type") not in set(EventType) or values.get("kind") not in set(RuleKind) \
            or values.get("severity") not in set(Severity):
        raise ValueError("unknown `type`, `kind` or `severity`")
    if values.get("end_time") is not None and _number(values["end_time"]) is None:
        raise ValueError("`end_time` must be a number or null")
    track = values.get("track_id")
    values["track_id"] = track if isinstance(track, int) and not isinstance(track, bool) else None
    values["faces"] = int(_number(values.get("faces")) or 0)
    values["emotion"] = _text(values.get("emotion"))
    values["snapshot"] = values.get("snapshot") if isinstance(values.get("snapshot"), str) else None
    values["sequence"] = int(_number(values.get("sequence")) or 0)
    values.update({name: _text(values[name]) for name in ("id", "camera", "rule")})
    missing = names - set(values)
    if missing:
        raise ValueError(f"missing {', '.join(sorted(missing))}")
    return AlertEvent(**values)


def decode_preview(payload: bytes) -> Image.Image:
    """A preview JPEG, decoded and made small; ValueError when it is not one or too large."""
    if len(payload) > MAX_PREVIEW_BYTES:
        raise ValueError(f"{len(payload)} bytes, more than {MAX_PREVIEW_BYTES}")
    try:
        image = Image.open(io.BytesIO(payload), formats=["JPEG"])
        if image.width * image.height > MAX_PREVIEW_PIXELS:  # read from the header, before decoding
            raise ValueError(f"{image.width}x{image.height} pixels is too large")
        image.draft("RGB", PREVIEW_KEPT_SIZE)  # JPEG decodes at a fraction of its size
        image = image.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise ValueError(f"not a JPEG picture ({type(error).__name__})") from None
    image.thumbnail(PREVIEW_KEPT_SIZE)
    return image


class Fleet:
    """The devices whose prefix matches `pattern`, from their messages (not thread-safe: one
    thread hands every message to `handle`)."""

    def __init__(self, pattern: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.pattern = pattern
        self.devices: OrderedDict[str, DeviceView] = OrderedDict()
        self.cameras: OrderedDict[tuple[str, str], CameraView] = OrderedDict()
        self._pending: OrderedDict[str, bytes] = OrderedDict()  # topic -> latest payload, prefix unknown yet
        self._clock = clock
        self._noted_at: dict[tuple[str, str], float] = {}
        self._full_noted: set[str] = set()

    def camera(self, prefix: str, name: str) -> CameraView | None:
        return self.cameras.get((prefix, name))

    def handle(self, topic: str, payload: bytes) -> list[Update]:
        """What changed with this message; bad payloads are ignored with a Note."""
        parsed = parse_topic(topic, self.devices.keys())
        if parsed is None:
            announced = device_prefix(topic)
            if announced is None or announced[1] not in (AVAILABLE, DEVICE) \
                    or not pattern_matches(self.pattern, announced[0]):
                self._keep_pending(topic, payload)
                return []
            if len(self.devices) >= MAX_DEVICES:
                return self._full("devices", f"more than {MAX_DEVICES} devices: {announced[0]} and later ones ignored")
            self.devices[announced[0]] = DeviceView(announced[0])
            updates = self._handle(Topic(*announced), payload)
            return updates + self._replay(announced[0])
        return self._handle(parsed, payload)

    def _replay(self, prefix: str) -> list[Update]:
        """The pending messages the new device's prefix explains."""
        updates: list[Update] = []
        for topic in [t for t in self._pending if t.startswith(prefix + "/")]:
            parsed = parse_topic(topic, {prefix})
            payload = self._pending.pop(topic)
            if parsed is not None:
                updates += self._handle(parsed, payload)
        return updates

    def _keep_pending(self, topic: str, payload: bytes) -> None:
        if topic.endswith("/" + PREVIEW) or len(payload) > MAX_JSON_BYTES:
            return  # a picture is replaced within a second or so: not worth keeping
        self._pending.pop(topic, None)
        self._pending[topic] = payload
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)

    def _handle(self, topic: Topic, payload: bytes) -> list[Update]:
        device = self.devices[topic.prefix]
        try:
            if topic.name == AVAILABLE:
                return self._availability(device, payload)
            if topic.name == DEVICE:
                return self._device_record(device, payload)
            if topic.name == EVENTS:
                return self._event(device, payload)
            if topic.camera is None:
                return []  # tracked_object_update: the state carries what the tiles show
            camera = self._camera(device, topic.camera)
            if camera is None:
                return self._full("cameras", f"more than {MAX_CAMERAS} cameras: {topic.prefix}/{topic.camera} and "
                                  "later ones ignored")
            if topic.rule is not None:
                if topic.name == THRESHOLD_STATE:
                    return self._threshold(camera, topic.rule, payload)
                if topic.name != RULE_STATE:
                    return []  # a command (ours or another console's)
                (camera.alerts_on.add if self._on_off(payload) else camera.alerts_on.discard)(topic.rule)
            elif topic.name == PREVIEW:
                camera.preview = decode_preview(payload)
                camera.previews += 1
            elif topic.name == STATE:
                self._state(camera, self._json(payload))
            elif topic.name == STATUS:
                camera.status = _text(self._json(payload).get("state")) or ""
            elif topic.name == ARMED_STATE:
                camera.armed = self._on_off(payload)
            else:
                return []  # snapshots, commands
            return [Changed(device.prefix, camera.name)]
        except ValueError as error:
            return self._bad(device.prefix, topic.name, f"ignored {self._topic_text(topic)}: {error}")

    def _availability(self, device: DeviceView, payload: bytes) -> list[Update]:
        online = payload.strip() == b"online"
        if not online and payload.strip() != b"offline":
            raise ValueError(f"{payload[:20]!r} is neither online nor offline")
        was, device.online = device.online, online
        updates: list[Update] = [Changed(device.prefix)]
        if was != online:
            updates.append(Note(f"{device.prefix}: {'online' if online else 'offline'}",
                                "info" if online else "warning"))
        return updates

    def _device_record(self, device: DeviceView, payload: bytes) -> list[Update]:
        record = self._json(payload)
        cameras, rules = record.get("cameras"), record.get("rules")
        if not isinstance(cameras, list) or not isinstance(rules, list):
            raise ValueError("`cameras` and `rules` must be lists")
        device.host = _text(record.get("host")) or ""
        device.version = _text(record.get("version")) or ""
        device.keepalive_s = _number(record.get("keepalive_s"))
        device.rules = [RuleInfo(_text(r.get("name")), _text(r.get("slug")), _text(r.get("kind")) or "",
                                 _number(r.get("threshold")))
                        for r in rules[:MAX_RULES] if isinstance(r, dict) and _text(r.get("name")) and _text(r.get("slug"))]
        for name in cameras:
            if isinstance(name, str) and (camera := self._camera(device, name)) is not None:
                for rule in device.rules:
                    if rule.threshold is not None:
                        camera.thresholds.setdefault(rule.slug, rule.threshold)
                armed = record.get("armed")
                if camera.armed is None and isinstance(armed, bool):
                    camera.armed = armed
        return [Changed(device.prefix)]

    def _event(self, device: DeviceView, payload: bytes) -> list[Update]:
        if len(payload) > MAX_JSON_BYTES:
            raise ValueError(f"{len(payload)} bytes, more than {MAX_JSON_BYTES}")
        event = parse_event(payload)
        updates: list[Update] = [EventArrived(device.prefix, event)]
        if (camera := self._camera(device, event.camera)) is not None:
            camera.last_alert = event
            updates.append(Changed(device.prefix, camera.name))
        return updates

    def _state(self, camera: CameraView, state: dict) -> None:
        faces = state.get("faces")
        if not isinstance(faces, int) or isinstance(faces, bool) or faces < 0:
            raise ValueError("`faces` must be a count")
        camera.faces = faces
        camera.dominant = _text(state.get("dominant")) or "none"
        if isinstance(state.get("armed"), bool):
            camera.armed = state["armed"]

    def _threshold(self, camera: CameraView, rule: str, payload: bytes) -> list[Update]:
        value = _number(self._float(payload))
        if value is None or not 0.0 <= value <= 1.0:
            raise ValueError(f"{payload[:20]!r} is not a threshold from 0 to 1")
        previous = camera.thresholds.get(rule)
        camera.thresholds[rule] = value
        updates: list[Update] = [Changed(camera.device, camera.name)]
        if previous is not None and previous != value:
            updates.append(Note(f"{camera.device}/{camera.name}: {rule} ≥{value:g} echoed"))
        return updates

    def _camera(self, device: DeviceView, name: str) -> CameraView | None:
        """The camera's view, made on first sight while there is room; None beyond MAX_CAMERAS."""
        name = name[:MAX_NAME_CHARS]
        camera = self.cameras.get((device.prefix, name))
        if camera is None:
            if len(self.cameras) >= MAX_CAMERAS:
                return None
            camera = self.cameras[device.prefix, name] = CameraView(device.prefix, name)
            device.cameras.append(name)
        return camera

    @staticmethod
    def _json(payload: bytes) -> dict:
        if len(payload) > MAX_JSON_BYTES:
            raise ValueError(f"{len(payload)} bytes, more than {MAX_JSON_BYTES}")
        try:
            value = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise ValueError(f"not JSON: {payload[:20]!r}") from None
        if not isinstance(value, dict):
            raise ValueError("not a JSON object")
        return value

    @staticmethod
    def _on_off(payload: bytes) -> bool:
        if payload.strip() not in (b"ON", b"OFF"):
            raise ValueError(f"{payload[:20]!r} is neither ON nor OFF")
        return payload.strip() == b"ON"

    @staticmethod
    def _float(payload: bytes) -> float | None:
        try:
            return float(payload[:40])
        except ValueError:
            return None

    @staticmethod
    def _topic_text(topic: Topic) -> str:
        return "/".join(p for p in (topic.prefix, topic.camera, f"alerts/{topic.rule}" if topic.rule else None,
                                    topic.name) if p)

    def _bad(self, prefix: str, kind: str, text: str) -> list[Update]:
        """A note on bad input, at most once per NOTE_INTERVAL_S for the same device and topic name."""
        now = self._clock()
        if now - self._noted_at.get((prefix, kind), -math.inf) < NOTE_INTERVAL_S:
            return []
        self._noted_at[prefix, kind] = now
        return [Note(text, "warning")]

    def _full(self, what: str, text: str) -> list[Update]:
        if what in self._full_noted:
            return []
        self._full_noted.add(what)
        return [Note(text, "warning")]


class Inbox:
    """Messages from paho's thread for the console's, bounded: the newest preview per topic, and
    up to INBOX_MAX other messages (beyond, the oldest are dropped and counted)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: deque[tuple[str, bytes]] = deque()
        self._previews: dict[str, bytes] = {}
        self.dropped = 0

    def put(self, topic: str, payload: bytes) -> bool:
        """Keep a message; True when the inbox was empty (the consumer must be woken)."""
        with self._lock:
            was_empty = not self._messages and not self._previews
            if topic.endswith("/" + PREVIEW):
                if topic in self._previews or len(self._previews) < MAX_CAMERAS:
                    self._previews[topic] = payload
                else:
                    self.dropped += 1
            else:
                if len(self._messages) >= INBOX_MAX:
                    self._messages.popleft()
                    self.dropped += 1
                self._messages.append((topic, payload))
            return was_empty

    def take(self) -> list[tuple[str, bytes]]:
        """Everything waiting, in arrival order (the previews last)."""
        with self._lock:
            taken = [*self._messages, *self._previews.items()]
            self._messages.clear()
            self._previews.clear()
            return taken


class FleetClient:
    """The console's connection: one subscription for the pattern, commands to the devices.
    `on_message` and `on_note` are called from paho's thread."""

    def __init__(self, config: MqttConfig, pattern: str, on_wake: Callable[[], None],
                 on_note: Callable[[str, str], None], environ: Mapping[str, str] = os.environ) -> None:
        self.config = config
        self.pattern = pattern
        self.inbox = Inbox()
        self._on_wake = on_wake
        self._on_note = on_note
        self._client = mqtt_client(config, f"emotui-fleet-{socket.gethostname()}-{os.getpid()}"[:64], environ)
        self._client.on_connect = self._connected
        self._client.on_disconnect = lambda *args: on_note(f"lost the broker {self.where}; reconnecting", "warning")
        self._client.on_message = self._message

    @property
    def where(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    def start(self) -> None:
        self._client.connect_async(self.config.host, self.config.port, self.config.keepalive_s)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def arm(self, prefix: str, camera: str | None, armed: bool) -> None:
        """Arm or disarm a camera of the device, or every camera of it (None: `<prefix>/armed/set`)."""
        topic = device_topic(prefix, ARMED_SET) if camera is None else camera_topic(prefix, camera, ARMED_SET)
        self._client.publish(topic, "ON" if armed else "OFF", qos=1)

    def set_threshold(self, prefix: str, camera: str, rule: str, value: float) -> None:
        self._client.publish(rule_topic(prefix, camera, rule, THRESHOLD_SET), f"{value:g}", qos=1)

    def _connected(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._on_note(f"the broker {self.where} refused the connection: {reason_code}", "error")
            return
        client.subscribe(subscription(self.pattern), qos=1)
        self._on_note(f"connected to {self.where}, watching {self.pattern}", "info")

    def _message(self, client, userdata, message) -> None:
        if self.inbox.put(message.topic, bytes(message.payload)):
            self._on_wake()
