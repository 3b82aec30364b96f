"""Notifications through Apprise (`[notify]`): a push to a phone (ntfy, Telegram, Pushover), an
e-mail or an SMS gateway (Twilio) for alert events, with the alert's snapshot attached.

Which events notify is decided as they come (`rules`, `events`, quiet hours, the rate limit per
rule, camera and event type); what is held back is recorded in the audit log and counted in the
next notification of its kind. A `new` alert waits for its snapshot (the hub's `update` right
after it) so that the picture goes with it. Notifications go through the on-disk outbox, the
JPEG with them, and are sent one at a time, oldest first, to each of their URLs: a URL that fails
is tried again with exponential backoff, up to `retries` times, and told once when it starts
failing and once when it works again. URLs are never shown (they hold secrets): each has a name.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from emotui.alerts import apprise_urls
from emotui.alerts.events import AlertEvent, AlertSetupError
from emotui.alerts.outbox import Outbox, OutboxSender, QueuedMessage
from emotui.alerts.rules import in_windows
from emotui.config import NotifyConfig, SnapshotsConfig
from emotui.config.schema import WEEKDAYS, url_names
from emotui.vocabulary import EventType

MAX_BACKOFF_S = 60.0
SNAPSHOT_WAIT_S = 5.0  # how long a `new` alert waits for its snapshot (the hub's next event) before it goes without
REASON_SHOWN = 200  # characters of Apprise's account of a failure


@dataclass(frozen=True)
class Target:
    """A named Apprise URL; the name is what messages show."""

    name: str
    url: str


def resolve_targets(config: NotifyConfig, environ: Mapping[str, str] = os.environ) -> tuple[list[Target], list[str]]:
    """The URLs of `urls` and those read from `urls_env`, and what is wrong with the others (an
    unset variable, a URL Apprise cannot use), each naming the URL by its name only."""
    targets = [Target(name, url) for name, url in config.urls.items()]
    problems = []
    for name, variable in config.urls_env.items():
        url = environ.get(variable, "").strip()
        if not url:
            problems.append(f"notify.urls_env.{name}: environment variable {variable} is not set")
        elif apprise_urls.load(url) is None:
            problems.append(f"notify.urls_env.{name}: ${variable} is not a URL Apprise can use (unknown service "
                            "or a part missing; see https://github.com/caronc/apprise/wiki)")
        else:
            targets.append(Target(name, url))
    return targets, problems


def send(target: Target, title: str, body: str, jpeg: bytes | None) -> str | None:
    """Notify one URL, the JPEG attached if given; None when it went through, else why not."""
    import apprise

    if (service := apprise_urls.load(target.url)) is None:
        return "not a URL Apprise can use"
    notifier = apprise.Apprise()
    notifier.add(service)
    # A file in a private temporary folder: every Apprise service reads attachments from files
    with tempfile.TemporaryDirectory(prefix="emotui-notify-") as folder, \
            apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as log:
        attachment = None
        if jpeg is not None:
            attachment = Path(folder) / "snapshot.jpg"
            attachment.write_bytes(jpeg)
        sent = bool(notifier.notify(title=title, body=body, attach=None if attachment is None else str(attachment)))
    if sent:
        return None
    lines = [line.strip() for line in log.getvalue().splitlines() if line.strip()]
    return apprise_urls.redact(lines[-1] if lines else "the service did not accept it", service)[:REASON_SHOWN]


def test_image() -> bytes:
    """A generated JPEG that says what it is, for `emotui notify test`."""
    height, width = 240, 320
    image = np.zeros((height, width, 3), np.uint8)
    image[:, :, 0] = np.linspace(80, 200, width, dtype=np.uint8)
    image[:, :, 1] = np.linspace(40, 160, height, dtype=np.uint8)[:, None]
    cv2.putText(image, "emotui test", (40, 130), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (255, 255, 255), 2, cv2.LINE_AA)
    return cv2.imencode(".jpg", image)[1].tobytes()


class HoldBack:
    """Decides whether an event may notify now: not during quiet hours (local time), and at most
    once per `min_interval_s` per rule, camera and event type. What it holds back is counted, and
    the next notification of its kind says so."""

    def __init__(self, min_interval_s: float, quiet_hours: list[str], clock: Callable[[], float] = time.time) -> None:
        self.min_interval_s = min_interval_s
        self.quiet_hours = quiet_hours
        self._clock = clock
        self._last_sent: dict[tuple[str, str, str], float] = {}  # bounded by rules x cameras x event types
        self._held: dict[tuple[str, str, str], tuple[float, Counter[str]]] = {}  # since when, count by reason

    def reason(self, event: AlertEvent) -> str | None:
        """Why `event` must not notify ("quiet hours", "rate limit"), counted; None if it may (and
        from now on it is the last one that did)."""
        now = self._clock()
        key = (event.rule, event.camera, event.type)
        if in_windows(self.quiet_hours, list(WEEKDAYS), datetime.fromtimestamp(now)):
            reason = "quiet hours"
        elif key in self._last_sent and now - self._last_sent[key] < self.min_interval_s:
            reason = "rate limit"
        else:
            self._last_sent[key] = now
            return None
        since, counts = self._held.setdefault(key, (now, Counter()))
        counts[reason] += 1
        return reason

    def held_note(self, event: AlertEvent) -> str:
        """What was held back of `event`'s kind since the last notification (then forgotten), or ""."""
        if (held := self._held.pop((event.rule, event.camera, event.type), None)) is None:
            return ""
        since, counts = held
        total = sum(counts.values())
        reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(counts.items()))
        return (f"\n({total} earlier {event.rule} {event.type} event{'s' if total != 1 else ''} on {event.camera} "
                f"not notified since {datetime.fromtimestamp(since):%H:%M}: {reasons})")


