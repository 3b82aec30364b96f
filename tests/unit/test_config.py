"""Configuration: defaults, a full valid file, every kind of error (key, file:line, what is
allowed), the discovery order and `emotui config check`."""

from __future__ import annotations

import dataclasses
from functools import reduce
from pathlib import Path

import platformdirs
import pytest
import tomlkit

from emotui.config import (
    CONFIG_ENV,
    AlertsConfig,
    Config,
    ConfigError,
    CustomEmotionConfig,
    DetectorConfig,
    EmotionConfig,
    KeysConfig,
    ModelsConfig,
    MqttConfig,
    NotifyConfig,
    SnapshotsConfig,
    SourceConfig,
    TrackerConfig,
    UiConfig,
    WebhookConfig,
    apply_options,
    find_config_file,
    load_config,
)
from emotui.vision import EMOTIONS
from emotui.vocabulary import EventType, RuleKind, Severity
from tests.helpers import run_cli


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def line_with(text: str, snippet: str) -> int:
    """1-based number of the only line of `text` containing `snippet`."""
    numbers = [n for n, line in enumerate(text.splitlines(), start=1) if snippet in line]
    assert len(numbers) == 1, f"{snippet!r} must occur on exactly one line"
    return numbers[0]


def issues_of(path: Path) -> list:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.issues


# --- defaults and a valid file ----------------------------------------------------------------


def test_no_file_means_built_in_defaults():
    assert find_config_file() is None
    config = load_config(None)
    assert config == Config()
    assert config.path is None
    assert config.detector.name == "blazeface-dual"
    assert config.detector.min_score == 0.5 and config.detector.tiles == "auto" and config.detector.masks == []
    assert config.emotion.model == "mini-xception"
    assert config.emotion.custom.labels == list(EMOTIONS)
    assert config.models.auto_pull is True


def test_list_defaults_are_not_shared_between_instances():
    first, second = Config(), Config()
    first.emotion.custom.labels.append("extra")
    assert second.emotion.custom.labels == list(EMOTIONS)


# Every field of every section set to a valid, non-default value.
FULL = {
    "source": {"uri": "rtsp://camera.local/stream", "name": "front-door", "loop": True, "reconnect": False,
               "retry_min_s": 1.0, "retry_max_s": 10.0, "stall_s": 3.0, "rtsp_transport": "udp"},
    "detector": {"name": "deepface:yunet", "min_score": 0.45, "track_min_score": 0.2, "min_face_px": 32,
                 "nms_iou": 0.5, "tiles": 3, "masks": [[[0.0, 0.0], [0.3, 0.0], [0.3, 0.2]]]},
    "emotion": {
        "model": "custom",
        "padding": 0.1,
        "custom": {
            "path": "/models/mine.onnx",
            "input_size": [48, 48],
            "color": "rgb",
            "scale": "unit",
            "layout": "nchw",
            "labels": ["happy", "sad", "neutral"],
            "softmax": True,
        },
    },
    "tracker": {"smoothing": "window", "smoothing_s": 1.5, "label_margin": 0.1, "iou_threshold": 0.4,
                "max_absence_s": 2.5, "stationary_s": 60.0, "stationary_score": 0.7, "ignore_stationary": True},
    "models": {"dir": "/srv/emotui-models", "auto_pull": False, "threads": 4},
    "alerts": {"threshold_step": 0.1, "armed": False, "dir": "/srv/alerts", "log_max_mb": 2.5, "log_keep": 3,
               "exec": ["notify-send", "{rule}: {emotion} {score}"], "exec_on": ["new", "end"],
               "exec_timeout_s": 3.0},
    "snapshots": {"dir": "/srv/snapshots", "images": "blurred", "on_alert": False, "max_mb": 64.0, "keep_days": 7.5},
    "mqtt": {"host": "broker.lan", "port": 8883, "prefix": "emotui/door", "client_id": "door-pi",
             "keepalive_s": 60, "discovery": False, "discovery_prefix": "ha", "username_env": "DOOR_USER",
             "password_env": "DOOR_PASS", "tls": True, "ca_file": "/etc/ca.pem", "cert_file": "/etc/c.pem",
             "key_file": "/etc/c.key", "tls_insecure": True, "queue_max": 500, "snapshots": False,
             "preview_fps": 1.5, "preview_width": 160},
    "webhook": {"url": "https://hooks.example/alert", "headers": {"X-Site": "door"},
                "headers_env": {"Authorization": "HOOK_AUTH"}, "timeout_s": 2.0, "retries": 2, "backoff_s": 0.5,
                "events": ["new"], "include_snapshot": True, "queue_max": 50},
    "notify": {"urls": {"lan": "ntfy://192.168.1.5:8080/door"}, "urls_env": {"phone": "EMOTUI_NOTIFY_PHONE"},
               "rules": ["fear"], "routes": {"fear": "phone,lan"}, "events": ["new", "end"], "title": "{rule}",
               "body": "{camera} {score}", "attach_snapshot": False, "max_attachment_kb": 256,
               "min_interval_s": 60.0, "quiet_hours": ["22:00-07:00"], "retries": 3, "backoff_s": 1.0,
               "queue_max": 20},
    "ui": {"preview": False, "preview_fps": 4.0, "colour": "256", "preview_mode": "sixel", "boxes": False, "bell": False,
           "realtime": False},
    "keys": {"pause": "f1", "snapshot": "f2", "raise_threshold": "f3", "lower_threshold": "f4",
             "next_rule": "f5", "edit_thresholds": "f6", "write_config": "f7", "toggle_boxes": "f8",
             "cycle_colour": "f9", "mute": "f10", "help": "f11", "quit": "f12", "arm": "f13", "zoom": "f14",
             "arm_all": "f15", "grid": "f16"},
}
SECTIONS = {
    "source": SourceConfig, "detector": DetectorConfig, "emotion": EmotionConfig,
    "tracker": TrackerConfig, "models": ModelsConfig, "ui": UiConfig, "keys": KeysConfig,
    "snapshots": SnapshotsConfig, "mqtt": MqttConfig, "webhook": WebhookConfig, "notify": NotifyConfig,
}


