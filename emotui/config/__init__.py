"""Configuration: the settings (schema), reading and checking them (load) and writing the alert
thresholds back (write). `from emotui.config import X` is the way in for the rest of emotui."""

from emotui.config.load import (
    CONFIG_ENV, CONFIG_FILENAME, ConfigError, ConfigIssue, apply_options, find_config_file, load_config,
)
from emotui.config.schema import (
    DEFAULT_RULES, DEMO_RULES, DEMO_SOURCE, WEEKDAYS, AlertRuleConfig, AlertsConfig, CameraConfig, Config,
    CustomEmotionConfig, DetectorConfig, EmotionConfig, KeysConfig, ModelsConfig, MqttConfig, NotifyConfig,
    SnapshotsConfig, SourceConfig, TrackerConfig, UiConfig, WebhookConfig, header_problem,
)
from emotui.config.write import ConfigWriteError, write_thresholds

__all__ = [
    "CONFIG_ENV", "CONFIG_FILENAME", "DEFAULT_RULES", "DEMO_RULES", "DEMO_SOURCE", "WEEKDAYS", "AlertRuleConfig",
    "AlertsConfig", "CameraConfig", "Config",
    "ConfigError", "ConfigIssue", "ConfigWriteError", "CustomEmotionConfig", "DetectorConfig", "EmotionConfig",
    "KeysConfig", "ModelsConfig", "MqttConfig", "NotifyConfig", "SnapshotsConfig", "SourceConfig", "TrackerConfig",
    "UiConfig", "WebhookConfig", "apply_options", "find_config_file", "header_problem", "load_config", "write_thresholds",
]
