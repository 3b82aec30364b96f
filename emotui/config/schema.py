"""The settings: one dataclass per section of the config file, each field with its default, its
documentation and what it allows.

The words a setting allows are declared once, as a Literal type or one of the vocabulary's StrEnums;
emotui.config.load derives the check and its message ("must be one of: ...") from the type. Other
rules (ranges, patterns, polygons) are check functions that return what is wrong, or None.
"""

from __future__ import annotations

import copy
import ipaddress
import re
import string
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

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
STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token
MAX_TOPIC_PREFIX_BYTES = 1024  # MQTT allows 65,535-byte topics; emotui appends camera and rule levels
MAX_CLIENT_ID_BYTES = 256  # MQTT 3.1.1 brokers must accept 23; mosquitto takes up to 65,535
MAX_QUEUE = 1_000_000  # events kept on disk per sink
MAX_INPUT_SIDE = 1024  # pixels of a custom emotion model's input side
EXEC_PLACEHOLDERS = ("type", "id", "camera", "rule", "kind", "track_id", "emotion", "score", "peak_score",
                     "faces", "snapshot", "sequence")


def setting(default: Any, help: str, check=None, required: bool = False, non_empty: bool = False,
            secret: bool = False):
    """A config field with its documentation and validation: `check` returns what is wrong with a
    value of the right type, or None; `required` keys must be given; a `non_empty` list of allowed
    words must hold at least one; a `secret` value (a URL with a password) is never quoted in a message."""
    factory = (lambda: copy.deepcopy(default)) if isinstance(default, (list, dict)) else None
    metadata = {"help": help, "check": check, "required": required, "non_empty": non_empty, "secret": secret}
    if factory:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _range(low: float, high: float):
    """Every number has both bounds: a value beyond what any user needs (a timeout of years, a
    queue of billions) is a typo that would otherwise show only while running."""
    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"must be from {low} to {high}"

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


def _input_size(value: list[int]) -> str | None:
    if len(value) == 2 and all(1 <= side <= MAX_INPUT_SIDE for side in value):
        return None
    return f"must be [width, height], each from 1 to {MAX_INPUT_SIDE}"


def _empty_or_matching(pattern: str, problem: str):
    """A check that a text is empty or matches `pattern` as a whole."""
    def check(value: str) -> str | None:
        return None if value == "" or re.fullmatch(pattern, value) else problem

    return check


def _text_problem(value: str, max_bytes: int) -> str | None:
    """Text sent to a server: UTF-8, no control characters, at most `max_bytes` bytes."""
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "must be valid UTF-8 text"
    if re.search(r"[\x00-\x1f\x7f]", value):
        return "must not hold control characters (NUL, newline, ...)"
    return f"must be at most {max_bytes} bytes" if size > max_bytes else None


def _topic_prefix(value: str) -> str | None:
    """The start of MQTT topics emotui publishes and subscribes to (MQTT 3.1.1, section 4.7)."""
    if problem := _text_problem(value, MAX_TOPIC_PREFIX_BYTES):
        return problem
    if "+" in value or "#" in value:
        return "must not hold the MQTT wildcards + and #"
    if value.startswith("$"):
        return "must not start with $ (topics the broker reserves)"
    if "" in value.removesuffix("/").split("/"):  # a trailing '/' is dropped, as it always was
        return "must be one or more non-empty topic levels separated by single '/' (e.g. emotui/door)"
    return None


def _client_id(value: str) -> str | None:
    return _text_problem(value, MAX_CLIENT_ID_BYTES)


def _host(value: str) -> str | None:
    """A broker host name or IP address, without scheme or port."""
    if value == "" or re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", value):
        return None
    try:
        ipaddress.ip_address(value.strip("[]"))
        return None
    except ValueError:
        return "must be a host name or IP address, without scheme or port (the port is mqtt.port)"


