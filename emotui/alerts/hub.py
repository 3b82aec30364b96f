"""The alert hub: runs the rules on each result and hands their events to the sinks on its own
thread, so a slow or failing sink never holds up analysis and never loses an event.

Per event, in order: MQTT and webhook outboxes (on disk), the audit log (fsynced, on a thread of
its own), the notification outbox, the exec hook, the bell; the listener (console or headless
output) hears of it once its audit record is on disk. Each event is numbered in its alert (`sequence`). A `new` alert
then gets its snapshot (privacy permitting), announced by an `update` that carries the path, as do
the alert's later records. Arming and threshold changes take the same queue, so the audit log
keeps them in order with the events. Every queue is bounded: what a full one turns away is counted
in a `dropped` audit record."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import platformdirs

from emotui import __version__
from emotui.alerts.audit import AuditLog, AuditLogError, AuditSink, record_unclean_stop
from emotui.alerts.claims import Claims
from emotui.alerts.command import ExecHook
from emotui.alerts.control_state import STATE_FILE, ControlState
from emotui.alerts.events import AlertEvent, AlertSetupError
from emotui.alerts.mqtt import MqttSink
from emotui.alerts.notify import NotifySink
from emotui.alerts.outbox import Outbox
from emotui.alerts.preview import PreviewFeed
from emotui.alerts.queues import BoundedQueue, Drops
from emotui.alerts.rules import RuleEngine
from emotui.alerts.sinks import AlertSink, Bell
from emotui.alerts.webhook import WebhookSink
from emotui.cameras import CameraSetup, camera_setups
from emotui.capture import SourceState, SourceStatus, redact_source
from emotui.config import Config
from emotui.pipeline import FrameResult, MetricsSnapshot
from emotui.snapshots import SnapshotError, default_snapshot_dir, encode_jpeg, prune_snapshots, save_snapshot
from emotui.storage import DiskFull, is_disk_full, private_folder
from emotui.vocabulary import EventType

AUDIT_FILE = "alerts.jsonl"
OUTBOX_FILE = "outbox.sqlite3"
MAX_FOLDER_NAME = 128  # a camera set's alerts folder; longer lists of names are hashed
WORK_QUEUE_MAX = 10_000  # events and requests waiting for the dispatcher; beyond, the newest are dropped


def default_alerts_dir() -> Path:
    """The user data dir's alerts folder (e.g. ~/.local/share/emotui/alerts)."""
    return Path(platformdirs.user_data_dir("emotui")) / "alerts"


def default_claims_dir() -> Path:
    """Where running processes lock the cameras they watch (emotui.alerts.claims)."""
    return Path(platformdirs.user_data_dir("emotui")) / "cameras"


def alerts_folder(config: Config, cameras: list[CameraSetup]) -> Path:
    """The audit log's and delivery queue's folder: `alerts.dir`; by default the user data dir's
    alerts folder for the [source] camera (where it always was), and for cameras of [[cameras]]
    tables a folder of its own per set of cameras (`alerts/door+garden`), so processes watching
    different cameras each have theirs."""
    if config.alerts.dir:
        return Path(config.alerts.dir).expanduser()
    if not any(camera.table for camera in cameras):
        return default_alerts_dir()
    names = "+".join(sorted(camera.name for camera in cameras))
    if len(names) > MAX_FOLDER_NAME:
        names = f"{len(cameras)}-cameras-{hashlib.sha256(names.encode()).hexdigest()[:12]}"
    return default_alerts_dir() / names


def notifies(config: Config) -> bool:
    """Whether `[notify]` names any URL."""
    return bool(config.notify.urls or config.notify.urls_env)


@dataclass(frozen=True)
class AlertListener:
    """What the console or the headless runner wants to hear; called from the hub's threads."""

    on_event: Callable[[AlertEvent], None] = lambda event: None
    on_problem: Callable[[str], None] = lambda text: None
    on_armed: Callable[[bool, str, str | None], None] = lambda armed, origin, camera: None  # camera None: all
    ring_bell: Callable[[], None] | None = None  # rings the terminal bell; None: no bell


@dataclass(frozen=True)
class Delivery:
    """An event for the sinks, and the result it was raised on, from which a `new` alert's snapshot
    is taken (None when disarming or shutting down ended the alert)."""

    event: AlertEvent
    result: FrameResult | None


@dataclass(frozen=True)
class ArmingRequest:
    """A request to arm or disarm one camera (None: all): recorded and announced if it changed the
    state; MQTT's `armed/state` answers it either way."""

    armed: bool
    origin: str
    changed: bool
    camera: str | None


