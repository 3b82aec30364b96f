"""Face tracking across frames with per-track smoothing.

Two score levels, as ByteTrack does: a new face must reach `start_score` and be confirmed by a
closer look (the detector run again on a zoomed-in window around it), while a face already
tracked is continued by any candidate down to `keep_score` (a face turning away, in shadow or
blurred by motion). A tracked face the whole-frame pass misses is looked for again around its
last place. So a false face must fool the detector at two scales to appear at all, and a real
one is not lost for a frame where it is hard to see."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from emotui.config import TrackerConfig
from emotui.vision import EMOTIONS
from emotui.vision.detections import Detections, box_centres, iou_matrix, same_face
from emotui.vision.finder import FaceFinder

# A detection whose centre lies within this fraction of a track's box size continues the track
# when the boxes do not overlap enough (fast motion, low frame rate), if its size is within
# SIZE_RATIO of the track's (not two heads side by side seen as one). Same-size boxes shifted by
# more than about half their size already fall below an IoU of 0.3.
CENTROID_FRACTION = 0.8
SIZE_RATIO = 1.5
# Closer looks per frame for tracked faces the whole-frame pass missed (each costs one model run).
MAX_REFINDS = 3
# A candidate that a closer look rejected is not looked at again for this long while it stays in
# place (IoU above REJECTED_IOU): a bush that looks like a face costs one closer look a second.
REJECTED_FOR_S = 1.0
REJECTED_IOU = 0.5
MAX_REJECTED = 64
# A stationary face: its box centre stays within this fraction of its size (either way) and its
# size within STATIONARY_SIZE of the median for `stationary_s`, summarised every STATIONARY_SAMPLE_S.
STATIONARY_MOVE = 0.1
STATIONARY_SIZE = 0.2
STATIONARY_SAMPLE_S = 1.0

class EmaSmoother:
    """Exponential moving average with a time constant in seconds, so a camera at 5 fps and one
    at 30 fps smooth alike."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._value: np.ndarray | None = None
        self._time = 0.0

    def update(self, probabilities: np.ndarray, time: float) -> np.ndarray:
        if self._value is None or self._seconds <= 0:
            self._value = probabilities.astype(np.float32)
        else:
            weight = 1.0 - math.exp(-max(time - self._time, 0.0) / self._seconds)
            self._value = (weight * probabilities + (1 - weight) * self._value).astype(np.float32)
        self._time = time
        return self._value


class WindowSmoother:
    """The mean over the last `seconds` (at least the newest frame)."""

    MAX_FRAMES = 1000

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._history: deque[tuple[float, np.ndarray]] = deque(maxlen=self.MAX_FRAMES)

    def update(self, probabilities: np.ndarray, time: float) -> np.ndarray:
        self._history.append((time, probabilities))
        while time - self._history[0][0] > self._seconds:
            self._history.popleft()
        return np.mean([p for _, p in self._history], axis=0).astype(np.float32)


@dataclass(frozen=True)
class Sighting:
    """A tracked face seen in this frame, before its emotion is known."""

    track_id: int
    box: np.ndarray  # (4,) xyxy pixels
    score: float  # detector confidence, calibrated
    keypoints: np.ndarray | None  # (6, 2) pixels, or None


def sightings_as_detections(sightings: list[Sighting]) -> Detections:
    """The sighted faces' boxes, scores and (when all have them) keypoints."""
    if not sightings:
        return Detections.empty()
    keypoints = [s.keypoints for s in sightings]
    return Detections(np.stack([s.box for s in sightings]).astype(np.float32),
                      np.asarray([s.score for s in sightings], np.float32),
                      None if any(k is None for k in keypoints) else np.stack(keypoints).astype(np.float32))


@dataclass(frozen=True)
class TrackedFace:
    track_id: int
    box: np.ndarray  # (4,) xyxy pixels
    score: float  # detector confidence
    probabilities: np.ndarray  # (7,) smoothed, in EMOTIONS order
    dwell_s: float
    keypoints: np.ndarray | None = None  # (6, 2) pixels, when the detector gives them
    stationary: bool = False  # has stayed put with a borderline score for tracker.stationary_s
    label: str | None = None  # the dominant emotion held with tracker.label_margin (None: the top score)

    @property
    def dominant(self) -> str:
        return self.label or EMOTIONS[int(np.argmax(self.probabilities))]


