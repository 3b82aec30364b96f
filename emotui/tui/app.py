"""The Textual console: a thin shell over the pipeline, which a thread worker builds, runs and stops.

The worker keeps only the newest result for the screen (read by timers at the preview and
panel rates) and hands each result to the alert hub, whose events, problems and arming changes
come back as messages (emotui.tui.messages), as do the worker's own news and the source's."""

from __future__ import annotations

import asyncio
import gc
import math
import os
import signal
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field as dataclass_field
from functools import partial

import numpy as np
from rich.markup import escape
from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, RichLog
from textual.worker import Worker, get_current_worker

from emotui.alerts.events import AlertSetupError
from emotui.alerts.hub import AlertHub, AlertListener
from emotui.alerts.rules import RuleEngine
from emotui.cameras import CameraSetup, camera_setups, open_cameras
from emotui.capture import SourceError, SourceState, SourceStatus
from emotui.config import AlertRuleConfig, Config, ConfigError, KeysConfig, write_thresholds
from emotui.models import ModelError
from emotui.pipeline import CameraSet, FrameResult, Pipeline
from emotui.snapshots import SnapshotError, default_snapshot_dir, save_snapshot
from emotui.tui.graphics import Graphics
from emotui.tui.messages import (
    AlertRaised, AlertSinkProblem, AlertsArmed, AnalysisFailed, AnalysisStarted, ModelProgress, SourceChanged,
    SourceEnded,
)
from emotui.tui.events import EventsList
from emotui.tui.preview import COLOUR_MODES, Preview, PreviewBox, fit_cells
from emotui.tui.screens import MIN_COLUMNS, MIN_ROWS, EventScreen, HelpScreen, ThresholdEditor, TooSmallScreen
from emotui.tui.tiles import CameraGrid, TileState
from emotui.tui.timeline import Timelines
from emotui.tui.widgets import ConsoleHeader, EmotionBars, RulesBar, StatusLine, short_source
from emotui.vision import EMOTION_COLOURS
from emotui.vision.masks import Masks
from emotui.vision.tracker import TrackedFace

LOG_LINES = 500
WIDE_COLUMNS = 120  # narrower, the events list and the log stack
NARROW_SIDE_COLUMNS = 36  # the bars' width beside the preview when narrow, border included (CSS)
ZOOM_FACE_SHARE = 0.5  # zoomed, the face's larger side takes this share of the crop's height
PANEL_REFRESH_S = 0.25
# The console's thread (drawing every panel, writing to the terminal) may use about this share of a
# core: while its recent use (averaged over about a second) is above it (a slow CPU, a large
# truecolor picture), preview frames wait, at most PREVIEW_MIN_INTERVAL_S; so the console stays
# responsive and the analysis keeps its cores. Measured at 200x50: 256 colours keep 8 frames a
# second, truecolor gets 4-5 and the whole app stays under half a core.
PREVIEW_CPU_SHARE = 0.2
PREVIEW_MIN_INTERVAL_S = 1.0
HANGUP_GRACE_S = 2.0  # after the terminal hangs up, the process ends within this, cleanly or not
TILE_FPS = 2.0  # tile pictures per second in the grid, so that N small previews cost what one does
NUMBER_KEYS = 9  # keys 1-9 focus cameras 1-9

# (action, key-config field, description, footer label or None) in help order
ACTIONS = [
    ("toggle_pause", "pause", "pause / resume analysis", "pause"),
    ("snapshot", "snapshot", "save an annotated snapshot (PNG + JSON)", "snapshot"),
    ("raise_threshold", "raise_threshold", "raise the selected rule's threshold", None),
    ("lower_threshold", "lower_threshold", "lower the selected rule's threshold", None),
    ("next_rule", "next_rule", "select the next rule", None),
    ("edit_thresholds", "edit_thresholds", "edit all thresholds", None),
    ("write_config", "write_config", "write thresholds to the config file", None),
    ("toggle_armed", "arm", "arm / disarm the alerts", "arm"),
    ("toggle_armed_all", "arm_all", "arm / disarm every camera's alerts", None),
    ("toggle_boxes", "toggle_boxes", "face boxes on / off", None),
    ("cycle_colour", "cycle_colour", "cycle the preview colours", None),
    ("toggle_bell", "mute", "mute / unmute the bell", None),
    ("zoom", "zoom", "zoom into the next face (after the last, the whole frame)", "zoom"),
    ("show_grid", "grid", "back to the camera grid", "grid"),
    ("help", "help", "this help", "help"),
    ("quit", "quit", "quit", "quit"),
]
SEVERAL_CAMERAS_ACTIONS = {"toggle_armed_all", "show_grid", "focus_camera"}  # hidden with one camera


