"""The analysis pipeline: capture → detect → classify → track, shared by the headless CLI,
the benchmarks and the console. No UI imports here."""

from __future__ import annotations

import math
import os
import queue
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from emotui.capture import Capture, Frame, SourceSpec, SourceStatus, parse_source
from emotui.capture.readers.demo import DemoReader, DemoScene
from emotui.config import Config
from emotui.models import ModelError, ModelStore, Progress, default_models_dir
from emotui.vision import EMOTIONS
from emotui.vision.blazeface import (
    BOX_FIT, CALIBRATION, CLOSER_ZOOM, CONFIRM_RAW, FULL_RANGE, REFIND_RAW, SHORT_RANGE, BlazeFaceModel,
)
from emotui.vision.detectors import (
    BlazeFaceDetector, CloserLook, DeepFaceDetector, DualRangeDetector, FaceDetector, HaarDetector,
)
from emotui.vision.emotions import (
    CustomClassifier, DeepFaceEmotion, EmotionClassifier, MiniXception, classify_mirrored, face_crops,
)
from emotui.vision.detections import Detections, box_sides
from emotui.vision.finder import FaceFinder
from emotui.vision.masks import Masks
from emotui.vision.tracker import TrackedFace, Tracker, sightings_as_detections

STAGES = ("decode", "detect", "classify", "track")
CAP_EPSILON_S = 1e-3  # source times are sums of frame intervals: 0.2 may come as 0.19999
IDLE_WAIT_S = 0.5  # a worker with nothing to do looks again after this at the latest


@dataclass(frozen=True)
class FrameResult:
    index: int
    time: float  # source clock, seconds
    faces: list[TrackedFace]
    ended_tracks: list[int]
    stage_ms: dict[str, float]  # decode, detect, classify, track
    latency_ms: float  # from the start of decoding to the result
    image: np.ndarray = field(repr=False, compare=False)  # the analysed BGR frame
    masks: Masks = field(default=Masks(), repr=False, compare=False)  # where no face counts
    camera: str = ""  # the camera's name (Pipeline.name)

    def to_dict(self) -> dict:
        return {
            "camera": self.camera,
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
                    "stationary": face.stationary,
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
    """Detect, track and classify one frame at a time. `still_images` treats every frame as a
    photo of its own: all tiles at once, no search for faces of the previous frame."""

    def __init__(self, finder: FaceFinder, classifier: EmotionClassifier, tracker: Tracker, padding: float,
                 still_images: bool = False) -> None:
        self.finder = finder
        self.classifier = classifier
        self.tracker = tracker
        self._padding = padding
        self.still_images = still_images

    @property
    def detector(self) -> FaceDetector:
        return self.finder.detector

    def restarted(self) -> Analyzer:
        """The same models with a new tracker (no faces known), e.g. for the next video."""
        return Analyzer(self.finder, self.classifier, self.tracker.restarted(), self._padding, self.still_images)

    def faces_in_photo(self, image: np.ndarray) -> Detections:
        """The faces reported in a still image: every tile scanned, new faces confirmed."""
        return self.finder.confirm(image, self.finder.detect(image, full_scan=True), self.tracker.start_score)

    def classify_largest_face(self, image: np.ndarray, is_crop: bool = False) -> np.ndarray | None:
        """The emotion probabilities of the largest face in a still image (of the whole image when
        it `is_crop`), or None when no face is found."""
        if is_crop:
            return classify_mirrored(self.classifier, [image])[0]
        faces = self.faces_in_photo(image)
        if len(faces) == 0:
            return None
        return self.classify(image, faces.select(np.arange(len(faces)) == np.argmax(box_sides(faces.boxes))))[0]

    def classify(self, image: np.ndarray, faces: Detections) -> np.ndarray:
        """(N, 7) emotion probabilities of the faces: each crop turned upright by its eyes and
        classified together with its mirror image."""
        crops = face_crops(image, faces.boxes, faces.keypoints, self._padding, 2 * max(self.classifier.input_size))
        return classify_mirrored(self.classifier, crops)

    def process(self, frame: Frame) -> FrameResult:
        started = time.perf_counter()
        image = frame.image
        candidates = self.finder.detect(image, full_scan=self.still_images)
        sightings = self.tracker.match(image, candidates, frame.time, self.finder, rescue=not self.still_images)
        detected = time.perf_counter()
        probabilities = self.classify(image, sightings_as_detections(sightings))
        classified = time.perf_counter()
        update = self.tracker.update(sightings, probabilities, frame.time)
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
            masks=self.finder.masks,
        )


