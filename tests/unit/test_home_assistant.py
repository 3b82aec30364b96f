"""Home Assistant discovery payloads (against HA's documented schema, tests/ha_schema.py), the
run-time state file (bounded, atomic, a corrupt one a warning and the defaults) and rule switches
in the rule engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emotui.alerts.control_state import MAX_STATE_BYTES, ControlState
from emotui.alerts.discovery import camera_configs, node_id, title
from emotui.alerts.rules import RuleEngine
from emotui.config import AlertRuleConfig, MqttConfig
from tests import ha_schema
from tests.factories import frame_result

README = Path(__file__).parents[2] / "README.md"
RULES = [AlertRuleConfig(name="fear", emotions=["fear"]), AlertRuleConfig(name="visitor", kind="face"),
         AlertRuleConfig(name="crowd of 3", kind="crowd", max_faces=2, severity="info")]


def test_every_payload_passes_the_documented_schema():
    configs = camera_configs(MqttConfig(), "front door", RULES)
    assert [problem for topic, payload in configs.items() for problem in ha_schema.problems(topic, payload)] == []
    components = sorted(topic.split("/")[1] for topic in configs)
    assert components.count("binary_sensor") == 3 and components.count("number") == 1  # emotion rules only
    assert {payload["device"]["name"] for payload in configs.values()} == {"Front Door"}
    crowd = configs[f"homeassistant/binary_sensor/{node_id('emotui', 'front door')}/alert_crowd_of_3/config"]
    assert "device_class" not in crowd and crowd["icon"].startswith("mdi:")  # info severity: not a problem


def test_the_schema_check_catches_what_home_assistant_rejects():
    configs = camera_configs(MqttConfig(), "door", RULES)
    image = next(topic for topic in configs if "/image/" in topic)
    event = next(topic for topic in configs if "/event/" in topic)
    number = next(topic for topic in configs if "/number/" in topic)
    assert ha_schema.problems(image, {**configs[image], "url_topic": "x"})
    assert ha_schema.problems(event, {key: v for key, v in configs[event].items() if key != "event_types"})
    assert ha_schema.problems(number, {key: v for key, v in configs[number].items() if key != "command_topic"})
    assert ha_schema.problems(number, {**configs[number], "step": 2})


def test_keys_older_home_assistants_drop_are_documented_with_the_version_that_reads_them():
    """A real HA 2024.3.3 dropped the enum sensors' `options` without a warning (read since 2024.9)."""
    used = {(topic.split("/")[1], key) for topic, payload in camera_configs(MqttConfig(), "door", RULES).items()
            for key in payload}
    section = README.read_text(encoding="utf-8").split("\n## Home Assistant\n")[1].split("\n## ")[0]
    section = " ".join(section.split())  # the words, whatever the line breaks
    for (component, key), version in ha_schema.NEWER_KEYS.items():
        if (component, key) in used:
            assert f"`{key}` need Home Assistant {version}" in section, (component, key)


def test_the_readme_automation_ignores_the_event_entity_coming_back_online():
    """Seen with a real HA: after emotui was killed during an alert, the event entity's last state
    came back with `alert_new` when it reconnected, and the README's automation notified again."""
    section = README.read_text(encoding="utf-8").split("\n## Home Assistant\n")[1].split("\n## ")[0]
    automation = section.split("```yaml\n")[1].split("```")[0]
    trigger = automation.split("trigger:")[1].split("condition:")[0]
    assert "entity_id: event.door_alert" in trigger
    assert [line.strip() for line in trigger.split("not_from:")[1].splitlines()[1:3]] == ["- unavailable", "- unknown"]


def test_two_installations_with_the_same_camera_name_do_not_clash():
    first = camera_configs(MqttConfig(prefix="emotui/home"), "door", RULES)
    second = camera_configs(MqttConfig(prefix="emotui/office"), "door", RULES)
    assert not set(first) & set(second)
    unique_ids = [{payload["unique_id"] for payload in configs.values()} for configs in (first, second)]
    assert not unique_ids[0] & unique_ids[1]
    assert next(iter(first.values()))["device"]["identifiers"] != next(iter(second.values()))["device"]["identifiers"]
    assert node_id("a_b", "c") != node_id("a", "b_c")  # names that slug alike


def test_snapshots_off_announce_no_image():
    assert not any("/image/" in topic for topic in camera_configs(MqttConfig(snapshots=False), "door", RULES))


@pytest.mark.parametrize("name, shown", [("door", "Door"), ("front_door", "Front Door"), ("garage-2", "Garage 2")])
def test_titles(name, shown):
    assert title(name) == shown


def test_state_file_round_trip_and_bounds(tmp_path):
    path = tmp_path / "state.json"
    problems: list[str] = []
    state = ControlState(path, problems.append)
    state.set_armed("door", False)
    state.set_enabled("door", "fear", False)
    state.set_enabled("gone", "fear", False)
    state.set_discovery({"homeassistant/switch/x/armed/config"})
    assert not list(tmp_path.glob(".state.json.*"))  # written atomically: no temporary left
    state.keep_only({"door": ["fear"]})
    state.set_armed("door", False)
    again = ControlState(path, problems.append)
    assert (again.armed, again.enabled, again.discovery) == (
        {"door": False}, {"door": {"fear": False}}, {"homeassistant/switch/x/armed/config"})
    assert problems == []


@pytest.mark.parametrize("content", [b"{not json", b'{"cameras": []}', b'{"cameras": {"door": 3}, "discovery": []}',
                                     b"[]", b" " * (MAX_STATE_BYTES + 1)])
def test_a_corrupt_state_file_gives_a_warning_and_the_defaults(tmp_path, content):
    path = tmp_path / "state.json"
    path.write_bytes(content)
    problems: list[str] = []
    state = ControlState(path, problems.append)
    assert (state.armed, state.enabled, state.discovery) == ({}, {}, set())
    (problem,) = problems
    assert str(path) in problem and "start as the config says" in problem


def test_a_state_file_that_cannot_be_written_is_reported(tmp_path):
    problems: list[str] = []
    state = ControlState(tmp_path / "missing" / "state.json", problems.append)
    state.set_armed("door", False)
    assert "cannot save the run-time state" in problems[0]
    assert json.dumps(state.armed) == '{"door": false}'  # kept for this run


def test_a_switched_off_rule_is_silent_and_its_open_alerts_end():
    engine = RuleEngine([AlertRuleConfig(name="fear", min_duration_s=0.0, inertia_frames=1, cooldown_s=0.0)], "door")
    assert [event.type for event in engine.evaluate(frame_result(0.0, {1: 0.9}))] == ["new"]
    assert [event.type for event in engine.set_enabled("fear", False)] == ["end"]
    assert engine.set_enabled("fear", False) is None  # no change
    assert engine.evaluate(frame_result(0.1, {1: 0.9})) == []
    assert engine.set_enabled("fear", True) == []
    assert [event.type for event in engine.evaluate(frame_result(0.2, {1: 0.9}))] == ["new"]
    with pytest.raises(KeyError):
        engine.set_enabled("nosuch", False)
