"""What the console's other threads tell it: the analysis worker, the capture thread (through the
worker's pipeline) and the alert hub's threads post these messages; the app handles them on its own."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from emotui.alerts.events import AlertEvent
from emotui.capture import SourceStatus


@dataclass
class ModelProgress(Message):
    """A step of building the pipeline (a model pull, say)."""

    text: str


@dataclass
class AnalysisStarted(Message):
    """The worker built the cameras' pipelines (now the app's `camera_set`) and reads their sources."""


@dataclass
class SourceEnded(Message):
    """The sources have no more frames (files played once, say); the worker has stopped."""


@dataclass
class AnalysisFailed(Message):
    """A source, a model or the analysis failed; the worker has stopped."""

    text: str


@dataclass
class SourceChanged(Message):
    """The camera's source's state changed (connecting, live, lost, retrying, ended, failed)."""

    camera: str
    status: SourceStatus


@dataclass
class AlertRaised(Message):
    """An alert event, as the audit log received it."""

    event: AlertEvent


@dataclass
class AlertsArmed(Message):
    """The alerts of a camera (None: of every camera) were armed or disarmed, from the console, MQTT or the config."""

    armed: bool
    origin: str
    camera: str | None = None


@dataclass
class AlertSinkProblem(Message):
    """An alert sink's trouble (MQTT, webhook, exec hook, audit log, an alert's snapshot); analysis goes on."""

    text: str
