"""Configuration: TOML found nearest-first, validated into dataclasses.

Every problem is reported with its dotted key, the file and line where the key stands,
and what is allowed, so `emotui config check` can list them all at once.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import stat
import tomllib
import types
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import platformdirs

from emotui.files import write_atomically
from emotui.vocabulary import EMOTIONS, EventType, RuleKind, Severity

CONFIG_ENV = "EMOTUI_CONFIG"
CONFIG_FILENAME = "emotui.toml"


def _choice(*allowed: str):
    def check(value: Any) -> str | None:
        return None if value in allowed else f"must be one of: {', '.join(allowed)}"

    return check


def _range(low: float, high: float | None = None):
    def check(value: Any) -> str | None:
        if value < low or (high is not None and value > high):
            return f"must be from {low} to {high}" if high is not None else f"must be at least {low}"
        return None

    return check


DETECTORS = ("blazeface-dual", "blazeface", "blazeface-full", "haar")


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


def _emotion_labels(value: list[str]) -> str | None:
    unknown = [label for label in value if label not in EMOTIONS]
    if unknown or not value:
        return f"must be a non-empty list drawn from {', '.join(EMOTIONS)}"
    if len(set(value)) != len(value):
        return "must not repeat a label"
    return None


def _non_empty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _pair_of_positive_ints(value: list[int]) -> str | None:
    return None if len(value) == 2 and min(value) > 0 else "must be [width, height], both positive"


def setting(default: Any, help: str, check=None, required: bool = False):
    """A config field with its documentation and validation."""
    factory = (lambda: copy.deepcopy(default)) if isinstance(default, (list, dict)) else None
    metadata = {"help": help, "check": check, "required": required}
    if factory:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _camera_name(value: str) -> str | None:
    if value == "" or re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
        return None
    return "must be 1-64 letters, digits, '-' or '_' (it becomes part of MQTT topics)"


@dataclass
class SourceConfig:
    uri: str = setting("0", "camera index, video file, rtsp:// or http(s):// URL, image file or folder")
    name: str = setting("", "camera name in events and MQTT topics (default: the host name)", _camera_name)
    loop: bool = setting(False, "play a video file or image folder again from the start when it ends")
    reconnect: bool = setting(True, "reconnect a camera or stream that drops (else analysis ends)")
    retry_min_s: float = setting(0.5, "first wait before reconnecting; doubles per failed attempt, with jitter",
                                 _range(0.05, 60.0))
    retry_max_s: float = setting(2.0, "longest wait between reconnect attempts (so analysis resumes soon after "
                                 "the stream is back)", _range(0.1, 600.0))
    stall_s: float = setting(5.0, "a stream that delivers no frame for this long counts as lost", _range(0.5, 600.0))
    rtsp_transport: str = setting("tcp", "RTSP over tcp (reliable through NAT and Wi-Fi) or udp",
                                  _choice("tcp", "udp"))


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
    color: str = setting("grey", "grey, rgb or bgr", _choice("grey", "rgb", "bgr"))
    scale: str = setting(
        "symmetric", "unit ([0,1]), symmetric ([-1,1]) or raw ([0,255])", _choice("unit", "symmetric", "raw")
    )
    layout: str = setting("nhwc", "nhwc or nchw", _choice("nhwc", "nchw"))
    labels: list[str] = setting(list(EMOTIONS), "the model's output classes in order", _emotion_labels)
    softmax: bool = setting(False, "apply softmax to the outputs (set true for models that output logits)")


@dataclass
class EmotionConfig:
    model: str = setting("mini-xception", "mini-xception, deepface or custom", _choice("mini-xception", "deepface", "custom"))
    padding: float = setting(0.05, "face box grown by this fraction on each side before cropping", _range(0.0, 1.0))
    custom: CustomEmotionConfig = field(default_factory=CustomEmotionConfig)


@dataclass
class TrackerConfig:
    smoothing: str = setting("ema", "ema (exponential moving average) or window (plain mean)", _choice("ema", "window"))
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


RULE_KINDS = tuple(RuleKind)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EVENT_TYPES = tuple(EventType)
EXEC_PLACEHOLDERS = ("type", "id", "camera", "rule", "kind", "track_id", "emotion", "score", "peak_score",
                     "faces", "snapshot")


def _time_windows(value: list[str]) -> str | None:
    for window in value:
        match = re.fullmatch(r"(\d\d):(\d\d)-(\d\d):(\d\d)", window)
        if not match or int(match[1]) > 23 or int(match[3]) > 24 or int(match[2]) > 59 or int(match[4]) > 59 \
                or (int(match[3]) == 24 and int(match[4]) > 0) or window[:5] == window[6:]:
            return f"each window must be HH:MM-HH:MM with different ends, e.g. 22:00-06:00 (got {window!r})"
    return None


def _weekdays(value: list[str]) -> str | None:
    if not value or any(day not in WEEKDAYS for day in value):
        return f"must be a non-empty list drawn from {', '.join(WEEKDAYS)}"
    return None


def _event_types(value: list[str]) -> str | None:
    if any(kind not in EVENT_TYPES for kind in value):
        return f"must be a list drawn from {', '.join(EVENT_TYPES)}"
    return None


def _argv(value: list[str]) -> str | None:
    import string

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
    emotions: list[str] = setting(["fear"], "the emotions an emotion rule watches", _emotion_labels)
    threshold: float = setting(0.6, "smoothed score that counts, 0-1 (emotion rules)", _range(0.0, 1.0))
    min_duration_s: float = setting(2.0, "seconds the condition must hold before the alert starts", _range(0.0))
    kind: str = setting(
        "emotion", "emotion (a sustained emotion), face (a face present for min_duration_s; 0 = as soon as one "
        "appears) or crowd (more than max_faces faces)", _choice(*RULE_KINDS))
    inertia_frames: int = setting(
        3, "consecutive frames the condition must hold before it counts, and fail before an alert ends",
        _range(1, 1000))
    cooldown_s: float = setting(30.0, "after an alert ends, seconds before the same face and rule alert again",
                                _range(0.0))
    max_faces: int = setting(1, "crowd rules alert when more than this many faces are seen", _range(0))
    schedule: list[str] = setting([], "time windows when the rule is active, e.g. [\"22:00-06:00\"]; empty = always",
                                  _time_windows)
    days: list[str] = setting(list(WEEKDAYS), "days on which the windows start", _weekdays)
    severity: str = setting("alert", "info, warning or alert (colour in the console)",
                            _choice(*Severity))


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
    exec_on: list[str] = setting(["new"], "which events run `exec`: new, update, end", _event_types)
    exec_timeout_s: float = setting(10.0, "an `exec` command still running after this is killed", _range(0.1))


@dataclass
class SnapshotsConfig:
    dir: str = setting("", "where snapshots are saved (default: the user data dir's snapshots folder)")
    images: str = setting("full", "full, blurred (faces blurred in every saved or sent image) or none (no images "
                          "are stored or sent; snapshots keep only their JSON)", _choice("full", "blurred", "none"))
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


def _http_url(value: str) -> str | None:
    if value == "" or re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        return None
    return "must be an http:// or https:// URL (or empty)"


@dataclass
class WebhookConfig:
    url: str = setting("", "http(s) URL that receives each alert event as JSON (POST); empty = off", _http_url)
    headers: dict[str, str] = setting({}, "extra request headers (not secrets: see headers_env)")
    headers_env: dict[str, str] = setting({}, "headers whose values come from environment variables, "
                                          "e.g. {Authorization = \"EMOTUI_WEBHOOK_AUTH\"}")
    timeout_s: float = setting(5.0, "seconds to wait for the server", _range(0.1))
    retries: int = setting(5, "attempts after the first failure before an event is given up", _range(0, 100))
    backoff_s: float = setting(1.0, "wait before the first retry; doubles each time, up to 60 s", _range(0.0))
    events: list[str] = setting(list(EVENT_TYPES), "which events are sent: new, update, end", _event_types)
    include_snapshot: bool = setting(False, "add the snapshot as base64 JPEG (snapshot_jpeg) when there is one")
    queue_max: int = setting(10000, "events kept on disk while the server is unreachable (oldest dropped beyond)",
                             _range(1))


@dataclass
class UiConfig:
    preview: bool = setting(True, "show the live preview (off saves CPU on small devices)")
    preview_fps: float = setting(8.0, "preview redraws per second, independent of analysis", _range(0.5, 30.0))
    colour: str = setting("auto", "auto, truecolor, 256, 16 or grey", _choice("auto", "truecolor", "256", "16", "grey"))
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


@dataclass(frozen=True)
class ConfigIssue:
    key: str
    message: str
    file: Path | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file and self.line else f"{self.file}: " if self.file else ""
        return f"{where}{self.key}: {self.message}"


class ConfigError(Exception):
    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


def find_config_file(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path | None:
    """The config to use: --config, then $EMOTUI_CONFIG, then emotui.toml in the working
    directory or its nearest parent, then the user config dir; None means built-in defaults."""
    for origin, given in (("--config", explicit), (CONFIG_ENV, os.environ.get(CONFIG_ENV))):
        if given:
            path = Path(given).expanduser()
            if not path.is_file():
                raise ConfigError([ConfigIssue(origin, f"no config file at {path}")])
            return path
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (candidate := folder / CONFIG_FILENAME).is_file():
            return candidate
    user = Path(platformdirs.user_config_dir("emotui")) / "config.toml"
    return user if user.is_file() else None


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError([ConfigIssue("(file)", f"cannot read: {error.strerror}", path)]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"line (\d+)", str(error))
        raise ConfigError(
            [ConfigIssue("(syntax)", f"not valid TOML: {error}", path, int(match.group(1)) if match else None)]
        ) from None
    issues: list[ConfigIssue] = []
    config = _build(Config, data, "", issues, _Locator(path, text))
    if issues:
        raise ConfigError(issues)
    config.path = path
    return config


class ConfigWriteError(ConfigError):
    """The config file could not be written; names the file. A ConfigError, so existing
    handlers catch it too."""

    def __init__(self, path: Path, message: str, key: str = "(file)") -> None:
        self.path = path
        super().__init__([ConfigIssue(key, message, path)])


def write_thresholds(path: Path | None, rules: list[AlertRuleConfig]) -> Path:
    """Write each rule's threshold (rounded to 4 decimals) back into the config file, keeping
    comments, formatting and every other key. Rules are matched by name within [[alerts.rules]];
    a rule the file lacks is appended as a [[alerts.rules]] table (all of them when the file has
    none, i.e. the built-in rules were in effect). Rules only in the file are left as they are.
    `path` None means no config file was found: the user config file is created (or updated).
    The file is replaced atomically; returns the path written. Raises ConfigWriteError."""
    import tomlkit  # only needed here; loading a config does not
    from tomlkit.exceptions import TOMLKitError
    from tomlkit.items import AoT, Array, InlineTable, Table

    if path is None:
        path = Path(platformdirs.user_config_dir("emotui")) / "config.toml"
    path = Path(path).expanduser()
    target = Path(os.path.realpath(path))  # write through a symlink (e.g. managed dotfiles)
    targets: dict[str, float] = {}
    for index, rule in enumerate(rules):
        threshold = round(float(rule.threshold), 4)
        if not rule.name.strip() or not 0.0 <= threshold <= 1.0:
            raise ConfigWriteError(
                path, f"name must not be empty and threshold must be from 0 to 1 (got {rule.name!r}, "
                f"{rule.threshold!r}); nothing written", f"alerts.rules[{index}]")
        targets[rule.name] = threshold

    try:
        text = target.read_bytes().decode("utf-8") if target.exists() else ""
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigWriteError(path, f"cannot read: {getattr(error, 'strerror', None) or error}") from None
    try:
        before = tomllib.loads(text)
        document = tomlkit.parse(text)
    except (tomllib.TOMLDecodeError, TOMLKitError) as error:
        raise ConfigWriteError(path, f"not valid TOML, so not changed: {error}", "(syntax)") from None

    default = AlertRuleConfig.__dataclass_fields__["threshold"].default
    alerts = document.get("alerts")
    container = alerts.get("rules") if isinstance(alerts, dict) else None
    if not isinstance(before.get("alerts", {}), dict) or not isinstance(before.get("alerts", {}).get("rules", []), list):
        raise ConfigWriteError(path, "must be an array of tables ([[alerts.rules]]); not changed", "alerts.rules")
    expected = copy.deepcopy(before)  # what the file must hold afterwards, checked below
    expected_rules = expected.get("alerts", {}).get("rules", [])
    missing: list[AlertRuleConfig] = []
    for rule in rules:
        threshold = targets[rule.name]
        items = [item for item in (container or []) if isinstance(item, dict) and item.get("name") == rule.name]
        if not items:
            missing.append(rule)
            expected_rules = expected.setdefault("alerts", {}).setdefault("rules", expected_rules)
            expected_rules.append({"name": rule.name, "emotions": list(rule.emotions), "threshold": threshold,
                                   "min_duration_s": float(rule.min_duration_s)})
            continue
        for item, plain in zip(items, [r for r in expected_rules if r.get("name") == rule.name]):
            current = item.get("threshold", default)
            if isinstance(current, bool) or not isinstance(current, (int, float)) or float(current) != threshold:
                item["threshold"] = threshold  # tomlkit keeps the line's comment and spacing
                plain["threshold"] = threshold

    def new_rule(rule: AlertRuleConfig, table):
        table.update({"name": rule.name, "emotions": list(rule.emotions), "threshold": targets[rule.name],
                      "min_duration_s": float(rule.min_duration_s)})
        return table

    tail = ""
    if missing:
        if isinstance(container, Array):  # rules = [{...}, ...] written inline
            for rule in missing:
                container.append(new_rule(rule, tomlkit.inline_table()))
        elif isinstance(alerts, InlineTable):  # alerts = {...}
            alerts["rules"] = [new_rule(rule, tomlkit.inline_table()) for rule in missing]
        elif isinstance(alerts, Table) and (container is None or isinstance(container, AoT)):
            if container is None:  # an [alerts] table without rules: put them right after it
                if not alerts.as_string().endswith("\n\n"):
                    alerts.add(tomlkit.nl())
                container = tomlkit.aot()
                alerts.append("rules", container)
                for rule in missing:
                    container.append(new_rule(rule, tomlkit.table()))
                container.body[-1].add(tomlkit.nl())
            else:  # after the last rule, a blank line between rules
                if not container.body[-1].as_string().endswith("\n\n"):
                    container.body[-1].add(tomlkit.nl())
                for rule in missing:
                    container.append(new_rule(rule, tomlkit.table()).add(tomlkit.nl()))
        else:  # no alerts at all, or rules split across the file: [[alerts.rules]] at the end
            extra = tomlkit.document()
            extra["alerts"] = {"rules": tomlkit.aot()}
            for rule in missing:
                extra["alerts"]["rules"].append(new_rule(rule, tomlkit.table()))
            tail = extra.as_string()

    new_text = document.as_string()
    if tail:
        new_text = (new_text.rstrip("\n") + "\n\n" if new_text.strip() else "") + tail
    if not text.strip():
        new_text = "# emotui configuration (see config.toml.example); written by emotui.\n\n" + new_text.lstrip("\n")
    if new_text.endswith("\n\n") and not text.endswith("\n\n"):
        new_text = new_text.rstrip("\n") + "\n"
    try:
        check = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as error:
        check = error
    if check != expected:
        raise ConfigWriteError(path, "the thresholds could not be written without changing other settings; "
                               "file not changed")

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # a new file gets 0600 (it may hold camera passwords); an existing one keeps its mode
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o600
        write_atomically(target, new_text.encode("utf-8"), mode)
    except OSError as error:
        raise ConfigWriteError(path, f"cannot write: {error.strerror or error}") from None
    return path


class _Locator:
    """Finds the line where a dotted key is set (tomllib keeps no positions)."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line_of(self, dotted: str) -> int | None:
        """The line of the table header `[dotted]`, or of the key whose full dotted name
        (table + dotted key) is `dotted` or, for an inline table, a prefix of it."""
        table = ""
        seen_arrays: dict[str, int] = {}
        for number, raw in enumerate(self.lines, start=1):
            line = raw.strip()
            if header := re.match(r"^\[+\s*([^\]]+?)\s*\]+", line):
                table = _dotted(header.group(1))
                if line.startswith("[["):  # array of tables: the nth [[x]] is x[n]
                    seen_arrays[table] = seen_arrays.get(table, -1) + 1
                    table = f"{table}[{seen_arrays[table]}]"
                if table == dotted or table.startswith(f"{dotted}["):
                    return number
                continue
            if assignment := re.match(r"^([\w\-.\"' ]+?)\s*=", line):
                key = _dotted(assignment.group(1))
                full = f"{table}.{key}" if table else key
                if dotted == full or dotted.startswith(f"{full}."):
                    return number
        return None

    def issue(self, dotted: str, message: str) -> ConfigIssue:
        return ConfigIssue(dotted, message, self.path, self.line_of(dotted))