@dataclass(frozen=True)
class Notification:
    """A notification as it waits in the outbox, its JPEG with it."""

    alert: str
    type: str
    title: str
    body: str
    targets: list[str]  # the names of the URLs it goes to
    jpeg: bytes | None = None

    def encode(self) -> bytes:
        data = asdict(self)
        data["jpeg"] = None if self.jpeg is None else base64.b64encode(self.jpeg).decode("ascii")
        return json.dumps(data).encode()

    @classmethod
    def decode(cls, body: bytes) -> Notification:
        data = json.loads(body)
        return cls(**{**data, "jpeg": None if data["jpeg"] is None else base64.b64decode(data["jpeg"])})


class NotifySink(OutboxSender):
    name = "notify"

    def __init__(self, config: NotifyConfig, snapshots: SnapshotsConfig, outbox: Outbox,
                 on_problem: Callable[[str], None], on_record: Callable[[str, dict], None],
                 environ: Mapping[str, str] = os.environ, clock: Callable[[], float] = time.time) -> None:
        """Reads the URLs (raises AlertSetupError naming one that cannot be used) and starts the
        sender, which first delivers what a previous run left in the outbox."""
        self.targets, problems = resolve_targets(config, environ)
        if problems:
            raise AlertSetupError("; ".join(problems))
        self.config = config
        self.hold_back = HoldBack(config.min_interval_s, config.quiet_hours, clock)
        self.wants_snapshot_jpeg = config.attach_snapshot and snapshots.images != "none"
        self._snapshot_follows = self.wants_snapshot_jpeg and snapshots.on_alert
        self.delivered = 0  # notifications to one URL
        self.failed = 0
        self._on_record = on_record
        self._urls = {target.name: target for target in self.targets}
        self._failing: set[str] = set()  # names of the URLs whose last attempt failed
        self._held: tuple[Notification, float] | None = None  # a new alert waiting for its snapshot (monotonic)
        self._lock = threading.Lock()  # guards _held and its way into the outbox
        super().__init__(outbox, on_problem)

    def submit(self, event: AlertEvent, snapshot_jpeg: bytes | None = None) -> None:
        """Queue a notification for the event if it is one that notifies; the `update` that
        brings a new alert's snapshot sends that alert's notification with the picture."""
        with self._lock:
            held, self._held = self._held, None
            if held is not None and event.type == EventType.UPDATE and event.id == held[0].alert \
                    and snapshot_jpeg is not None:
                self._queue(held[0], snapshot_jpeg)
                return
            if held is not None:
                self._queue(held[0])
        if event.type not in self.config.events or (self.config.rules and event.rule not in self.config.rules):
            return
        if reason := self.hold_back.reason(event):
            self._on_record("notify_suppressed", {"id": event.id, "type": event.type, "rule": event.rule,
                                                  "camera": event.camera, "reason": reason})
            return
        notification = Notification(event.id, event.type, event.fill(self.config.title),
                                    event.fill(self.config.body) + self.hold_back.held_note(event),
                                    self._route(event.rule))
        with self._lock:
            if event.type == EventType.NEW and self._snapshot_follows:
                self._held = notification, time.monotonic()
            else:
                self._queue(notification, snapshot_jpeg if self.wants_snapshot_jpeg else None)

    def close(self, timeout: float = 5.0) -> None:
        """Queue a held alert, then deliver as OutboxSender.close does."""
        self._release_held(0.0)
        super().close(timeout)

    def _route(self, rule: str) -> list[str]:
        return url_names(self.config.routes[rule]) if rule in self.config.routes else list(self._urls)

    def _queue(self, notification: Notification, jpeg: bytes | None = None) -> None:
        """Into the outbox (the caller holds the lock), the JPEG with it if it is small enough."""
        if jpeg is not None and len(jpeg) > self.config.max_attachment_kb * 1024:
            notification = replace(notification, body=notification.body + (
                f"\n(snapshot of {len(jpeg) // 1024} KB not attached: over {self.config.max_attachment_kb} KB)"))
            jpeg = None
        self.outbox.put(notification.alert, replace(notification, jpeg=jpeg).encode())

    def _release_held(self, older_than_s: float) -> None:
        """Queue the held alert without a picture if it has waited `older_than_s` seconds."""
        with self._lock:
            if self._held is not None and time.monotonic() - self._held[1] >= older_than_s:
                notification, self._held = self._held[0], None
                self._queue(notification)

    # --- the sender thread ---------------------------------------------------------------------

    def _tick(self) -> None:
        self._release_held(SNAPSHOT_WAIT_S)

    def _deliver(self, message: QueuedMessage) -> None:
        """Send the notification to each of its URLs until each took it or was given up; returns
        early, leaving it queued, when the sink is closing."""
        notification = Notification.decode(message.body)
        unknown = [name for name in notification.targets if name not in self._urls]
        if unknown:
            self._on_problem(f"notify: alert {notification.alert} ({notification.type}) was queued for "
                             f"{', '.join(unknown)}, no longer configured: not sent there")
        remaining = [self._urls[name] for name in notification.targets if name in self._urls]
        attempts = 0
        while remaining:
            attempts += 1
            failures = {}
            for target in remaining:
                if (reason := send(target, notification.title, notification.body, notification.jpeg)) is None:
                    self.delivered += 1
                    if target.name in self._failing:
                        self._failing.discard(target.name)
                        self._on_problem(f"notify: {target.name} works again")
                else:
                    failures[target.name] = reason
                    if target.name not in self._failing:
                        self._failing.add(target.name)
                        self._on_problem(f"notify: {target.name} failed ({reason}); retrying with backoff, "
                                         f"up to {self.config.retries} times per notification")
            remaining = [target for target in remaining if target.name in failures]
            if not remaining or attempts > self.config.retries:
                break
            if self._pause(min(self.config.backoff_s * 2 ** (attempts - 1), MAX_BACKOFF_S)):
                return
        for target in remaining:
            self.failed += 1
            self._on_problem(f"notify: gave up on alert {notification.alert} ({notification.type}) for "
                             f"{target.name} after {attempts} attempt{'s' if attempts != 1 else ''}: "
                             f"{failures[target.name]}")
        self.outbox.remove(message.id)