def test_full_example_covers_every_key():
    assert set(FULL) == {f.name for f in dataclasses.fields(Config)} - {"path", "cameras"}  # test_cameras_config
    assert set(FULL["alerts"]) == {f.name for f in dataclasses.fields(AlertsConfig)} - {"rules"}
    for section, cls in SECTIONS.items():
        assert set(FULL[section]) == {f.name for f in dataclasses.fields(cls)}, section
    assert set(FULL["emotion"]["custom"]) == {f.name for f in dataclasses.fields(CustomEmotionConfig)}


def test_full_valid_file_loads_every_value(tmp_path):
    path = write(tmp_path / "full.toml", tomlkit.dumps(FULL))
    config = load_config(path)
    assert config.path == path
    for section, values in FULL.items():
        loaded = getattr(config, section)
        for key, value in values.items():
            if dataclasses.is_dataclass(getattr(loaded, key)):
                for inner, inner_value in value.items():
                    assert getattr(getattr(loaded, key), inner) == inner_value, f"{section}.{key}.{inner}"
            else:
                assert getattr(loaded, key) == value, f"{section}.{key}"
    for value in FULL.values():  # every value differs from its default, so none was silently ignored
        assert value
    assert config.detector != DetectorConfig() and config.emotion.custom != CustomEmotionConfig()


def test_partial_file_keeps_other_defaults_and_integers_become_floats(tmp_path):
    path = write(tmp_path / "partial.toml", "[detector]\nmin_score = 1\n")
    config = load_config(path)
    assert config.detector.min_score == 1.0 and isinstance(config.detector.min_score, float)
    assert config.detector.name == "blazeface-dual"
    assert config.tracker == TrackerConfig()


# --- errors ------------------------------------------------------------------------------------

