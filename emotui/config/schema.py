"""The settings: one dataclass per section of the config file, each field with its default, its
documentation and what it allows.

The words a setting allows are declared once, as a Literal type or one of the vocabulary's StrEnums;
emotui.config.load derives the check and its message ("must be one of: ...") from the type. Other
rules (ranges, patterns, polygons) are check functions that return what is wrong, or None.
"""

from __future__ import annotations

import copy
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from emotui.vocabulary import EMOTIONS, EventType, RuleKind, Severity

Emotion = Literal[EMOTIONS]  # the seven of vocabulary.EMOTIONS, in their order
BuiltinDetector = Literal["blazeface-dual", "blazeface", "blazeface-full", "haar"]
EmotionModel = Literal["mini-xception", "deepface", "custom"]
RtspTransport = Literal["tcp", "udp"]
ColourChannels = Literal["grey", "rgb", "bgr"]
InputScale = Literal["unit", "symmetric", "raw"]
TensorLayout = Literal["nhwc", "nchw"]
Smoothing = Literal["ema", "window"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
SnapshotImages = Literal["full", "blurred", "none"]
ColourMode = Literal["auto", "truecolor", "256", "16", "grey"]
PreviewMode = Literal["auto", "halfblock", "kitty", "sixel"]

DETECTORS = get_args(BuiltinDetector)
WEEKDAYS = get_args(Weekday)
EXEC_PLACEHOLDERS = ("type", "id", "camera", "rule", "kind", "track_id", "emotion", "score", "peak_score",
                     "faces", "snapshot")


def setting(default: Any, help: str, check=None, required: bool = False, non_empty: bool = False):
    """A config field with its documentation and validation: `check` returns what is wrong with a
    value of the right type, or None; `required` keys must be given; a `non_empty` list of allowed
    words must hold at least one."""
    factory = (lambda: copy.deepcopy(default)) if isinstance(default, (list, dict)) else None
    metadata = {"help": help, "check": check, "required": required, "non_empty": non_empty}
    if factory:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _range(low: float, high: float | None = None):
    def check(value: Any) -> str | None:
        if value < low or (high is not None and value > high):
            return f"must be from {low} to {high}" if high is not None else f"must be at least {low}"
        return None

    return check


def _detector_name(value: str) -> str | None:
    if value in DETECTORS:
        return None
    if value.startswith("deepface:") and value.removeprefix("deepface:"):
        return None
    return f"must be {', '.join(DETECTORS)} or deepface:<backend> (e.g. deepface:yunet)"


def _tiles(value: int | str) -> str | None:
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8):
        return None
    return 'must be "auto" or a grid size from 1 (no tiles) to 8'


def _masks(value: list) -> str | None:
    """Polygons of at least three [x, y] points, each coordinate from 0 to 1, enclosing an area."""
    for number, polygon in enumerate(value, start=1):
        name = f"polygon {number} (masks[{number - 1}])"
        if not isinstance(polygon, list) or len(polygon) < 3:
            return f"{name} must be a list of at least three [x, y] points"
        for point in polygon:
            if (not isinstance(point, list) or len(point) != 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point)):
                return f"{name}: {point!r} is not an [x, y] pair of numbers"
            if not all(0.0 <= v <= 1.0 for v in point):
                return f"{name}: point {point!r} is outside the frame (x and y are fractions of its width and height, 0-1)"
        area = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1])) / 2
        if abs(area) < 1e-6:
            return f"{name} encloses no area (its points lie on a line)"
    return None


def _no_repeats(value: list[str]) -> str | None:
    return "must not repeat a label" if len(set(value)) != len(value) else None


def _non_empty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _pair_of_positive_ints(value: list[int]) -> str | None:
    return None if len(value) == 2 and min(value) > 0 else "must be [width, height], both positive"


def _empty_or_matching(pattern: str, problem: str):
    """A check that a text is empty or matches `pattern` as a whole."""
    def check(value: str) -> str | None:
        return None if value == "" or re.fullmatch(pattern, value) else problem

    return check