def url_problem(url: str, schemes: tuple[str, ...]) -> str | None:
    """What keeps a URL of one of `schemes` from ever working (no host, a port outside 1-65535,
    spaces), or None. Whether anything answers there is for the run to find out."""
    if re.search(r"[\s\x00-\x1f\x7f]", url):
        return "must not hold spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:  # a port that is not a number or is out of range, a bad [IPv6] host
        return f"is not a valid URL ({error})"
    if parts.scheme.lower() not in schemes:
        return f"must be a {' or '.join(f'{scheme}://' for scheme in schemes)} URL"
    if not parts.hostname:
        return "names no host"
    if port is not None and not 1 <= port <= 65535:
        return "has a port outside 1-65535"
    return None


def _source_uri(value: str) -> str | None:
    """A stream URL must be one that can work; a file or camera may appear later."""
    if re.match(r"(rtsps?|https?)://", value.strip(), re.IGNORECASE):
        return url_problem(value.strip(), STREAM_SCHEMES)
    return None if value.strip() else "must not be empty"


def _webhook_url(value: str) -> str | None:
    return None if value == "" else url_problem(value, ("http", "https"))


def header_problem(name: str, value: str | None = None) -> str | None:
    """What keeps an HTTP header from being sent; never quotes the value (it may be a secret)."""
    if not HEADER_NAME.fullmatch(name):
        return f"{name!r} is not a valid header name (letters, digits and !#$%&'*+.^_`|~-)"
    if value is not None and (re.search(r"[\r\n\0]", value) or any(ord(char) > 255 for char in value)):
        return f"the value of {name} must be a single line of Latin-1 text"
    return None


def _headers(value: dict[str, str]) -> str | None:
    return next(filter(None, (header_problem(name, text) for name, text in value.items())), None)


def _header_names(value: dict[str, str]) -> str | None:
    return next(filter(None, map(header_problem, value)), None)


def _model_file(value: str) -> str | None:
    if value == "" or Path(value).suffix.lower() in (".onnx", ".tflite"):
        return None
    return "must be an .onnx or .tflite file"


@dataclass
class SourceConfig:
    uri: str = setting("0", "camera index, video file, rtsp:// or http(s):// URL, image file, folder, or demo "
                       "(a generated scene)", _source_uri, secret=True)
    name: str = setting("", "camera name in events and MQTT topics (default: the host name)", _empty_or_matching(
        r"[A-Za-z0-9_-]{1,64}", "must be 1-64 letters, digits, '-' or '_' (it becomes part of MQTT topics)"))
    loop: bool = setting(False, "play a video file or image folder again from the start when it ends")
    reconnect: bool = setting(True, "reconnect a camera or stream that drops (else analysis ends)")
    retry_min_s: float = setting(0.5, "first wait before reconnecting; doubles per failed attempt, with jitter",
                                 _range(0.05, 60.0))
    retry_max_s: float = setting(2.0, "longest wait between reconnect attempts (so analysis resumes soon after "
                                 "the stream is back)", _range(0.1, 600.0))
    stall_s: float = setting(5.0, "a stream that delivers no complete frame for this long counts as lost", _range(0.5, 600.0))
    rtsp_transport: RtspTransport = setting("tcp", "RTSP over tcp (reliable through NAT and Wi-Fi) or udp")

    def cross_checks(self) -> list[tuple[str, str]]:
        """(key, problem) for settings that only together can never work; checked after each alone."""
        if self.retry_min_s > self.retry_max_s:
            return [("retry_min_s", f"must not exceed retry_max_s ({self.retry_min_s:g} > {self.retry_max_s:g})")]
        return []


