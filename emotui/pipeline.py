"""The analysis pipeline: capture → detect → classify → track, shared by the headless CLI,
the benchmarks and the console. No UI imports here."""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from emotui.capture import Capture, Frame, SourceSpec, SourceStatus, parse_source
from emotui.config import Config
from emotui.models import ModelStore, Progress, default_models_dir
from emotui.vision import EMOTIONS
from emotui.vision.detectors import (
    FULL_RANGE, SHORT_RANGE, BlazeFaceDetector, DeepFaceDetector, FaceDetector, HaarDetector,
    TiledDetector,
)
from emotui.vision.emotions import (
    CustomClassifier, DeepFaceEmotion, EmotionClassifier, MiniXception, crop_faces,
)
from emotui.vision.tracker import TrackedFace, Tracker

STAGES = ("decode", "detect", "classify", "track")


@dataclass(frozen=True)
class FrameResult:
    index: int
    time: float  # source clock, seconds
    faces: list[TrackedFace]
    ended_tracks: list[int]
    stage_ms: dict[str, float]  # decode, detect, classify, track
    latency_ms: float  # from the start of decoding to the result
    image: np.ndarray = field(repr=False, compare=False)  # the analysed BGR frame

    def to_dict(self) -> dict:
        return {
            "frame": self.index,
            "time": round(self.time, 3),
            "faces": [
                {
                    "track_id": face.track_id,
                    "box": [int(round(v)) for v in face.box],
                    "score": round(face.score, 3),
                    "dominant": face.dominant,
                    "probabilities": {e: round(float(p), 4) for e, p in zip(EMOTIONS, face.probabilities)},
                    "dwell_s": round(face.dwell_s, 2),
                }
                for face in self.faces
            ],
            "ended_tracks": self.ended_tracks,
            "ms": {stage: round(ms, 2) for stage, ms in self.stage_ms.items()},
        }


@dataclass(frozen=True)
class MetricsSnapshot:
    capture_fps: float
    processed_fps: float
    stage_ms: dict[str, float]  # recent medians
    dropped_frames: int
    processed_frames: int


class Analyzer:
    """Detect, classify and track one frame at a time."""

    def __init__(self, detector: FaceDetector, classifier: EmotionClassifier, tracker: Tracker,
                 min_face_px: int, padding: float) -> None:
        self.detector = detector
        self.classifier = classifier
        self.tracker = tracker
        self._min_face_px = min_face_px
        self._padding = padding

    def process(self, frame: Frame) -> FrameResult:
        started = time.perf_counter()
        detections = self.detector.detect(frame.image).at_least(self._min_face_px)
        detected = time.perf_counter()
        probabilities = self.classifier.classify(crop_faces(frame.image, detections.boxes, self._padding))
        classified = time.perf_counter()
        update = self.tracker.update(detections, probabilities, frame.time)
        tracked = time.perf_counter()
        return FrameResult(
            index=frame.index,
            time=frame.time,
            faces=update.faces,
            ended_tracks=update.ended,
            stage_ms={
                "decode": frame.decode_ms,
                "detect": (detected - started) * 1000,
                "classify": (classified - detected) * 1000,
                "track": (tracked - classified) * 1000,
            },
            latency_ms=frame.decode_ms + (tracked - frame.captured_at) * 1000,
            image=frame.image,
        )