class Pipeline:
    """One camera: a capture feeding an Analyzer (its models, masks and tracker), analysed at most
    `detect_fps` frames per second of the source's clock (0: every frame), pausable, with its
    metrics and latest result. Iterate `results()` for this camera alone, or run several in a
    CameraSet."""

    WINDOW = 120

    def __init__(self, capture: Capture, analyzer: Analyzer, name: str = "", detect_fps: float = 0.0) -> None:
        self.capture = capture
        self.analyzer = analyzer
        self.name = name
        self.detect_fps = detect_fps
        self.latest: FrameResult | None = None  # the newest result
        self.processed_frames = 0
        self.skipped_while_paused = 0
        self.skipped_by_cap = 0  # frames that came before the cap allowed the next analysis
        self._next_due: float | None = None  # source time from which the next frame is analysed (cap)
        self._paused = threading.Event()
        self._done_times: deque[float] = deque(maxlen=self.WINDOW)
        self._stage_ms = {stage: deque(maxlen=self.WINDOW) for stage in STAGES}

    @property
    def source(self) -> SourceSpec:
        return self.capture.spec

    def results(self) -> Iterator[FrameResult]:
        yield from CameraSet([self], workers=1).results()

    def take(self, frame: Frame) -> bool:
        """Whether to analyse this frame (else it is counted as skipped): not while paused, and
        not before the cap allows; the frames of a live source are always its newest."""
        if self._paused.is_set():  # keep draining the source so no backlog builds
            self.skipped_while_paused += 1
            return False
        if self.detect_fps > 0:
            interval = 1 / self.detect_fps
            due = frame.time if self._next_due is None else self._next_due
            if frame.time < due - CAP_EPSILON_S:
                self.skipped_by_cap += 1
                return False
            # the frame takes the latest analysis slot it has reached: slots it came too late for are
            # lost, not made up for with a burst, and a late frame does not push the next slot back
            passed = max(0, math.floor((frame.time - due) / interval + CAP_EPSILON_S))
            self._next_due = due + (passed + 1) * interval
        return True

    def process(self, frame: Frame) -> FrameResult:
        """Analyse a frame taken by `take` (one thread at a time per camera)."""
        result = replace(self.analyzer.process(frame), camera=self.name)
        self.processed_frames += 1
        self._done_times.append(time.perf_counter())
        for stage, ms in result.stage_ms.items():
            self._stage_ms[stage].append(ms)
        self.latest = result
        return result

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