@dataclass(frozen=True)
class ThresholdChange:
    """A rule's threshold was set: recorded in the audit log, in order with the events."""

    rule: str
    threshold: float
    origin: str
    camera: str


@dataclass(frozen=True)
class RuleSwitch:
    """A request to switch a rule of a camera on or off: recorded and kept if it changed the rule;
    MQTT's `enabled/state` answers it either way."""

    rule: str
    enabled: bool
    origin: str
    camera: str
    changed: bool


Work = Delivery | ArmingRequest | ThresholdChange | RuleSwitch  # what the dispatcher thread handles, in order


class AlertHub:
    def __init__(self, config: Config, cameras: str | list[CameraSetup], listener: AlertListener = AlertListener(),
                 environ: Mapping[str, str] = os.environ, clock: Callable[[], float] = time.time) -> None:
        """Opens the audit log and starts the configured sinks for the cameras (emotui.cameras.camera_setups,
        whose rule engines it runs; a source alone: the config's one camera); raises AlertSetupError
        naming what to fix when one cannot start."""
        self.config = config
        self.listener = listener
        self.cameras = camera_setups(config, cameras, clock) if isinstance(cameras, str) else cameras
        self.engines = {camera.name: camera.engine for camera in self.cameras}
        self._sources = {camera.name: redact_source(camera.source) for camera in self.cameras}
        folder = self._folder = alerts_folder(config, self.cameras)
        self._claims = Claims(default_claims_dir(), list(self.engines), folder)
        self.disk = DiskFull(self.problem)  # a full disk: told once, what is not written counted
        try:
            log = AuditLog(folder / AUDIT_FILE, int(config.alerts.log_max_mb * 1_000_000), config.alerts.log_keep)
            ended = record_unclean_stop(log)
        except AuditLogError as error:
            self._claims.release()
            raise AlertSetupError(str(error)) from None
        self.audit = AuditSink(log, listener.on_problem, self.disk, self._show)
        if ended is not None:
            listener.on_problem(f"the last run did not stop cleanly (see {log.path}); "
                                f"{len(ended)} alert{'' if len(ended) == 1 else 's'} it left open ended")
        sinks = [name for name, on in (("mqtt", config.mqtt.host), ("webhook", config.webhook.url),
                                       ("exec", config.alerts.exec), ("notify", notifies(config))) if on]
        self.control_state = ControlState(folder / STATE_FILE, self.problem)
        for camera, engine in self.engines.items():
            self._record("start", {
                "camera": camera, "source": self._sources[camera], "version": __version__, "armed": engine.armed,
                "rules": [rule.name for rule in engine.current_rules()], "sinks": sinks,
            })
            self._restore(camera, engine)
        self.control_state.keep_only({camera: [rule.name for rule in engine.current_rules()]
                              for camera, engine in self.engines.items()})
        # Work for the dispatcher thread, which starts once the sinks are up; MQTT may already
        # arm or disarm (a retained command) while they start.
        self._work: BoundedQueue[Work] = BoundedQueue("alert hub work", WORK_QUEUE_MAX)
        self._snapshots: dict[str, str] = {}  # open alert id -> its snapshot (dispatcher thread only)
        self._sequences: dict[str, int] = {}  # open alert id -> its last event's sequence (dispatcher thread only)
        self._clock = clock
        self._outboxes: list[Outbox] = []
        self._outbox_drops: dict[str, tuple[Drops, int]] = {}  # outbox name -> its losses, and how many are counted
        self._sinks: list[AlertSink] = []  # in the order each event is delivered
        self.mqtt: MqttSink | None = None
        self.webhook: WebhookSink | None = None
        self.exec_hook: ExecHook | None = None
        self.notify: NotifySink | None = None
        self.previews: dict[str, PreviewFeed] = {}  # MQTT preview pictures per camera, when asked for
        try:
            if config.mqtt.host:
                self.mqtt = MqttSink(config.mqtt, self.engines, self._outbox(folder, "mqtt", config.mqtt.queue_max),
                                     self.problem, lambda armed, camera: self.set_armed(armed, "mqtt", camera), environ,
                                     lambda camera, rule, value: self.set_threshold(rule, value, "mqtt", camera),
                                     lambda camera, rule, on: self.set_rule_enabled(rule, on, "mqtt", camera),
                                     self.control_state.discovery, self.control_state.set_discovery,
                                     snapshot_follows=config.snapshots.on_alert)
                self._sinks.append(self.mqtt)
                if config.mqtt.preview_fps > 0:
                    self.previews = {name: PreviewFeed(config.mqtt.preview_fps, config.mqtt.preview_width,
                                                       config.snapshots.images) for name in self.engines}
            if config.webhook.url:
                self.webhook = WebhookSink(config.webhook, self._outbox(folder, "webhook", config.webhook.queue_max),
                                           self.problem, environ)
                self._sinks.append(self.webhook)
            if notifies(config):
                self.notify = NotifySink(config.notify, config.snapshots,
                                         self._outbox(folder, "notify", config.notify.queue_max), self.problem,
                                         self._record, environ, clock)
        except Exception as error:
            self._close_sinks(0)
            self._record("problem", {"text": f"alerts not started: {error}"})
            self._close_audit()
            self._claims.release()
            raise
        self._sinks.append(self.audit)
        if self.notify is not None:  # after the audit log: what it holds back is recorded after the event
            self._sinks.append(self.notify)
        if config.alerts.exec:
            self.exec_hook = ExecHook(config.alerts.exec, config.alerts.exec_on, config.alerts.exec_timeout_s,
                                      self.problem, lambda dropped: self._record("dropped", dropped))
            self._sinks.append(self.exec_hook)
        if listener.ring_bell is not None:
            self._sinks.append(Bell(listener.ring_bell))
        snapshots = config.snapshots
        self._snapshot_folder = Path(snapshots.dir).expanduser() if snapshots.dir else default_snapshot_dir()
        self._retention_told = False
        for data_folder in (folder, self._snapshot_folder):
            self._check_folder(data_folder)
        self._apply_retention()
        self._dispatcher = threading.Thread(target=self._dispatch, name="emotui-alerts", daemon=True)
        self._dispatcher.start()

    def _outbox(self, folder: Path, name: str, max_items: int) -> Outbox:
        try:
            outbox = Outbox(folder / OUTBOX_FILE, name, max_items)
        except (OSError, sqlite3.Error) as error:
            raise AlertSetupError(f"cannot open the delivery queue {folder / OUTBOX_FILE}: {error}") from None
        self._outboxes.append(outbox)
        self._outbox_drops[name] = Drops(f"{name} outbox", f"outbox full ({max_items}): the oldest dropped"), 0
        return outbox

    # --- called by the pipeline's consumer, the console and MQTT ------------------------------------

    @property
    def engine(self) -> RuleEngine:
        """The first camera's rule engine (the only one of a single camera)."""
        return self.cameras[0].engine

    def observe(self, result: FrameResult) -> list[AlertEvent]:
        """Evaluate its camera's rules on a result (`result.camera`; "" is the first camera) and queue
        their events; returns them. Cheap."""
        events = self.engines.get(result.camera, self.engine).evaluate(result)
        for event in events:
            self._work.offer(Delivery(event, result), event.type)
        if self.mqtt is not None:
            self.mqtt.observe(result)
            camera = result.camera or self.cameras[0].name
            if (preview := self.previews.get(camera)) and self.mqtt.connected and (jpeg := preview.picture(result)):
                self.mqtt.publish_preview(camera, jpeg)
        return events

    def set_armed(self, armed: bool, origin: str, camera: str | None = None) -> None:
        """Arm or disarm one camera, or all (None), from the console or MQTT; disarming ends open
        alerts. Asking for the state the alerts are in changes nothing, but MQTT's `armed/state` answers it."""
        results = [engine.set_armed(armed) for name, engine in self.engines.items() if camera in (None, name)]
        changed = any(ended is not None for ended in results)
        self._work.offer(ArmingRequest(armed, origin, changed, camera), "arming")
        for event in (event for ended in results for event in ended or []):
            self._work.offer(Delivery(event, None), event.type)

    def set_threshold(self, rule: str, value: float, origin: str, camera: str | None = None) -> float:
        """Set a rule's threshold on a camera (None: the first; see RuleEngine.set_threshold) and
        record it in the audit log; returns it."""
        name = camera or self.cameras[0].name
        threshold = self.engines[name].set_threshold(rule, value)
        self._work.offer(ThresholdChange(rule, threshold, origin, name), "threshold")
        return threshold

    def set_rule_enabled(self, rule: str, enabled: bool, origin: str, camera: str | None = None) -> None:
        """Switch a rule of a camera (None: the first) on or off (from MQTT); switching it off ends
        its open alerts. The switch is recorded and kept across restarts."""
        name = camera or self.cameras[0].name
        ended = self.engines[name].set_enabled(rule, enabled)
        self._work.offer(RuleSwitch(rule, enabled, origin, name, changed=ended is not None), "rule switch")
        for event in ended or []:
            self._work.offer(Delivery(event, None), event.type)

    def diagnostics(self, camera: str, metrics: Callable[[], MetricsSnapshot]) -> None:
        """Publish a camera's diagnostics on MQTT when they are due (`metrics` is called only then)."""
        if self.mqtt is not None and self.mqtt.diagnostics_due(camera):
            snapshot = metrics()
            self.mqtt.publish_diagnostics(camera, snapshot.processed_fps, snapshot.dropped_frames)

    def source_status(self, status: SourceStatus, camera: str | None = None) -> None:
        """A camera's source (None: the first) changed state: MQTT `<camera>/status`, and outages in
        the audit log."""
        name = camera or self.cameras[0].name
        if self.mqtt is not None:
            self.mqtt.publish_status(name, status)
        if status.state in (SourceState.LOST, SourceState.FAILED, SourceState.ENDED) or (
                status.state == SourceState.LIVE and status.reconnects):
            self._record("source", {"camera": name, "state": status.state, "detail": status.detail,
                                    "outages": status.outages, "reconnects": status.reconnects})

    def problem(self, text: str) -> None:
        """A sink's trouble: told to the listener and kept in the audit log."""
        self.listener.on_problem(text)
        self._record("problem", {"text": text})

    def close(self, timeout: float = 5.0) -> None:
        """End open alerts, deliver what can be delivered within `timeout`, and write `stop`."""
        for event in (event for engine in self.engines.values() for event in engine.finish()):
            self._work.offer(Delivery(event, None), event.type)
        self._work.end()
        self._dispatcher.join()
        self._record_dropped(force=True)
        self._close_sinks(timeout)
        self._close_audit()
        self._claims.release()

    # --- the dispatcher thread ----------------------------------------------------------------------

    def _dispatch(self) -> None:
        while (work := self._work.get()) is not None:
            self._record_dropped()
            match work:
                case Delivery(event=event, result=result):
                    self._deliver_alert(event, result)
                case ArmingRequest(armed=armed, origin=origin, changed=changed, camera=camera):
                    if changed:
                        self._record("armed" if armed else "disarmed", {"origin": origin, "camera": camera})
                        for name, engine in self.engines.items():
                            if camera in (None, name):
                                self.control_state.set_armed(name, engine.armed)
                        self._tell(f"announcing {'arming' if armed else 'disarming'}",
                                   lambda: self.listener.on_armed(armed, origin, camera))
                    if self.mqtt is not None:
                        for name, engine in self.engines.items():  # the state now: a later request may be queued
                            if camera in (None, name):
                                self.mqtt.set_armed(name, engine.armed)
                case ThresholdChange():
                    self._record("threshold", asdict(work))
                    if self.mqtt is not None:
                        self.mqtt.set_threshold(work.camera, work.rule, work.threshold)
                case RuleSwitch(rule=rule, enabled=enabled, origin=origin, camera=camera, changed=changed):
                    enabled_now = self.engines[camera].enabled(rule)  # a later request may be queued
                    if changed:
                        self._record("rule enabled" if enabled else "rule disabled",
                                     {"rule": rule, "origin": origin, "camera": camera})
                        self.control_state.set_enabled(camera, rule, enabled_now)
                    if self.mqtt is not None:
                        self.mqtt.set_enabled(camera, rule, enabled_now)

    def _restore(self, camera: str, engine: RuleEngine) -> None:
        """Apply the arming and rule switches kept from the last run, recording what they changed."""
        armed = self.control_state.armed.get(camera, engine.armed)
        disabled = sorted(rule.name for rule in engine.current_rules()
                          if not self.control_state.enabled.get(camera, {}).get(rule.name, True))
        if armed == engine.armed and not disabled:
            return
        engine.set_armed(armed)
        for rule in disabled:
            engine.set_enabled(rule, False)
        self._record("restored", {"camera": camera, "armed": armed, "disabled": disabled,
                                  "from": str(self.control_state.path)})

    def _deliver_alert(self, event: AlertEvent, result: FrameResult | None) -> None:
        if event.snapshot is None and event.id in self._snapshots:
            event = replace(event, snapshot=self._snapshots[event.id])
        if event.type == EventType.END:
            self._snapshots.pop(event.id, None)
        self._deliver(event)
        if event.type == EventType.NEW and result is not None and self.config.snapshots.on_alert:
            self._snapshot(event, result)

    def _record_dropped(self, force: bool = False) -> None:
        """`dropped` records for what the work queue turned away and the outboxes lost."""
        for outbox in self._outboxes:
            drops, counted = self._outbox_drops[outbox.name]
            if outbox.dropped > counted:
                drops.add("events", outbox.dropped - counted)
                self._outbox_drops[outbox.name] = drops, outbox.dropped
        for drops in (self._work.drops, *(drops for drops, _ in self._outbox_drops.values())):
            if dropped := drops.take(force):
                self._record("dropped", dropped)

    def _deliver(self, event: AlertEvent, snapshot_jpeg: bytes | None = None) -> None:
        sequence = self._sequences.get(event.id, 0) + 1
        if event.type == EventType.END:
            self._sequences.pop(event.id, None)
        else:
            self._sequences[event.id] = sequence
        event = replace(event, sequence=sequence)
        for sink in self._sinks:
            try:
                sink.submit(event, snapshot_jpeg)
            except Exception as error:  # a failing sink must not stop the others
                if is_disk_full(error):
                    self.disk.failed(f"{sink.name} events", self._folder / OUTBOX_FILE, error)
                else:
                    self.problem(f"{sink.name}: could not queue alert {event.id}: {type(error).__name__}: {error}")
            else:
                self.disk.written(f"{sink.name} events", self._folder / OUTBOX_FILE)

    def _show(self, event: AlertEvent) -> None:
        """Tell the listener of an event (from the audit log's thread, once it is on disk)."""
        self._tell(f"showing alert {event.id}", lambda: self.listener.on_event(event))

    def _tell(self, what: str, call_listener: Callable[[], None]) -> None:
        """Call the listener; what it raises is reported, never let loose on the dispatcher."""
        try:
            call_listener()
        except Exception as error:
            self.problem(f"{what} failed: {type(error).__name__}: {error}")

    def _snapshot(self, event: AlertEvent, result: FrameResult) -> None:
        settings = self.config.snapshots
        try:
            png, sidecar = save_snapshot(self._snapshot_folder, result, self._sources[event.camera],
                                         images=settings.images)
            wanted = any(sink.wants_snapshot_jpeg for sink in self._sinks)
            jpeg = encode_jpeg(result, settings.images) if wanted else None
        except SnapshotError as error:
            if is_disk_full(error):
                self.disk.failed("snapshots", self._snapshot_folder, error)
            else:
                self.problem(f"snapshot for alert {event.id} failed: {error}")
            return
        self.disk.written("snapshots", self._snapshot_folder)
        self._apply_retention()
        path = str(png or sidecar)
        self._snapshots[event.id] = path  # the alert's later records carry it too
        self._deliver(replace(event, type=EventType.UPDATE, snapshot=path, timestamp=self._clock()), jpeg)

    def _check_folder(self, folder: Path) -> None:
        """Creates a data folder 0700, or warns when one that exists can be read by other users."""
        try:
            warning = private_folder(folder)
        except OSError as error:
            warning = f"cannot create {folder}: {error.strerror or error}"
        if warning:
            self.problem(warning)

    def _apply_retention(self) -> None:
        """Removes the oldest snapshots beyond `snapshots.max_mb` and `keep_days`: each removal is
        recorded in the audit log; the first one in a run is told to the listener too."""
        settings = self.config.snapshots
        if not self._snapshot_folder.is_dir():
            return  # (_check_folder said why)
        try:
            pruned = prune_snapshots(self._snapshot_folder, int(settings.max_mb * 1_000_000), settings.keep_days)
        except OSError as error:
            self.problem(f"snapshot retention in {self._snapshot_folder} failed: {error.strerror or error}")
            return
        if not pruned.removed:
            return
        self._record("retention", {"folder": str(self._snapshot_folder), **asdict(pruned),
                                   "max_mb": settings.max_mb, "keep_days": settings.keep_days})
        if not self._retention_told:
            self._retention_told = True
            self.listener.on_problem(
                f"snapshots: removed the {pruned.removed} oldest ({pruned.freed_bytes / 1e6:.1f} MB) to keep "
                f"{self._snapshot_folder} under {settings.max_mb:g} MB and {settings.keep_days:g} days; "
                "later removals are recorded in the audit log")

    def _record(self, record_type: str, data: dict) -> None:
        """A record for the audit log alone: start, stop, arming, thresholds, problems, the source."""
        self.audit.record(record_type, data)

    def _close_sinks(self, timeout: float) -> None:
        """Every sink but the audit log, which stays open for what they report while closing."""
        for sink in self._sinks:
            if sink is not self.audit:
                sink.close(timeout)
        for outbox in self._outboxes:
            outbox.close()

    def _close_audit(self) -> None:
        for camera in self.engines:
            self._record("stop", {"camera": camera})
        self.audit.close()
