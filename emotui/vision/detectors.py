"""Face detectors behind one interface: `detect(frame_bgr) -> Detections` finds candidate faces
with calibrated scores; `confirm` and `refind` take a closer look at places, on a zoomed-in window
(to confirm a new face, or to find a tracked face that the whole-frame pass missed)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from emotui.models import ModelError
from emotui.vision.blazeface import BlazeFaceModel
from emotui.vision.detections import Detections, iou_matrix, weighted_nms


class FaceDetector(Protocol):
    name: str

    def detect(self, frame: np.ndarray, full_scan: bool = False) -> Detections:
        """Candidate faces. `full_scan` covers every tile in this one call (a still image);
        otherwise a video's tiles are spread over successive frames."""
        ...

    def confirm(self, frame: np.ndarray, boxes: np.ndarray) -> Detections | None:
        """Per box, the face that a strict look at a zoomed-in window around it confirms (score 0
        and the box itself when none is), or None when this detector cannot look closer."""
        ...

    def refind(self, frame: np.ndarray, boxes: np.ndarray) -> Detections | None:
        """Like `confirm`, but a quick, lenient look for faces already tracked there."""
        ...


# Smallest face (pixels in the model's input) that full-range BlazeFace finds reliably: measured on
# the annotated group photos at 6-64 px (benchmarks/calibrate_detector.py): 0/18 at 6 px, 13/18 at
# 10 px, 16/18 at 12-14 px, 17/18 from 16 px.
FULL_RANGE_MIN_FACE = 16


@dataclass(frozen=True)
class TilePlan:
    """Square windows over the frame in which a face of `min_face_px` appears at least
    FULL_RANGE_MIN_FACE pixels tall to a model of `input_size`; they overlap by the size from which
    the whole-frame pass finds a face by itself, so no face falls between them."""

    windows: tuple[tuple[float, float, float], ...]  # (left, top, side) in frame pixels

    @classmethod
    def for_frame(cls, width: int, height: int, input_size: int, min_face_px: float, grid: int | None) -> TilePlan:
        """The plan for a frame size: `grid` N gives an N x N grid of windows 1.5/N of the frame
        (N = 1: none); None sizes the grid from `min_face_px`."""
        if grid is not None:
            if grid <= 1:
                return cls(())
            side = min(width, height, max(width, height) * 1.5 / grid)
            columns = rows = grid
        else:
            side = input_size * min_face_px / FULL_RANGE_MIN_FACE
            if side >= max(width, height):
                return cls(())
            side = min(side, width, height)
            overlap = min(side / 2, FULL_RANGE_MIN_FACE * max(width, height) / input_size)
            columns = 1 if width <= side else math.ceil((width - overlap) / (side - overlap))
            rows = 1 if height <= side else math.ceil((height - overlap) / (side - overlap))
        lefts = np.linspace(0, max(0.0, width - side), columns)
        tops = np.linspace(0, max(0.0, height - side), rows)
        return cls(tuple((float(left), float(top), float(side)) for top in tops for left in lefts))


class _TileScan:
    """A model's tile windows over a frame: all of them at once, or one per call in turn."""

    def __init__(self, model: BlazeFaceModel, min_face_px: float, grid: int | None) -> None:
        self._model = model
        self._min_face_px = min_face_px
        self._grid = grid
        self._plans: dict[tuple[int, int], TilePlan] = {}
        self._next = -1

    def windows(self, frame: np.ndarray) -> tuple[tuple[float, float, float], ...]:
        height, width = frame.shape[:2]
        if (width, height) not in self._plans:
            self._plans[(width, height)] = TilePlan.for_frame(width, height, self._model.input_size,
                                                              self._min_face_px, self._grid)
        return self._plans[(width, height)].windows

    def all(self, frame: np.ndarray) -> list[Detections]:
        return [self._model.run_window(frame, *window) for window in self.windows(frame)]

    def next(self, frame: np.ndarray) -> Detections:
        windows = self.windows(frame)
        self._next = (self._next + 1) % len(windows)
        return self._model.run_window(frame, *windows[self._next])


SAME_FACE_IOU = 0.3  # a closer look's face is the box's face when they overlap this much


@dataclass(frozen=True)
class CloserLook:
    """A model run on a window `zoom` times a face's size around it, keeping faces of at least
    `raw_score` (the model's own probability)."""

    model: BlazeFaceModel
    zoom: float
    raw_score: float

    def __call__(self, frame: np.ndarray, boxes: np.ndarray) -> Detections:
        """Per box: the face overlapping it most, if by at least SAME_FACE_IOU (a neighbour's face,
        or one of two heads that looked like one big face, must not stand in for it), or score 0
        and the box itself."""
        floor = self.model.calibration.of_raw(self.raw_score)
        out_boxes, out_scores, out_keypoints = [], [], []
        for box in boxes:
            side = float(max(box[2] - box[0], box[3] - box[1]))
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            window = side * self.zoom
            found = self.model.run_window(frame, cx - window / 2, cy - window / 2, window, floor)
            overlap = iou_matrix(np.asarray(box, np.float32)[None], found.boxes)[0]
            if len(found) and overlap.max() >= SAME_FACE_IOU:
                best = int(np.argmax(overlap))
                out_boxes.append(found.boxes[best])
                out_scores.append(found.scores[best])
                out_keypoints.append(found.keypoints[best])
            else:
                out_boxes.append(np.asarray(box, np.float32))
                out_scores.append(0.0)
                out_keypoints.append(np.zeros((6, 2), np.float32))
        if not out_scores:
            return Detections.empty(with_keypoints=True)
        return Detections(np.asarray(out_boxes, np.float32), np.asarray(out_scores, np.float32),
                          np.asarray(out_keypoints, np.float32))