class CameraSet:
    """Several cameras analysed in one process. Each camera reads its source on its own capture
    thread; `workers` threads (default: one per core, at most one per camera) analyse them, taking
    the cameras in turn (round robin) among those with a frame to analyse, so a busy camera cannot
    starve the others. A camera is analysed by one worker at a time, so its tracker and models need
    no lock, and its results come in order."""

    def __init__(self, cameras: list[Pipeline], workers: int | None = None) -> None:
        self.cameras = cameras
        self.workers = max(1, min(len(cameras), workers or os.cpu_count() or 1))
        self._turn = 0  # where the next round robin starts
        self._busy: set[int] = set()  # cameras a worker is analysing
        self._done: set[int] = set()  # cameras whose source ended
        self._ready = threading.Condition()
        self._stopping = threading.Event()
        for camera in cameras:
            camera.capture.listen(self._wake)

    def __getitem__(self, name: str) -> Pipeline:
        for camera in self.cameras:
            if camera.name == name:
                return camera
        raise KeyError(name)

    def __iter__(self) -> Iterator[Pipeline]:
        return iter(self.cameras)

    def __len__(self) -> int:
        return len(self.cameras)

    def results(self) -> Iterator[FrameResult]:
        """Every camera's results (`result.camera`), each camera's in order, until every source has
        ended or stop() is called; then re-raises the first capture failure, if any."""
        for camera in self.cameras:
            camera.capture.start()
        try:
            if self.workers == 1:
                while (job := self._next_job()) is not None:
                    yield self._finish(job)
            else:
                yield from self._pooled_results()
        finally:
            self.stop()
        if error := next((camera.capture.error for camera in self.cameras if camera.capture.error), None):
            raise error

    def _pooled_results(self) -> Iterator[FrameResult]:
        results: queue.Queue = queue.Queue(maxsize=2 * len(self.cameras))  # bounded: workers wait for the consumer

        def hand_over(item: FrameResult | BaseException) -> None:
            while not self._stopping.is_set():
                try:
                    results.put(item, timeout=IDLE_WAIT_S)
                    return
                except queue.Full:
                    pass

        def work() -> None:
            try:
                while (job := self._next_job()) is not None:
                    hand_over(job[0].process(job[1]))  # before the camera is released: its results in order
                    self._release(job[0])
            except BaseException as error:  # raised by the consumer
                hand_over(error)
                self.stop(wait=False)

        threads = [threading.Thread(target=work, name=f"emotui-analysis-{n}", daemon=True) for n in range(self.workers)]
        for thread in threads:
            thread.start()
        try:
            while any(thread.is_alive() for thread in threads) or not results.empty():
                try:
                    item = results.get(timeout=IDLE_WAIT_S)
                except queue.Empty:
                    continue
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:  # the consumer stopped early: no worker may be left inside a model (the process could end)
            self._stopping.set()
            self._wake()
            for thread in threads:
                thread.join()

    def _finish(self, job: tuple[Pipeline, Frame]) -> FrameResult:
        try:
            return job[0].process(job[1])
        finally:
            self._release(job[0])

    def _release(self, camera: Pipeline) -> None:
        with self._ready:
            self._busy.discard(self.cameras.index(camera))
            self._ready.notify_all()

    def _next_job(self) -> tuple[Pipeline, Frame] | None:
        """The next camera in turn with a frame to analyse, and that frame; waits for one. None when
        every source has ended or on stop()."""
        with self._ready:
            while not self._stopping.is_set():
                progress = False
                for offset in range(len(self.cameras)):
                    index = (self._turn + offset) % len(self.cameras)
                    if index in self._busy or index in self._done:
                        continue
                    camera = self.cameras[index]
                    frame = camera.capture.poll()
                    if frame is None:
                        if camera.capture.finished:
                            self._done.add(index)
                        continue
                    progress = True
                    if camera.take(frame):
                        self._busy.add(index)
                        self._turn = index + 1
                        return camera, frame
                if len(self._done) == len(self.cameras):
                    return None
                if not progress:
                    self._ready.wait(IDLE_WAIT_S)
            return None

    def _wake(self) -> None:
        """A capture thread put a frame or ended."""
        with self._ready:
            self._ready.notify_all()

    def stop(self, wait: bool = True) -> None:
        """Stop every capture and the workers; `wait` False only asks (safe from a signal handler)."""
        self._stopping.set()
        for camera in self.cameras:
            camera.stop(wait)
        if wait:
            self._wake()


def model_threads(config: Config) -> int:
    """CPU threads per model: `models.threads`, or for 0 two (one on a single-core machine)."""
    return config.models.threads or min(2, os.cpu_count() or 1)


