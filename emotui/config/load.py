"""Finding the config file nearest-first, reading it into the schema's dataclasses and checking
every value: the file's and those given as command-line options, with the same messages.

Every problem is reported with its dotted key (or option), the file and line where the key
stands, and what is allowed, so `emotui config check` can list them all at once.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import reprlib
import tomllib
import types
from dataclasses import Field, dataclass, fields, is_dataclass
from enum import StrEnum
from functools import cache, cached_property, reduce
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import platformdirs

from emotui.config.schema import DEMO_RULES, DEMO_SOURCE, Config, SourceConfig

CONFIG_ENV = "EMOTUI_CONFIG"
CONFIG_FILENAME = "emotui.toml"
MAX_FILE_BYTES = 4 * 2**20  # a config with thousands of rules is a few hundred KB
_SHOWN = reprlib.Repr()  # a value quoted in a message: short whatever its size or depth
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlist, _SHOWN.maxdict = 3, 80, 80, 8, 8


@dataclass(frozen=True)
class ConfigIssue:
    key: str
    message: str
    file: Path | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file and self.line else f"{self.file}: " if self.file else ""
        return f"{where}{self.key}: {self.message}"


class ConfigError(Exception):
    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


def user_config_file() -> Path:
    """The config file in the user config dir (it may not exist)."""
    return Path(platformdirs.user_config_dir("emotui")) / "config.toml"


def find_config_file(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path | None:
    """The config to use: --config, then $EMOTUI_CONFIG, then emotui.toml in the working
    directory or its nearest parent, then the user config dir; None means built-in defaults."""
    for origin, given in (("--config", explicit), (CONFIG_ENV, os.environ.get(CONFIG_ENV))):
        if given:
            path = Path(given).expanduser()
            if not path.is_file():
                raise ConfigError([ConfigIssue(origin, f"no config file at {path}")])
            return path
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (candidate := folder / CONFIG_FILENAME).is_file():
            return candidate
    user = user_config_file()
    return user if user.is_file() else None


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    text = _read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"line (\d+)", str(error))
        raise ConfigError(
            [ConfigIssue("(syntax)", f"not valid TOML: {error}", path, int(match.group(1)) if match else None)]
        ) from None
    except ValueError as error:  # an integer of more digits than Python converts
        raise ConfigError([ConfigIssue("(syntax)", f"not valid TOML: {error}", path)]) from None
    except RecursionError:
        raise ConfigError([ConfigIssue("(syntax)", "arrays or tables nested too deeply", path)]) from None
    issues: list[ConfigIssue] = []
    locator = _Locator(path, text)
    config = _build(Config, data, "", issues, locator)
    if not issues:
        issues.extend(_inherit_source(config, data, locator))
    if issues:
        raise ConfigError(issues)
    config.path = path
    return config


def _inherit_source(config: Config, data: dict, locator: _Locator) -> list[ConfigIssue]:
    """Each [[cameras]] table takes the [source] table's values for the source keys it does not set;
    returns what the merged settings cannot do together, and the rules a camera names that it does
    not have (those of [[alerts.rules]]; on the demo source also the demo's own, DEMO_RULES)."""
    inherited = [spec.name for spec in fields(SourceConfig) if spec.name != "name"]
    configured = {rule.name for rule in config.alerts.rules}
    demo_own = {rule.name for rule in DEMO_RULES} - configured
    issues = []
    for index, (camera, table) in enumerate(zip(config.cameras, data.get("cameras", []))):
        for key in inherited:
            if key not in table:
                setattr(camera, key, getattr(config.source, key))
        for key, problem in SourceConfig.cross_checks(camera):
            where = f"cameras[{index}]" + (f".{key}" if key in table else "")  # an inherited key: the table
            issues.append(ConfigIssue(f"cameras[{index}].{key}", f"{problem} (with the [source] values it inherits)",
                                      locator.path, locator.line_of(where)))
        known = configured | (demo_own if camera.uri.strip() == DEMO_SOURCE else set())
        for key, names in (("rules", camera.rules), ("thresholds", list(camera.thresholds))):
            if unknown := [name for name in names if name not in known]:
                demo = [name for name in unknown if name in demo_own]
                hint = (f"; {', '.join(map(repr, demo))}: the demo source's own, only on a camera whose uri is "
                        f"{DEMO_SOURCE!r}") if demo else ""
                issues.append(locator.issue(f"cameras[{index}].{key}", f"no rule named {', '.join(map(repr, unknown))} "
                                            f"in [[alerts.rules]] (rules: {', '.join(sorted(configured))}){hint}"))
    return issues


def _read_text(path: Path) -> str:
    """The file's text, if it is UTF-8 and at most MAX_FILE_BYTES long."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ConfigError([ConfigIssue("(file)", f"cannot read: {error.strerror}", path)]) from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError([ConfigIssue("(file)", f"larger than {MAX_FILE_BYTES // 2**20} MiB: not a config file", path)])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ConfigError([ConfigIssue(
            "(file)", f"not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start})", path, line)]) from None


def apply_options(config: Config, options: dict[str, tuple[str, str]]) -> None:
    """Set the settings given as command-line options, e.g. {"--detector": ("detector.name", "haar")}.
    Each value is checked as the file's are; a ConfigError names every option not allowed, and
    then nothing is set."""
    issues: list[ConfigIssue] = []
    values: dict[str, tuple[Any, str, Any]] = {}  # option -> (section, key, value)
    for option, (dotted, text) in options.items():
        *sections, key = dotted.split(".")
        section = reduce(getattr, sections, config)
        spec, expected = {f.name: f for f in fields(section)}[key], _hints(type(section))[key]
        value = _option_value(text, expected)
        if problem := _problem(spec, expected, value):
            issues.append(ConfigIssue(option, problem))
        else:
            values[option] = (section, key, _typed(value, expected))
    for option, (section, _, _) in values.items():
        changed = dataclasses.replace(section, **{key: value for s, key, value in values.values() if s is section})
        issues.extend(ConfigIssue(option, problem) for _, problem in _cross_problems(changed))
    if issues:
        raise ConfigError(issues)
    for section, key, value in values.values():
        setattr(section, key, value)


def _option_value(text: str, expected: Any) -> Any:
    """An option's text as a number when its setting takes one, as the file would hold it (5 an
    integer, 0.5 a float); other text stays text, for the checks to report."""
    accepted = get_args(expected) if isinstance(expected, types.UnionType) else (expected,)
    if int in accepted or float in accepted:
        for number in (int, float):
            try:
                return number(text)
            except ValueError:
                pass
    return text


class _Locator:
    """Finds the line where a dotted key is set (tomllib keeps no positions). The file is read
    once into an index, when the first issue needs it, so locating thousands of issues stays
    linear in the file's size."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self._text = text

    @cached_property
    def _index(self) -> tuple[dict[str, int], dict[str, int]]:
        """The first line of each table header (and of what precedes each [n] in it) and of each
        table + dotted key."""
        tables: dict[str, int] = {}
        keys: dict[str, int] = {}
        table = ""
        seen_arrays: dict[str, int] = {}
        for number, raw in enumerate(self._text.splitlines(), start=1):
            line = raw.strip()
            if header := re.match(r"^\[+\s*([^\]]+?)\s*\]+", line):
                table = _dotted(header.group(1))
                if line.startswith("[["):  # array of tables: the nth [[x]] is x[n]
                    seen_arrays[table] = seen_arrays.get(table, -1) + 1
                    table = f"{table}[{seen_arrays[table]}]"
                for name in (table, *(table[:i] for i, char in enumerate(table) if char == "[")):
                    tables.setdefault(name, number)
            elif assignment := re.match(r"^([\w\-.\"' ]+?)\s*=", line):
                key = _dotted(assignment.group(1))
                keys.setdefault(f"{table}.{key}" if table else key, number)
        return tables, keys

    def line_of(self, dotted: str) -> int | None:
        """The first line of the table header `[dotted]` (or `[[dotted]]`), or of the key whose
        full dotted name (table + dotted key) is `dotted` or, for an inline table or array, a prefix of it."""
        tables, keys = self._index
        prefixes = (dotted[:i] for i, char in enumerate(dotted) if char in ".[")
        lines = [tables.get(dotted), keys.get(dotted), *map(keys.get, prefixes)]
        return min((line for line in lines if line is not None), default=None)

    def issue(self, dotted: str, message: str) -> ConfigIssue:
        return ConfigIssue(dotted, message, self.path, self.line_of(dotted))


