"""Face tracking across frames (IoU, then centroid distance) with per-track smoothing."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from emotui.config import TrackerConfig
from emotui.vision import EMOTIONS
from emotui.vision.detections import Detections, iou_matrix

# A detection whose centre lies within this fraction of a track's box size continues the track
# when the boxes do not overlap enough (fast motion, low frame rate). Same-size boxes shifted by
# more than about half their size already fall below an IoU of 0.3.
CENTROID_FRACTION = 0.8


class EmaSmoother:
    def __init__(self, alpha: float) -> None:
        self._alpha = alpha
        self._value: np.ndarray | None = None

    def update(self, probabilities: np.ndarray) -> np.ndarray:
        if self._value is None:
            self._value = probabilities.astype(np.float32)
        else:
            self._value = self._alpha * probabilities + (1 - self._alpha) * self._value
        return self._value


class WindowSmoother:
    def __init__(self, size: int) -> None:
        self._history: deque[np.ndarray] = deque(maxlen=size)

    def update(self, probabilities: np.ndarray) -> np.ndarray:
        self._history.append(probabilities)
        return np.mean(self._history, axis=0).astype(np.float32)


@dataclass(frozen=True)
class TrackedFace:
    track_id: int
    box: np.ndarray  # (4,) xyxy pixels
    score: float  # detector confidence
    probabilities: np.ndarray  # (7,) smoothed, in EMOTIONS order
    dwell_s: float

    @property
    def dominant(self) -> str:
        return EMOTIONS[int(np.argmax(self.probabilities))]


@dataclass(eq=False)
class _Track:
    track_id: int
    box: np.ndarray
    first_seen: float
    last_seen: float
    smoother: EmaSmoother | WindowSmoother


@dataclass(frozen=True)
class TrackerUpdate:
    faces: list[TrackedFace]  # the faces seen in this frame
    ended: list[int] = field(default_factory=list)  # ids of tracks that ended at this frame


class Tracker:
    def __init__(self, config: TrackerConfig) -> None:
        self._config = config
        self._tracks: list[_Track] = []
        self._next_id = 1

    def _smoother(self) -> EmaSmoother | WindowSmoother:
        if self._config.smoothing == "ema":
            return EmaSmoother(self._config.ema_alpha)
        return WindowSmoother(self._config.window)

    def update(self, detections: Detections, probabilities: np.ndarray, time: float) -> TrackerUpdate:
        """Match this frame's faces to tracks; `time` is the source clock in seconds."""
        matches = self._match(detections.boxes)
        faces = []
        for index in range(len(detections)):
            track = matches.get(index)
            if track is None:
                track = _Track(self._next_id, detections.boxes[index], time, time, self._smoother())
                self._next_id += 1
                self._tracks.append(track)
            track.box, track.last_seen = detections.boxes[index], time
            faces.append(TrackedFace(
                track_id=track.track_id,
                box=detections.boxes[index],
                score=float(detections.scores[index]),
                probabilities=track.smoother.update(probabilities[index]),
                dwell_s=time - track.first_seen,
            ))
        ended = [t.track_id for t in self._tracks if time - t.last_seen > self._config.max_absence_s]
        self._tracks = [t for t in self._tracks if t.track_id not in ended]
        return TrackerUpdate(faces, ended)

    def _match(self, boxes: np.ndarray) -> dict[int, _Track]:
        """Greedy matching: best IoU pairs first, then nearest centres for what is left."""
        tracks = self._tracks
        if not tracks or len(boxes) == 0:
            return {}
        track_boxes = np.stack([t.box for t in tracks])
        overlap = iou_matrix(boxes, track_boxes)
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        track_centres = (track_boxes[:, :2] + track_boxes[:, 2:]) / 2
        track_sizes = np.maximum(track_boxes[:, 2] - track_boxes[:, 0], track_boxes[:, 3] - track_boxes[:, 1])
        distance = np.linalg.norm(centres[:, None] - track_centres[None], axis=2) / track_sizes[None]
        matches: dict[int, _Track] = {}
        for affinity, acceptable in (
            (overlap, overlap >= max(self._config.iou_threshold, 1e-6)),
            (-distance, distance <= CENTROID_FRACTION),
        ):
            affinity = np.where(acceptable, affinity, -np.inf)
            affinity[list(matches), :] = -np.inf
            used = [tracks.index(t) for t in matches.values()]
            affinity[:, used] = -np.inf
            while np.isfinite(affinity).any():
                det, trk = np.unravel_index(np.argmax(affinity), affinity.shape)
                matches[int(det)] = tracks[int(trk)]
                affinity[det, :] = -np.inf
                affinity[:, trk] = -np.inf
        return matches