ERRORS = {
    "string for a number": ('[detector]\nname = "haar"\nmin_score = "high"\n', "detector.min_score",
                            "min_score =", ["must be a number", "'high'", "0-1"]),
    "bool for an integer": ("[models]\nauto_pull = false\nthreads = true\n", "models.threads",
                            "threads =", ["must be an integer", "True"]),
    "float for an integer": ("[detector]\nmin_face_px = 2.5\n", "detector.min_face_px", "min_face_px =",
                             ["must be an integer"]),
    "float for a grid size": ("[detector]\ntiles = 2.5\n", "detector.tiles", "tiles =",
                              ['must be "auto" or a grid size from 1 (no tiles) to 8', "got 2.5"]),
    "number for a string": ("[source]\nuri = 0\n", "source.uri", "uri =", ["must be str"]),
    "above the range": ("# tiles\n\n[detector]\ntiles = 9\n", "detector.tiles", "tiles = 9",
                        ["grid size from 1 (no tiles) to 8", "got 9"]),
    "below the range": ("[tracker]\nsmoothing_s = -1.0\n", "tracker.smoothing_s", "smoothing_s",
                        ["must be from 0.0 to 60.0"]),
    "below a minimum": ("[detector]\nmin_face_px = 0\n", "detector.min_face_px", "min_face_px",
                        ["must be from 1 to 4096"]),
    "bad detector name": ('[source]\nuri = "x"\n\n[detector]\nname = "yolo"\n', "detector.name", 'name = "yolo"',
                          ["blazeface-dual, blazeface, blazeface-full, haar or deepface:<backend>", "'yolo'"]),
    "deepface without backend": ('[detector]\nname = "deepface:"\n', "detector.name", "name =", ["deepface:<backend>"]),
    "bad detector name as a dotted key": ('detector.name = "yolo"\n', "detector.name", "detector.name",
                                          ["blazeface-dual, blazeface, blazeface-full, haar"]),
    "bad choice": ('[emotion]\nmodel = "resnet"\n', "emotion.model", "model =",
                   ["must be one of: mini-xception, deepface, custom"]),
    "bad choice in an inline table": ('[emotion]\npadding = 0.1\ncustom = { color = "cmyk" }\n',
                                      "emotion.custom.color", "custom =", ["must be one of: grey, rgb, bgr"]),
    "unknown key": ("[tracker]\nsmoothing_s = 4\nlabel_margn = 0.5\n", "tracker.label_margn", "label_margn",
                    ["unknown key", "did you mean 'label_margin'?"]),
    "unknown key in a nested table": ("[emotion.custom]\nlables = []\n", "emotion.custom.lables", "lables",
                                      ["did you mean 'labels'?"]),
    "unknown key without a close match": ("[models]\nzzz = 1\n", "models.zzz", "zzz",
                                          ["unknown key", "allowed: dir, auto_pull, threads"]),
    "unknown section": ('[source]\nuri = "0"\n\n[detectr]\nname = "haar"\n', "detectr", "[detectr]",
                        ["unknown key", "did you mean 'detector'?"]),
    "unknown section without a close match": ("[zzzz]\nfront = 1\n", "zzzz", "[zzzz]",
                                              ["allowed: source, detector, emotion, tracker, models, alerts, snapshots, "
                                               "mqtt, webhook, notify, ui, keys"]),
    "the loaded file's path is not a key": ('path = "x.toml"\n', "path", "path", ["unknown key"]),
    "section that is not a table": ("detector = 5\n", "detector", "detector", ["must be a table"]),
    "label outside the 7 emotions": ('[emotion.custom]\nlabels = ["happy", "bored"]\n', "emotion.custom.labels",
                                     "labels", ["bored", ", ".join(EMOTIONS)]),
    "repeated label": ('[emotion.custom]\nlabels = ["happy", "happy"]\n', "emotion.custom.labels", "labels",
                       ["must not repeat a label"]),
    "empty labels": ("[emotion.custom]\nlabels = []\n", "emotion.custom.labels", "labels", ["non-empty list"]),
    "labels that are not strings": ("[emotion.custom]\nlabels = [1, 2]\n", "emotion.custom.labels", "labels",
                                    ["must be a list of str"]),
    "input size not a pair": ("[emotion.custom]\ninput_size = [64]\n", "emotion.custom.input_size", "input_size",
                              ["[width, height], each from 1 to 1024"]),
    "camera name unfit for a topic": ('[source]\nname = "front door/1"\n', "source.name", "name =",
                                      ["letters, digits", "MQTT topics"]),
    "unknown rule kind": ('[[alerts.rules]]\nname = "x"\nkind = "loiter"\n', "alerts.rules[0].kind", "kind =",
                          ["must be one of: emotion, face, crowd"]),
    "schedule window not HH:MM-HH:MM": ('[[alerts.rules]]\nname = "night"\nschedule = ["22-06"]\n',
                                        "alerts.rules[0].schedule", "schedule =", ["HH:MM-HH:MM", "'22-06'"]),
    "schedule hour out of range": ('[[alerts.rules]]\nname = "night"\nschedule = ["25:00-06:00"]\n',
                                   "alerts.rules[0].schedule", "schedule =", ["HH:MM-HH:MM"]),
    "unknown weekday": ('[[alerts.rules]]\nname = "x"\ndays = ["monday"]\n', "alerts.rules[0].days", "days =",
                        ["mon, tue, wed, thu, fri, sat, sun"]),
    "unknown exec placeholder": ('[alerts]\nexec = ["notify", "{face}"]\n', "alerts.exec", "exec =",
                                 ["unknown placeholder {face}; allowed: type, id, camera, rule, kind, track_id, "
                                  "emotion, score, peak_score, faces, snapshot"]),
    "unknown event type": ('[webhook]\nevents = ["start"]\n', "webhook.events", "events =",
                           ["must be a list drawn from new, update, end (got ['start'])"]),
    "webhook URL without a scheme": ('[webhook]\nurl = "hooks.example/x"\n', "webhook.url", "url =",
                                     ["http:// or https://"]),
    "header values that are not strings": ("[webhook.headers]\nX-Count = 3\n", "webhook.headers", "[webhook.headers]",
                                           ["must be a table of strings"]),
    "bad privacy choice": ('[snapshots]\nimages = "pixelated"\n', "snapshots.images", "images =",
                           ["full, blurred, none"]),
    "rules as one table": ('[alerts.rules]\nname = "x"\n', "alerts.rules", "[alerts.rules]",
                           ["must be an array of tables ([[alerts.rules]])"]),
    "a blank key binding": ('[keys]\nquit = " "\n', "keys.quit", "quit =", ["must not be empty (got ' ')"]),
    "a quoted and spaced dotted key": ('"detector" . "name" = "yolo"\n', "detector.name", '"detector" . "name"',
                                       ["deepface:<backend>"]),
}


