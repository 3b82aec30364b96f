"""[[cameras]] tables: what each camera gets (the [source] defaults, masks, rules, thresholds, its
cap), the single-camera forms, and every kind of error with its key and line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from emotui.cameras import camera_setups
from emotui.config import CameraConfig, ConfigError, SourceConfig, load_config
from tests.helpers import run_cli

RULES = """
[[alerts.rules]]
name = "fear"
threshold = 0.6

[[alerts.rules]]
name = "visitor"
kind = "face"
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def issues_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(issue) for issue in caught.value.issues]


def test_each_camera_gets_the_source_defaults_its_masks_rules_thresholds_and_cap(tmp_path):
    path = write(tmp_path / "emotui.toml", f"""
[source]
stall_s = 3.0
rtsp_transport = "udp"
[detector]
masks = [[[0.0, 0.0], [0.1, 0.0], [0.1, 0.1]]]
{RULES}
[[cameras]]
name = "door"
uri = "rtsp://door.local/stream"
rtsp_transport = "tcp"
detect_fps = 5
masks = [[[0.5, 0.5], [1.0, 0.5], [1.0, 1.0]]]
rules = ["fear"]
thresholds = {{fear = 0.8}}

[[cameras]]
name = "garden"
uri = "garden.mp4"

[[cameras]]
name = "attic"
uri = "2"
enabled = false
""")
    config = load_config(path)
    door, garden = camera_setups(config)
    assert (door.name, door.source, door.detect_fps, garden.name, garden.detect_fps) == (
        "door", "rtsp://door.local/stream", 5.0, "garden", 10.0)
    assert (door.config.source.stall_s, door.config.source.rtsp_transport, door.config.source.name) == (
        3.0, "tcp", "door")
    assert garden.config.source.rtsp_transport == "udp"
    assert door.config.detector.masks == [[[0.0, 0.0], [0.1, 0.0], [0.1, 0.1]], [[0.5, 0.5], [1.0, 0.5], [1.0, 1.0]]]
    assert garden.config.detector.masks == config.detector.masks
    assert [(r.name, r.threshold) for r in door.engine.current_rules()] == [("fear", 0.8)]
    assert [(r.name, r.threshold) for r in garden.engine.current_rules()] == [("fear", 0.6), ("visitor", 0.6)]
    assert (door.engine.camera, garden.engine.camera) == ("door", "garden")
    assert config.alerts.rules[0].threshold == 0.6  # the shared config is not changed


def test_without_cameras_or_with_a_source_given_there_is_one_camera(tmp_path):
    config = load_config(write(tmp_path / "emotui.toml", '[source]\nuri = "demo"\nname = "hall"\n'))
    (only,) = camera_setups(config)
    assert (only.name, only.source, only.detect_fps, only.config) == ("hall", "demo", 0.0, config)
    assert [rule.name for rule in only.engine.current_rules()] == ["fear", "anger", "presence"]  # the demo's rule
    many = load_config(write(tmp_path / "many.toml", '[[cameras]]\nname = "a"\nuri = "1"\n[[cameras]]\nname = "b"\n'))
    (given,) = camera_setups(many, "clip.mp4")
    assert (given.source, given.detect_fps) == ("clip.mp4", 0.0)


def test_a_camera_on_the_demo_may_name_the_demos_own_presence_rule(tmp_path):
    config = load_config(write(tmp_path / "emotui.toml", f"""
[source]
uri = "demo"
{RULES}
[[cameras]]
name = "hall"
rules = ["presence", "fear"]
thresholds = {{presence = 0.7}}

[[cameras]]
name = "lab"
uri = "demo"
rules = ["fear"]

[[cameras]]
name = "porch"
uri = "demo"
"""))
    hall, lab, porch = camera_setups(config)
    assert hall.source == "demo"  # inherited from [source]
    assert [(r.name, r.kind, r.threshold) for r in hall.engine.current_rules()] == [
        ("fear", "emotion", 0.6), ("presence", "face", 0.7)]
    assert [r.name for r in lab.engine.current_rules()] == ["fear"]  # named: only those
    assert [r.name for r in porch.engine.current_rules()] == ["fear", "visitor"]  # the config has rules of its own
    defaults = load_config(write(tmp_path / "defaults.toml", '[[cameras]]\nname = "a"\nuri = "demo"\n'
                                 '[[cameras]]\nname = "b"\nuri = "demo"\nrules = ["presence"]\n'))
    every, only = camera_setups(defaults)
    assert [r.name for r in every.engine.current_rules()] == ["fear", "anger", "presence"]  # as with [source]
    assert [r.name for r in only.engine.current_rules()] == ["presence"]