def _dotted(key: str) -> str:
    """`a . "b"` -> `a.b`: a TOML key or table name without quotes and spaces."""
    return ".".join(part.strip().strip("\"'") for part in key.split("."))


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _cross_problems(section: Any) -> list[tuple[str, str]]:
    """(key, problem) for a section's settings that only together can never work."""
    return section.cross_checks() if hasattr(section, "cross_checks") else []


def _build(cls: type, data: Any, prefix: str, issues: list[ConfigIssue], locator: _Locator):
    hints = _hints(cls)
    known = {f.name: f for f in fields(cls) if not (cls is Config and f.name == "path")}  # Config.path is not a key
    if not isinstance(data, dict):
        issues.append(locator.issue(prefix.rstrip("."), "must be a table"))
        return cls()
    issues_before = len(issues)
    values: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f"; allowed: {', '.join(known)}"
            issues.append(locator.issue(dotted, f"unknown key{hint}"))
            continue
        expected = hints[key]
        if is_dataclass(expected):
            values[key] = _build(expected, value, f"{dotted}.", issues, locator)
            continue
        if get_origin(expected) is list and is_dataclass(get_args(expected)[0]):
            if not isinstance(value, list):
                issues.append(locator.issue(dotted, f"must be an array of tables ([[{dotted}]])"))
                continue
            value = [
                _build(get_args(expected)[0], item, f"{dotted}[{index}].", issues, locator)
                for index, item in enumerate(value)
            ]
        if problem := _problem(known[key], expected, value):
            issues.append(locator.issue(dotted, problem))
            continue
        values[key] = _typed(value, expected)
    for name, spec in known.items():
        if spec.metadata.get("required") and name not in data:
            issues.append(locator.issue(prefix.rstrip("."), f"needs '{name}' ({spec.metadata['help']})"))
    section = cls(**values)
    if len(issues) == issues_before:  # each setting alone is allowed: now those that go together
        issues.extend(locator.issue(f"{prefix}{key}", problem) for key, problem in _cross_problems(section))
    return section


