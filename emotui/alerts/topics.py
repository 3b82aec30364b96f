"""The MQTT topic layout, declared once for the devices (`emotui run`, emotui.alerts.mqtt) and the
fleet console (`emotui fleet`, emotui.fleet), which must not import the vision code the sink needs.

Device level, `<prefix>/<name>`: `available` (online/offline, retained, the last will), `device`
(what the device is and can do, retained), `events`, `tracked_object_update`, and the command
`armed/set` (arms or disarms every camera of the device).
Camera level, `<prefix>/<camera>/<name>`: `state`, `status`, `snapshot`, `preview`, `event`
(Home Assistant's event entity), `diagnostics`, `armed/set`, `armed/state`, `alerts/<rule>/state`,
`alerts/<rule>/threshold/set`, `alerts/<rule>/threshold/state`, `alerts/<rule>/enabled/set` and
`alerts/<rule>/enabled/state`.

Device-level names are matched first: `<prefix>/armed/set` is the device's command, never a topic of
a camera named `armed` (whose topics are `<prefix>/armed/<camera topic>`, and no camera topic is
`set`). A device prefix that is another device's prefix plus one of its camera names (`emotui` with
a camera `door`, and `emotui/door`) would share `emotui/door/armed/set`: such prefixes must not be used
together (the longest known prefix is taken)."""

from __future__ import annotations

import re
from dataclasses import dataclass

AVAILABLE, DEVICE, EVENTS, TRACKED_OBJECT_UPDATE = "available", "device", "events", "tracked_object_update"
DEVICE_TOPICS = (AVAILABLE, DEVICE, EVENTS, TRACKED_OBJECT_UPDATE)
STATE, STATUS, SNAPSHOT, PREVIEW, EVENT, DIAGNOSTICS, ARMED_SET, ARMED_STATE = (
    "state", "status", "snapshot", "preview", "event", "diagnostics", "armed/set", "armed/state")
DEVICE_COMMANDS = (ARMED_SET,)  # `<prefix>/armed/set`: every camera of the device
CAMERA_TOPICS = (STATE, STATUS, SNAPSHOT, PREVIEW, EVENT, DIAGNOSTICS, ARMED_SET, ARMED_STATE)
RULE_STATE, THRESHOLD_SET, THRESHOLD_STATE, ENABLED_SET, ENABLED_STATE = (
    "state", "threshold/set", "threshold/state", "enabled/set", "enabled/state")
RULE_TOPICS = (RULE_STATE, THRESHOLD_SET, THRESHOLD_STATE, ENABLED_SET, ENABLED_STATE)
DEFAULT_PREFIX_PATTERN = "emotui/#"  # emotui itself and every emotui/<anything>


def topic_slug(name: str) -> str:
    """A rule or camera name made safe for a topic level and a discovery object id."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "_"


def device_topic(prefix: str, name: str) -> str:
    return f"{prefix.rstrip('/')}/{name}"


def camera_topic(prefix: str, camera: str, name: str) -> str:
    return f"{prefix.rstrip('/')}/{camera}/{name}"


def rule_topic(prefix: str, camera: str, rule: str, name: str = RULE_STATE) -> str:
    return f"{prefix.rstrip('/')}/{camera}/alerts/{topic_slug(rule)}/{name}"


@dataclass(frozen=True)
class Topic:
    """A topic of the layout: its device's prefix, its name (`available`, `armed/state`,
    `threshold/state`, ...), and the camera and rule slug it is about (None at device level)."""

    prefix: str
    name: str
    camera: str | None = None
    rule: str | None = None


def device_prefix(topic: str) -> tuple[str, str] | None:
    """(prefix, name) of a device-level topic, which announces a device; None for any other."""
    prefix, _, name = topic.rpartition("/")
    return (prefix, name) if prefix and name in DEVICE_TOPICS else None


def parse_topic(topic: str, prefixes: set[str] | frozenset[str]) -> Topic | None:
    """The topic of the layout under one of the known device `prefixes` (the longest that fits
    first), or None. A prefix may itself lie under another (`emotui` and `emotui/door`)."""
    for prefix in sorted((p for p in prefixes if topic.startswith(p + "/")), key=len, reverse=True):
        name = topic[len(prefix) + 1:]
        if name in DEVICE_TOPICS or name in DEVICE_COMMANDS:  # before camera topics (see the module's doc)
            return Topic(prefix, name)
        levels = name.split("/")
        camera, rest = levels[0], "/".join(levels[1:])
        if not camera or not rest:
            continue
        if rest in CAMERA_TOPICS:
            return Topic(prefix, rest, camera)
        if len(levels) >= 4 and levels[1] == "alerts" and levels[2] and "/".join(levels[3:]) in RULE_TOPICS:
            return Topic(prefix, "/".join(levels[3:]), camera, levels[2])
    return None


def pattern_problem(pattern: str) -> str | None:
    """What is wrong with a prefix pattern (topic levels, `+` for a whole level, `#` as the last), or None."""
    levels = pattern.split("/")
    if not pattern or pattern.startswith("$") or "" in levels:
        return "must be one or more non-empty topic levels separated by '/', not starting with $ (e.g. emotui/#)"
    for index, level in enumerate(levels):
        if ("+" in level and level != "+") or ("#" in level and (level != "#" or index != len(levels) - 1)):
            return "+ must be a whole level and # the whole last level (e.g. site/+/emotui/#)"
    return None


def pattern_matches(pattern: str, prefix: str) -> bool:
    """Whether a device prefix matches the pattern, by MQTT's rules (`a/#` matches `a` too)."""
    wanted, levels = pattern.split("/"), prefix.split("/")
    for index, level in enumerate(wanted):
        if level == "#":
            return True
        if index >= len(levels) or (level != "+" and level != levels[index]):
            return False
    return len(levels) == len(wanted)


def subscription(pattern: str) -> str:
    """The one subscription that brings every topic of the devices whose prefix matches `pattern`."""
    return pattern if pattern.endswith("#") else f"{pattern}/#"