@pytest.mark.parametrize("text, key, snippet, allowed", ERRORS.values(), ids=ERRORS.keys())
def test_error_names_key_file_line_and_what_is_allowed(tmp_path, text, key, snippet, allowed):
    path = write(tmp_path / "emotui.toml", text)
    (issue,) = issues_of(path)
    line = line_with(text, snippet)
    assert issue.key == key
    assert issue.file == path
    assert issue.line == line
    for fragment in allowed:
        assert fragment in issue.message
    assert str(issue).startswith(f"{path}:{line}: {key}: ")


EDGES = {  # values at the edges of what a setting allows, and just beyond them
    "detector.tiles": ([1, 8], [0, 9]),
    "detector.min_score": ([0.0, 1.0], [-0.01, 1.01]),
    "emotion.custom.input_size": ([[1, 1]], [[0, 64], [64, 0]]),
}


@pytest.mark.parametrize("dotted, inside, outside", [(key, *values) for key, values in EDGES.items()], ids=EDGES)
def test_values_at_the_edges_load_and_values_beyond_are_refused(tmp_path, dotted, inside, outside):
    *tables, key = dotted.split(".")
    for value, allowed in [(value, True) for value in inside] + [(value, False) for value in outside]:
        path = write(tmp_path / "emotui.toml", f"[{'.'.join(tables)}]\n{key} = {tomlkit.item(value).as_string()}\n")
        if allowed:
            assert getattr(reduce(getattr, tables, load_config(path)), key) == value
        else:
            (issue,) = issues_of(path)
            assert (issue.key, issue.line) == (dotted, 2), value


@pytest.mark.parametrize("window, allowed", [
    ("22:00-06:00", True), ("23:59-00:00", True), ("00:00-24:00", True), ("12:30-23:59", True),
    ("24:00-06:00", False), ("22:60-06:00", False), ("22:00-25:00", False), ("22:00-06:60", False),
    ("22:00-24:01", False), ("06:00-06:00", False), ("6:00-07:00", False),
])
def test_schedule_windows_run_from_00_00_to_24_00_and_have_different_ends(tmp_path, window, allowed):
    path = write(tmp_path / "emotui.toml", f'[[alerts.rules]]\nname = "night"\nschedule = ["{window}"]\n')
    if allowed:
        assert load_config(path).alerts.rules[0].schedule == [window]
    else:
        (issue,) = issues_of(path)
        assert issue.key == "alerts.rules[0].schedule"
        assert issue.message.startswith(f"each window must be HH:MM-HH:MM with different ends, e.g. 22:00-06:00 "
                                        f"(got {window!r})")