@dataclass
class DetectorConfig:
    name: str = setting("blazeface-dual", "blazeface-dual (both ranges: faces near and far), blazeface (short range "
                        "only: faster, faces within ~2 m), blazeface-full, haar or deepface:<backend>", _detector_name)
    min_score: float = setting(0.5, "confidence a new face needs, 0-1; BlazeFace scores are calibrated (about the "
                               "chance that it is a face); haar ignores it; DeepFace backends use their own scale",
                               _range(0.0, 1.0))
    track_min_score: float = setting(0.05, "confidence that keeps a face already tracked (turned away, in shadow, "
                                     "blurred), 0-1; BlazeFace only", _range(0.0, 1.0))
    min_face_px: int = setting(20, "faces smaller than this many pixels on their short side are ignored, 1-4096",
                             _range(1, 4096))
    nms_iou: float = setting(0.3, "boxes overlapping more than this IoU are merged", _range(0.0, 1.0))
    tiles: int | str = setting(
        "auto", "also detect on overlapping tiles to find small, distant faces: \"auto\" sizes the grid from "
        "min_face_px and the frame; N an N x N grid; 1 none. A video visits one tile per frame, a still image all",
        _tiles)
    masks: list = setting([], "polygons where no face counts, each a list of [x, y] points as fractions of the "
                          "frame's width and height, e.g. [[[0.0, 0.0], [0.3, 0.0], [0.3, 0.2], [0.0, 0.2]]]", _masks)


@dataclass
class CustomEmotionConfig:
    path: str = setting("", "an .onnx or .tflite classifier", _model_file)
    input_size: list[int] = setting([64, 64], "[width, height] the model takes", _input_size)
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

    def cross_checks(self) -> list[tuple[str, str]]:
        if self.model == "custom" and not self.custom.path:
            return [("model", "custom needs [emotion.custom] path (an .onnx or .tflite classifier)")]
        return []


@dataclass
class TrackerConfig:
    smoothing: Smoothing = setting("ema", "ema (exponential moving average) or window (plain mean)")
    smoothing_s: float = setting(0.5, "seconds of smoothing of each face's emotion scores: the EMA's time constant "
                                 "or the window's length (0 = none)", _range(0.0, 60.0))
    label_margin: float = setting(0.05, "a face's dominant emotion changes only when another one's score leads "
                                  "it by this much, 0-1", _range(0.0, 1.0))
    iou_threshold: float = setting(0.3, "minimum IoU to continue a track", _range(0.0, 1.0))
    max_absence_s: float = setting(1.0, "a track ends after this many seconds unseen, 0-600",
                                   _range(0.0, 600.0))
    stationary_s: float = setting(120.0, "a face whose box stays put this long with a median score below "
                                  "stationary_score is marked stationary (0 = never), up to a day (86400)",
                                  _range(0.0, 86400.0))
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
    if value and not value[0].strip():
        return "the program (the first item) must not be empty"
    for part in value:
        if "\0" in part:
            return f"{part!r} holds a NUL character"
        if problem := _placeholder_problem(part):
            return problem
    return None


def _placeholder_problem(template: str) -> str | None:
    """What keeps an event's values from filling `template` (AlertEvent.fill), or None."""
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)
                  if name is not None]
    except ValueError as error:
        return f"{template!r}: {error} (write {{{{ and }}}} for a literal brace)"
    for name, spec, conversion in fields:
        if name not in EXEC_PLACEHOLDERS:
            return f"unknown placeholder {{{name}}}; allowed: {', '.join(EXEC_PLACEHOLDERS)}"
        if spec or conversion:
            return f"placeholders take no format or conversion (write {{{name}}})"
    return None


def _template(value: str) -> str | None:
    return _non_empty(value) or _placeholder_problem(value)


@dataclass
class AlertRuleConfig:
    name: str = setting("", "a unique name, shown in the console and in events", _non_empty, required=True)
    emotions: list[Emotion] = setting(["fear"], "the emotions an emotion rule watches", _no_repeats, non_empty=True)
    threshold: float = setting(0.6, "smoothed score that counts, 0-1 (emotion rules)", _range(0.0, 1.0))
    min_duration_s: float = setting(2.0, "seconds the condition must hold before the alert starts, "
                                    "0-86400 (a day)", _range(0.0, 86400.0))
    kind: RuleKind = setting(
        RuleKind.EMOTION, "emotion (a sustained emotion), face (a face present for min_duration_s; 0 = as soon as "
        "one appears) or crowd (more than max_faces faces)")
    inertia_frames: int = setting(
        3, "consecutive frames the condition must hold before it counts, and fail before an alert ends",
        _range(1, 1000))
    cooldown_s: float = setting(30.0, "after an alert ends, seconds before the same face and rule alert again, "
                                "0-86400 (a day)", _range(0.0, 86400.0))
    max_faces: int = setting(1, "crowd rules alert when more than this many faces are seen, 0-1000",
                          _range(0, 1000))
    schedule: list[str] = setting([], "time windows when the rule is active, e.g. [\"22:00-06:00\"]; empty = always",
                                  _time_windows)
    days: list[Weekday] = setting(list(WEEKDAYS), "days on which the windows start", non_empty=True)
    severity: Severity = setting(Severity.ALERT, "info, warning or alert (colour in the console)")


