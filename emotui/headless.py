"""`emotui run --headless` and `emotui bench`: the pipeline without a UI."""

from __future__ import annotations

import json
import resource
import time
from collections import Counter
from typing import TextIO

from emotui.alerts.hub import AlertHub
from emotui.capture import SourceState, SourceStatus
from emotui.pipeline import STAGES, FrameResult, Pipeline, summarise
from emotui.vocabulary import EventType

REPORTED_STATES = (SourceState.LIVE, SourceState.LOST, SourceState.RETRYING, SourceState.ENDED,
                   SourceState.FAILED)  # not each reconnect attempt


def status_reporter(out: TextIO, as_json: bool):
    """A Capture status callback printing the source's state changes: an outage as `lost`, then
    `retrying` with its first retry (not every attempt), then `live` when it is back."""
    last = {"state": None}

    def report(status: SourceStatus) -> None:
        if status.state not in REPORTED_STATES or status.state == last["state"]:
            return
        last["state"] = status.state
        line = json.dumps({"status": status.to_dict()}) if as_json else f"source {status.describe()}"
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
    return f"frame {result.index} t={result.time:.2f}s: {faces}{ended}"


def _change_key(result: FrameResult) -> tuple:
    return tuple(sorted((face.track_id, face.dominant) for face in result.faces))


def run_headless(pipeline: Pipeline, hub: AlertHub | None, out: TextIO, as_json: bool, changes_only: bool,
                 max_frames: int | None = None) -> dict:
    """Print one line per processed frame (or per change), feed the alert hub, and return the
    run's summary. A change is a face appearing, a track ending, or a face's dominant emotion
    changing. `out` must be safe to write from the hub's thread too (one line per write)."""
    started = time.perf_counter()
    track_ids: set[int] = set()
    dominant_counts: Counter[str] = Counter()
    previous: tuple | None = None
    alerts = 0
    try:
        for result in pipeline.results():
            if hub is not None:
                alerts += sum(event.type == EventType.NEW for event in hub.observe(result))
            track_ids.update(face.track_id for face in result.faces)
            dominant_counts.update(face.dominant for face in result.faces)
            key = _change_key(result)
            if not changes_only or key != previous or result.ended_tracks:
                out.write((json.dumps(result.to_dict()) if as_json else _describe(result)) + "\n")
                out.flush()
            previous = key
            if max_frames is not None and pipeline.processed_frames >= max_frames:
                break
    finally:
        pipeline.stop()
    elapsed = time.perf_counter() - started
    metrics = pipeline.metrics()
    return {
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