class BlazeFaceDetector:
    """One BlazeFace range on the whole frame, plus tile windows for small faces when `grid`
    asks (a video: the whole frame and one tile in turn; a still image: all of them)."""

    def __init__(self, name: str, model: BlazeFaceModel, confirm: CloserLook, refind: CloserLook, nms_iou: float,
                 min_face_px: float, grid: int | None) -> None:
        self.name = name if grid in (None, 1) else f"{name} (tiles {grid}x{grid})"
        self._model = model
        self._confirm = confirm
        self._refind = refind
        self._nms_iou = nms_iou
        self._tiles = _TileScan(model, min_face_px, grid)
        self._frames = 0

    def detect(self, frame: np.ndarray, full_scan: bool = False) -> Detections:
        has_tiles = bool(self._tiles.windows(frame))
        if full_scan and has_tiles:
            found = [self._model.run(frame), *self._tiles.all(frame)]
        elif has_tiles and self._frames % 2:
            found = [self._tiles.next(frame)]
        else:
            found = [self._model.run(frame)]
        self._frames += 1
        return weighted_nms(Detections.concatenate(found), self._nms_iou) if len(found) > 1 else found[0]

    def confirm(self, frame: np.ndarray, boxes: np.ndarray) -> Detections:
        return self._confirm(frame, boxes)

    def refind(self, frame: np.ndarray, boxes: np.ndarray) -> Detections:
        return self._refind(frame, boxes)


class DualRangeDetector:
    """Both BlazeFace ranges. Every frame: the short range on the whole frame (near faces, up to
    one filling it) and one run of the full range, on the whole frame and on a tile window in
    turn (far faces, down to `min_face_px`); a still image gets the whole frame and every tile.
    Candidates are merged by weighted NMS on their calibrated scores. New faces are confirmed by
    the full range (the stricter judge), tracked ones refound by the short range (the cheaper)."""

    name = "blazeface-dual"

    def __init__(self, short: BlazeFaceModel, full: BlazeFaceModel, confirm: CloserLook, refind: CloserLook,
                 nms_iou: float, min_face_px: float, grid: int | None) -> None:
        if grid not in (None, 1):
            self.name = f"blazeface-dual (tiles {grid}x{grid})"
        self._short = short
        self._full = BlazeFaceDetector("blazeface-full", full, confirm, refind, nms_iou, min_face_px, grid)
        self._confirm = confirm
        self._refind = refind
        self._nms_iou = nms_iou

    def detect(self, frame: np.ndarray, full_scan: bool = False) -> Detections:
        found = [self._short.run(frame), self._full.detect(frame, full_scan)]
        return weighted_nms(Detections.concatenate(found), self._nms_iou)

    def confirm(self, frame: np.ndarray, boxes: np.ndarray) -> Detections:
        return self._confirm(frame, boxes)

    def refind(self, frame: np.ndarray, boxes: np.ndarray) -> Detections:
        return self._refind(frame, boxes)


class HaarDetector:
    """OpenCV's frontal-face Haar cascade; every hit scores 1.0."""

    name = "haar"

    def __init__(self, cascade_path: Path, min_face_px: int) -> None:
        self._cascade = cv2.CascadeClassifier(str(cascade_path))
        if self._cascade.empty():
            raise ModelError(f"{cascade_path} is not a usable Haar cascade")
        self._min_size = (min_face_px, min_face_px)

    def detect(self, frame: np.ndarray, full_scan: bool = False) -> Detections:
        grey = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame)
        found = self._cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=self._min_size)
        if len(found) == 0:
            return Detections.empty()
        boxes = np.asarray(found, np.float32)
        boxes[:, 2:] += boxes[:, :2]
        return Detections(boxes, np.ones(len(boxes), np.float32))

    def confirm(self, frame: np.ndarray, boxes: np.ndarray) -> None:
        return None

    def refind(self, frame: np.ndarray, boxes: np.ndarray) -> None:
        return None


class DeepFaceDetector:
    """Any DeepFace detector backend; its weights are downloaded by DeepFace (online only)."""

    def __init__(self, backend: str, min_score: float) -> None:
        self.name = f"deepface:{backend}"
        from deepface.modules import modeling

        try:
            self._model = modeling.build_model(task="face_detector", model_name=backend)
        except Exception as error:  # DeepFace raises ValueError, ImportError, its own errors
            raise ModelError(
                f"DeepFace detector '{backend}' could not be loaded: {str(error).rstrip('.')}. DeepFace downloads its "
                "weights from GitHub at first use, so this backend needs internet access once; offline, "
                "use detector blazeface-dual, blazeface, blazeface-full or haar"
            ) from None
        self._min_score = min_score

    def detect(self, frame: np.ndarray, full_scan: bool = False) -> Detections:
        regions = self._model.detect_faces(frame)
        boxes = [(r.x, r.y, r.x + r.w, r.y + r.h) for r in regions]
        scores = [1.0 if r.confidence is None else float(r.confidence) for r in regions]
        if not boxes:
            return Detections.empty()
        found = Detections(np.asarray(boxes, np.float32), np.asarray(scores, np.float32))
        return found.select(found.scores >= self._min_score)

    def confirm(self, frame: np.ndarray, boxes: np.ndarray) -> None:
        return None

    def refind(self, frame: np.ndarray, boxes: np.ndarray) -> None:
        return None