def _unique_rule_names(rules: list[AlertRuleConfig]) -> str | None:
    duplicates = sorted(name for name, count in Counter(rule.name for rule in rules).items() if count > 1)
    return f"rule names must be unique (repeated: {', '.join(duplicates)})" if duplicates else None


DEFAULT_RULES = [
    AlertRuleConfig(name="fear", emotions=["fear"], threshold=0.6, min_duration_s=2.0),
    AlertRuleConfig(name="anger", emotions=["angry"], threshold=0.6, min_duration_s=2.0),
]
DEMO_SOURCE = "demo"  # the source text of the generated demo scene (emotui.capture.readers.demo)
DEMO_RULES = [  # the demo's own rules (emotui.capture.rules_for_source), severity alert
    AlertRuleConfig(name="presence", kind=RuleKind.FACE, min_duration_s=1.0),  # a face present for a second
]


@dataclass
class AlertsConfig:
    armed: bool = setting(True, "alerts armed at the first start (the console's `a` key and MQTT change it; "
                          "the last arming is kept in state.json in the alerts folder)")
    rules: list[AlertRuleConfig] = setting(DEFAULT_RULES, "[[alerts.rules]] tables", _unique_rule_names)
    threshold_step: float = setting(0.05, "how much + and - change the selected rule's threshold", _range(0.01, 0.5))
    dir: str = setting("", "folder of the audit log, the delivery queue and the run-time state (default: the user "
                       "data dir's alerts folder)")
    log_max_mb: float = setting(10.0, "the audit log is rotated when it reaches this size, 0.01-10000 MB",
                                _range(0.01, 10000.0))
    log_keep: int = setting(20, "rotated audit log files kept (oldest deleted beyond)", _range(1, 100000))
    exec: list[str] = setting([], "argv run for alert events, no shell; placeholders like {rule} {emotion} {score} "
                              "{snapshot}", _argv)
    exec_on: list[EventType] = setting([EventType.NEW], "which events run `exec`: new, update, end")
    exec_timeout_s: float = setting(10.0, "an `exec` command still running after this is killed, "
                                    "0.1-3600 s", _range(0.1, 3600.0))


@dataclass
class SnapshotsConfig:
    dir: str = setting("", "where snapshots are saved (default: the user data dir's snapshots folder)")
    images: SnapshotImages = setting("full", "full, blurred (heads pixelated in every saved or sent image) or none "
                                     "(no images are stored or sent; snapshots keep only their JSON)")
    on_alert: bool = setting(True, "save a snapshot when an alert starts (sent as an `update` with its path)")
    max_mb: float = setting(500.0, "the snapshots folder is kept under this size, 0-1000000 MB, oldest removed "
                            "first (0: no limit)", _range(0.0, 1_000_000.0))
    keep_days: float = setting(30.0, "snapshots older than this many days, 0-36500, are removed (0: kept until "
                               "max_mb)", _range(0.0, 36_500.0))


