"""The cameras of a config: `camera_setups` says what each camera is (its name, its own settings
and its rule engine) without opening anything, and `open_cameras` opens them as a CameraSet.

A config with [[cameras]] tables has one camera per enabled table, each with the [source]
table's values as defaults (emotui.config.load), `detector.masks` plus its own masks, the rules it
names (all by default) with its threshold overrides, and its `detect_fps` cap. Without them, or
when a source is given on the command line, the [source] table is the one camera, analysed at
every frame as before."""

from __future__ import annotations

import dataclasses
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from emotui.alerts.rules import RuleEngine
from emotui.capture import SourceStatus, rules_for_source
from emotui.config import AlertRuleConfig, CameraConfig, Config, SourceConfig
from emotui.models import Progress
from emotui.pipeline import CameraSet, Pipeline, create_pipeline


def camera_name(config: Config) -> str:
    """`source.name`, or this host's name made topic-safe."""
    return config.source.name or re.sub(r"[^A-Za-z0-9_-]+", "-", socket.gethostname()).strip("-")[:64] or "camera"


def rule_engine(config: Config, rules: list[AlertRuleConfig], clock: Callable[[], float] = time.time) -> RuleEngine:
    """A rule engine for `rules` on the config's camera, armed as the config says."""
    return RuleEngine(rules, camera_name(config), config.alerts.armed, clock)


@dataclass
class CameraSetup:
    """A camera before it is opened: cheap to build (no model, no source)."""

    name: str
    config: Config  # this camera's settings: its source, masks and rules
    source: str  # its source as given (uri)
    detect_fps: float  # analysed frames per second at most; 0: every frame
    engine: RuleEngine  # its rules with their live thresholds, and its arming
    table: bool  # described by a [[cameras]] table (else by the [source] table)


def camera_setups(config: Config, source: str | None = None,
                  clock: Callable[[], float] = time.time) -> list[CameraSetup]:
    """The enabled cameras of the config; one camera (the [source] table, with `source` as its
    uri when given) when the config has no [[cameras]] or a source is given."""
    if source is not None or not config.cameras:
        uri = source if source is not None else config.source.uri
        engine = rule_engine(config, rules_for_source(uri, config.alerts.rules), clock)
        return [CameraSetup(camera_name(config), config, uri, 0.0, engine, table=False)]
    return [_setup(config, camera, clock) for camera in config.cameras if camera.enabled]


def _setup(config: Config, camera: CameraConfig, clock: Callable[[], float]) -> CameraSetup:
    source = SourceConfig(**{spec.name: getattr(camera, spec.name) for spec in dataclasses.fields(SourceConfig)})
    rules = [dataclasses.replace(rule, threshold=camera.thresholds.get(rule.name, rule.threshold))
             for rule in rules_for_source(camera.uri, config.alerts.rules, camera.rules)]
    own = dataclasses.replace(
        config, source=source, cameras=[],
        detector=dataclasses.replace(config.detector, masks=[*config.detector.masks, *camera.masks]),
        alerts=dataclasses.replace(config.alerts, rules=rules))
    return CameraSetup(camera.name, own, camera.uri, camera.detect_fps, rule_engine(own, rules, clock), table=True)


def open_cameras(setups: list[CameraSetup], progress: Progress, realtime: bool = False, fail_fast: bool = True,
                 on_status: Callable[[str, SourceStatus], None] | None = None,
                 workers: int | None = None) -> CameraSet:
    """Each camera's models and capture (see create_pipeline), in a CameraSet of `workers`
    analysis threads (default: one per core). on_status hears (camera name, status). With
    fail_fast, a source that cannot be opened raises SourceError, the cameras opened before it
    released."""
    cameras: list[Pipeline] = []
    try:
        for setup in setups:
            reporter = None if on_status is None else (lambda status, name=setup.name: on_status(name, status))
            cameras.append(create_pipeline(setup.config, setup.source, progress, realtime, fail_fast, reporter,
                                           setup.name, setup.detect_fps))
    except BaseException:
        for camera in cameras:
            camera.stop()
        raise
    return CameraSet(cameras, workers)