@dataclass
class SourceConfig:
    uri: str = setting("0", "camera index, video file, rtsp:// or http(s):// URL, image file, folder, or demo "
                       "(a generated scene)")
    name: str = setting("", "camera name in events and MQTT topics (default: the host name)", _empty_or_matching(
        r"[A-Za-z0-9_-]{1,64}", "must be 1-64 letters, digits, '-' or '_' (it becomes part of MQTT topics)"))
    loop: bool = setting(False, "play a video file or image folder again from the start when it ends")
    reconnect: bool = setting(True, "reconnect a camera or stream that drops (else analysis ends)")
    retry_min_s: float = setting(0.5, "first wait before reconnecting; doubles per failed attempt, with jitter",
                                 _range(0.05, 60.0))
    retry_max_s: float = setting(2.0, "longest wait between reconnect attempts (so analysis resumes soon after "
                                 "the stream is back)", _range(0.1, 600.0))
    stall_s: float = setting(5.0, "a stream that delivers no frame for this long counts as lost", _range(0.5, 600.0))
    rtsp_transport: RtspTransport = setting("tcp", "RTSP over tcp (reliable through NAT and Wi-Fi) or udp")


@dataclass
class DetectorConfig:
    name: str = setting("blazeface-dual", "blazeface-dual (both ranges: faces near and far), blazeface (short range "
                        "only: faster, faces within ~2 m), blazeface-full, haar or deepface:<backend>", _detector_name)
    min_score: float = setting(0.5, "confidence a new face needs, 0-1; BlazeFace scores are calibrated (about the "
                               "chance that it is a face); haar ignores it; DeepFace backends use their own scale",
                               _range(0.0, 1.0))
    track_min_score: float = setting(0.05, "confidence that keeps a face already tracked (turned away, in shadow, "
                                     "blurred), 0-1; BlazeFace only", _range(0.0, 1.0))
    min_face_px: int = setting(20, "faces smaller than this many pixels on their short side are ignored", _range(1))
    nms_iou: float = setting(0.3, "boxes overlapping more than this IoU are merged", _range(0.0, 1.0))
    tiles: int | str = setting(
        "auto", "also detect on overlapping tiles to find small, distant faces: \"auto\" sizes the grid from "
        "min_face_px and the frame; N an N x N grid; 1 none. A video visits one tile per frame, a still image all",
        _tiles)
    masks: list = setting([], "polygons where no face counts, each a list of [x, y] points as fractions of the "
                          "frame's width and height, e.g. [[[0.0, 0.0], [0.3, 0.0], [0.3, 0.2], [0.0, 0.2]]]", _masks)


@dataclass
class CustomEmotionConfig:
    path: str = setting("", "an .onnx or .tflite classifier")
    input_size: list[int] = setting([64, 64], "[width, height] the model takes", _pair_of_positive_ints)
    color: ColourChannels = setting("grey", "grey, rgb or bgr")
    scale: InputScale = setting("symmetric", "unit ([0,1]), symmetric ([-1,1]) or raw ([0,255])")
    layout: TensorLayout = setting("nhwc", "nhwc or nchw")
    labels: list[Emotion] = setting(list(EMOTIONS), "the model's output classes in order", _no_repeats,
                                    non_empty=True)
    softmax: bool = setting(False, "apply softmax to the outputs (set true for models that output logits)")


@dataclass
class EmotionConfig:
    model: EmotionModel = setting("mini-xception", "mini-xception, deepface or custom")
    padding: float = setting(0.05, "face box grown by this fraction on each side before cropping", _range(0.0, 1.0))
    custom: CustomEmotionConfig = field(default_factory=CustomEmotionConfig)


@dataclass
class TrackerConfig:
    smoothing: Smoothing = setting("ema", "ema (exponential moving average) or window (plain mean)")
    smoothing_s: float = setting(0.5, "seconds of smoothing of each face's emotion scores: the EMA's time constant "
                                 "or the window's length (0 = none)", _range(0.0, 60.0))
    label_margin: float = setting(0.05, "a face's dominant emotion changes only when another one's score leads "
                                  "it by this much, 0-1", _range(0.0, 1.0))
    iou_threshold: float = setting(0.3, "minimum IoU to continue a track", _range(0.0, 1.0))
    max_absence_s: float = setting(1.0, "a track ends after this many seconds unseen", _range(0.0))
    stationary_s: float = setting(120.0, "a face whose box stays put this long with a median score below "
                                  "stationary_score is marked stationary (0 = never)", _range(0.0))
    stationary_score: float = setting(0.9, "median score below which a face that stays put counts as stationary",
                                      _range(0.0, 1.0))
    ignore_stationary: bool = setting(False, "drop stationary faces (no box, no emotion, no alerts) instead of "
                                      "only marking them")


@dataclass
class ModelsConfig:
    dir: str = setting("", "model store folder (default: the user cache dir; $EMOTUI_MODELS_DIR overrides)")
    auto_pull: bool = setting(True, "pull a missing model automatically")
    threads: int = setting(0, "CPU threads per model; 0 = automatic: 2 (1 on a single-core machine), which on "
                           "a 2-core machine analyses about 25% more frames per second than 1 for about 25% more "
                           "CPU time", _range(0, 64))


