"""Writing the alert thresholds back into the config file with tomlkit, so its comments, layout
and every other setting stay as they are."""

from __future__ import annotations

import copy
import os
import stat
import tomllib
from pathlib import Path

from emotui.config.load import ConfigError, ConfigIssue, user_config_file
from emotui.config.schema import AlertRuleConfig
from emotui.files import write_atomically
from emotui.vocabulary import RuleKind


class ConfigWriteError(ConfigError):
    """The config file could not be written; names the file. A ConfigError, so existing
    handlers catch it too."""

    def __init__(self, path: Path, message: str, key: str = "(file)") -> None:
        self.path = path
        super().__init__([ConfigIssue(key, message, path)])


def _appended(rule: AlertRuleConfig, threshold: float) -> dict:
    """The keys a rule the file lacks is written with: an emotion rule's emotions, another's kind."""
    what = {"emotions": list(rule.emotions)} if rule.kind == RuleKind.EMOTION else {"kind": str(rule.kind)}
    return {"name": rule.name, **what, "threshold": threshold, "min_duration_s": float(rule.min_duration_s)}


def write_thresholds(path: Path | None, rules: list[AlertRuleConfig], camera: str | None = None) -> Path:
    """Write each rule's threshold (rounded to 4 decimals) back into the config file, keeping
    comments, formatting and every other key. Rules are matched by name within [[alerts.rules]];
    a rule the file lacks is appended as a [[alerts.rules]] table (all of them when the file has
    none, i.e. the built-in rules were in effect). Rules only in the file are left as they are.
    With `camera`, the thresholds are that camera's own: they go to its [[cameras]] table's
    `thresholds` (which the file must have), other cameras and [[alerts.rules]] unchanged.
    `path` None means no config file was found: the user config file is created (or updated).
    The file is replaced atomically; returns the path written. Raises ConfigWriteError."""
    import tomlkit  # only needed here; loading a config does not
    from tomlkit.exceptions import TOMLKitError
    from tomlkit.items import AoT, Array, InlineTable, Table

    path = Path(path).expanduser() if path is not None else user_config_file()
    target = Path(os.path.realpath(path))  # write through a symlink (e.g. managed dotfiles)
    targets: dict[str, float] = {}
    for index, rule in enumerate(rules):
        threshold = round(float(rule.threshold), 4)
        if not rule.name.strip() or not 0.0 <= threshold <= 1.0:
            raise ConfigWriteError(
                path, f"name must not be empty and threshold must be from 0 to 1 (got {rule.name!r}, "
                f"{rule.threshold!r}); nothing written", f"alerts.rules[{index}]")
        targets[rule.name] = threshold

    try:
        text = target.read_bytes().decode("utf-8") if target.exists() else ""
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigWriteError(path, f"cannot read: {getattr(error, 'strerror', None) or error}") from None
    try:
        before = tomllib.loads(text)
        document = tomlkit.parse(text)
    except (tomllib.TOMLDecodeError, TOMLKitError) as error:
        raise ConfigWriteError(path, f"not valid TOML, so not changed: {error}", "(syntax)") from None

    if camera is not None:
        new_text, expected = _camera_thresholds(path, document, before, camera, targets)
        _check_and_write(path, target, new_text, expected)
        return path

    default = AlertRuleConfig.__dataclass_fields__["threshold"].default
    alerts = document.get("alerts")
    container = alerts.get("rules") if isinstance(alerts, dict) else None
    if not isinstance(before.get("alerts", {}), dict) or not isinstance(before.get("alerts", {}).get("rules", []), list):
        raise ConfigWriteError(path, "must be an array of tables ([[alerts.rules]]); not changed", "alerts.rules")
    expected = copy.deepcopy(before)  # what the file must hold afterwards, checked below
    expected_rules = expected.get("alerts", {}).get("rules", [])
    missing: list[AlertRuleConfig] = []
    for rule in rules:
        threshold = targets[rule.name]
        items = [item for item in (container or []) if isinstance(item, dict) and item.get("name") == rule.name]
        if not items:
            missing.append(rule)
            expected_rules = expected.setdefault("alerts", {}).setdefault("rules", expected_rules)
            expected_rules.append(_appended(rule, threshold))
            continue
        for item, plain in zip(items, [r for r in expected_rules if r.get("name") == rule.name]):
            current = item.get("threshold", default)
            if isinstance(current, bool) or not isinstance(current, (int, float)) or float(current) != threshold:
                item["threshold"] = threshold  # tomlkit keeps the line's comment and spacing
                plain["threshold"] = threshold

    def new_rule(rule: AlertRuleConfig, table):
        table.update(_appended(rule, targets[rule.name]))
        return table

    tail = ""
    if missing:
        if isinstance(container, Array):  # rules = [{...}, ...] written inline
            for rule in missing:
                container.append(new_rule(rule, tomlkit.inline_table()))
        elif isinstance(alerts, InlineTable):  # alerts = {...}
            alerts["rules"] = [new_rule(rule, tomlkit.inline_table()) for rule in missing]
        elif isinstance(alerts, Table) and (container is None or isinstance(container, AoT)):
            if container is None:  # an [alerts] table without rules: put them right after it
                if not alerts.as_string().endswith("\n\n"):
                    alerts.add(tomlkit.nl())
                container = tomlkit.aot()
                alerts.append("rules", container)
                for rule in missing:
                    container.append(new_rule(rule, tomlkit.table()))
                container.body[-1].add(tomlkit.nl())
            else:  # after the last rule, a blank line between rules
                if not container.body[-1].as_string().endswith("\n\n"):
                    container.body[-1].add(tomlkit.nl())
                for rule in missing:
                    container.append(new_rule(rule, tomlkit.table()).add(tomlkit.nl()))
        else:  # no alerts at all, or rules split across the file: [[alerts.rules]] at the end
            extra = tomlkit.document()
            extra["alerts"] = {"rules": tomlkit.aot()}
            for rule in missing:
                extra["alerts"]["rules"].append(new_rule(rule, tomlkit.table()))
            tail = extra.as_string()

    new_text = document.as_string()
    if tail:
        new_text = (new_text.rstrip("\n") + "\n\n" if new_text.strip() else "") + tail
    if not text.strip():
        new_text = "# emotui configuration (see config.toml.example); written by emotui.\n\n" + new_text.lstrip("\n")
    if new_text.endswith("\n\n") and not text.endswith("\n\n"):
        new_text = new_text.rstrip("\n") + "\n"
    _check_and_write(path, target, new_text, expected)
    return path