@dataclass
class MqttConfig:
    host: str = setting("", "broker host name or IP address; empty = MQTT off", _host)
    port: int = setting(1883, "broker port (8883 is usual with TLS)", _range(1, 65535))
    prefix: str = setting("emotui", "topic prefix; give each device its own (e.g. emotui/door) when several share "
                          f"a broker; topic levels without + # or a leading $, at most {MAX_TOPIC_PREFIX_BYTES} bytes",
                          _topic_prefix)
    client_id: str = setting("", f"MQTT client id (default: emotui-<camera>), at most {MAX_CLIENT_ID_BYTES} bytes",
                             _client_id)
    keepalive_s: int = setting(30, "seconds between keep-alive pings; the last will fires after 1.5x this",
                               _range(5, 3600))
    discovery: bool = setting(True, "publish Home Assistant discovery configs")
    discovery_prefix: str = setting("homeassistant", "Home Assistant's discovery prefix (topic levels, as prefix)",
                                    _topic_prefix)
    username_env: str = setting("EMOTUI_MQTT_USERNAME", "environment variable holding the user name (if any)")
    password_env: str = setting("EMOTUI_MQTT_PASSWORD", "environment variable holding the password (if any)")
    tls: bool = setting(False, "connect with TLS")
    ca_file: str = setting("", "CA certificate file for TLS (default: the system's CAs)")
    cert_file: str = setting("", "client certificate for TLS (optional)")
    key_file: str = setting("", "client key for TLS (optional)")
    tls_insecure: bool = setting(False, "skip the broker host name check (testing only)")
    queue_max: int = setting(10000, "events kept on disk while the broker is unreachable (oldest dropped "
                             f"beyond), 1-{MAX_QUEUE}", _range(1, MAX_QUEUE))
    snapshots: bool = setting(True, "publish alert snapshots (JPEG) on <prefix>/<camera>/snapshot")
    preview_fps: float = setting(0.0, "preview pictures (JPEG) per second on <prefix>/<camera>/preview for a fleet "
                                 "console, 0-5 (0: off); faces blurred or no picture as snapshots.images says",
                                 _range(0.0, 5.0))
    preview_width: int = setting(320, "width of the preview pictures in pixels, 80-1280 (aspect kept)",
                                 _range(80, 1280))

    def cross_checks(self) -> list[tuple[str, str]]:
        if self.key_file and not self.cert_file:
            return [("key_file", "needs cert_file (the client certificate the key belongs to)")]
        return []


@dataclass
class WebhookConfig:
    url: str = setting("", "http(s) URL that receives each alert event as JSON (POST); empty = off",
                       _webhook_url, secret=True)
    headers: dict[str, str] = setting({}, "extra request headers (not secrets: see headers_env)", _headers,
                                      secret=True)
    headers_env: dict[str, str] = setting({}, "headers whose values come from environment variables, "
                                          "e.g. {Authorization = \"EMOTUI_WEBHOOK_AUTH\"}", _header_names)
    timeout_s: float = setting(5.0, "seconds to wait for the server, 0.1-300", _range(0.1, 300.0))
    retries: int = setting(5, "attempts after the first failure before an event is given up", _range(0, 100))
    backoff_s: float = setting(1.0, "wait before the first retry, 0-60 s; doubles each time, up to 60 s",
                               _range(0.0, 60.0))
    events: list[EventType] = setting(list(EventType), "which events are sent: new, update, end")
    include_snapshot: bool = setting(False, "add the snapshot as base64 JPEG (snapshot_jpeg) when there is one")
    queue_max: int = setting(10000, "events kept on disk while the server is unreachable (oldest dropped "
                             f"beyond), 1-{MAX_QUEUE}", _range(1, MAX_QUEUE))


NOTIFY_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _notify_names(value: dict[str, str]) -> str | None:
    bad = [name for name in value if not NOTIFY_NAME.fullmatch(name)]
    return f"name {bad[0]!r} must be 1-64 letters, digits, '-' or '_'" if bad else None


def _notify_urls(value: dict[str, str]) -> str | None:
    if problem := _notify_names(value):
        return problem
    from emotui.alerts import apprise_urls  # Apprise is imported only for a config that uses it

    return next(filter(None, (apprise_urls.problem(url, name) for name, url in value.items())), None)


def _notify_env(value: dict[str, str]) -> str | None:
    if problem := _notify_names(value):
        return problem
    bad = [name for name, variable in value.items() if not ENV_NAME.fullmatch(variable)]
    return (f"{bad[0]}: the value is the name of an environment variable holding the URL (letters, digits and "
            "'_', e.g. EMOTUI_NOTIFY_PHONE), not the URL itself") if bad else None