def _time_windows(value: list[str]) -> str | None:
    for window in value:
        match = re.fullmatch(r"(\d\d):(\d\d)-(\d\d):(\d\d)", window)
        if not match or int(match[1]) > 23 or int(match[3]) > 24 or int(match[2]) > 59 or int(match[4]) > 59 \
                or (int(match[3]) == 24 and int(match[4]) > 0) or window[:5] == window[6:]:
            return f"each window must be HH:MM-HH:MM with different ends, e.g. 22:00-06:00 (got {window!r})"
    return None


def _argv(value: list[str]) -> str | None:
    for part in value:
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(part) if name is not None]
        except ValueError as error:
            return f"{part!r}: {error}"
        unknown = [name for name in names if name not in EXEC_PLACEHOLDERS]
        if unknown:
            return f"unknown placeholder {{{unknown[0]}}}; allowed: {', '.join(EXEC_PLACEHOLDERS)}"
    return None


@dataclass
class AlertRuleConfig:
    name: str = setting("", "a unique name, shown in the console and in events", _non_empty, required=True)
    emotions: list[Emotion] = setting(["fear"], "the emotions an emotion rule watches", _no_repeats, non_empty=True)
    threshold: float = setting(0.6, "smoothed score that counts, 0-1 (emotion rules)", _range(0.0, 1.0))
    min_duration_s: float = setting(2.0, "seconds the condition must hold before the alert starts", _range(0.0))
    kind: RuleKind = setting(
        RuleKind.EMOTION, "emotion (a sustained emotion), face (a face present for min_duration_s; 0 = as soon as "
        "one appears) or crowd (more than max_faces faces)")
    inertia_frames: int = setting(
        3, "consecutive frames the condition must hold before it counts, and fail before an alert ends",
        _range(1, 1000))
    cooldown_s: float = setting(30.0, "after an alert ends, seconds before the same face and rule alert again",
                                _range(0.0))
    max_faces: int = setting(1, "crowd rules alert when more than this many faces are seen", _range(0))
    schedule: list[str] = setting([], "time windows when the rule is active, e.g. [\"22:00-06:00\"]; empty = always",
                                  _time_windows)
    days: list[Weekday] = setting(list(WEEKDAYS), "days on which the windows start", non_empty=True)
    severity: Severity = setting(Severity.ALERT, "info, warning or alert (colour in the console)")


def _unique_rule_names(rules: list[AlertRuleConfig]) -> str | None:
    names = [rule.name for rule in rules]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    return f"rule names must be unique (repeated: {', '.join(duplicates)})" if duplicates else None


DEFAULT_RULES = [
    AlertRuleConfig(name="fear", emotions=["fear"], threshold=0.6, min_duration_s=2.0),
    AlertRuleConfig(name="anger", emotions=["angry"], threshold=0.6, min_duration_s=2.0),
]


@dataclass
class AlertsConfig:
    armed: bool = setting(True, "alerts armed at start (the console's `a` key and MQTT can change it)")
    rules: list[AlertRuleConfig] = setting(DEFAULT_RULES, "[[alerts.rules]] tables", _unique_rule_names)
    threshold_step: float = setting(0.05, "how much + and - change the selected rule's threshold", _range(0.01, 0.5))
    dir: str = setting("", "folder of the audit log and the delivery queue (default: the user data dir's alerts folder)")
    log_max_mb: float = setting(10.0, "the audit log is rotated when it reaches this size", _range(0.01))
    log_keep: int = setting(20, "rotated audit log files kept (oldest deleted beyond)", _range(1, 100000))
    exec: list[str] = setting([], "argv run for alert events, no shell; placeholders like {rule} {emotion} {score} "
                              "{snapshot}", _argv)
    exec_on: list[EventType] = setting([EventType.NEW], "which events run `exec`: new, update, end")
    exec_timeout_s: float = setting(10.0, "an `exec` command still running after this is killed", _range(0.1))


@dataclass
class SnapshotsConfig:
    dir: str = setting("", "where snapshots are saved (default: the user data dir's snapshots folder)")
    images: SnapshotImages = setting("full", "full, blurred (faces blurred in every saved or sent image) or none "
                                     "(no images are stored or sent; snapshots keep only their JSON)")
    on_alert: bool = setting(True, "save a snapshot when an alert starts (sent as an `update` with its path)")


