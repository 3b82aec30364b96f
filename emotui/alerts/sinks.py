"""What the alert hub delivers events to: the AlertSink protocol, which the audit log, MQTT, the
webhook, the exec hook and the bell implement, and the bell itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from emotui.alerts.events import AlertEvent
from emotui.vocabulary import EventType, Severity


class AlertSink(Protocol):
    """Takes every event from the hub's dispatcher thread, in order, each as quickly as a queue
    takes it: slow work (disk, network, processes) belongs on the sink's own thread."""

    name: str  # names the sink in problem reports
    wants_snapshot_jpeg: bool  # whether the hub should encode a new alert's snapshot as JPEG for it

    def submit(self, event: AlertEvent, snapshot_jpeg: bytes | None = None) -> None:
        """Take an event; the `update` that announces a new alert's snapshot carries its JPEG."""

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is pending for up to `timeout` seconds, then stop."""


class Bell:
    """Rings the terminal bell on new alerts of `alert` severity."""

    name = "bell"
    wants_snapshot_jpeg = False

    def __init__(self, ring: Callable[[], None]) -> None:
        self._ring = ring

    def submit(self, event: AlertEvent, snapshot_jpeg: bytes | None = None) -> None:
        if event.type == EventType.NEW and event.severity == Severity.ALERT:
            self._ring()

    def close(self, timeout: float = 5.0) -> None:
        """Nothing is pending: the bell rings at once."""
