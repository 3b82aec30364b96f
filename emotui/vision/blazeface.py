"""MediaPipe BlazeFace (short and full range) on LiteRT: letterbox, decode anchors, boxes and
keypoints, calibrate the score, weighted NMS."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emotui.models import ModelError
from emotui.vision.detections import Detections, weighted_nms
from emotui.vision.images import shrink
from emotui.vision.runtime import TFLiteRunner


@dataclass(frozen=True)
class AnchorLayout:
    """MediaPipe SSD anchor options for a BlazeFace variant (fixed anchor size)."""

    input_size: int
    strides: tuple[int, ...]
    two_anchors_per_layer: bool  # interpolated_scale_aspect_ratio == 1.0


SHORT_RANGE = AnchorLayout(128, (8, 16, 16, 16), True)
FULL_RANGE = AnchorLayout(192, (4,), False)


@dataclass(frozen=True)
class Calibration:
    """Platt scaling of a model's raw logit, sigmoid(slope * logit + offset): an estimate of the
    chance that a box is a face, on one scale for every model, so that one `min_score` means the
    same for both ranges. Fitted by benchmarks/calibrate_detector.py on labelled media."""

    slope: float
    offset: float

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.slope * logits + self.offset, -80.0, 80.0)))

    def of_raw(self, raw: float) -> float:
        """The calibrated equivalent of a raw model score."""
        return float(self(np.float64(math.log(raw / (1 - raw)))))


# Per model: Platt parameters fitted by `benchmarks/calibrate_detector.py` (see there for the data).
CALIBRATION = {
    "blazeface": Calibration(2.53, -1.763),
    "blazeface-full": Calibration(6.157, -2.999),
}
# Each model's boxes made to frame a face like the short range's (the emotion crops and the
# tracker depend on it): the full range's boxes are 7.7% larger and sit 5% of their size higher
# on the same faces (benchmarks/calibrate_detector.py). (scale, downward shift in box sides)
BOX_FIT = {"blazeface": (1.0, 0.0), "blazeface-full": (1 / 1.077, 0.05)}
# A closer look runs the model on a window this many times the face's size around it, so the face
# fills about half of the short range's input and a third of the full range's (64 px in both).
CLOSER_ZOOM = {"blazeface": 2.0, "blazeface-full": 3.0}
# The raw score a closer look must reach to confirm a new face: a level that at most about 1% of
# the look-alikes on the no-face footage reach while no face of the media falls below it
# (benchmarks/calibrate_detector.py). The full range, seeing a face at its best scale with the
# context around it, separates faces from look-alikes far better than the short range.
CONFIRM_RAW = {"blazeface": 0.75, "blazeface-full": 0.2}
# The raw score with which a closer look finds a face that is already tracked: lower, since the
# face is known (99% of the media's faces reach it; a few percent of look-alikes do).
REFIND_RAW = {"blazeface": 0.5, "blazeface-full": 0.1}


def generate_anchors(layout: AnchorLayout) -> np.ndarray:
    """(N, 2) anchor centres, normalised to [0, 1], in the order the model emits them."""
    centres: list[np.ndarray] = []
    layer = 0
    while layer < len(layout.strides):
        stride = layout.strides[layer]
        per_cell = 0
        while layer < len(layout.strides) and layout.strides[layer] == stride:
            per_cell += 2 if layout.two_anchors_per_layer else 1
            layer += 1
        cells = math.ceil(layout.input_size / stride)
        grid = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        cell_centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(cell_centres, per_cell, axis=0))
    return np.concatenate(centres)


def decode(regressors: np.ndarray, anchors: np.ndarray, input_size: int) -> tuple[np.ndarray, np.ndarray]:
    """BlazeFace regressors (N, 16) → (N, 4) xyxy boxes and (N, 6, 2) keypoints, normalised to the input."""
    centre = regressors[:, :2] / input_size + anchors
    half = regressors[:, 2:4] / input_size / 2
    keypoints = regressors[:, 4:16].reshape(-1, 6, 2) / input_size + anchors[:, None, :]
    return np.concatenate([centre - half, centre + half], axis=1), keypoints


def square_window(image: np.ndarray, left: float, top: float, side: float, size: int) -> tuple[np.ndarray, float]:
    """The square window (left, top, side) of `image` scaled to size x size pixels, black where it
    leaves the image; returns it with the scale (output pixels per image pixel)."""
    scale = size / side
    matrix = np.float32([[scale, 0, -left * scale], [0, scale, -top * scale]])
    if scale < 1:  # shrink (halving by area averaging, then bilinear), then place
        height, width = image.shape[:2]
        x1, y1 = max(0, int(math.floor(left))), max(0, int(math.floor(top)))
        x2, y2 = min(width, int(math.ceil(left + side))), min(height, int(math.ceil(top + side)))
        if x2 <= x1 or y2 <= y1:
            return np.zeros((size, size, 3), np.uint8), scale
        new_w, new_h = max(1, round((x2 - x1) * scale)), max(1, round((y2 - y1) * scale))
        small = shrink(image[y1:y2, x1:x2], new_w, new_h)
        out = np.zeros((size, size, 3), np.uint8)
        ox, oy = round((x1 - left) * scale), round((y1 - top) * scale)
        ox, oy = min(max(ox, 0), size - 1), min(max(oy, 0), size - 1)
        region = small[: size - oy, : size - ox]
        out[oy:oy + region.shape[0], ox:ox + region.shape[1]] = region
        return out, scale
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT), scale


class BlazeFaceModel:
    """One BlazeFace network: `run(image)` finds the faces in a whole image (letterboxed) with
    calibrated scores of at least `floor`; `run_window` looks at one square part of it."""

    def __init__(self, model_path: Path, layout: AnchorLayout, calibration: Calibration, floor: float,
                 nms_iou: float, threads: int = 1, box_fit: tuple[float, float] = (1.0, 0.0)) -> None:
        self._runner = TFLiteRunner(model_path, threads)
        expected = (1, layout.input_size, layout.input_size, 3)
        if self._runner.input_shape != expected:
            raise ModelError(f"{model_path} takes input {self._runner.input_shape}, not {expected} as a BlazeFace "
                             f"model of {layout.input_size}x{layout.input_size} should")
        self.input_size = layout.input_size
        self._anchors = generate_anchors(layout)
        self._calibration = calibration
        self.floor = floor
        self.calibration = calibration
        self._box_fit = box_fit
        self._nms_iou = nms_iou

    def run(self, image: np.ndarray) -> Detections:
        height, width = image.shape[:2]
        side = max(height, width)
        return self.run_window(image, (width - side) / 2, (height - side) / 2, side)

    def run_window(self, image: np.ndarray, left: float, top: float, side: float,
                   floor: float | None = None) -> Detections:
        """Faces in the square window at (left, top) of `side` pixels, in image coordinates, with
        calibrated scores of at least `floor` (default: the model's)."""
        size = self.input_size
        window, scale = square_window(image, left, top, side, size)
        if window.ndim == 2:
            window = cv2.cvtColor(window, cv2.COLOR_GRAY2BGR)
        tensor = cv2.cvtColor(window, cv2.COLOR_BGR2RGB).astype(np.float32) * (2 / 255.0) - 1.0
        outputs = self._runner.run(tensor[None])
        regressors = next(o for o in outputs if o.shape[-1] == 16)[0]
        logits = next(o for o in outputs if o.shape[-1] == 1)[0, :, 0]
        scores = self._calibration(logits)
        keep = scores >= (self.floor if floor is None else floor)
        if not keep.any():
            return Detections.empty(with_keypoints=True)
        boxes, keypoints = decode(regressors[keep], self._anchors[keep], size)
        fit_scale, fit_shift = self._box_fit
        if (fit_scale, fit_shift) != (1.0, 0.0):
            centre = (boxes[:, :2] + boxes[:, 2:]) / 2
            half = (boxes[:, 2:] - boxes[:, :2]) / 2
            centre[:, 1] += fit_shift * 2 * half.max(axis=1)
            boxes = np.concatenate([centre - half * fit_scale, centre + half * fit_scale], axis=1)
        offset = np.float32([left, top])
        boxes = boxes * (size / scale) + np.tile(offset, 2)
        keypoints = keypoints * (size / scale) + offset
        found = Detections(boxes.astype(np.float32), scores[keep].astype(np.float32), keypoints.astype(np.float32))
        return weighted_nms(found, self._nms_iou)