@dataclass
class MqttConfig:
    host: str = setting("", "broker host name; empty = MQTT off")
    port: int = setting(1883, "broker port (8883 is usual with TLS)", _range(1, 65535))
    prefix: str = setting("emotui", "topic prefix; give each device its own (e.g. emotui/door) when several share "
                          "a broker", _non_empty)
    client_id: str = setting("", "MQTT client id (default: emotui-<camera>)")
    keepalive_s: int = setting(30, "seconds between keep-alive pings; the last will fires after 1.5x this",
                               _range(5, 3600))
    discovery: bool = setting(True, "publish Home Assistant discovery configs")
    discovery_prefix: str = setting("homeassistant", "Home Assistant's discovery prefix", _non_empty)
    username_env: str = setting("EMOTUI_MQTT_USERNAME", "environment variable holding the user name (if any)")
    password_env: str = setting("EMOTUI_MQTT_PASSWORD", "environment variable holding the password (if any)")
    tls: bool = setting(False, "connect with TLS")
    ca_file: str = setting("", "CA certificate file for TLS (default: the system's CAs)")
    cert_file: str = setting("", "client certificate for TLS (optional)")
    key_file: str = setting("", "client key for TLS (optional)")
    tls_insecure: bool = setting(False, "skip the broker host name check (testing only)")
    queue_max: int = setting(10000, "events kept on disk while the broker is unreachable (oldest dropped beyond)",
                             _range(1))
    snapshots: bool = setting(True, "publish alert snapshots (JPEG) on <prefix>/<camera>/snapshot")


@dataclass
class WebhookConfig:
    url: str = setting("", "http(s) URL that receives each alert event as JSON (POST); empty = off",
                       _empty_or_matching(r"https?://[^\s/]+(/\S*)?", "must be an http:// or https:// URL (or empty)"))
    headers: dict[str, str] = setting({}, "extra request headers (not secrets: see headers_env)")
    headers_env: dict[str, str] = setting({}, "headers whose values come from environment variables, "
                                          "e.g. {Authorization = \"EMOTUI_WEBHOOK_AUTH\"}")
    timeout_s: float = setting(5.0, "seconds to wait for the server", _range(0.1))
    retries: int = setting(5, "attempts after the first failure before an event is given up", _range(0, 100))
    backoff_s: float = setting(1.0, "wait before the first retry; doubles each time, up to 60 s", _range(0.0))
    events: list[EventType] = setting(list(EventType), "which events are sent: new, update, end")
    include_snapshot: bool = setting(False, "add the snapshot as base64 JPEG (snapshot_jpeg) when there is one")
    queue_max: int = setting(10000, "events kept on disk while the server is unreachable (oldest dropped beyond)",
                             _range(1))


@dataclass
class UiConfig:
    preview: bool = setting(True, "show the live preview (off saves CPU on small devices)")
    preview_fps: float = setting(8.0, "preview redraws per second, independent of analysis", _range(0.5, 30.0))
    colour: ColourMode = setting("auto", "auto, truecolor, 256, 16 or grey")
    preview_mode: PreviewMode = setting("auto", "auto (ask the terminal), halfblock, kitty or sixel (real pixels)")
    boxes: bool = setting(True, "draw face boxes on the preview")
    bell: bool = setting(True, "ring the terminal bell on alerts")
    realtime: bool = setting(True, "play video files at their own frame rate, like a camera")


@dataclass
class KeysConfig:
    """Keys per action, comma-separated Textual key names."""

    pause: str = setting("space,p", "pause and resume analysis", _non_empty)
    snapshot: str = setting("s", "save an annotated snapshot", _non_empty)
    raise_threshold: str = setting("plus,equals_sign", "raise the selected rule's threshold", _non_empty)
    lower_threshold: str = setting("minus", "lower the selected rule's threshold", _non_empty)
    next_rule: str = setting("tab", "select the next rule", _non_empty)
    edit_thresholds: str = setting("t", "edit all thresholds", _non_empty)
    write_config: str = setting("w", "write thresholds back to the config file", _non_empty)
    arm: str = setting("a", "arm or disarm the alerts", _non_empty)
    toggle_boxes: str = setting("b", "face boxes on/off", _non_empty)
    cycle_colour: str = setting("c", "cycle the colour mode", _non_empty)
    mute: str = setting("m", "mute or unmute the bell", _non_empty)
    help: str = setting("question_mark", "show the keys", _non_empty)
    quit: str = setting("q", "quit", _non_empty)


@dataclass
class Config:
    source: SourceConfig = field(default_factory=SourceConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    emotion: EmotionConfig = field(default_factory=EmotionConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    snapshots: SnapshotsConfig = field(default_factory=SnapshotsConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    keys: KeysConfig = field(default_factory=KeysConfig)
    path: Path | None = None  # the file it was read from, if any

