"""Writing alert thresholds back into the config file: only the threshold values change,
comments and every other setting stay, new rules are appended, the write is atomic."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import platformdirs
import pytest

from emotui.config import (
    DEFAULT_RULES,
    AlertRuleConfig,
    Config,
    ConfigError,
    ConfigWriteError,
    find_config_file,
    load_config,
    write_thresholds,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "config.toml.example"

COMMENTED = """\
# My emotui setup -- hand written, keep these notes!
# (second line of the header)

[source]
uri = "rtsp://10.0.0.5/stream1"  # the front door

[detector]
name = "blazeface-full"
min_score = 0.64   # tuned on the hallway camera

[alerts]
threshold_step = 0.02  # fine steps

# Rules: fear first.
[[alerts.rules]]
name = "fear"          # the one that matters
emotions = ["fear", "surprise"]
threshold = 0.60       # inline comment after the threshold
min_duration_s = 1.5   # seconds

[[alerts.rules]]
# anger at the counter
name = "anger"
emotions = ["angry"]
threshold = 0.7
min_duration_s = 3.0

[ui]
bell = false   # night shift
"""


def rules_of(config: Config) -> dict[str, float]:
    return {rule.name: rule.threshold for rule in config.alerts.rules}


def with_thresholds(rules: list[AlertRuleConfig], **thresholds: float) -> list[AlertRuleConfig]:
    return [dataclasses.replace(rule, threshold=thresholds.get(rule.name, rule.threshold)) for rule in rules]


def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_only_the_threshold_values_change(tmp_path):
    path = tmp_path / "emotui.toml"
    path.write_text(COMMENTED, encoding="utf-8")
    loaded = load_config(path)
    rules = with_thresholds(loaded.alerts.rules, fear=0.65, anger=0.55)

    assert write_thresholds(path, rules) == path

    before, after = COMMENTED.splitlines(), path.read_text(encoding="utf-8").splitlines()
    assert len(after) == len(before)
    changed = [(old, new) for old, new in zip(before, after) if old != new]
    assert changed == [
        ("threshold = 0.60       # inline comment after the threshold",
         "threshold = 0.65       # inline comment after the threshold"),
        ("threshold = 0.7", "threshold = 0.55"),
    ]
    again = load_config(path)
    assert rules_of(again) == {"fear": 0.65, "anger": 0.55}
    assert dataclasses.replace(again, alerts=loaded.alerts) == loaded  # nothing else moved
    assert temp_files(tmp_path) == []


def test_an_unchanged_threshold_keeps_its_spelling(tmp_path):
    path = tmp_path / "emotui.toml"
    path.write_text(COMMENTED, encoding="utf-8")
    write_thresholds(path, with_thresholds(load_config(path).alerts.rules, anger=0.8))
    text = path.read_text(encoding="utf-8")
    assert "threshold = 0.60       # inline comment after the threshold" in text  # 0.60 stays, not 0.6
    assert text == COMMENTED.replace("threshold = 0.7\n", "threshold = 0.8\n")


def test_thresholds_are_rounded_to_4_decimals(tmp_path):
    path = tmp_path / "emotui.toml"
    path.write_text(COMMENTED, encoding="utf-8")
    # what repeated +/- steps of 0.05 produce in floating point
    write_thresholds(path, with_thresholds(load_config(path).alerts.rules, fear=0.6 + 0.05 + 0.05, anger=0.123456))
    text = path.read_text(encoding="utf-8")
    assert "threshold = 0.7       # inline" in text and "threshold = 0.1235\n" in text
    assert rules_of(load_config(path)) == {"fear": 0.7, "anger": 0.1235}


def test_example_config_keeps_every_comment_and_other_setting(tmp_path):
    path = tmp_path / "config.toml"
    shutil.copy(EXAMPLE, path)
    original = path.read_text(encoding="utf-8")
    loaded = load_config(path)
    assert rules_of(loaded) == {"fear": 0.6, "anger": 0.6}

    write_thresholds(path, with_thresholds(loaded.alerts.rules, fear=0.75, anger=0.45))

    again = load_config(path)
    assert rules_of(again) == {"fear": 0.75, "anger": 0.45}
    expected = dataclasses.replace(
        loaded, alerts=dataclasses.replace(loaded.alerts, rules=with_thresholds(loaded.alerts.rules, fear=0.75, anger=0.45))
    )
    assert again == expected
    text = path.read_text(encoding="utf-8")
    comments = [line for line in original.splitlines() if line.lstrip().startswith("#")]
    assert comments and all(line in text.splitlines() for line in comments)
    assert original.count("#") == text.count("#")  # inline comments too
    assert len(text.splitlines()) == len(original.splitlines())


def test_a_file_without_rules_gets_them_appended(tmp_path):
    path = tmp_path / "emotui.toml"
    text = "# only a few settings\n[alerts]\nthreshold_step = 0.1  # coarse\n\n[ui]\nbell = false\n"
    path.write_text(text, encoding="utf-8")
    loaded = load_config(path)
    assert loaded.alerts.rules == DEFAULT_RULES  # the built-in rules were in effect

    write_thresholds(path, with_thresholds(loaded.alerts.rules, fear=0.8))

    again = load_config(path)
    assert again.alerts.rules == with_thresholds(DEFAULT_RULES, fear=0.8)  # names, emotions, durations too
    assert again.alerts.threshold_step == 0.1 and again.ui.bell is False
    written = path.read_text(encoding="utf-8")
    assert written.count("[[alerts.rules]]") == 2
    assert "# only a few settings" in written and "threshold_step = 0.1  # coarse" in written
    assert written.index("[[alerts.rules]]") < written.index("[ui]")  # kept with [alerts]


def test_a_file_without_an_alerts_table_gets_the_rules_appended(tmp_path):
    path = tmp_path / "emotui.toml"
    text = "# just the camera\n[source]\nuri = \"1\"\n"
    path.write_text(text, encoding="utf-8")
    write_thresholds(path, with_thresholds(DEFAULT_RULES, anger=0.42))
    written = path.read_text(encoding="utf-8")
    assert written.startswith(text)
    again = load_config(path)
    assert again.source.uri == "1"
    assert rules_of(again) == {"fear": 0.6, "anger": 0.42}


def test_a_rule_missing_from_the_file_is_appended_after_the_others(tmp_path):
    path = tmp_path / "emotui.toml"
    path.write_text(COMMENTED, encoding="utf-8")
    rules = [*load_config(path).alerts.rules, AlertRuleConfig("grief", ["sad"], 0.5, 4.0)]
    write_thresholds(path, rules)
    written = path.read_text(encoding="utf-8")
    assert written.startswith(COMMENTED.split("[ui]")[0])  # everything before is untouched
    assert written.index('name = "grief"') < written.index("[ui]")
    again = load_config(path)
    assert again.alerts.rules[-1] == AlertRuleConfig("grief", ["sad"], 0.5, 4.0)
    assert rules_of(again) == {"fear": 0.6, "anger": 0.7, "grief": 0.5}


def test_rules_only_in_the_file_are_left_alone(tmp_path):
    path = tmp_path / "emotui.toml"
    path.write_text(COMMENTED, encoding="utf-8")
    write_thresholds(path, [AlertRuleConfig("anger", ["angry"], 0.9, 3.0)])
    assert rules_of(load_config(path)) == {"fear": 0.6, "anger": 0.9}


def test_rules_split_across_the_file_and_inline_rules_are_handled(tmp_path):
    split = tmp_path / "split.toml"
    split.write_text('[[alerts.rules]]\nname = "fear"\n\n[ui]\nbell = true\n\n[[alerts.rules]]\nname = "anger"\n'
                     'emotions = ["angry"]\n', encoding="utf-8")
    write_thresholds(split, [*with_thresholds(DEFAULT_RULES, fear=0.3, anger=0.4), AlertRuleConfig("x", ["sad"], 0.2)])
    assert rules_of(load_config(split)) == {"fear": 0.3, "anger": 0.4, "x": 0.2}

    inline = tmp_path / "inline.toml"
    inline.write_text('[alerts]\nrules = [{ name = "fear", threshold = 0.6 }]  # inline\n', encoding="utf-8")
    write_thresholds(inline, with_thresholds(DEFAULT_RULES, fear=0.35))
    assert rules_of(load_config(inline)) == {"fear": 0.35, "anger": 0.6}
    assert "# inline" in inline.read_text(encoding="utf-8")


def test_no_config_file_creates_the_user_config_file(tmp_path):
    assert find_config_file() is None  # the autouse fixture isolates us: built-in defaults
    user = Path(platformdirs.user_config_dir("emotui")) / "config.toml"
    assert str(user).startswith(os.environ["XDG_CONFIG_HOME"])
    assert not user.parent.exists()

    written = write_thresholds(None, with_thresholds(DEFAULT_RULES, fear=0.66))

    assert written == user and user.is_file()
    assert find_config_file() == user
    config = load_config(find_config_file())
    assert rules_of(config) == {"fear": 0.66, "anger": 0.6}
    config.path = None
    assert config == dataclasses.replace(
        Config(), alerts=dataclasses.replace(Config().alerts, rules=with_thresholds(DEFAULT_RULES, fear=0.66))
    )
    assert temp_files(user.parent) == []


def test_path_none_updates_an_existing_user_config_file():
    user = Path(platformdirs.user_config_dir("emotui")) / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("# mine\n[ui]\nbell = false\n", encoding="utf-8")
    write_thresholds(None, with_thresholds(DEFAULT_RULES, anger=0.5))
    assert user.read_text(encoding="utf-8").startswith("# mine\n[ui]\nbell = false\n")
    config = load_config(user)
    assert config.ui.bell is False and rules_of(config) == {"fear": 0.6, "anger": 0.5}


def test_a_symlinked_config_stays_a_symlink(tmp_path):
    real = tmp_path / "dotfiles" / "emotui.toml"
    real.parent.mkdir()
    real.write_text(COMMENTED, encoding="utf-8")
    link = tmp_path / "emotui.toml"
    link.symlink_to(real)
    write_thresholds(link, with_thresholds(DEFAULT_RULES, fear=0.61))
    assert link.is_symlink()
    assert rules_of(load_config(real))["fear"] == 0.61


def test_the_file_mode_is_kept(tmp_path):
    path = tmp_path / "emotui.toml"
    path.write_text(COMMENTED, encoding="utf-8")
    path.chmod(0o640)
    write_thresholds(path, with_thresholds(DEFAULT_RULES, fear=0.61))
    assert path.stat().st_mode & 0o777 == 0o640


def test_an_unwritable_location_raises_an_error_naming_the_path(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    path = blocker / "emotui" / "config.toml"  # its parent cannot be created
    with pytest.raises(ConfigWriteError) as caught:
        write_thresholds(path, DEFAULT_RULES)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ConfigError) and caught.value.path == path
    assert blocker.read_text() == "x"


def test_a_failed_replace_leaves_the_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "emotui.toml"
    path.write_text(COMMENTED, encoding="utf-8")

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("emotui.files.os.replace", failing_replace)
    with pytest.raises(ConfigWriteError, match="No space left on device") as caught:
        write_thresholds(path, with_thresholds(DEFAULT_RULES, fear=0.9))
    assert str(path) in str(caught.value)
    assert path.read_text(encoding="utf-8") == COMMENTED
    assert temp_files(tmp_path) == []


def test_invalid_toml_and_bad_thresholds_are_refused_without_writing(tmp_path):
    path = tmp_path / "emotui.toml"
    path.write_text("[alerts\n", encoding="utf-8")
    with pytest.raises(ConfigWriteError, match="not valid TOML"):
        write_thresholds(path, DEFAULT_RULES)
    assert path.read_text(encoding="utf-8") == "[alerts\n"

    path.write_text(COMMENTED, encoding="utf-8")
    with pytest.raises(ConfigWriteError, match="from 0 to 1") as caught:
        write_thresholds(path, with_thresholds(DEFAULT_RULES, fear=1.2))
    assert str(path) in str(caught.value)
    assert path.read_text(encoding="utf-8") == COMMENTED


def test_permission_denied_is_reported_with_the_path_even_when_running_as_root(tmp_path, monkeypatch):
    """A folder emotui may not write to (as root, permissions do not stop it): EACCES simulated."""
    path = tmp_path / "emotui.toml"
    path.write_text(COMMENTED, encoding="utf-8")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("emotui.files.tempfile.mkstemp", denied)
    with pytest.raises(ConfigWriteError, match="Permission denied") as caught:
        write_thresholds(path, with_thresholds(DEFAULT_RULES, fear=0.9))
    assert str(path) in str(caught.value)
    assert path.read_text(encoding="utf-8") == COMMENTED


CAMERAS = """\
[source]
reconnect = true

