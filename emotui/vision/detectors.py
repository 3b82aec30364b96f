"""Face detectors behind one interface: `detect(frame_bgr) -> Detections`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from emotui.models import ModelError
from emotui.vision.detections import Detections, weighted_nms
from emotui.vision.runtime import TFLiteRunner


class FaceDetector(Protocol):
    name: str

    def detect(self, frame: np.ndarray) -> Detections: ...


@dataclass(frozen=True)
class AnchorLayout:
    """MediaPipe SSD anchor options for a BlazeFace variant (fixed anchor size)."""

    input_size: int
    strides: tuple[int, ...]
    two_anchors_per_layer: bool  # interpolated_scale_aspect_ratio == 1.0


SHORT_RANGE = AnchorLayout(128, (8, 16, 16, 16), True)
FULL_RANGE = AnchorLayout(192, (4,), False)


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


def decode_boxes(raw_boxes: np.ndarray, anchors: np.ndarray, input_size: int) -> np.ndarray:
    """BlazeFace regressors (N, 16) → (N, 4) xyxy boxes normalised to the model input."""
    centre = raw_boxes[:, :2] / input_size + anchors
    half = raw_boxes[:, 2:4] / input_size / 2
    return np.concatenate([centre - half, centre + half], axis=1)


class BlazeFaceDetector:
    """MediaPipe BlazeFace (short or full range) on LiteRT: letterbox, decode anchors, weighted NMS."""

    RAW_SCORE_LIMIT = 80.0

    def __init__(self, name: str, model_path: Path, layout: AnchorLayout, min_score: float,
                 nms_iou: float, threads: int = 1) -> None:
        self.name = name
        self._runner = TFLiteRunner(model_path, threads)
        self._layout = layout
        self._anchors = generate_anchors(layout)
        expected = (1, layout.input_size, layout.input_size, 3)
        if self._runner.input_shape != expected:
            raise ModelError(f"{model_path} takes input {self._runner.input_shape}, not {expected} as {name} should")
        self._min_score = min_score
        self._nms_iou = nms_iou

    def detect(self, frame: np.ndarray) -> Detections:
        size = self._layout.input_size
        height, width = frame.shape[:2]
        scale = size / max(height, width)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
        resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_AREA)
        square = cv2.copyMakeBorder(resized, pad_y, size - new_h - pad_y, pad_x, size - new_w - pad_x,
                                    cv2.BORDER_CONSTANT, value=(0, 0, 0))
        tensor = cv2.cvtColor(square, cv2.COLOR_BGR2RGB).astype(np.float32) * (2 / 255.0) - 1.0
        outputs = self._runner.run(tensor[None])
        regressors = next(o for o in outputs if o.shape[-1] == 16)[0]
        logits = next(o for o in outputs if o.shape[-1] == 1)[0, :, 0]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -self.RAW_SCORE_LIMIT, self.RAW_SCORE_LIMIT)))
        keep = scores >= self._min_score
        if not keep.any():
            return Detections.empty()
        boxes = decode_boxes(regressors[keep], self._anchors[keep], size) * size
        boxes = (boxes - [pad_x, pad_y, pad_x, pad_y]) / scale
        boxes = np.clip(boxes, 0, [width, height, width, height])
        return weighted_nms(boxes.astype(np.float32), scores[keep].astype(np.float32), self._nms_iou)


class TiledDetector:
    """Runs a detector on the whole frame and on an N x N grid of overlapping tiles (each 1.5/N of
    the frame), merging the boxes: small faces are seen at a larger scale."""

    TILE_FRACTION = 1.5

    def __init__(self, inner: FaceDetector, tiles: int, nms_iou: float) -> None:
        self.name = f"{inner.name} (tiles {tiles}x{tiles})"
        self._inner = inner
        self._tiles = tiles
        self._nms_iou = nms_iou

    def detect(self, frame: np.ndarray) -> Detections:
        height, width = frame.shape[:2]
        tile_h = min(height, int(height * self.TILE_FRACTION / self._tiles))
        tile_w = min(width, int(width * self.TILE_FRACTION / self._tiles))
        found = [self._inner.detect(frame)]
        for top in np.linspace(0, height - tile_h, self._tiles).astype(int):
            for left in np.linspace(0, width - tile_w, self._tiles).astype(int):
                tile = self._inner.detect(frame[top:top + tile_h, left:left + tile_w])
                found.append(Detections(tile.boxes + np.float32([left, top, left, top]), tile.scores))
        boxes = np.concatenate([d.boxes for d in found])
        scores = np.concatenate([d.scores for d in found])
        return weighted_nms(boxes, scores, self._nms_iou) if len(scores) else Detections.empty()


class HaarDetector:
    """OpenCV's frontal-face Haar cascade; every hit scores 1.0."""

    name = "haar"

    def __init__(self, cascade_path: Path, min_face_px: int) -> None:
        self._cascade = cv2.CascadeClassifier(str(cascade_path))
        if self._cascade.empty():
            raise ModelError(f"{cascade_path} is not a usable Haar cascade")
        self._min_size = (min_face_px, min_face_px)

    def detect(self, frame: np.ndarray) -> Detections:
        grey = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame)
        found = self._cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=self._min_size)
        if len(found) == 0:
            return Detections.empty()
        boxes = np.asarray(found, np.float32)
        boxes[:, 2:] += boxes[:, :2]
        return Detections(boxes, np.ones(len(boxes), np.float32))


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
                "use detector blazeface, blazeface-full or haar"
            ) from None
        self._min_score = min_score

    def detect(self, frame: np.ndarray) -> Detections:
        regions = self._model.detect_faces(frame)
        boxes = [(r.x, r.y, r.x + r.w, r.y + r.h) for r in regions]
        scores = [1.0 if r.confidence is None else float(r.confidence) for r in regions]
        if not boxes:
            return Detections.empty()
        found = Detections(np.asarray(boxes, np.float32), np.asarray(scores, np.float32))
        return found.select(found.scores >= self._min_score)