class Pipeline:
    """A running capture feeding an Analyzer; iterate `results()`."""

    WINDOW = 120

    def __init__(self, capture: Capture, analyzer: Analyzer) -> None:
        self.capture = capture
        self.analyzer = analyzer
        self.processed_frames = 0
        self.skipped_while_paused = 0
        self._paused = threading.Event()
        self._done_times: deque[float] = deque(maxlen=self.WINDOW)
        self._stage_ms = {stage: deque(maxlen=self.WINDOW) for stage in STAGES}

    @property
    def source(self) -> SourceSpec:
        return self.capture.spec

    def results(self) -> Iterator[FrameResult]:
        self.capture.start()
        try:
            for frame in self.capture.frames():
                if self._paused.is_set():  # keep draining the source so no backlog builds
                    self.skipped_while_paused += 1
                    continue
                result = self.analyzer.process(frame)
                self.processed_frames += 1
                self._done_times.append(time.perf_counter())
                for stage, ms in result.stage_ms.items():
                    self._stage_ms[stage].append(ms)
                yield result
        finally:
            self.capture.stop()

    def stop(self, wait: bool = True) -> None:
        self.capture.stop(wait)

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def set_paused(self, paused: bool) -> None:
        """Pause or resume analysis; the source keeps being read and its frames discarded."""
        if paused:
            self._paused.set()
        else:
            self._paused.clear()

    def metrics(self) -> MetricsSnapshot:
        times = list(self._done_times)
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        return MetricsSnapshot(
            capture_fps=self.capture.capture_fps,
            processed_fps=(len(times) - 1) / span if span > 0 else 0.0,
            stage_ms={s: statistics.median(v) if v else 0.0 for s, v in self._stage_ms.items()},
            dropped_frames=self.capture.dropped,
            processed_frames=self.processed_frames,
        )


def create_detector(config: Config, store: ModelStore, progress: Progress) -> FaceDetector:
    detector = _create_base_detector(config, store, progress)
    if config.detector.tiles > 1:
        return TiledDetector(detector, config.detector.tiles, config.detector.nms_iou)
    return detector


def _create_base_detector(config: Config, store: ModelStore, progress: Progress) -> FaceDetector:
    settings, models = config.detector, config.models
    if settings.name in ("blazeface", "blazeface-full"):
        layout = SHORT_RANGE if settings.name == "blazeface" else FULL_RANGE
        path = store.ensure(settings.name, models.auto_pull, progress)
        return BlazeFaceDetector(settings.name, path, layout, settings.min_score, settings.nms_iou, models.threads)
    if settings.name == "haar":
        return HaarDetector(store.verified_path("haar"), settings.min_face_px)
    return DeepFaceDetector(settings.name.removeprefix("deepface:"), settings.min_score)


def create_classifier(config: Config, store: ModelStore, progress: Progress) -> EmotionClassifier:
    models = config.models
    if config.emotion.model == "mini-xception":
        return MiniXception(store.ensure("mini-xception", models.auto_pull, progress), models.threads)
    if config.emotion.model == "deepface":
        return DeepFaceEmotion()
    return CustomClassifier(config.emotion.custom, models.threads)


def create_analyzer(config: Config, progress: Progress) -> Analyzer:
    store = ModelStore(default_models_dir(config.models.dir))
    return Analyzer(
        detector=create_detector(config, store, progress),
        classifier=create_classifier(config, store, progress),
        tracker=Tracker(config.tracker),
        min_face_px=config.detector.min_face_px,
        padding=config.emotion.padding,
    )


def create_pipeline(config: Config, source: str | None, progress: Progress, realtime: bool = False,
                    fail_fast: bool = True, on_status: Callable[[SourceStatus], None] | None = None) -> Pipeline:
    """The one factory used by the CLI, the console and the tests; `source` overrides the config's.
    realtime plays files at their own frame rate (the console); otherwise as fast as analysis goes.
    fail_fast raises SourceError when the source cannot be opened (headless); otherwise a live
    source is retried (the console). on_status hears the source's state changes."""
    spec = parse_source(source if source is not None else config.source.uri)
    analyzer = create_analyzer(config, progress)
    return Pipeline(Capture(spec, realtime=realtime, settings=config.source, fail_fast=fail_fast,
                            on_status=on_status), analyzer)


def summarise(results: list[float]) -> dict[str, float]:
    """Median and 95th percentile of a list of milliseconds."""
    if not results:
        return {"median": 0.0, "p95": 0.0}
    values = np.asarray(results)
    return {"median": round(float(np.median(values)), 3), "p95": round(float(np.percentile(values, 95)), 3)}
