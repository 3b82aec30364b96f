"""config.toml.example is valid, lists every key of the schema (no more, no fewer) and gives each
its built-in default."""

import dataclasses
import tomllib
from pathlib import Path

from emotui.config import CameraConfig, Config, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config.toml.example"


def _keys(schema, prefix=""):
    """Every dotted key of a config dataclass; [[alerts.rules]] tables count by their own keys."""
    keys = set()
    for field in dataclasses.fields(schema):
        if schema is Config and field.name == "path":
            continue
        value = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        if dataclasses.is_dataclass(value):
            keys |= _keys(type(value), f"{prefix}{field.name}.")
        elif isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            keys |= _keys(type(value[0]), f"{prefix}{field.name}[].")
        else:
            keys.add(prefix + field.name)
    return keys


def _written(table, prefix=""):
    """Every dotted key written in a parsed TOML table."""
    keys = set()
    for name, value in table.items():
        if isinstance(value, dict) and name not in ("headers", "headers_env", "urls", "urls_env", "routes"):
            keys |= _written(value, f"{prefix}{name}.")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                keys |= _written(item, f"{prefix}{name}[].")
        else:
            keys.add(prefix + name)
    return keys


def test_example_config_lists_every_key_of_the_schema_and_nothing_else():
    written = _written(tomllib.loads(EXAMPLE.read_text()))
    expected = _keys(Config)
    assert sorted(expected - written) == [], "keys missing from config.toml.example"
    assert sorted(written - expected) == [], "keys in config.toml.example that the schema does not have"


def test_example_config_is_valid_and_equals_the_defaults():
    loaded = load_config(EXAMPLE)
    loaded.path = None
    assert loaded == Config()


def test_the_commented_cameras_example_lists_every_camera_key_with_its_default_and_is_valid(tmp_path):
    """The [[cameras]] tables at the end, uncommented: valid, with every key of a camera table, and
    the first one's values the defaults (a camera's source keys are those of [source])."""
    text = EXAMPLE.read_text()
    block = text[text.index("# [[cameras]]"):text.index("#\n# Two emotui processes")]
    uncommented = "\n".join(line.removeprefix("#").removeprefix(" ") for line in block.splitlines())
    tables = tomllib.loads(uncommented)["cameras"]
    assert set(tables[0]) == {field.name for field in dataclasses.fields(CameraConfig)}
    defaults = {field.name: getattr(CameraConfig(), field.name) for field in dataclasses.fields(CameraConfig)}
    assert {key: value for key, value in tables[0].items() if key not in ("name", "uri")} == {
        key: value for key, value in defaults.items() if key not in ("name", "uri")}
    path = tmp_path / "cameras.toml"
    path.write_text('[[alerts.rules]]\nname = "fear"\n\n' + uncommented)
    assert [camera.name for camera in load_config(path).cameras] == ["door", "garden"]
