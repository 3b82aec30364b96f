"""`emotui run --headless` and `emotui bench`: the pipeline without a UI."""

from __future__ import annotations

import json
import resource
import time
from collections import Counter
from typing import TextIO

from emotui.alerts.hub import AlertHub
from emotui.capture import SourceState, SourceStatus
from emotui.pipeline import STAGES, CameraSet, FrameResult, Pipeline, summarise
from emotui.vocabulary import EventType

REPORTED_STATES = (SourceState.LIVE, SourceState.LOST, SourceState.RETRYING, SourceState.ENDED,
                   SourceState.FAILED)  # not each reconnect attempt


def status_reporter(out: TextIO, as_json: bool):
    """A status callback (camera, status) printing each camera's source state changes: an outage as
    `lost`, then `retrying` with its first retry (not every attempt), then `live` when it is back."""
    last: dict[str, SourceState] = {}

    def report(camera: str, status: SourceStatus) -> None:
        if status.state not in REPORTED_STATES or status.state == last.get(camera):
            return
        last[camera] = status.state
        line = json.dumps({"status": {"camera": camera, **status.to_dict()}}) if as_json \
            else f"{camera} source {status.describe()}"
        out.write(line + "\n")
        out.flush()

    return report


def _describe(result: FrameResult) -> str:
    faces = "; ".join(
        f"#{face.track_id} {face.dominant} {face.probabilities.max():.2f} "
        f"[{', '.join(str(int(v)) for v in face.box)}]"
        for face in result.faces
    ) or "no faces"
    ended = f" (ended: {', '.join(f'#{t}' for t in result.ended_tracks)})" if result.ended_tracks else ""
    return f"{result.camera} frame {result.index} t={result.time:.2f}s: {faces}{ended}"


def _change_key(result: FrameResult) -> tuple:
    return tuple(sorted((face.track_id, face.dominant) for face in result.faces))


def run_headless(cameras: CameraSet, hub: AlertHub | None, out: TextIO, as_json: bool, changes_only: bool,
                 max_frames: int | None = None) -> list[dict]:
    """Print one line per processed frame (or per change) of every camera, feed the alert hub, and
    return each camera's summary. A change is a face appearing, a track ending, or a face's dominant
    emotion changing. `max_frames` counts the frames of all cameras. `out` must be safe to write
    from the hub's thread too (one line per write)."""
    started = time.perf_counter()
    track_ids: dict[str, set[int]] = {camera.name: set() for camera in cameras}
    dominant_counts: dict[str, Counter[str]] = {camera.name: Counter() for camera in cameras}
    previous: dict[str, tuple] = {}
    alerts: Counter[str] = Counter()
    pipelines = {camera.name: camera for camera in cameras}
    processed = 0
    try:
        for result in cameras.results():
            if hub is not None:
                alerts[result.camera] += sum(event.type == EventType.NEW for event in hub.observe(result))
                hub.diagnostics(result.camera, pipelines[result.camera].metrics)
            track_ids[result.camera].update(face.track_id for face in result.faces)
            dominant_counts[result.camera].update(face.dominant for face in result.faces)
            key = _change_key(result)
            if not changes_only or key != previous.get(result.camera) or result.ended_tracks:
                out.write((json.dumps(result.to_dict()) if as_json else _describe(result)) + "\n")
                out.flush()
            previous[result.camera] = key
            processed += 1
            if max_frames is not None and processed >= max_frames:
                break
    finally:
        cameras.stop()
    elapsed = time.perf_counter() - started
    return [_summary(camera, elapsed, track_ids[camera.name], dominant_counts[camera.name], alerts[camera.name])
            for camera in cameras]


def _summary(pipeline: Pipeline, elapsed: float, track_ids: set[int], dominant_counts: Counter[str],
             alerts: int) -> dict:
    metrics = pipeline.metrics()
    return {
        "camera": pipeline.name,
        "source": str(pipeline.source),
        "detector": pipeline.analyzer.detector.name,
        "emotion_model": pipeline.analyzer.classifier.name,
        "frames_read": pipeline.capture.frames_read,
        "frames_processed": metrics.processed_frames,
        "dropped_frames": metrics.dropped_frames,
        "tracks": len(track_ids),
        "dominant_emotions": dict(dominant_counts),
        "capture_fps": round(metrics.capture_fps, 2),
        "processed_fps": round(metrics.processed_frames / elapsed, 2) if elapsed > 0 else 0.0,
        "stage_ms_median": {stage: round(ms, 3) for stage, ms in metrics.stage_ms.items()},
        "skipped_by_cap": pipeline.skipped_by_cap,
        "duration_s": round(elapsed, 3),
        "alerts": alerts,
        "source_status": pipeline.capture.status.to_dict(),
        "corrupt_frames": pipeline.capture.corrupt_frames,
    }


def benchmark(pipeline: Pipeline, max_frames: int | None) -> dict:
    """Process the source as fast as possible and report throughput, stage times, latency and memory."""
    stage_ms: dict[str, list[float]] = {stage: [] for stage in STAGES}
    processing_ms: list[float] = []
    latency_ms: list[float] = []
    faces = 0
    started = time.perf_counter()
    try:
        for result in pipeline.results():
            for stage, ms in result.stage_ms.items():
                stage_ms[stage].append(ms)
            processing_ms.append(sum(result.stage_ms.values()))
            latency_ms.append(result.latency_ms)
            faces += len(result.faces)
            if max_frames is not None and len(processing_ms) >= max_frames:
                break
    finally:
        pipeline.stop()
    elapsed = time.perf_counter() - started
    return {
        "source": str(pipeline.source),
        "resolution": pipeline.capture.resolution,
        "detector": pipeline.analyzer.detector.name,
        "emotion_model": pipeline.analyzer.classifier.name,
        "frames": len(processing_ms),
        "faces": faces,
        "processed_fps": round(len(processing_ms) / elapsed, 2) if elapsed > 0 else 0.0,
        "stage_ms": {stage: summarise(values) for stage, values in stage_ms.items()},
        "frame_latency_ms": summarise(processing_ms),
        "end_to_end_latency_ms": summarise(latency_ms),
        "dropped_frames": pipeline.capture.dropped,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