def _dotted(key: str) -> str:
    """`a . "b"` -> `a.b`: a TOML key or table name without quotes and spaces."""
    return ".".join(part.strip().strip("\"'") for part in key.split("."))


def _build(cls: type, data: Any, prefix: str, issues: list[ConfigIssue], locator: _Locator):
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls) if not (cls is Config and f.name == "path")}  # Config.path is not a key
    if not isinstance(data, dict):
        issues.append(locator.issue(prefix.rstrip("."), "must be a table"))
        return cls()
    values: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f"; allowed: {', '.join(known)}"
            issues.append(locator.issue(dotted, f"unknown key{hint}"))
            continue
        spec = known[key]
        expected = hints[key]
        if is_dataclass(expected):
            values[key] = _build(expected, value, f"{dotted}.", issues, locator)
            continue
        if get_origin(expected) is list and is_dataclass(get_args(expected)[0]):
            if not isinstance(value, list):
                issues.append(locator.issue(dotted, f"must be an array of tables ([[{dotted}]])"))
                continue
            value = [
                _build(get_args(expected)[0], item, f"{dotted}[{index}].", issues, locator)
                for index, item in enumerate(value)
            ]
        problem = _type_problem(value, expected)
        if problem is None and spec.metadata.get("check"):
            problem = spec.metadata["check"](value)
        if problem:
            got = "" if isinstance(value, list) and value and is_dataclass(value[0]) else f" (got {value!r})"
            issues.append(locator.issue(dotted, f"{problem}{got}; {spec.metadata['help']}"))
            continue
        values[key] = float(value) if expected is float else value
    for name, spec in known.items():
        if spec.metadata.get("required") and name not in data:
            issues.append(locator.issue(prefix.rstrip("."), f"needs '{name}' ({spec.metadata['help']})"))
    return cls(**values)


def _type_problem(value: Any, expected: Any) -> str | None:
    if isinstance(expected, types.UnionType):
        return None  # a setting of several types is checked by its own check function
    if get_origin(expected) is dict:
        if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            return None
        return "must be a table of strings"
    if get_origin(expected) is list:
        (item,) = get_args(expected)
        if is_dataclass(item):
            return None  # built and checked item by item
        if isinstance(value, list) and all(_type_problem(v, item) is None for v in value):
            return None
        return f"must be a list of {item.__name__}"
    if expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, expected)
    kind = {float: "a number", int: "an integer"}.get(expected)
    return None if ok else f"must be {kind or ' or '.join(t.__name__ for t in get_args(expected)) or expected.__name__}"