[[cameras]]
name = "door"
uri = "rtsp://10.0.0.5/stream1"
thresholds = {fear = 0.7}  # the door is busy: keep this note

[[cameras]]
name = "yard"  # no overrides
uri = "rtsp://10.0.0.6/stream1"
"""


def test_a_camera_s_thresholds_go_to_its_own_table_keeping_the_others_and_comments(tmp_path):
    from emotui.cameras import camera_setups

    path = tmp_path / "emotui.toml"
    path.write_text(CAMERAS)
    [door, yard] = camera_setups(load_config(path))
    write_thresholds(path, with_thresholds(door.engine.current_rules(), fear=0.55, anger=0.8), "door")
    write_thresholds(path, with_thresholds(yard.engine.current_rules(), anger=0.3), "yard")
    text = path.read_text()
    assert "# the door is busy: keep this note" in text and 'name = "yard"  # no overrides' in text
    assert "[[alerts.rules]]" not in text  # the shared rules are not touched
    [door, yard] = camera_setups(load_config(path))
    thresholds = lambda setup: {rule.name: rule.threshold for rule in setup.engine.current_rules()}  # noqa: E731
    assert thresholds(door) == {"fear": 0.55, "anger": 0.8}
    assert thresholds(yard) == {"fear": 0.6, "anger": 0.3}


def test_a_camera_without_its_own_table_is_named_and_nothing_is_written(tmp_path):
    path = tmp_path / "emotui.toml"
    path.write_text(CAMERAS)
    with pytest.raises(ConfigWriteError, match="no \\[\\[cameras\\]\\] table named 'hall'"):
        write_thresholds(path, DEFAULT_RULES, "hall")
    assert path.read_text() == CAMERAS