@pytest.mark.parametrize("table, key, line", [
    ('uri = "garden.mp4"\nrules = ["presence"]', "rules", 6),
    ('uri = "garden.mp4"\nthresholds = {presence = 0.5}', "thresholds", 6),
    ('rules = ["fear", "presence"]', "rules", 5),  # [source]'s uri: not the demo either
])
def test_a_camera_not_on_the_demo_naming_presence_is_told_where_it_comes_from(tmp_path, table, key, line):
    path = write(tmp_path / "emotui.toml", f'[source]\nuri = "hall.mp4"\n[[cameras]]\nname = "a"\n{table}\n{RULES}')
    (issue,) = issues_of(path)
    assert issue == (f"{path}:{line}: cameras[0].{key}: no rule named 'presence' in [[alerts.rules]] (rules: fear, "
                     "visitor); 'presence': the demo source's own, only on a camera whose uri is 'demo'")


def test_a_camera_table_has_every_source_key():
    source_keys = {spec.name for spec in dataclasses.fields(SourceConfig)}
    camera_keys = {spec.name for spec in dataclasses.fields(CameraConfig)}
    assert camera_keys == source_keys | {"enabled", "detect_fps", "masks", "rules", "thresholds"}


def test_duplicate_and_bad_camera_names_are_named_with_their_line(tmp_path):
    text = """[[cameras]]
name = "door"
uri = "0"

[[cameras]]
name = "door"
uri = "1"

[[cameras]]
name = "front door"

[[cameras]]
uri = "2"
"""
    path = write(tmp_path / "emotui.toml", text)
    issues = issues_of(path)
    assert f"{path}:10: cameras[2].name: must be 1-64 letters, digits, '-' or '_'" in issues[0]
    assert f"{path}:12: cameras[3]: needs 'name'" in issues[1]
    assert len(issues) == 2  # the duplicate is checked once every camera is valid on its own
    path.write_text(text.replace('name = "front door"', 'name = "porch"').replace('uri = "2"', 'name = "x"'))
    (duplicate,) = issues_of(path)
    assert duplicate.startswith(f"{path}:6: cameras[1].name: 'door' names another camera already")


@pytest.mark.parametrize("table, key, line, message", [
    ('name = "a"\nuri = "rtsp://cam:99999/"', "cameras[0].uri", 3, "is not a valid URL"),
    ('name = "a"\ndetect_fps = 61', "cameras[0].detect_fps", 3, "must be from 0.0 to 60.0"),
    ('name = "a"\ndetect_fps = nan', "cameras[0].detect_fps", 3, "must be a finite number"),
    ('name = "a"\nmasks = [[[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]]]', "cameras[0].masks", 3, "outside the frame"),
    ('name = "a"\nrules = ["fear", "sadness"]', "cameras[0].rules", 3, "no rule named 'sadness'"),
    ('name = "a"\nthresholds = {fear = 1.5}', "cameras[0].thresholds", 3, "fear: must be from 0.0 to 1.0"),
    ('name = "a"\nthresholds = {fear = "high"}', "cameras[0].thresholds", 3, "must be a table of numbers"),
    ('name = "a"\nthresholds = {sadness = 0.5}', "cameras[0].thresholds", 3, "no rule named 'sadness'"),
    ('name = "a"\nenabled = false', "cameras", 1, "every camera has enabled = false"),
    ('name = "a"\nretry_max_s = 0.2', "cameras[0].retry_min_s", 1, "must not exceed retry_max_s"),
    ('name = "a"\nfps = 5', "cameras[0].fps", 3, "unknown key; allowed: uri, name,"),
])
def test_bad_camera_tables_are_named_with_key_and_line(tmp_path, table, key, line, message):
    path = write(tmp_path / "emotui.toml", f'[source]\nretry_min_s = 0.5\n[[cameras]]\n{table}\n{RULES}'
                 if key.endswith("retry_min_s") else f"[[cameras]]\n{table}\n{RULES}")
    line += 2 if key.endswith("retry_min_s") else 0
    (issue,) = issues_of(path)
    assert issue.startswith(f"{path}:{line}: {key}: ") and message in issue, issue


def test_config_check_reports_camera_errors_without_a_traceback(tmp_path):
    path = write(tmp_path / "emotui.toml", '[[cameras]]\nname = "a"\n\n[[cameras]]\nname = "a"\n')
    result = run_cli("config", "check", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"config error: {path}:5: cameras[1].name: 'a' names another camera already" in result.stderr