def url_names(route: str) -> list[str]:
    """The URL names of a notify.routes value: "phone, mail" -> ["phone", "mail"]."""
    return [name.strip() for name in route.split(",")]


def _routes(value: dict[str, str]) -> str | None:
    bad = [rule for rule, names in value.items() if not all(map(NOTIFY_NAME.fullmatch, url_names(names)))]
    return f"{bad[0]}: must be comma-separated URL names, e.g. \"phone,mail\"" if bad else None


@dataclass
class NotifyConfig:
    urls: dict[str, str] = setting({}, "named Apprise URLs without secrets, e.g. {lan = \"ntfy://192.168.1.5/door\"}; "
                                   "a URL with a password, token or key is refused: put it in urls_env",
                                   _notify_urls, secret=True)
    urls_env: dict[str, str] = setting({}, "named Apprise URLs read from environment variables (where secrets "
                                       "go), e.g. {phone = \"EMOTUI_NOTIFY_PHONE\"}", _notify_env, secret=True)
    rules: list[str] = setting([], "the rules that notify; empty = every rule")
    routes: dict[str, str] = setting({}, "per rule, the comma-separated URL names it notifies, e.g. "
                                     "{fear = \"phone,mail\"}; a rule not listed notifies every URL", _routes)
    events: list[EventType] = setting([EventType.NEW], "which events notify: new, update, end")
    title: str = setting("emotui {camera}: {rule}", "title template, with the placeholders of alerts.exec",
                         _template)
    body: str = setting("{rule} on {camera}: {emotion} {score}, face {track_id}, {faces} faces",
                        "body template, with the placeholders of alerts.exec", _template)
    attach_snapshot: bool = setting(True, "attach the alert's snapshot JPEG as snapshots.images allows (none: "
                                    "nothing, blurred: the blurred one)")
    max_attachment_kb: int = setting(1024, "a snapshot JPEG larger than this, 16-10240 KB, is not attached (the "
                                     "body says so)", _range(16, 10240))
    min_interval_s: float = setting(300.0, "at most one notification per rule, camera and event type in this "
                                    "many seconds, 0-86400 (0: no limit); the next one says how many were held back",
                                    _range(0.0, 86400.0))
    quiet_hours: list[str] = setting([], "local time windows when nothing is sent, e.g. [\"22:00-07:00\"] "
                                     "(recorded in the audit log as suppressed)", _time_windows)
    retries: int = setting(5, "attempts after the first failure before a notification is given up",
                           _range(0, 100))
    backoff_s: float = setting(2.0, "wait before the first retry, 0-60 s; doubles each time, up to 60 s",
                               _range(0.0, 60.0))
    queue_max: int = setting(100, "notifications (with their snapshots) kept on disk while a service is "
                             "unreachable (oldest dropped beyond), 1-10000", _range(1, 10000))

    def cross_checks(self) -> list[tuple[str, str]]:
        problems = [("urls_env", f"{name}: also in notify.urls (give each URL one name)")
                    for name in self.urls_env if name in self.urls]
        known = {*self.urls, *self.urls_env}
        for rule, names in self.routes.items():
            unknown = [name for name in url_names(names) if name not in known]
            if unknown:
                problems.append(("routes", f"{rule}: no URL named {unknown[0]!r} in notify.urls or notify.urls_env"))
        return problems


@dataclass
class UiConfig:
    preview: bool = setting(True, "show the live preview (off saves CPU on small devices)")
    preview_fps: float = setting(8.0, "preview redraws per second, independent of analysis", _range(0.5, 30.0))
    colour: ColourMode = setting("auto", "auto, truecolor, 256, 16 or grey")
    preview_mode: PreviewMode = setting("auto", "auto (ask the terminal), halfblock, kitty or sixel (real pixels)")
    boxes: bool = setting(True, "draw face boxes on the preview")
    bell: bool = setting(True, "ring the terminal bell on alerts")
    realtime: bool = setting(True, "play video files at their own frame rate, like a camera")