@dataclass
class CameraView:
    """One camera as the console shows it: its setup (name, source, rule engine), its analysis' newest
    result and its source's state."""

    setup: CameraSetup
    pipeline: Pipeline | None = None  # once its analysis reads the source
    latest: FrameResult | None = None
    source_state: str = "starting"  # "" once analysed; "ended", "error"
    source_status: SourceStatus | None = None  # the newest the capture thread reported
    status_logged: SourceState | None = None
    timelines: Timelines = dataclass_field(default_factory=Timelines)
    shown_index: int | None = None  # the result shown in the preview
    zoom_track: int | None = None  # the face the preview is zoomed into
    last_alert: str = ""

    @property
    def name(self) -> str:
        return self.setup.name

    @property
    def source_text(self) -> str:
        return self.setup.source

    @property
    def engine(self) -> RuleEngine:
        """Its rules with their live thresholds, and its arming."""
        return self.setup.engine


class EmotuiApp(App[int]):
    CSS = """
    ConsoleHeader { height: 1; background: $boost; }
    #main { height: 1fr; }
    Preview { width: 1fr; min-width: 20; }
    #side { width: 30%; min-width: 44; max-width: 72; border-left: solid $primary-darken-2; }
    RulesBar { height: 1; background: $boost; }
    #bottom { height: 33%; min-height: 8; }
    EventsList { width: 2fr; height: 1fr; border-top: solid $primary-darken-2; }
    #log { width: 1fr; height: 1fr; border-top: solid $primary-darken-2; border-left: solid $primary-darken-2; }
    .narrow #side { width: 36; min-width: 36; }
    .narrow #bottom { layout: vertical; }
    .narrow EventsList { width: 1fr; }
    .narrow #log { width: 1fr; height: 1fr; border-left: none; }
    #main.stacked { layout: vertical; }
    #main.stacked #side { width: 1fr; min-width: 0; max-width: 100%; height: auto; max-height: 60%;
                          border-left: none; border-top: solid $primary-darken-2; }
    StatusLine { height: 1; background: $boost; }
    """
    BINDINGS = [Binding(getattr(KeysConfig(), field), action, footer or description, id=field,
                        show=footer is not None)
                for action, field, description, footer in ACTIONS] + [
        Binding(str(number), f"focus_camera({number - 1})", "camera", key_display="1-9", show=number == 1)
        for number in range(1, NUMBER_KEYS + 1)]

    def __init__(self, config: Config, source: str | None = None, graphics: Graphics | None = None) -> None:
        super().__init__()
        self.config = config
        self.graphics = graphics
        self.setups = camera_setups(config, source)  # each with its engine: live thresholds, also while alerts are off
        self.cameras = [CameraView(setup) for setup in self.setups]
        self.views = {camera.name: camera for camera in self.cameras}
        self.current = 0  # the focused camera, or the one selected in the grid
        self.in_grid = len(self.cameras) > 1  # the grid of cameras is shown (else the current one, full size)
        self.hub: AlertHub | None = None
        self.camera_set: CameraSet | None = None  # the analysis worker's, once it reads the sources
        self.selected_rule = 0
        # Held by the analysis threads to hand over the pipeline or feed the hub, and by on_unmount to
        # cancel the worker: once cancelled, they do neither.
        self._analysis_lock = threading.Lock()
        self.boxes_on = config.ui.boxes
        self.bell_on = config.ui.bell
        self._preview_clock = (time.monotonic(), time.thread_time())  # at the last preview tick
        self._preview_shown_at = 0.0  # monotonic time of the last preview frame
        self._console_cpu_share = 0.0  # the console thread's recent share of a core (moving average)

    # The current camera's state, by the names the console has always used.
    @property
    def camera(self) -> CameraView:
        return self.cameras[self.current]

    @property
    def source_text(self) -> str:
        return self.camera.source_text

    @property
    def engine(self) -> RuleEngine:
        return self.camera.engine

    @property
    def pipeline(self) -> Pipeline | None:
        return self.camera.pipeline

    @property
    def latest(self) -> FrameResult | None:
        return self.camera.latest

    @latest.setter
    def latest(self, result: FrameResult | None) -> None:
        self.camera.latest = result

    @property
    def source_state(self) -> str:
        return self.camera.source_state

    @property
    def timelines(self) -> Timelines:
        return self.camera.timelines

    @property
    def zoom_track(self) -> int | None:
        return self.camera.zoom_track

    # --- layout and lifecycle ---------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Kept as attributes: timers must reach them whichever screen (help, editor) is on top.
        self.header = ConsoleHeader()
        self.preview = Preview(colour_mode=self.config.ui.colour, graphics=self.graphics)
        self.bars = EmotionBars()
        self.rules_bar = RulesBar()
        self.events_list = EventsList(id="events")
        self.log_view = RichLog(id="log", max_lines=LOG_LINES, markup=True, wrap=True)
        self.log_view.border_title = "log"
        self.status = StatusLine()
        self.grid = CameraGrid(colour_mode=self.config.ui.colour)
        yield self.header
        with Horizontal(id="main") as self.main:
            if len(self.cameras) > 1:
                yield self.grid
            yield self.preview
            with VerticalScroll(id="side", can_focus=False) as self.side:
                yield self.bars
        yield self.rules_bar
        with Horizontal(id="bottom"):
            yield self.events_list
            yield self.log_view
        yield self.status
        yield Footer()

    def on_mount(self) -> None:
        self.set_keymap({field: getattr(self.config.keys, field) for _, field, _, _ in ACTIONS})
        self._show_mode()
        self._fit_layout(self.size.width, self.size.height)
        self.set_interval(1 / self.config.ui.preview_fps, self._refresh_preview)
        self.set_interval(1 / TILE_FPS, self._refresh_tiles)
        self.set_interval(PANEL_REFRESH_S, self._refresh_panels)
        self._refresh_tiles()
        self._refresh_panels()
        # An SSH session that drops hangs up the terminal: leave instead of spinning. A plain signal
        # handler, not the event loop's: it must run at once (before Textual's SIGCONT handler, and even
        # if the loop is stuck on the dead terminal).
        self._loop = asyncio.get_running_loop()
        self._previous_handlers = {}
        for name, handler in (("SIGHUP", self._hang_up), ("SIGTERM", self._terminate)):
            try:
                self._previous_handlers[name] = signal.signal(getattr(signal, name), handler)
            except (AttributeError, ValueError):  # no such signal (Windows), or not the main thread
                pass
        for camera in self.cameras:
            self.camera_log(camera, f"opening {camera.source_text}", "info")
        try:
            self.hub = AlertHub(self.config, self.setups, AlertListener(
                on_event=lambda event: self.post_message(AlertRaised(event)),
                on_problem=lambda text: self.post_message(AlertSinkProblem(text)),
                on_armed=lambda armed, origin, camera: self.post_message(AlertsArmed(armed, origin, camera)),
                ring_bell=self._ring_bell))
        except AlertSetupError as error:
            self.log_line(f"alerts off: {error}", "error")
        self._analyse()

    def on_unmount(self) -> None:
        with self._analysis_lock:  # from here on no pipeline is handed over and the hub is fed nothing
            self.workers.cancel_group(self, "analysis")
        if self.camera_set is not None:
            self.camera_set.stop()  # ends the worker's wait for a frame and releases the sources now
        if self.hub is not None:
            self.hub.close(timeout=2.0)  # ends open alerts, flushes the sinks, writes `stop`
        for name, handler in getattr(self, "_previous_handlers", {}).items():
            signal.signal(getattr(signal, name), handler)

    def _terminate(self, signum: int, frame: object) -> None:
        """SIGTERM (shutdown, kill): quit as `q` does, alerts flushed."""
        try:
            self._loop.call_soon_threadsafe(self.exit, 0)
        except RuntimeError:  # the loop has already closed
            pass

    def _hang_up(self, signum: int, frame: object) -> None:
        """SIGHUP: the terminal went away. Exit cleanly, and within HANGUP_GRACE_S in any case."""
        if not self.is_headless:
            # The kernel follows a hang-up with SIGCONT, on which Textual's driver re-enters application
            # mode (its Ctrl+Z support) on the dead terminal; its writer thread then dies on the first write
            # and the loop blocks for good on the full output queue. With no terminal there is nothing to
            # resume: that SIGCONT (whose Python handler runs after this one) must do nothing.
            signal.signal(signal.SIGCONT, lambda signum, frame: None)
            # Should Textual's shutdown still block on the terminal, end the process anyway.
            watchdog = threading.Timer(HANGUP_GRACE_S, os._exit, (128 + signum,))
            watchdog.daemon = True
            watchdog.start()
        try:
            self._loop.call_soon_threadsafe(self.exit)
        except RuntimeError:  # the loop has already closed
            pass

    @work(thread=True, exclusive=True, group="analysis")
    def _analyse(self) -> None:
        """Build the pipeline, feed its results to the screen and the alert hub, and stop it. Cancelled
        (the app quits), it starts no source and feeds the hub nothing more."""
        worker = get_current_worker()
        cameras: CameraSet | None = None
        try:
            cameras = self._build_pipeline(worker)
            if cameras is None:
                return
            with self._analysis_lock:
                if worker.is_cancelled:
                    return
                self.camera_set = cameras  # from now on on_unmount stops it
                for pipeline in cameras:
                    self.views[pipeline.name].pipeline = pipeline
                    if self.hub is not None:  # a file is live before any change
                        self.hub.source_status(pipeline.capture.status, pipeline.name)
            self.post_message(AnalysisStarted())
            pipelines = {camera.name: camera for camera in cameras}
            for result in cameras.results():
                with self._analysis_lock:
                    if worker.is_cancelled:
                        return
                    self.views.get(result.camera, self.cameras[0]).latest = result
                    if self.hub is not None:
                        self.hub.observe(result)
                        self.hub.diagnostics(result.camera, pipelines[result.camera].metrics)
            self.post_message(SourceEnded())
        except SourceError as error:
            self.post_message(AnalysisFailed(f"source error: {error}"))
        except ModelError as error:
            self.post_message(AnalysisFailed(f"model error: {error}"))
        except Exception as error:  # keep the console up and say what broke
            self.post_message(AnalysisFailed(f"analysis stopped: {type(error).__name__}: {error}"))
        finally:
            if cameras is not None:
                cameras.stop()

    def _build_pipeline(self, worker: Worker) -> CameraSet | None:
        """The pipeline, built on a daemon thread so that quitting during a slow build (a model
        pull, a DeepFace load) ends the process at once: None when the worker is cancelled first.
        The build's errors are raised here."""
        built: dict = {}

        def build() -> None:
            try:
                pipeline = open_cameras(
                    self.setups, lambda text: self.post_message(ModelProgress(text)),
                    realtime=self.config.ui.realtime, fail_fast=False, on_status=partial(self._source_changed, worker))
            except BaseException as error:  # handed to the worker, which reports it
                built["error"] = error
                return
            built["pipeline"] = pipeline
            if worker.is_cancelled:  # nobody will start it: release what it opened
                pipeline.stop()

        builder = threading.Thread(target=build, name="emotui-build", daemon=True)
        builder.start()
        while builder.is_alive():
            if worker.is_cancelled:
                return None  # the builder may finish later; its pipeline is never started
            builder.join(0.05)
        if "error" in built:
            raise built["error"]
        return built["pipeline"]

    def _source_changed(self, worker: Worker, camera: str, status: SourceStatus) -> None:
        """From the capture thread."""
        with self._analysis_lock:
            if worker.is_cancelled:
                return
            if self.hub is not None:
                self.hub.source_status(status, camera)
        self.post_message(SourceChanged(camera, status))

    def camera_log(self, camera: CameraView, text: str, severity: str) -> None:
        """A log line about one camera, named when there are several."""
        self.log_line(f"{camera.name}: {text}" if len(self.cameras) > 1 else text, severity)

    def on_model_progress(self, message: ModelProgress) -> None:
        self.log_line(message.text, "info")

    def on_analysis_started(self, message: AnalysisStarted) -> None:
        # Models and the UI are loaded: keep the collector from rescanning them (long pauses
        # delay key handling on small devices).
        gc.freeze()
        for camera in self.cameras:
            camera.source_state = ""
            self.camera_log(camera, f"analysing {camera.pipeline.source} with {self.models_text()}", "info")

    def on_alert_raised(self, message: AlertRaised) -> None:
        event = message.event
        self.events_list.record(event)
        camera = self.views.get(event.camera)
        if camera is not None:
            camera.last_alert = f"{event.rule} {time.strftime('%H:%M:%S', time.localtime(event.start_time))}"

    def on_events_list_selected(self, message: EventsList.Selected) -> None:
        """Enter (or a click) on an event: its snapshot and JSON."""
        self.push_screen(EventScreen(message.event, self.preview.colour_mode))

    def _ring_bell(self) -> None:
        """From the alert hub's thread, for an alert that rings (`m` mutes it)."""
        if self.bell_on:
            self._loop.call_soon_threadsafe(self.bell)

    def on_alerts_armed(self, message: AlertsArmed) -> None:
        text = f"alerts {'armed' if message.armed else 'disarmed'} ({message.origin})"
        if message.camera is None:
            self.log_line(f"every camera: {text}" if len(self.cameras) > 1 else text, "warning")
        else:
            self.camera_log(self.views[message.camera], text, "warning")
        self._refresh_panels()

    def on_source_changed(self, message: SourceChanged) -> None:
        """Each outage is logged once when it starts and once when the source is back; the
        header and the status line show the state (and the next retry) all along."""
        camera, status = self.views[message.camera], message.status
        previous = camera.status_logged
        camera.source_status = status
        if status.state == SourceState.CONNECTING:
            return
        if status.state == SourceState.RETRYING:
            if previous is None:  # not reached yet: say so once
                self.camera_log(camera, f"source unavailable: {status.detail}; retrying", "error")
                camera.status_logged = SourceState.RETRYING
            return
        if status.state == SourceState.LOST:
            self.camera_log(camera, f"source lost: {status.detail}; reconnecting", "warning")
        elif status.state == SourceState.LIVE and previous == SourceState.LOST:
            self.camera_log(camera, f"source back (reconnect {status.reconnects})", "info")
        elif status.state == SourceState.LIVE and previous == SourceState.RETRYING:
            self.camera_log(camera, "source connected", "info")
        elif status.state == SourceState.ENDED and status.detail:
            self.camera_log(camera, f"source ended {status.detail}", "warning")
        if len(self.cameras) > 1 and status.state in (SourceState.ENDED, SourceState.FAILED):
            camera.source_state = status.state  # the others go on (one camera: the worker's end says it)
        camera.status_logged = status.state

    def on_source_ended(self, message: SourceEnded) -> None:
        for camera in self.cameras:
            self.camera_log(camera, f"source ended: {camera.source_text}", "info")
            camera.source_state = "ended"

    def on_analysis_failed(self, message: AnalysisFailed) -> None:
        self.log_line(message.text, "error")
        for camera in self.cameras:
            camera.source_state = "error"
        self.preview.clear(message.text)

    def on_alert_sink_problem(self, message: AlertSinkProblem) -> None:
        self.log_line(message.text, "warning")

    # --- periodic refresh ------------------------------------------------------------------

    def _refresh_preview(self) -> None:
        camera, result = self.camera, self.latest
        if self.in_grid or not self.config.ui.preview or result is None or result.index == camera.shown_index:
            return  # nothing new (paused, or analysis slower than the preview rate)
        if self._console_busy() and camera.shown_index is not None:
            return  # the frame waits: the console's thread is over its share (not a redraw a key asked for)
        self._preview_shown_at = time.monotonic()
        camera.shown_index = result.index
        self._show_frame(result)

    def _console_busy(self) -> bool:
        """Whether the console's thread recently used more than PREVIEW_CPU_SHARE of a core (and the
        last preview frame is less than PREVIEW_MIN_INTERVAL_S old); called at each preview tick."""
        now, cpu = time.monotonic(), time.thread_time()
        wall, used = now - self._preview_clock[0], cpu - self._preview_clock[1]
        self._preview_clock = (now, cpu)
        if wall > 0:
            weight = min(1.0, wall)  # about a second's memory
            self._console_cpu_share += weight * (used / wall - self._console_cpu_share)
        return self._console_cpu_share > PREVIEW_CPU_SHARE and now - self._preview_shown_at < PREVIEW_MIN_INTERVAL_S

    def _show_frame(self, result: FrameResult) -> None:
        camera = self.camera
        zoomed = next((face for face in result.faces if face.track_id == camera.zoom_track), None)
        if camera.zoom_track is not None and zoomed is None:
            self.log_line(f"zoom off: face #{camera.zoom_track} left", "info")
            camera.zoom_track = None
        self.preview.zoom(self._zoom_region(result.image, zoomed.box) if zoomed else None)
        self.preview.show(result.image, self._boxes([zoomed] if zoomed else result.faces),
                          result.masks if self.boxes_on and not zoomed else Masks())

    def _boxes(self, faces: list[TrackedFace]) -> list[PreviewBox]:
        """The faces' boxes to draw (none while boxes are off)."""
        return [
            PreviewBox(tuple(float(v) for v in face.box), EMOTION_COLOURS[face.dominant],
                       f"#{face.track_id}" + (" still" if face.stationary else ""))
            for face in faces
        ] if self.boxes_on else []

    def _refresh_tiles(self) -> None:
        """The grid's tiles, at TILE_FPS."""
        if self.in_grid:
            self.grid.show([self._tile_state(camera) for camera in self.cameras])

    def _tile_state(self, camera: CameraView) -> TileState:
        result = camera.latest
        faces = result.faces if result is not None else []
        strongest = max(faces, key=lambda face: float(face.probabilities.max()), default=None)
        paused = camera.pipeline is not None and camera.pipeline.paused
        state = "paused" if paused else self._source_state_text(camera) or "live"
        picture = result.image if result is not None and self.config.ui.preview else None
        return TileState(camera.name, state, len(faces), strongest.dominant if strongest else "", camera.last_alert,
                         picture, tuple(self._boxes(faces)))

    def _zoom_region(self, image: np.ndarray, box: np.ndarray) -> tuple[int, int, int, int]:
        """The part of the frame around the face shaped like the preview pane (x1, y1, x2, y2)."""
        frame_height, frame_width = image.shape[:2]
        pane = self.preview.size
        aspect = pane.width / max(1, 2 * pane.height)  # a cell is one pixel wide and two high
        x1, y1, x2, y2 = (float(v) for v in box)
        height = max(x2 - x1, y2 - y1) / ZOOM_FACE_SHARE
        width = height * aspect
        scale = min(1.0, frame_width / width, frame_height / height)
        width, height = max(1, int(width * scale)), max(1, int(height * scale))
        left = int(min(max((x1 + x2 - width) / 2, 0), frame_width - width))
        top = int(min(max((y1 + y2 - height) / 2, 0), frame_height - height))
        return left, top, left + width, top + height

    def _refresh_panels(self) -> None:
        for camera in self.cameras:
            if camera.latest is not None:
                camera.timelines.add(camera.latest)
        result, pipeline = self.latest, self.pipeline
        paused = bool(pipeline and pipeline.paused)
        faces = result.faces if result and not self.in_grid else []
        if result is None and not self.in_grid:
            self._explain_empty_preview(paused)
        alerts = "alerts off" if self.hub is None else "armed" if self.engine.armed else "disarmed"
        state = self._source_state_text(self.camera)
        self.header.show(self._header_camera(), alerts, paused, not self.bell_on, state or "live", self.models_text())
        self.rules_bar.show(self.rules, self.selected_rule)
        self.side.display = bool(faces)  # no face: the preview takes the room
        self.main.set_class(bool(faces) and self._bars_fit_better_below(result.image), "stacked")
        self.bars.show(faces, self.rules, self.selected_rule, self.timelines)
        self.status.show(self.source_text, state, result, pipeline.metrics() if pipeline else None)
        self.events_list.check_unseen()

    def _bars_fit_better_below(self, image: np.ndarray) -> bool:
        """Whether the picture gets more cells with the bars under it than beside it (a narrow, tall
        terminal); the bars take as many rows as they have lines (no more than the CSS allows)."""
        width, height = self.main.size
        if width >= WIDE_COLUMNS:
            return False
        image_height, image_width = image.shape[:2]
        bars_rows = min(str(self.bars.render()).count("\n") + 2, height * 6 // 10)  # + the border line
        beside = fit_cells(image_width, image_height, width - NARROW_SIDE_COLUMNS, height)
        below = fit_cells(image_width, image_height, width, height - bars_rows)
        return below[0] * below[1] > beside[0] * beside[1]

    def _header_camera(self) -> str:
        """The camera the header names: with several, which one is focused or selected, and its number."""
        if len(self.cameras) == 1:
            return self.engine.camera
        where = f"{self.current + 1}/{len(self.cameras)}"
        if self.in_grid:
            page = f", {self.grid.page_text}" if self.grid.page_text else ""
            return f"{len(self.cameras)} cameras · selected {self.camera.name} ({where}{page})"
        return f"{self.camera.name} ({where}) · Esc: all cameras"

    def _source_state_text(self, camera: CameraView) -> str:
        """The camera's source's state while it is not live ("" once it is)."""
        status = camera.pipeline.capture.status if camera.pipeline is not None else camera.source_status
        if status is not None and status.state in (SourceState.CONNECTING, SourceState.LOST, SourceState.RETRYING):
            return status.state + (f", retry in {math.ceil(status.retry_in_s)} s" if status.retry_at is not None else "")
        return camera.source_state

    def _explain_empty_preview(self, paused: bool) -> None:
        """Say why there is no frame: preview off, no source yet (retrying), paused or starting."""
        if self.source_state == "error":
            return  # the preview shows the error
        status = self.pipeline.capture.status if self.pipeline is not None else self.camera.source_status
        if not self.config.ui.preview:
            reason = "preview off"
        elif status is not None and status.state == SourceState.RETRYING:
            missing = f"no camera {self.source_text}" if self.source_text.strip().isdigit() \
                else f"cannot reach {short_source(self.source_text)}"
            retry = f" — retrying in {math.ceil(status.retry_in_s)} s" if status.retry_at is not None else " — retrying"
            reason = missing + retry
        elif paused:
            reason = "paused"
        elif self.source_state == "ended":
            reason = "the source ended before its first frame"
        else:
            reason = "starting…"
        self.preview.clear(reason)

    def on_resize(self, event: events.Resize) -> None:
        self._fit_layout(event.size.width, event.size.height)

    def _fit_layout(self, columns: int, rows: int) -> None:
        """Stack the events and the log when narrow; below the minimum size say so instead."""
        self.screen_stack[0].set_class(columns < WIDE_COLUMNS, "narrow")
        too_small = columns < MIN_COLUMNS or rows < MIN_ROWS
        notice = next((screen for screen in self.screen_stack if isinstance(screen, TooSmallScreen)), None)
        if too_small and notice is None:
            self.push_screen(TooSmallScreen())
        elif too_small:
            notice.show_size(columns, rows)
        elif notice is not None:  # with what was opened over it (help, say)
            while self.screen_stack[-1] is not notice:
                self.pop_screen()
            self.pop_screen()

    def models_text(self) -> str:
        return f"{self.config.detector.name} + {self.config.emotion.model}"

    def log_line(self, text: str, severity: str) -> None:
        style = {"alert": "bold red", "error": "red", "warning": "yellow", "info": "default"}[severity]
        log = self.log_view
        follow = log.is_vertical_scroll_end  # keep following unless the user scrolled up
        log.write(f"[dim]{time.strftime('%H:%M:%S')}[/dim] [{style}]{escape(text)}[/]", scroll_end=False)
        if follow:
            log.scroll_end(animate=False, immediate=True, x_axis=False)

    # --- actions ----------------------------------------------------------------------------

    def _show_mode(self) -> None:
        """The grid of cameras, or the current one full size with its bars; the keyboard focus follows."""
        if len(self.cameras) > 1:
            self.grid.display = self.in_grid
            self.preview.display = not self.in_grid
            self.camera.shown_index = None  # the preview draws the focused camera at once
            self._refresh_tiles()
            self._refresh_preview()
        (self.grid if self.in_grid else self.events_list).focus()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The cameras' keys only with several cameras; Escape only while a camera is focused; no zoom in the grid."""
        if not self._offered(action):
            return False
        return not self.in_grid if action in ("show_grid", "zoom") else True

    def action_focus_camera(self, index: int) -> None:
        """Keys 1-9: camera `index` full size."""
        if index < len(self.cameras):
            self._focus_camera(index)

    def on_camera_grid_selected(self, message: CameraGrid.Selected) -> None:
        self._make_current(message.index)
        self._refresh_panels()

    def on_camera_grid_opened(self, message: CameraGrid.Opened) -> None:
        self._focus_camera(message.index)

    def _make_current(self, index: int) -> None:
        """Camera `index` is the one the keys act on; its rules may be fewer than the last one's."""
        self.current = self.grid.selected = index
        self.selected_rule = min(self.selected_rule, max(0, len(self.rules) - 1))

    def _focus_camera(self, index: int) -> None:
        self._make_current(index)
        self.in_grid = False
        self._show_mode()
        self._refresh_panels()

    def action_show_grid(self) -> None:
        self.in_grid = True
        self._show_mode()
        self._refresh_panels()

    def action_toggle_pause(self) -> None:
        camera = self.camera
        if camera.pipeline is None:
            return
        camera.pipeline.set_paused(not camera.pipeline.paused)
        self.camera_log(camera, "analysis paused" if camera.pipeline.paused else "analysis resumed", "info")
        self._refresh_panels()

    def action_snapshot(self) -> None:
        if self.latest is None:
            self.camera_log(self.camera, "no frame to snapshot yet", "warning")
            return
        self._save_snapshot(self.camera, self.latest)

    @work(thread=True, group="snapshots")
    def _save_snapshot(self, camera: CameraView, result: FrameResult) -> None:
        settings = self.config.snapshots
        folder = settings.dir or default_snapshot_dir()
        try:
            image, sidecar = save_snapshot(folder, result, str(camera.source_text), images=settings.images)
            saved = f"{image} (+ {sidecar.name})" if image else f"{sidecar} (images off: snapshots.images = none)"
            self.call_from_thread(self.camera_log, camera, f"snapshot saved: {saved}", "info")
        except SnapshotError as error:
            self.call_from_thread(self.camera_log, camera, f"snapshot failed: {error}", "error")

    @property
    def rules(self) -> list[AlertRuleConfig]:
        """The rules with their live thresholds (copies: thresholds change through `_set_threshold`)."""
        return self.engine.current_rules()

    def _set_threshold(self, rule: AlertRuleConfig, value: float) -> float:
        """On the current camera."""
        if self.hub is not None:
            return self.hub.set_threshold(rule.name, value, "console", self.camera.name)  # recorded in the audit log
        return self.engine.set_threshold(rule.name, value)

    def _change_threshold(self, direction: int) -> None:
        if not self.rules:
            return
        rule = self.rules[self.selected_rule]
        threshold = self._set_threshold(rule, rule.threshold + direction * self.config.alerts.threshold_step)
        self.log_line(f"rule {rule.name}: threshold {threshold:.2f}", "info")
        self._refresh_panels()

    def action_raise_threshold(self) -> None:
        self._change_threshold(+1)

    def action_lower_threshold(self) -> None:
        self._change_threshold(-1)

    def action_next_rule(self) -> None:
        if self.rules:
            self.selected_rule = (self.selected_rule + 1) % len(self.rules)
            rule = self.rules[self.selected_rule]
            self.log_line(f"selected rule {rule.name} ({rule.threshold:.2f})", "info")
            self._refresh_panels()

    def action_edit_thresholds(self) -> None:
        def apply(values: dict[str, float] | None) -> None:
            if values is None:
                return
            for rule in self.rules:
                if values[rule.name] != rule.threshold:
                    self._set_threshold(rule, values[rule.name])
            self.log_line("thresholds: " + ", ".join(f"{r.name} {r.threshold:.2f}" for r in self.rules), "info")
            self._refresh_panels()

        self.push_screen(ThresholdEditor(self.rules), apply)

    def action_write_config(self) -> None:
        """The current camera's thresholds: those of a [[cameras]] table to that table, else to [[alerts.rules]]."""
        camera = self.camera.name if self.camera.setup.table else None
        try:
            path = write_thresholds(self.config.path, self.rules, camera)
        except (ConfigError, OSError) as error:
            self.log_line(f"could not write the config: {error}", "error")
            return
        self.config.path = path
        self.log_line(f"thresholds{f' of {camera}' if camera else ''} written to {path}", "info")

    def action_toggle_armed(self) -> None:
        """The current camera's alerts."""
        if self.hub is None:
            self.log_line("alerts are off (see the error above)", "warning")
            return
        self.hub.set_armed(not self.engine.armed, "console", self.camera.name)

    def action_toggle_armed_all(self) -> None:
        """Every camera's alerts: all armed, unless all of them already are."""
        if self.hub is None:
            self.log_line("alerts are off (see the error above)", "warning")
            return
        self.hub.set_armed(not all(camera.engine.armed for camera in self.cameras), "console")

    def action_toggle_boxes(self) -> None:
        self.boxes_on = not self.boxes_on
        self.log_line(f"boxes {'on' if self.boxes_on else 'off'}", "info")
        self.camera.shown_index = None  # the next preview tick redraws, even when paused

    def action_cycle_colour(self) -> None:
        preview = self.preview
        preview.colour_mode = COLOUR_MODES[(COLOUR_MODES.index(preview.active_mode) + 1) % len(COLOUR_MODES)]
        for tile in self.grid.tiles:
            tile.preview.colour_mode = preview.colour_mode
        self.log_line(f"colours: {preview.colour_mode}", "info")

    def action_toggle_bell(self) -> None:
        self.bell_on = not self.bell_on
        self.log_line(f"bell {'on' if self.bell_on else 'muted'}", "info")
        self._refresh_panels()

    def action_zoom(self) -> None:
        """Zoom into the next tracked face; after the last one, back to the whole frame."""
        camera = self.camera
        tracks = sorted(face.track_id for face in camera.latest.faces) if camera.latest else []
        following = [track for track in tracks if camera.zoom_track is None or track > camera.zoom_track]
        camera.zoom_track = following[0] if following else None
        if not tracks:
            self.log_line("no face to zoom into", "warning")
        else:
            self.log_line(f"zoom: face #{camera.zoom_track}" if camera.zoom_track is not None else "zoom off", "info")
        camera.shown_index = None  # the next preview tick redraws, even when paused

    def action_help(self) -> None:
        def shown(keys: str) -> str:
            return ", ".join(self.get_key_display(Binding(key.strip(), "")) for key in keys.split(","))

        keys = [(shown(getattr(self.config.keys, field)), description) for action, field, description, _ in ACTIONS
                if self._offered(action)]
        cameras = [
            ("1-9", "focus camera 1-9 full size"),
            ("← → ↑ ↓, " + shown("enter"), "in the grid: select a camera, focus it (a click selects, another focuses)"),
        ] if len(self.cameras) > 1 else []
        self.push_screen(HelpScreen(keys + cameras + [
            (shown("ctrl+p"), "command palette"),
            ("↑ ↓, pgup pgdn, home end", "scroll the events list (the mouse wheel too)"),
            (shown("enter"), "the selected alert's snapshot and JSON"),
        ]))

    def _offered(self, action: str) -> bool:
        """Whether help and the palette list the action: the cameras' ones only with several cameras."""
        return action not in SEVERAL_CAMERAS_ACTIONS or len(self.cameras) > 1

    async def action_quit(self) -> None:
        self.exit(0)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's commands but its Quit (emotui's quits cleanly), then each action with its keys."""
        titles = {description.capitalize() for _, _, description, _ in ACTIONS}
        yield from (command for command in super().get_system_commands(screen) if command.title not in titles)
        for action, field, description, _ in filter(lambda entry: self._offered(entry[0]), ACTIONS):
            keys = ", ".join(key.strip() for key in getattr(self.config.keys, field).split(","))
            yield SystemCommand(description.capitalize(), f"key: {keys}", getattr(self, f"action_{action}"))


def create_app(config: Config, source: str | None = None, graphics: Graphics | None = None) -> EmotuiApp:
    """The one factory used by the CLI and the tests; `graphics` (graphics.resolve) draws the preview in pixels."""
    return EmotuiApp(config, source, graphics)