@dataclass(eq=False)
class _Track:
    track_id: int
    box: np.ndarray
    first_seen: float
    last_seen: float
    smoother: EmaSmoother | WindowSmoother
    label: int | None = None  # index of the dominant emotion
    positions: deque = field(default_factory=deque)  # one summary per STATIONARY_SAMPLE_S, see _note_position
    stationary: bool = False


@dataclass(frozen=True)
class TrackerUpdate:
    faces: list[TrackedFace]  # the faces seen in this frame
    ended: list[int] = field(default_factory=list)  # ids of tracks that ended at this frame


class Tracker:
    def __init__(self, config: TrackerConfig, start_score: float, keep_score: float) -> None:
        self._config = config
        self.start_score = start_score
        self._keep_score = keep_score
        self._tracks: list[_Track] = []
        self._rejected: list[tuple[np.ndarray, float]] = []  # (box, time) of candidates a closer look rejected
        self._next_id = 1
        self.started = 0  # tracks started so far
        self._samples = int(config.stationary_s / STATIONARY_SAMPLE_S) + 2 if config.stationary_s > 0 else 0

    def restarted(self) -> Tracker:
        """A tracker with the same settings and no tracks."""
        return Tracker(self._config, self.start_score, self._keep_score)

    def _smoother(self) -> EmaSmoother | WindowSmoother:
        if self._config.smoothing == "ema":
            return EmaSmoother(self._config.smoothing_s)
        return WindowSmoother(self._config.smoothing_s)

    def match(self, frame: np.ndarray, candidates: Detections, time: float, finder: FaceFinder,
              rescue: bool = True) -> list[Sighting]:
        """The faces seen in `frame`: candidates that continue a track, tracks found again by a
        closer look (when `rescue`), and new faces that a closer look confirms. `time` is the
        source clock in seconds."""
        candidates = candidates.select(candidates.scores >= self._keep_score)
        sightings: list[Sighting] = []
        matches = self._pair(candidates.boxes)
        for index in sorted(matches):
            sightings.append(self._see(matches[index], candidates, index, time))

        seen = {track.track_id for track in matches.values()}
        missed = sorted((t for t in self._tracks if t.track_id not in seen), key=lambda t: -t.last_seen)[:MAX_REFINDS]
        found = finder.refind(frame, np.stack([t.box for t in missed])) if rescue and missed else None
        if found is not None:
            for index, track in enumerate(missed):
                if found.scores[index] > 0 and not self._overlaps(found.boxes[index], sightings):
                    sightings.append(self._see(track, found, index, time))

        self._rejected = [(box, when) for box, when in self._rejected if time - when < REJECTED_FOR_S]
        rejected = np.stack([box for box, _ in self._rejected]) if self._rejected else np.zeros((0, 4), np.float32)
        strong = candidates.scores >= self.start_score
        fresh = strong & (iou_matrix(candidates.boxes, rejected).max(axis=1, initial=0) <= REJECTED_IOU)
        unmatched = np.asarray([fresh[i] and i not in matches and not self._overlaps(candidates.boxes[i], sightings)
                                for i in range(len(candidates))], bool)
        asked = candidates.select(unmatched)
        new = finder.confirm(frame, asked, self.start_score)
        confirmed = iou_matrix(asked.boxes, new.boxes).max(axis=1, initial=0) > 0.3
        self._rejected += [(box, time) for box in asked.boxes[~confirmed]]
        del self._rejected[:-MAX_REJECTED]
        seen = {s.track_id for s in sightings}
        again = self._pair(new.boxes, [t for t in self._tracks if t.track_id not in seen])  # a missed face, confirmed
        for index in range(len(new)):
            if index in again:
                sightings.append(self._see(again[index], new, index, time))
                continue
            if self._overlaps(new.boxes[index], sightings):
                continue
            track = _Track(self._next_id, new.boxes[index], time, time, self._smoother())
            self._next_id += 1
            self.started += 1
            self._tracks.append(track)
            sightings.append(self._see(track, new, index, time))
        seen = {s.track_id for s in sightings}
        for track in self._tracks:  # a track left on a face that another track now follows ends
            if track.track_id not in seen and self._overlaps(track.box, sightings):
                track.last_seen = -math.inf
        return sightings

    def update(self, sightings: list[Sighting], probabilities: np.ndarray, time: float) -> TrackerUpdate:
        """Smooth each sighted face's emotion probabilities, mark stationary faces, and end the
        tracks unseen for longer than max_absence_s."""
        tracks = {t.track_id: t for t in self._tracks}
        faces = []
        for sighting, probs in zip(sightings, probabilities):
            track = tracks[sighting.track_id]
            smoothed = track.smoother.update(probs, time)
            leader = int(np.argmax(smoothed))
            if track.label is None or smoothed[leader] - smoothed[track.label] > self._config.label_margin:
                track.label = leader
            if self._samples:
                self._note_position(track, sighting, time)
            if track.stationary and self._config.ignore_stationary:
                continue
            faces.append(TrackedFace(
                track_id=track.track_id, box=sighting.box, score=sighting.score, probabilities=smoothed,
                dwell_s=time - track.first_seen, keypoints=sighting.keypoints, stationary=track.stationary,
                label=EMOTIONS[track.label],
            ))
        ended = [t.track_id for t in self._tracks if time - t.last_seen > self._config.max_absence_s]
        self._tracks = [t for t in self._tracks if t.track_id not in ended]
        return TrackerUpdate(faces, ended)

    @staticmethod
    def _see(track: _Track, found: Detections, index: int, time: float) -> Sighting:
        track.box, track.last_seen = found.boxes[index], time
        keypoints = None if found.keypoints is None else found.keypoints[index]
        return Sighting(track.track_id, found.boxes[index], float(found.scores[index]), keypoints)

    @staticmethod
    def _overlaps(box: np.ndarray, sightings: list[Sighting]) -> bool:
        """Is `box` a face already sighted in this frame?"""
        return bool(sightings) and bool(same_face(box[None], np.stack([s.box for s in sightings]), 0.3).any())

    def _note_position(self, track: _Track, sighting: Sighting, time: float) -> None:
        """Add the sighting to the track's per-second summaries (the range of its box centre and
        size, its mean score) and decide whether it is stationary: over the last stationary_s its
        centre stayed within STATIONARY_MOVE of its size, its size within STATIONARY_SIZE, and its
        score below stationary_score."""
        (cx, cy), side = box_centres(sighting.box[None])[0], float(max(sighting.box[2:] - sighting.box[:2]))
        buckets = track.positions
        if not buckets or time - buckets[-1][0] >= STATIONARY_SAMPLE_S:
            buckets.append([time, cx, cx, cy, cy, side, side, 0.0, 0])
            while len(buckets) > self._samples:
                buckets.popleft()
        bucket = buckets[-1]
        bucket[1:7] = [min(bucket[1], cx), max(bucket[2], cx), min(bucket[3], cy), max(bucket[4], cy),
                       min(bucket[5], side), max(bucket[6], side)]
        bucket[7] += sighting.score
        bucket[8] += 1
        window = np.asarray([b for b in buckets if b[0] >= time - self._config.stationary_s])
        if time - buckets[0][0] < self._config.stationary_s or len(window) == 0:
            track.stationary = False
            return
        size = float(np.median((window[:, 5] + window[:, 6]) / 2))
        spread = max(window[:, 2].max() - window[:, 1].min(), window[:, 4].max() - window[:, 3].min())
        track.stationary = bool(
            spread <= 2 * STATIONARY_MOVE * size
            and window[:, 5].min() >= (1 - STATIONARY_SIZE) * size and window[:, 6].max() <= (1 + STATIONARY_SIZE) * size
            and np.median(window[:, 7] / window[:, 8]) < self._config.stationary_score
        )

    def _pair(self, boxes: np.ndarray, tracks: list[_Track] | None = None) -> dict[int, _Track]:
        """Greedy matching of boxes to `tracks` (default: all): best IoU pairs first, then nearest
        centres for what is left; a track is continued only by a box of similar size."""
        tracks = self._tracks if tracks is None else tracks
        if not tracks or len(boxes) == 0:
            return {}
        track_boxes = np.stack([t.box for t in tracks])
        overlap = iou_matrix(boxes, track_boxes)
        sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        track_sizes = np.maximum(track_boxes[:, 2] - track_boxes[:, 0], track_boxes[:, 3] - track_boxes[:, 1])
        ratio = sizes[:, None] / np.maximum(track_sizes[None], 1e-6)
        similar = (ratio <= SIZE_RATIO) & (ratio >= 1 / SIZE_RATIO)
        distance = np.linalg.norm(box_centres(boxes)[:, None] - box_centres(track_boxes)[None], axis=2)
        distance = distance / np.maximum(track_sizes[None], 1e-6)
        matches: dict[int, _Track] = {}
        for affinity, acceptable in (
            (overlap, overlap >= max(self._config.iou_threshold, 1e-6)),
            (-distance, (distance <= CENTROID_FRACTION) & similar),
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
