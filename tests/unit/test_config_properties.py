"""Property-based tests of the configuration: whatever value a key is given, loading either
accepts it as written or raises a ConfigError naming that key and its line; never another error.
Every numeric key (found in the schema) refuses nan, inf and absurd sizes; values `run` could never
use are refused by `config check` too; no file, however broken, gives a traceback; and a fuzz of
mutated example configs and random structures holds all of that."""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import tomllib
from functools import reduce
from pathlib import Path

import pytest
import tomlkit
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from emotui.config import Config, ConfigError, apply_options, load_config
from tests.helpers import run_cli

SCALARS = [
    (section.name, field.name, field.type)
    for section in dataclasses.fields(Config) if section.name not in ("path", "cameras")
    for field in dataclasses.fields(section.default_factory())
    if field.type in ("str", "int", "float", "bool")
]

ANY_VALUE = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=12),
    st.lists(st.integers(min_value=0, max_value=9), max_size=3),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(min_value=0, max_value=9), max_size=2),
)


def _inline(value) -> str:
    """A value as it would be written after `key = ` (tables inline)."""
    if isinstance(value, dict):
        table = tomlkit.inline_table()
        table.update(value)
        return table.as_string()
    return tomlkit.item(value).as_string()


def _file(tmp_path_factory, section: str, key: str, value) -> tuple:
    """A config file setting [section] key = value on line 3."""
    path = tmp_path_factory.mktemp("prop") / "emotui.toml"
    path.write_text(f"# generated\n[{section}]\n{key} = {_inline(value)}\n", encoding="utf-8")
    return path, 3


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(SCALARS), value=ANY_VALUE)
def test_any_value_is_loaded_as_written_or_refused_naming_its_key_and_line(tmp_path_factory, key, value):
    section, name, kind = key
    path, line = _file(tmp_path_factory, section, name, value)
    try:
        config = load_config(path)
    except ConfigError as error:
        assert [issue.key for issue in error.issues] == [f"{section}.{name}"]
        (issue,) = error.issues
        assert issue.file == path and issue.line == line
        return
    loaded = getattr(getattr(config, section), name)
    expected = float(value) if kind == "float" else value
    assert type(loaded).__name__ == kind and (loaded == expected or math.isclose(loaded, expected))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from([k for k in SCALARS if k[2] in ("int", "float")]),
       value=st.one_of(st.text(max_size=5), st.booleans(), st.lists(st.integers(), max_size=2)))
def test_a_number_setting_never_takes_text_a_boolean_or_a_list(tmp_path_factory, key, value):
    section, name, _ = key
    path, _ = _file(tmp_path_factory, section, name, value)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert "must be" in raised.value.issues[0].message and raised.value.issues[0].key == f"{section}.{name}"


# --- numbers: every numeric key, found in the schema, refuses nan, inf and absurd sizes ---------


def _numeric_keys(schema=Config, prefix=""):
    """(dotted key as written in a file, TOML that sets it to {value}) for every int and float
    setting, [[alerts.rules]] and [emotion.custom] included: a new key is covered by itself."""
    keys = []
    for spec in dataclasses.fields(schema):
        if schema is Config and spec.name == "path":
            continue
        value = spec.default_factory() if spec.default_factory is not dataclasses.MISSING else spec.default
        if dataclasses.is_dataclass(value):
            keys += _numeric_keys(type(value), f"{prefix}{spec.name}.")
        elif isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            keys += [(f"{prefix}{spec.name}[0].{key.rsplit('.', 1)[1]}",
                      f'[[{prefix}{spec.name}]]\nname = "r"\n{text.split(chr(10), 1)[1]}')
                     for key, text in _numeric_keys(type(value[0]), "x.")]
        elif spec.type in ("int", "float", "int | str"):
            table, _, _ = f"{prefix}{spec.name}".rpartition(".")
            keys.append((f"{prefix}{spec.name}", f"[{table}]\n{spec.name} = {{value}}\n"))
    return keys


NUMERIC_KEYS = _numeric_keys()
ABSURD_NUMBERS = ["nan", "+nan", "-nan", "inf", "+inf", "-inf", "1e300", "-1e300", str(2**63 - 1), str(-(2**63)),
                  "1" * 400]


