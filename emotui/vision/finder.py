"""A detector together with the checks every candidate face must pass: big enough, a face's
geometry (plausibility), and not under a mask."""

from __future__ import annotations

import numpy as np

from emotui.vision.detections import Detections, box_centres, box_sides
from emotui.vision.detectors import FaceDetector
from emotui.vision.masks import Masks
from emotui.vision.plausibility import plausible


class FaceFinder:
    def __init__(self, detector: FaceDetector, min_face_px: float, masks: Masks = Masks()) -> None:
        self.detector = detector
        self.masks = masks
        self._min_face_px = min_face_px

    @property
    def name(self) -> str:
        return self.detector.name

    def _acceptable(self, found: Detections, frame: np.ndarray) -> np.ndarray:
        height, width = frame.shape[:2]
        ok = (box_sides(found.boxes) >= self._min_face_px) & plausible(found, frame.shape)
        if self.masks:
            ok &= ~self.masks.covers(box_centres(found.boxes), width, height)
        return ok

    def detect(self, frame: np.ndarray, full_scan: bool = False) -> Detections:
        """Candidate faces in the frame (see FaceDetector.detect) that pass the checks."""
        found = self.detector.detect(frame, full_scan)
        return found.select(self._acceptable(found, frame))

    def _judged(self, found: Detections | None, frame: np.ndarray) -> Detections | None:
        """A closer look's result with the faces that fail the checks scored 0."""
        if found is None or len(found) == 0:
            return found
        scores = np.where(self._acceptable(found, frame), found.scores, 0.0).astype(np.float32)
        return Detections(found.boxes, scores, found.keypoints)

    def confirm(self, frame: np.ndarray, candidates: Detections, min_score: float) -> Detections:
        """New faces: the candidates of at least `min_score` that a closer look confirms; all of
        them when the detector cannot look closer."""
        strong = candidates.select(candidates.scores >= min_score)
        if len(strong) == 0:
            return strong
        closer = self._judged(self.detector.confirm(frame, strong.boxes), frame)
        return strong if closer is None else strong.select(closer.scores > 0)

    def refind(self, frame: np.ndarray, boxes: np.ndarray) -> Detections | None:
        """Per box of a tracked face, the face a quick closer look finds there again (score 0 when
        none passes the checks), or None when the detector cannot look closer."""
        return self._judged(self.detector.refind(frame, boxes), frame)