def _camera_thresholds(path: Path, document, before: dict, camera: str, targets: dict[str, float]) -> tuple[str, dict]:
    """The file's text with `targets` as the `thresholds` of the [[cameras]] table named `camera`,
    and what the file must then hold."""
    import tomlkit

    tables = [item for item in document.get("cameras", []) if isinstance(item, dict) and item.get("name") == camera]
    if len(tables) != 1 or not isinstance(before.get("cameras"), list):
        raise ConfigWriteError(path, f"no [[cameras]] table named {camera!r} to write its thresholds to; "
                               "not changed", "cameras")
    [table] = tables
    expected = copy.deepcopy(before)
    [plain] = [item for item in expected["cameras"] if isinstance(item, dict) and item.get("name") == camera]
    current = table.get("thresholds")
    if current is None:
        table["thresholds"] = tomlkit.inline_table()
        current = table["thresholds"]
    elif not isinstance(current, dict):
        raise ConfigWriteError(path, "thresholds must be a table; not changed", "cameras.thresholds")
    for rule, threshold in targets.items():
        current[rule] = threshold  # tomlkit keeps the other entries and the line's comment
    plain["thresholds"] = {**plain.get("thresholds", {}), **targets}
    return document.as_string(), expected


def _check_and_write(path: Path, target: Path, new_text: str, expected: dict) -> None:
    """Write `new_text` atomically once it is checked to hold exactly `expected`."""
    try:
        check = tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as error:
        check = error
    if check != expected:
        raise ConfigWriteError(path, "the thresholds could not be written without changing other settings; "
                               "file not changed")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # a new file gets 0600 (it may hold camera passwords); an existing one keeps its mode
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o600
        write_atomically(target, new_text.encode("utf-8"), mode)
    except OSError as error:
        raise ConfigWriteError(path, f"cannot write: {error.strerror or error}") from None