def _problem(spec: Field, expected: Any, value: Any) -> str | None:
    """What is wrong with `value` for the setting `spec` of type `expected`, with the value and the
    setting's documentation; None when it is allowed."""
    problem = _type_problem(value, expected) or _word_problem(value, expected, spec.metadata["non_empty"])
    if problem is None and spec.metadata["check"]:
        problem = spec.metadata["check"](value)
    if problem is None:
        return None
    quoted = not spec.metadata["secret"] and not (isinstance(value, list) and value and is_dataclass(value[0]))
    got = f" (got {_SHOWN.repr(value)})" if quoted else ""
    return f"{problem}{got}; {spec.metadata['help']}"


def _is_enum(expected: Any) -> bool:
    return isinstance(expected, type) and issubclass(expected, StrEnum)


def _words(expected: Any) -> tuple[str, ...]:
    """The words a Literal or StrEnum type allows; none for other types."""
    if get_origin(expected) is Literal:
        return get_args(expected)
    return tuple(expected) if _is_enum(expected) else ()


def _word_problem(value: Any, expected: Any, non_empty: bool) -> str | None:
    """A word, or a list of words, outside what its type allows."""
    if words := _words(expected):
        return None if value in words else f"must be one of: {', '.join(words)}"
    if get_origin(expected) is list and (words := _words(get_args(expected)[0])):
        if (non_empty and not value) or any(item not in words for item in value):
            return f"must be a {'non-empty ' if non_empty else ''}list drawn from {', '.join(words)}"
    return None


def _type_problem(value: Any, expected: Any) -> str | None:
    if isinstance(expected, types.UnionType):
        return None  # a setting of several types is checked by its own check function
    if get_origin(expected) is dict:
        item = get_args(expected)[1]
        if isinstance(value, dict) and all(_type_problem(v, item) is None for v in value.values()):
            return None
        return f"must be a table of {'strings' if item is str else 'numbers'}"
    if get_origin(expected) is list:
        (item,) = get_args(expected)
        if isinstance(value, list) and all(_type_problem(v, item) is None for v in value):
            return None
        return f"must be a list of {_plain(item).__name__}"
    expected = _plain(expected)
    if expected is float:
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number (not nan or inf)"
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, expected)
    kind = {float: "a number", int: "an integer"}.get(expected)
    return None if ok else f"must be {kind or expected.__name__}"


def _plain(expected: Any) -> type:
    """The Python type a setting's value has in the file: str for words, else the type itself."""
    return str if _words(expected) else expected


def _typed(value: Any, expected: Any) -> Any:
    """An allowed value as its setting's type: integers as floats, words as their enum."""
    if expected is float:
        return float(value)
    if get_origin(expected) is dict:
        return {key: _typed(item, get_args(expected)[1]) for key, item in value.items()}
    if _is_enum(expected):
        return expected(value)
    if get_origin(expected) is list and _is_enum(item := get_args(expected)[0]):
        return [item(word) for word in value]
    return value