def test_the_schema_has_the_numeric_keys_the_issue_names():
    keys = [key for key, _ in NUMERIC_KEYS]
    assert len(keys) >= 30
    assert {"detector.min_score", "alerts.rules[0].threshold", "alerts.rules[0].min_duration_s",
            "tracker.smoothing_s", "emotion.padding", "source.stall_s", "webhook.timeout_s"} <= set(keys)


@pytest.mark.parametrize("number", ABSURD_NUMBERS)
@pytest.mark.parametrize("key, template", NUMERIC_KEYS, ids=[key for key, _ in NUMERIC_KEYS])
def test_every_numeric_key_refuses_nan_infinity_and_absurd_sizes(tmp_path, key, template, number):
    path = tmp_path / "emotui.toml"
    path.write_text(template.format(value=number), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    (issue,) = raised.value.issues
    assert issue.key == key and issue.line == template.count("\n") and "must be" in issue.message
    assert len(issue.message) < 400  # the value is quoted shortened, a 400-digit number included


@pytest.mark.parametrize("key, template", NUMERIC_KEYS, ids=[key for key, _ in NUMERIC_KEYS])
def test_every_numeric_key_accepts_its_default(tmp_path, key, template):
    """The bounds leave room for the default (so the refusals above are of the number, not the key)."""
    default = reduce(lambda obj, part: obj[int(part[:-1])] if part.endswith("]") else getattr(obj, part),
                     key.replace("[", ".").split("."), Config())
    path = tmp_path / "emotui.toml"
    path.write_text(template.format(value=_inline(default)), encoding="utf-8")
    load_config(path)


@pytest.mark.parametrize("option, value", [("--min-score", "nan"), ("--min-score", "inf"), ("--tiles", "nan"),
                                           ("--min-score", "1" * 5000)])
def test_an_option_refuses_nan_and_infinity_as_the_file_does(option, value):
    with pytest.raises(ConfigError) as raised:
        apply_options(Config(), {option: ({"--min-score": "detector.min_score", "--tiles": "detector.tiles"}[option],
                                           value)})
    assert [issue.key for issue in raised.value.issues] == [option]


def test_a_custom_models_input_size_is_bounded(tmp_path):
    path = tmp_path / "emotui.toml"
    path.write_text("[emotion.custom]\ninput_size = [100000, 64]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"emotion.custom.input_size: must be \[width, height\], each from 1 to 1024"):
        load_config(path)


# --- MQTT topics, URLs and the other values `run` would refuse at start --------------------------

REFUSED = {
    "prefix with wildcards": ('[mqtt]\nprefix = "a/+/#"\n', "mqtt.prefix", "wildcards"),
    "prefix a wildcard": ('[mqtt]\nprefix = "#"\n', "mqtt.prefix", "wildcards"),
    "prefix reserved": ('[mqtt]\nprefix = "$SYS/emotui"\n', "mqtt.prefix", "must not start with $"),
    "prefix empty level": ('[mqtt]\nprefix = "a//b"\n', "mqtt.prefix", "non-empty topic levels"),
    "prefix leading slash": ('[mqtt]\nprefix = "/emotui"\n', "mqtt.prefix", "non-empty topic levels"),
    "prefix empty": ('[mqtt]\nprefix = ""\n', "mqtt.prefix", "non-empty topic levels"),
    "prefix NUL": ('[mqtt]\nprefix = "a\\u0000b"\n', "mqtt.prefix", "control characters"),
    "prefix too long": (f'[mqtt]\nprefix = "{"é" * 513}"\n', "mqtt.prefix", "at most 1024 bytes"),
    "discovery prefix wildcard": ('[mqtt]\ndiscovery_prefix = "home/+"\n', "mqtt.discovery_prefix", "wildcards"),
    "client id NUL": ('[mqtt]\nclient_id = "a\\u0000"\n', "mqtt.client_id", "control characters"),
    "client id too long": (f'[mqtt]\nclient_id = "{"x" * 257}"\n', "mqtt.client_id", "at most 256 bytes"),
    "camera name a topic": ('[source]\nname = "door/+"\n', "source.name", "letters, digits"),
    "broker host with port": ('[mqtt]\nhost = "mqtt://broker:1883"\n', "mqtt.host", "without scheme or port"),
    "key without certificate": ('[mqtt]\nkey_file = "client.key"\n', "mqtt.key_file", "needs cert_file"),
    "webhook port too big": ('[webhook]\nurl = "http://127.0.0.1:99999/hook"\n', "webhook.url", "0-65535"),
    "webhook port zero": ('[webhook]\nurl = "http://127.0.0.1:0/hook"\n', "webhook.url", "outside 1-65535"),
    "webhook port not a number": ('[webhook]\nurl = "http://host:http/"\n', "webhook.url", "not a valid URL"),
    "webhook no host": ('[webhook]\nurl = "http:///hook"\n', "webhook.url", "names no host"),
    "webhook bad IPv6": ('[webhook]\nurl = "http://[::1/hook"\n', "webhook.url", "not a valid URL"),
    "webhook scheme": ('[webhook]\nurl = "ftp://host/hook"\n', "webhook.url", "http:// or https://"),
    "webhook space": ('[webhook]\nurl = "http://host/a b"\n', "webhook.url", "spaces"),
    "webhook header name": ('[webhook]\nheaders = {"X Token" = "1"}\n', "webhook.headers", "valid header name"),
    "webhook header value": ('[webhook]\nheaders = {X-A = "a\\nb"}\n', "webhook.headers", "single line"),
    "webhook header variable": ('[webhook]\nheaders_env = {"A:B" = "VAR"}\n', "webhook.headers_env", "header name"),
    "camera port too big": ('[source]\nuri = "rtsp://cam:70000/stream"\n', "source.uri", "0-65535"),
    "camera no host": ('[source]\nuri = "rtsp:///stream"\n', "source.uri", "names no host"),
    "camera port not a number": ('[source]\nuri = "http://cam:x/video"\n', "source.uri", "not a valid URL"),
    "source empty": ('[source]\nuri = " "\n', "source.uri", "must not be empty"),
    "retry min above max": ("[source]\nretry_min_s = 5.0\nretry_max_s = 1.0\n", "source.retry_min_s",
                            "must not exceed retry_max_s"),
    "custom model without path": ('[emotion]\nmodel = "custom"\n', "emotion.model", "needs [emotion.custom] path"),
    "custom model not a model": ('[emotion.custom]\npath = "model.pt"\n', "emotion.custom.path", ".onnx or .tflite"),
    "exec without program": ('[alerts]\nexec = ["", "{rule}"]\n', "alerts.exec", "program"),
    "exec NUL": ('[alerts]\nexec = ["/bin/echo", "a\\u0000"]\n', "alerts.exec", "NUL"),
}


@pytest.mark.parametrize("text, key, message", REFUSED.values(), ids=REFUSED.keys())
def test_a_value_that_can_never_work_is_a_config_error_naming_its_key_and_line(tmp_path, text, key, message):
    path = tmp_path / "emotui.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    (issue,) = raised.value.issues
    assert issue.key == key and message in issue.message
    assert issue.line == next(n for n, line in enumerate(text.splitlines(), 1) if key.rsplit(".", 1)[1] in line)


ACCEPTED = [
    '[mqtt]\nprefix = "emotui/door"\ndiscovery_prefix = "homeassistant"\nclient_id = "emotui door 1"\n',
    '[mqtt]\nprefix = "maison/entrée"\nhost = "broker.local"\n',
    '[mqtt]\nprefix = "emotui/"\ndiscovery_prefix = "homeassistant/"\n',  # a trailing '/' is dropped, as before
    '[mqtt]\nhost = "192.168.1.10"\n',
    '[mqtt]\nhost = "fd00::1"\n',
    '[mqtt]\ntls = true\ncert_file = "client.pem"\nkey_file = "client.key"\n',
    '[webhook]\nurl = "https://user:pass@hooks.example.com:8443/a?b=c"\nheaders = {X-Token = "abc"}\n',
    '[webhook]\nurl = "http://[::1]:8080/hook"\n',
    '[source]\nuri = "rtsp://user:pw@10.0.0.7:554/stream1"\n',
    '[source]\nuri = "missing/video.mp4"\n',  # a file may appear later
    '[emotion]\nmodel = "custom"\n[emotion.custom]\npath = "missing/model.onnx"\n',  # likewise
    '[source]\nretry_min_s = 2.0\nretry_max_s = 2.0\n',
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_values_that_can_work_are_accepted(tmp_path, text):
    path = tmp_path / "emotui.toml"
    path.write_text(text, encoding="utf-8")
    load_config(path)


def test_an_option_that_needs_another_setting_is_refused_by_its_name():
    with pytest.raises(ConfigError) as raised:
        apply_options(Config(), {"--emotion": ("emotion.model", "custom")})
    assert [issue.key for issue in raised.value.issues] == ["--emotion"]
    assert "needs [emotion.custom] path" in raised.value.issues[0].message


# --- files that are not config files: a clear message naming the file, exit 2, no traceback -----

BAD_FILES = {
    "deep arrays": (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply", None),
    "deep inline tables": (b"a = " + b"{b = " * 3000 + b"1" + b"}" * 3000 + b"\n", "nested too deeply", None),
    "deep masks": (b"[detector]\nmasks = " + b"[" * 200 + b"]" * 200 + b"\n", "detector.masks", 2),
    "latin-1": ('# config\n[source]\nname = "caméra"\n'.encode("latin-1"), "not UTF-8 text", 3),
    "binary junk": (bytes(range(256)) * 4, "not UTF-8 text", 2),  # the first byte above 0x7f follows a \\n
    "control bytes": (b"[source]\x00\x01\x02\n", "not valid TOML", 1),
    "huge": (b"# " + b"x" * (5 * 2**20) + b"\n", "larger than 4 MiB", None),
    "giant integer": (b"[source]\nstall_s = " + b"9" * 5000 + b"\n", "not valid TOML", None),
}


@pytest.mark.parametrize("data, message, line", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_config_check_names_the_file_and_the_problem_of_any_bad_file(tmp_path, data, message, line):
    path = tmp_path / "emotui.toml"
    path.write_bytes(data)
    result = run_cli("config", "check", str(path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and message in result.stderr
    where = f"{path}:{line}: " if line else f"{path}: "
    assert result.stderr.startswith(f"emotui: config error: {where}"), result.stderr


# --- the fuzz: mutated example configs and random structures ------------------------------------

EXAMPLE = Path(__file__).resolve().parents[2] / "config.toml.example"
EXAMPLE_DATA = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
SCHEMA_WORDS = sorted({f.name for section in dataclasses.fields(Config) if section.name not in ("path", "cameras")
                       for f in dataclasses.fields(section.default_factory())} | set(EXAMPLE_DATA))
NUMBERS = st.one_of(
    st.floats(width=64), st.sampled_from([math.nan, math.inf, -math.inf, 0, -1, 1e308, 2**63 - 1, -(2**63), 10**400]),
    st.integers(min_value=-(2**64), max_value=2**64),
)
LEAVES = st.one_of(NUMBERS, st.booleans(), st.text(max_size=20),
                   st.sampled_from(["", "a/+/#", "$SYS", "http://h:99999/", "rtsp:///x", "custom", "auto", "nan"]))
VALUES = st.recursive(
    LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                    st.dictionaries(st.sampled_from(SCHEMA_WORDS), inner, max_size=4)),
    max_leaves=12,
)


def _leaves(table, path=()):
    """Every (path to a value) in a parsed TOML table, lists of tables entered by index."""
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _leaves(value, (*path, key))
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            for index, item in enumerate(value):
                yield from _leaves(item, (*path, key, index))
        else:
            yield (*path, key)


@st.composite
def mutated_example(draw):
    """config.toml.example with one to four values nudged (a number scaled, often still allowed),
    replaced by a number (nan, inf and huge ones often) or anything, keys renamed or removed."""
    data = copy.deepcopy(EXAMPLE_DATA)
    data["alerts"]["rules"] = [{"name": "fear", "emotions": ["fear"], "threshold": 0.6}]
    for _ in range(draw(st.integers(1, 4))):
        leaves = list(_leaves(data))
        if not leaves:
            break
        *parents, last = draw(st.sampled_from(leaves))
        table = reduce(lambda t, k: t[k], parents, data)
        action = draw(st.sampled_from(["nudge", "nudge", "number", "replace", "rename", "remove"]))
        old = table[last]
        if action == "nudge" and isinstance(old, (int, float)) and not isinstance(old, bool) and abs(old) <= 10**6:
            table[last] = type(old)(old * draw(st.floats(0, 3)) + draw(st.integers(-1, 1)))
        elif action == "number":
            table[last] = draw(NUMBERS)
        elif action in ("nudge", "replace"):
            table[last] = draw(VALUES)
        elif action == "rename":
            table[draw(st.sampled_from(SCHEMA_WORDS))] = table.pop(last)
        else:
            table.pop(last)
    return tomlkit.dumps(data)


RANDOM_STRUCTURE = st.dictionaries(st.sampled_from(SCHEMA_WORDS), VALUES, max_size=6).map(tomlkit.dumps)
CONFIG_TEXTS = st.one_of(mutated_example(), RANDOM_STRUCTURE)


def fuzz(files: int):
    """The test runs on `files` generated config files, each written by `_fuzz_file`."""
    return settings(max_examples=files, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _fuzz_file(tmp_path_factory, text: str) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "emotui.toml"
    path.write_text(text, encoding="utf-8")
    return path


@fuzz(400)
@given(text=CONFIG_TEXTS)
def test_fuzz_every_config_loads_or_is_refused_naming_a_key(tmp_path_factory, text):
    path = _fuzz_file(tmp_path_factory, text)
    try:
        config = load_config(path)
    except ConfigError as error:
        event("refused")
        assert error.issues
        for issue in error.issues:
            assert issue.file == path and issue.message
            assert issue.key.split(".")[0].split("[")[0] in SCHEMA_WORDS, issue
        return
    event("accepted")
    assert all(math.isfinite(number) and abs(number) <= 10**6 for number in _numbers(config))


def _numbers(value):
    """Every number in a loaded config (its settings, rules and lists)."""
    if dataclasses.is_dataclass(value):
        for spec in dataclasses.fields(value):
            yield from _numbers(getattr(value, spec.name))
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


@fuzz(15)
@given(text=CONFIG_TEXTS)
def test_fuzz_config_check_exits_0_or_2_naming_the_key_never_a_traceback(tmp_path_factory, text):
    path = _fuzz_file(tmp_path_factory, text)
    result = run_cli("config", "check", str(path))
    assert "Traceback" not in result.stderr
    if result.returncode == 0:
        event("accepted")
        assert result.stdout == f"{path}: OK\n"
        return
    event("refused")
    assert result.returncode == 2, result.stderr
    for line in result.stderr.splitlines():
        assert re.match(rf"emotui: config error: {re.escape(str(path))}(:\d+)?: [\w\[\].-]+: \S", line), line


def test_a_refused_url_is_never_quoted_as_it_may_hold_a_password(tmp_path):
    path = tmp_path / "emotui.toml"
    path.write_text('[source]\nuri = "rtsp://admin:s3cret@cam:99999/stream"\n[webhook]\n'
                    'url = "https://bot:t0ken@hooks.example.com:0/x"\nheaders = {"Bad Name" = "k3y"}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert [issue.key for issue in raised.value.issues] == ["source.uri", "webhook.url", "webhook.headers"]
    assert not re.search("s3cret|t0ken|k3y", str(raised.value))


def test_a_source_option_that_can_never_work_is_a_config_error_naming_the_option():
    result = run_cli("run", "--headless", "--source", "rtsp://admin:s3cret@cam:99999/stream")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("emotui: config error: --source: is not a valid URL (Port out of range 0-65535)")
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr


def test_each_of_3000_refused_rules_is_located_on_its_own_line(tmp_path):
    """The line index serves thousands of issues (benchmarks/config_check.py times it)."""
    path = tmp_path / "emotui.toml"
    path.write_text("".join(f'[[alerts.rules]]\nname = "r{n}"\nthreshold = 2.0\n' for n in range(3000)), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert [(issue.key, issue.line) for issue in raised.value.issues] == [
        (f"alerts.rules[{n}].threshold", 3 * n + 3) for n in range(3000)]


def test_an_issue_in_an_inline_array_of_tables_is_located_on_its_line(tmp_path):
    path = tmp_path / "emotui.toml"
    path.write_text('[alerts]\narmed = true\nrules = [{name = "a"}, {name = "b", threshold = nan}]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert [(issue.key, issue.line) for issue in raised.value.issues] == [("alerts.rules[1].threshold", 3)]