CAMERA_NAME = r"[A-Za-z0-9_-]{1,64}"
DEFAULT_DETECT_FPS = 10.0  # see CameraConfig.detect_fps


def _camera_name(value: str) -> str | None:
    if re.fullmatch(CAMERA_NAME, value):
        return None
    return "must be 1-64 letters, digits, '-' or '_' (it becomes part of MQTT topics)"


def _thresholds(value: dict[str, float]) -> str | None:
    return next((f"{rule}: must be from 0.0 to 1.0" for rule, threshold in value.items()
                 if not 0.0 <= threshold <= 1.0), None)


@dataclass
class CameraConfig(SourceConfig):
    """A [[cameras]] table: a source of its own (the [source] table's values are its defaults) with
    its analysis cap, masks and rules."""

    name: str = setting("", "the camera's name in events, snapshots, the audit log and MQTT topics: 1-64 letters, "
                        "digits, '-' or '_', unique", _camera_name,
                        required=True)
    enabled: bool = setting(True, "watch this camera (false: keep its table, but do not open it)")
    detect_fps: float = setting(DEFAULT_DETECT_FPS, "frames analysed per second at most, 0-60 (0: every frame); "
                                "a live source always gives its newest frame", _range(0.0, 60.0))
    masks: list = setting([], "polygons where no face counts on this camera, added to detector.masks", _masks)
    rules: list[str] = setting([], "names of the [[alerts.rules]] this camera runs ([] = all of them; on the demo "
                               "source also its own `presence`)", _no_repeats)
    thresholds: dict[str, float] = setting({}, "per-rule threshold on this camera, e.g. {fear = 0.7}",
                                           _thresholds)

    def cross_checks(self) -> list[tuple[str, str]]:
        """None while the table is read: the source keys are checked together once the camera has
        the [source] values it does not set (emotui.config.load)."""
        return []


@dataclass
class KeysConfig:
    """Keys per action, comma-separated Textual key names."""

    pause: str = setting("space,p", "pause and resume analysis", _non_empty)
    snapshot: str = setting("s", "save an annotated snapshot", _non_empty)
    raise_threshold: str = setting("plus,equals_sign", "raise the selected rule's threshold", _non_empty)
    lower_threshold: str = setting("minus", "lower the selected rule's threshold", _non_empty)
    next_rule: str = setting("r", "select the next rule", _non_empty)
    edit_thresholds: str = setting("t", "edit all thresholds", _non_empty)
    write_config: str = setting("w", "write thresholds back to the config file", _non_empty)
    arm: str = setting("a", "arm or disarm the alerts", _non_empty)
    arm_all: str = setting("A", "arm or disarm every camera's alerts (several cameras)", _non_empty)
    grid: str = setting("escape", "back from a focused camera to the camera grid (several cameras)", _non_empty)
    toggle_boxes: str = setting("b", "face boxes on/off", _non_empty)
    cycle_colour: str = setting("c", "cycle the colour mode", _non_empty)
    mute: str = setting("m", "mute or unmute the bell", _non_empty)
    zoom: str = setting("z", "zoom the preview into the next face, then back to the whole frame", _non_empty)
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
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    keys: KeysConfig = field(default_factory=KeysConfig)
    cameras: list[CameraConfig] = setting([], "[[cameras]] tables: several cameras in one process (none: the "
                                          "[source] table is the one camera)")
    path: Path | None = None  # the file it was read from, if any

    def cross_checks(self) -> list[tuple[str, str]]:
        """Camera names unique, at least one enabled (the rules a camera names are checked once it has
        its source: emotui.config.load)."""
        problems: list[tuple[str, str]] = []
        seen: set[str] = set()
        for index, camera in enumerate(self.cameras):
            if camera.name in seen:
                problems.append((f"cameras[{index}].name", f"{camera.name!r} names another camera already; "
                                 "camera names must be unique"))
            seen.add(camera.name)
        if self.cameras and not any(camera.enabled for camera in self.cameras):
            problems.append(("cameras", "every camera has enabled = false: enable one"))
        return problems

