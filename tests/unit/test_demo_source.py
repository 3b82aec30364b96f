"""The `demo` source as text and the alert rule it brings (the scene itself needs its photo from the
model store: tests/integration/test_demo.py)."""

from __future__ import annotations

from emotui.capture import SourceSpec, parse_source, rules_for_source
from emotui.config import DEFAULT_RULES, AlertRuleConfig, Config, load_config, write_thresholds


def test_demo_is_a_source_of_its_own():
    spec = parse_source(" demo ")
    assert spec == SourceSpec("demo", "demo") and not spec.live and str(spec) == "demo"


def test_the_demo_brings_its_rule_only_to_a_config_without_rules_of_its_own():
    rules = rules_for_source("demo", Config().alerts.rules)  # the built-in rules, as a config without any has
    assert [(rule.name, rule.kind) for rule in rules] == [("fear", "emotion"), ("anger", "emotion"),
                                                         ("presence", "face")]
    own = [AlertRuleConfig(name="joy", emotions=["happy"])]
    assert rules_for_source("demo", own) is own
    assert rules_for_source("clip.mp4", DEFAULT_RULES) is DEFAULT_RULES


def test_w_writes_the_demo_rule_as_the_face_rule_it_is(tmp_path):
    path = write_thresholds(tmp_path / "emotui.toml", rules_for_source("demo", Config().alerts.rules))
    written = load_config(path).alerts.rules
    assert [(rule.name, rule.kind, rule.min_duration_s) for rule in written] == [
        ("fear", "emotion", 2.0), ("anger", "emotion", 2.0), ("presence", "face", 1.0)]
    assert rules_for_source("demo", written) is written  # from now on the config's own rules