def test_toml_syntax_error_names_the_line(tmp_path):
    text = '[detector]\nname = "haar"\nmin_score = \ntiles = 2\n'
    path = write(tmp_path / "broken.toml", text)
    (issue,) = issues_of(path)
    assert issue.key == "(syntax)"
    assert issue.file == path
    assert issue.line == 3
    assert "not valid TOML" in issue.message
    assert str(issue).startswith(f"{path}:3: (syntax): ")


def test_toml_syntax_error_at_the_end_of_the_file_names_the_file(tmp_path):
    path = write(tmp_path / "cut.toml", '[detector]\nname = ')
    (issue,) = issues_of(path)
    assert str(issue) == f"{path}: (syntax): not valid TOML: Invalid value (at end of document)"


def test_unreadable_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "folder.toml"
    path.mkdir()
    (issue,) = issues_of(path)
    assert str(issue) == f"{path}: (file): cannot read: Is a directory"


def test_all_errors_in_one_file_are_reported_at_once(tmp_path):
    text = "\n".join([
        "# several mistakes",
        "[detector]",
        'name = "yolo"',
        "min_score = 1.5",
        "",
        "[tracker]",
        "smothing_s = 5",
        "label_margin = 2",
        "",
        "[emotion.custom]",
        'labels = ["happy", "bored"]',
        "",
        "[alerts]",
        'rules = { name = "x" }',
        "log_keep = 0",
        "",
        "[modles]",
        "threads = 2",
        "",
    ])
    path = write(tmp_path / "emotui.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    issues = caught.value.issues
    found = [(issue.key, issue.line) for issue in issues]
    assert found == [
        ("detector.name", 3),
        ("detector.min_score", 4),
        ("tracker.smothing_s", 7),
        ("tracker.label_margin", 8),
        ("emotion.custom.labels", 11),
        ("alerts.rules", 14),
        ("alerts.log_keep", 15),
        ("modles", 17),
    ]
    assert str(caught.value).splitlines() == [str(issue) for issue in issues]
    assert all(issue.file == path for issue in issues)
    assert "did you mean 'models'?" in issues[-1].message
    assert "did you mean 'smoothing_s'?" in issues[2].message


# --- discovery ---------------------------------------------------------------------------------


def uri_file(path: Path, uri: str) -> Path:
    return write(path, f'[source]\nuri = "{uri}"\n')


def loaded_uri(explicit: Path | None = None) -> str:
    return load_config(find_config_file(explicit)).source.uri


def test_discovery_order(tmp_path, monkeypatch):
    user_file = Path(platformdirs.user_config_dir("emotui")) / "config.toml"
    assert user_file.is_relative_to(tmp_path / "xdg-config"), "the user config dir must follow $XDG_CONFIG_HOME"
    project = tmp_path / "project"
    work = project / "sub" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    assert find_config_file() is None

    uri_file(user_file, "user")
    assert find_config_file() == user_file
    assert loaded_uri() == "user"

    parent_file = uri_file(project / "emotui.toml", "parent")
    assert find_config_file().resolve() == parent_file.resolve()
    assert loaded_uri() == "parent"

    uri_file(project / "sub" / "emotui.toml", "nearer parent")
    assert loaded_uri() == "nearer parent"

    uri_file(work / "emotui.toml", "cwd")
    assert loaded_uri() == "cwd"

    env_file = uri_file(tmp_path / "elsewhere" / "env.toml", "env")
    monkeypatch.setenv(CONFIG_ENV, str(env_file))
    assert find_config_file() == env_file
    assert loaded_uri() == "env"

    explicit = uri_file(tmp_path / "elsewhere" / "explicit.toml", "explicit")
    assert find_config_file(explicit) == explicit
    assert loaded_uri(explicit) == "explicit"
    assert find_config_file(str(explicit)) == explicit

    # and back down the chain as each is taken away
    monkeypatch.delenv(CONFIG_ENV)
    assert loaded_uri() == "cwd"
    (work / "emotui.toml").unlink()
    (project / "sub" / "emotui.toml").unlink()
    assert loaded_uri() == "parent"
    parent_file.unlink()
    assert loaded_uri() == "user"
    user_file.unlink()
    assert find_config_file() is None


def test_cwd_argument_is_searched_instead_of_the_working_directory(tmp_path):
    other = tmp_path / "other" / "deeper"
    other.mkdir(parents=True)
    found = uri_file(tmp_path / "other" / "emotui.toml", "other")
    assert find_config_file(cwd=other).resolve() == found.resolve()
    assert find_config_file() is None  # nothing in the working directory (tmp_path) itself


def test_missing_explicit_path_is_an_error_naming_it(tmp_path):
    uri_file(tmp_path / "emotui.toml", "cwd")  # present, but must not be used instead
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        find_config_file(missing)
    (issue,) = caught.value.issues
    assert issue.key == "--config"
    assert str(missing) in issue.message


def test_missing_env_path_is_an_error_naming_it(tmp_path, monkeypatch):
    uri_file(tmp_path / "emotui.toml", "cwd")
    missing = tmp_path / "gone.toml"
    monkeypatch.setenv(CONFIG_ENV, str(missing))
    with pytest.raises(ConfigError) as caught:
        find_config_file()
    (issue,) = caught.value.issues
    assert issue.key == CONFIG_ENV
    assert str(missing) in issue.message


def test_folder_given_as_config_is_an_error(tmp_path):
    with pytest.raises(ConfigError):
        find_config_file(tmp_path)


# --- the CLI -----------------------------------------------------------------------------------


def test_cli_config_check_good_file(tmp_path):
    path = write(tmp_path / "good.toml", tomlkit.dumps(FULL))
    result = run_cli("config", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{path}: OK"


def test_cli_config_check_bad_file_lists_every_error(tmp_path):
    text = '[detector]\nname = "yolo"\n\n[tracker]\nsmoothing_s = "8"\n'
    path = write(tmp_path / "bad.toml", text)
    result = run_cli("config", "check", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"{path}:2: detector.name: " in result.stderr
    assert f"{path}:5: tracker.smoothing_s: must be a number" in result.stderr
    assert "deepface:<backend>" in result.stderr


def test_cli_config_check_syntax_error(tmp_path):
    path = write(tmp_path / "broken.toml", "[detector\nname = 1\n")
    result = run_cli("config", "check", str(path))
    assert result.returncode == 2
    assert f"{path}:1: (syntax)" in result.stderr


def test_cli_config_check_without_a_file_says_defaults_apply():
    result = run_cli("config", "check")
    assert result.returncode == 0, result.stderr
    assert "defaults apply" in result.stdout


def test_cli_config_check_without_a_file_checks_the_one_found(tmp_path):
    write(tmp_path / "emotui.toml", "[detector]\ntiles = 0\n")
    result = run_cli("config", "check")
    assert result.returncode == 2
    assert "emotui.toml:2: detector.tiles: must be \"auto\" or a grid size from 1 (no tiles) to 8" in result.stderr


def test_cli_config_check_missing_file(tmp_path):
    result = run_cli("config", "check", str(tmp_path / "absent.toml"))
    assert result.returncode == 2
    assert f"no config file at {tmp_path / 'absent.toml'}" in result.stderr
    result = run_cli("config", "check", "--config", str(tmp_path / "absent.toml"))
    assert result.returncode == 2
    assert "--config" in result.stderr and "absent.toml" in result.stderr


def test_cli_uses_env_config(tmp_path):
    path = write(tmp_path / "via-env.toml", '[emotion]\nmodel = "nope"\n')
    result = run_cli("config", "check", env={CONFIG_ENV: str(path)})
    assert result.returncode == 2
    assert f"{path}:2: emotion.model" in result.stderr


# --- command-line options that override settings ------------------------------------------------

BAD_OPTIONS = ["--detector", "foo", "--min-score", "5", "--tiles", "0", "--emotion", "bar"]
SAME_IN_A_FILE = '[detector]\nname = "foo"\nmin_score = 5\ntiles = 0\n\n[emotion]\nmodel = "bar"\n'


def test_cli_options_are_checked_like_the_file_every_problem_named_by_its_option(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not checked: the options are refused first")
    result = run_cli("run", "--headless", "--source", str(clip), *BAD_OPTIONS)
    assert result.returncode == 2
    assert result.stdout == ""
    file_issues = issues_of(write(tmp_path / "same.toml", SAME_IN_A_FILE))
    options = BAD_OPTIONS[::2]
    assert [issue.key for issue in file_issues] == ["detector.name", "detector.min_score", "detector.tiles",
                                                     "emotion.model"]
    assert result.stderr.splitlines() == [f"emotui: config error: {option}: {issue.message}"
                                          for option, issue in zip(options, file_issues)]
    assert ("emotui: config error: --detector: must be blazeface-dual, blazeface, blazeface-full, haar or "
            "deepface:<backend> (e.g. deepface:yunet) (got 'foo')") in result.stderr
    assert "--emotion: must be one of: mini-xception, deepface, custom (got 'bar')" in result.stderr


def test_options_set_settings_as_the_file_would():
    config = Config()
    apply_options(config, {"--detector": ("detector.name", "haar"), "--min-score": ("detector.min_score", "1"),
                           "--tiles": ("detector.tiles", "3"), "--emotion": ("emotion.model", "deepface")})
    assert (config.detector.name, config.detector.tiles, config.emotion.model) == ("haar", 3, "deepface")
    assert config.detector.min_score == 1.0 and isinstance(config.detector.min_score, float)
    apply_options(config, {"--tiles": ("detector.tiles", "auto"), "--detector": ("detector.name", "deepface:yunet")})
    assert (config.detector.tiles, config.detector.name) == ("auto", "deepface:yunet")


def test_options_with_one_bad_value_set_nothing():
    config = Config()
    with pytest.raises(ConfigError) as caught:
        apply_options(config, {"--detector": ("detector.name", "haar"), "--min-score": ("detector.min_score", "high")})
    (issue,) = caught.value.issues
    assert (issue.key, issue.file, issue.line) == ("--min-score", None, None)
    assert issue.message.startswith("must be a number (got 'high')")
    assert str(issue) == f"--min-score: {issue.message}"
    assert config == Config()


RULES = """
[[alerts.rules]]
name = "fear"
emotions = ["fear", "sad"]
threshold = 0.7
min_duration_s = 1.5

[[alerts.rules]]
emotions = ["joy"]
threshold = 2

[[alerts.rules]]
name = "fear"
"""


def test_alert_rules_load_and_each_error_names_the_rule_index_and_line(tmp_path):
    path = write(tmp_path / "emotui.toml", RULES)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    found = {(i.key, i.line): i.message for i in caught.value.issues}
    assert ("alerts.rules[1].emotions", 9) in found
    assert ("alerts.rules[1].threshold", 10) in found
    assert found["alerts.rules[1]", 8] == "needs 'name' (a unique name, shown in the console and in events)"
    assert ("alerts.rules", 2) in found  # "fear" twice
    good = write(tmp_path / "good.toml", RULES.split("[[alerts.rules]]\nemotions")[0])
    (rule,) = load_config(good).alerts.rules
    assert (rule.name, rule.emotions, rule.threshold, rule.min_duration_s) == ("fear", ["fear", "sad"], 0.7, 1.5)


def test_repeated_rule_names_are_listed_once_each_without_the_rules_themselves(tmp_path):
    text = "".join(f'[[alerts.rules]]\nname = "{name}"\n' for name in ("fear", "anger", "fear", "anger"))
    (issue,) = issues_of(write(tmp_path / "emotui.toml", text))
    assert (issue.key, issue.line) == ("alerts.rules", 1)
    assert issue.message == "rule names must be unique (repeated: anger, fear); [[alerts.rules]] tables"


def test_words_of_the_vocabulary_load_as_its_enums(tmp_path):
    path = write(tmp_path / "emotui.toml", '[alerts]\nexec_on = ["end"]\n\n'
                 '[[alerts.rules]]\nname = "busy"\nkind = "crowd"\nseverity = "info"\n')
    config = load_config(path)
    (rule,) = config.alerts.rules
    assert (rule.kind, rule.severity) == (RuleKind.CROWD, Severity.INFO)
    assert (type(rule.kind), type(rule.severity)) == (RuleKind, Severity)
    assert config.alerts.exec_on == [EventType.END] and type(config.alerts.exec_on[0]) is EventType


def test_default_rules_watch_fear_and_anger_and_are_not_shared():
    first, second = Config(), Config()
    assert [(r.name, r.emotions) for r in first.alerts.rules] == [("fear", ["fear"]), ("anger", ["angry"])]
    first.alerts.rules[0].threshold = 0.1
    assert second.alerts.rules[0].threshold == 0.6
