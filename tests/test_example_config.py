"""config.toml.example is valid and documents exactly the built-in defaults."""

from pathlib import Path

from emotui.config import Config, load_config

EXAMPLE = Path(__file__).resolve().parents[1] / "config.toml.example"


def test_example_config_is_valid_and_equals_the_defaults():
    loaded = load_config(EXAMPLE)
    loaded.path = None
    assert loaded == Config()
