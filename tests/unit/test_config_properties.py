"""Property-based tests of the configuration: whatever value a key is given, loading either
accepts it as written or raises a ConfigError naming that key and its line; never another error."""

from __future__ import annotations

import dataclasses
import math

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emotui.config import Config, ConfigError, load_config

SCALARS = [
    (section.name, field.name, field.type)
    for section in dataclasses.fields(Config) if section.name != "path"
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
