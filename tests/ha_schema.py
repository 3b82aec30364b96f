"""Home Assistant's MQTT discovery schema, as documented for the integrations used (HA 2024.3-2024.12,
https://www.home-assistant.io/integrations/{binary_sensor,sensor,switch,number,image,event}.mqtt/ and
/integrations/mqtt/#mqtt-discovery): the checks a discovery payload must pass for HA to create its
entity, and the keys older versions drop without a word (NEWER_KEYS, found with a real HA 2024.3.3).
No Home Assistant runs here; this is the schema written down."""

from __future__ import annotations

import re

TOPIC = re.compile(r"^(?P<root>[^/]+(/[^/]+)*)/(?P<component>[a-z_]+)/(?P<node>[a-zA-Z0-9_-]+)/"
                   r"(?P<object>[a-zA-Z0-9_-]+)/config$")
REQUIRED = {  # keys without a default, per component
    "binary_sensor": {"state_topic"},
    "sensor": {"state_topic"},
    "switch": {"command_topic"},
    "number": {"command_topic"},
    "image": set(),  # image_topic or url_topic, exactly one (checked below)
    "event": {"state_topic", "event_types"},
}
ENTITY_CATEGORIES = {"config", "diagnostic"}
BINARY_SENSOR_CLASSES = {"occupancy", "problem", "motion", "presence", "safety", "running"}
SENSOR_STATE_CLASSES = {"measurement", "total", "total_increasing"}
NEWER_KEYS = {("sensor", "options"): "2024.9"}  # (component, key): the first HA that reads it; older drop it


def problems(topic: str, payload: dict) -> list[str]:
    """What HA would reject or warn about in this discovery config (empty: fine)."""
    found = []
    match = TOPIC.match(topic)
    if match is None:
        return [f"{topic}: not <discovery_prefix>/<component>/<node_id>/<object_id>/config"]
    component = match["component"]
    if component not in REQUIRED:
        return [f"{topic}: component {component} not checked here"]
    found += [f"{topic}: missing {key}" for key in sorted(REQUIRED[component] - payload.keys())]
    if not payload.get("unique_id") or not isinstance(payload["unique_id"], str):
        found.append(f"{topic}: no unique_id (a device needs one)")
    device = payload.get("device", {})
    if not device.get("identifiers") and not device.get("connections"):
        found.append(f"{topic}: device without identifiers")
    if not device.get("name"):  # MQTT entities are named after their device (has_entity_name, 2023.8)
        found.append(f"{topic}: device without a name")
    if str(payload.get("name", "")).lower().startswith(str(device.get("name", "")).lower() + " "):
        found.append(f"{topic}: entity name repeats the device name")
    if payload.get("entity_category") not in (None, *ENTITY_CATEGORIES):
        found.append(f"{topic}: entity_category {payload['entity_category']!r}")
    if "icon" in payload and not str(payload["icon"]).startswith("mdi:"):
        found.append(f"{topic}: icon {payload['icon']!r} is not mdi:")
    if component == "image":
        if ("image_topic" in payload) == ("url_topic" in payload):
            found.append(f"{topic}: image needs exactly one of image_topic and url_topic")
        if "image_topic" in payload and payload.get("content_type", "image/jpeg") not in ("image/jpeg", "image/png"):
            found.append(f"{topic}: content_type {payload['content_type']!r}")
    if component == "event":
        types = payload.get("event_types")
        if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
            found.append(f"{topic}: event_types must be a non-empty list of strings")
    if component == "sensor":
        if payload.get("device_class") == "enum":
            if not isinstance(payload.get("options"), list) or not payload["options"]:
                found.append(f"{topic}: an enum sensor needs options")
            if "state_class" in payload or "unit_of_measurement" in payload:
                found.append(f"{topic}: an enum sensor takes no state_class or unit")
        elif "options" in payload:
            found.append(f"{topic}: options without device_class enum")
        if payload.get("state_class") not in (None, *SENSOR_STATE_CLASSES):
            found.append(f"{topic}: state_class {payload['state_class']!r}")
    if component == "binary_sensor" and payload.get("device_class") not in (None, *BINARY_SENSOR_CLASSES):
        found.append(f"{topic}: device_class {payload['device_class']!r}")
    if component == "number":
        low, high, step = payload.get("min", 1), payload.get("max", 100), payload.get("step", 1)
        if not (low < high and 0.001 <= step <= high - low):
            found.append(f"{topic}: min {low}, max {high}, step {step}")
        if payload.get("mode", "auto") not in ("auto", "box", "slider"):
            found.append(f"{topic}: mode {payload['mode']!r}")
    if "json_attributes_template" in payload and "json_attributes_topic" not in payload:
        found.append(f"{topic}: json_attributes_template without json_attributes_topic")
    return found
