"""Home Assistant MQTT discovery: one HA device per camera, its entities tied to `<prefix>/available`.

Per camera: a binary sensor per rule (`occupancy` for a face rule, `problem` for an alert-severity
one), an enable switch per rule and a threshold number per emotion rule (configuration entities that
send `enabled/set` and `threshold/set`), the arming switch (configuration), the snapshot as an
`image`, an `event` entity firing `alert_new` and `alert_end`, the face count, the dominant emotion
as an `enum` with the per-emotion scores as attributes, and diagnostics (source status as an
`enum`, processed fps, dropped frames, queued events). Node ids and unique ids hold the topic prefix
and the camera's name, so two installations with the same camera name on one broker do not clash."""

from __future__ import annotations

import hashlib

from emotui import __version__
from emotui.alerts.topics import (
    ARMED_SET, ARMED_STATE, AVAILABLE, DIAGNOSTICS, ENABLED_SET, ENABLED_STATE, EVENT, SNAPSHOT, STATE, STATUS,
    THRESHOLD_SET, THRESHOLD_STATE, camera_topic, device_topic, rule_topic, topic_slug,
)
from emotui.capture import SourceState
from emotui.config import AlertRuleConfig, MqttConfig
from emotui.vocabulary import EMOTIONS, RuleKind, Severity

EVENT_TYPES = ("alert_new", "alert_end")  # what the event entity fires, from the events `new` and `end`
NO_EMOTION = "none"  # the dominant emotion without a face
THRESHOLD_STEP = 0.01  # the number entity's step (thresholds are 0-1, kept to 4 decimals)


def node_id(prefix: str, camera: str) -> str:
    """The camera's discovery node id and HA device identifier: readable, and unique per prefix and
    camera (a short hash tells apart names that slug alike)."""
    digest = hashlib.sha256(f"{prefix.rstrip('/')}\0{camera}".encode()).hexdigest()[:8]
    return f"{topic_slug(prefix)}_{topic_slug(camera)}_{digest}"


def title(name: str) -> str:
    """A name as Home Assistant shows it: words capitalised (`front_door` -> `Front Door`)."""
    return " ".join(word[:1].upper() + word[1:] for word in name.replace("_", " ").replace("-", " ").split())


def camera_configs(config: MqttConfig, camera: str, rules: list[AlertRuleConfig]) -> dict[str, dict]:
    """The discovery configs of a camera's entities, by config topic."""
    prefix = config.prefix
    node = node_id(prefix, camera)
    root = config.discovery_prefix.rstrip("/")
    configs: dict[str, dict] = {}

    def entity(component: str, key: str, name: str, **payload) -> None:
        configs[f"{root}/{component}/{node}/{key}/config"] = {
            "name": name, "unique_id": f"{node}_{key}", "object_id": f"{topic_slug(camera)}_{key}",
            "availability_topic": device_topic(prefix, AVAILABLE), "payload_available": "online",
            "payload_not_available": "offline",
            "device": {"identifiers": [node], "name": title(camera), "manufacturer": "emotui",
                       "model": "emotion-aware camera", "sw_version": __version__},
            **{field: value for field, value in payload.items() if value is not None},
        }

    state, status, diagnostics = (camera_topic(prefix, camera, name) for name in (STATE, STATUS, DIAGNOSTICS))
    for rule in rules:
        key = topic_slug(rule.name)
        face = rule.kind == RuleKind.FACE
        entity("binary_sensor", f"alert_{key}", f"Alert {rule.name}", state_topic=rule_topic(prefix, camera, rule.name),
               payload_on="ON", payload_off="OFF",
               device_class="occupancy" if face else "problem" if rule.severity == Severity.ALERT else None,
               icon=None if face or rule.severity == Severity.ALERT else "mdi:bell-alert")
        entity("switch", f"rule_{key}", f"Rule {rule.name}", entity_category="config", icon="mdi:bell-cog",
               command_topic=rule_topic(prefix, camera, rule.name, ENABLED_SET),
               state_topic=rule_topic(prefix, camera, rule.name, ENABLED_STATE), payload_on="ON", payload_off="OFF")
        if rule.kind == RuleKind.EMOTION:
            entity("number", f"threshold_{key}", f"Threshold {rule.name}", entity_category="config",
                   icon="mdi:tune-vertical", min=0.0, max=1.0, step=THRESHOLD_STEP, mode="slider",
                   command_topic=rule_topic(prefix, camera, rule.name, THRESHOLD_SET),
                   state_topic=rule_topic(prefix, camera, rule.name, THRESHOLD_STATE))
    entity("switch", "armed", "Armed", entity_category="config", icon="mdi:shield-check",
           command_topic=camera_topic(prefix, camera, ARMED_SET), state_topic=camera_topic(prefix, camera, ARMED_STATE),
           payload_on="ON", payload_off="OFF")
    if config.snapshots:
        entity("image", "snapshot", "Snapshot", icon="mdi:cctv", image_topic=camera_topic(prefix, camera, SNAPSHOT),
               content_type="image/jpeg")
    entity("event", "alert", "Alert", icon="mdi:alarm-light", state_topic=camera_topic(prefix, camera, EVENT),
           event_types=list(EVENT_TYPES))
    entity("sensor", "faces", "Faces", icon="mdi:face-recognition", state_topic=state,
           value_template="{{ value_json.faces }}", state_class="measurement")
    entity("sensor", "dominant_emotion", "Dominant emotion", icon="mdi:emoticon-outline", state_topic=state,
           value_template="{{ value_json.dominant }}", device_class="enum", options=[*EMOTIONS, NO_EMOTION],
           json_attributes_topic=state, json_attributes_template="{{ value_json.scores | tojson }}")
    entity("sensor", "source_status", "Source status", icon="mdi:video-check", entity_category="diagnostic",
           state_topic=status, value_template="{{ value_json.state }}", device_class="enum",
           options=[member.value for member in SourceState], json_attributes_topic=status)
    for key, name, unit, state_class, icon in (
            ("processed_fps", "Processed fps", "fps", "measurement", "mdi:speedometer"),
            ("dropped_frames", "Dropped frames", "frames", "total_increasing", "mdi:filmstrip-off"),
            ("queued_events", "Queued events", "events", "measurement", "mdi:tray-full")):
        entity("sensor", key, name, icon=icon, entity_category="diagnostic", state_topic=diagnostics,
               value_template=f"{{{{ value_json.{key} }}}}", unit_of_measurement=unit, state_class=state_class)
    return configs