def create_detector(config: Config, store: ModelStore, progress: Progress) -> FaceDetector:
    settings, models = config.detector, config.models
    grid = None if settings.tiles == "auto" else int(settings.tiles)
    floor = min(settings.track_min_score, settings.min_score)

    def blazeface(name: str) -> BlazeFaceModel:
        layout = SHORT_RANGE if name == "blazeface" else FULL_RANGE
        return BlazeFaceModel(store.ensure(name, models.auto_pull, progress), layout, CALIBRATION[name], floor,
                              settings.nms_iou, model_threads(config), BOX_FIT[name])

    def looks(name: str, model: BlazeFaceModel, confirm: bool) -> CloserLook:
        return CloserLook(model, CLOSER_ZOOM[name], (CONFIRM_RAW if confirm else REFIND_RAW)[name])

    if settings.name == "blazeface-dual":
        short, full = blazeface("blazeface"), blazeface("blazeface-full")
        return DualRangeDetector(short, full, looks("blazeface-full", full, True), looks("blazeface", short, False),
                                 settings.nms_iou, settings.min_face_px, grid)
    if settings.name in ("blazeface", "blazeface-full"):
        model = blazeface(settings.name)
        # "auto" tiles are sized for the full range; blazeface, the fast option, tiles only when asked
        auto = 1 if settings.name == "blazeface" else None
        return BlazeFaceDetector(settings.name, model, looks(settings.name, model, True),
                                 looks(settings.name, model, False), settings.nms_iou, settings.min_face_px,
                                 auto if grid is None else grid)
    if settings.name == "haar":
        return HaarDetector(store.verified_path("haar"), settings.min_face_px)
    return DeepFaceDetector(settings.name.removeprefix("deepface:"), settings.min_score)


def create_finder(config: Config, store: ModelStore, progress: Progress) -> FaceFinder:
    return FaceFinder(create_detector(config, store, progress), config.detector.min_face_px,
                      Masks.from_config(config.detector.masks))


def create_classifier(config: Config, store: ModelStore, progress: Progress) -> EmotionClassifier:
    models = config.models
    if config.emotion.model == "mini-xception":
        return MiniXception(store.ensure("mini-xception", models.auto_pull, progress), model_threads(config))
    if config.emotion.model == "deepface":
        return DeepFaceEmotion()
    return CustomClassifier(config.emotion.custom, model_threads(config))


def create_analyzer(config: Config, progress: Progress, still_images: bool = False) -> Analyzer:
    store = ModelStore(default_models_dir(config.models.dir))
    settings = config.detector
    return Analyzer(
        finder=create_finder(config, store, progress),
        classifier=create_classifier(config, store, progress),
        tracker=Tracker(config.tracker, settings.min_score, min(settings.track_min_score, settings.min_score)),
        padding=config.emotion.padding,
        still_images=still_images,
    )


def create_pipeline(config: Config, source: str | None, progress: Progress, realtime: bool = False,
                    fail_fast: bool = True, on_status: Callable[[SourceStatus], None] | None = None,
                    name: str = "", detect_fps: float = 0.0) -> Pipeline:
    """The one factory used by the CLI, the console and the tests; `source` overrides the config's.
    realtime plays files and the demo at their own frame rate (the console; the demo then repeats its
    scene, like a camera); otherwise as fast as analysis goes (the demo: one pass, unless `source.loop`).
    fail_fast raises SourceError when the source cannot be opened (headless); otherwise a live
    source is retried (the console). on_status hears the source's state changes. `name` and
    `detect_fps` are the camera's (emotui.cameras builds the cameras of a config)."""
    spec = parse_source(source if source is not None else config.source.uri)
    reader = open_demo(config, progress, endless=realtime or config.source.loop) if spec.kind == "demo" else None
    analyzer = create_analyzer(config, progress, still_images=spec.kind in ("image", "folder"))
    return Pipeline(Capture(spec, reader, realtime=realtime, settings=config.source, fail_fast=fail_fast,
                            on_status=on_status), analyzer, name, detect_fps)


def open_demo(config: Config, progress: Progress, endless: bool) -> DemoReader:
    """The demo scene's reader; its photo comes from the model store (pulled first when allowed)."""
    store = ModelStore(default_models_dir(config.models.dir))
    try:
        photo = store.ensure("demo", config.models.auto_pull, progress)
    except ModelError as error:
        raise ModelError(f"the demo scene is made from a photo in the model store: {error}") from None
    return DemoReader(DemoScene(photo), endless)


def summarise(results: list[float]) -> dict[str, float]:
    """Median and 95th percentile of a list of milliseconds."""
    if not results:
        return {"median": 0.0, "p95": 0.0}
    values = np.asarray(results)
    return {"median": round(float(np.median(values)), 3), "p95": round(float(np.percentile(values, 95)), 3)}
