"""Face boxes as small numpy-backed dataclasses, and the box geometry shared by detector and tracker."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detections:
    """N face boxes in pixel coordinates (x1, y1, x2, y2) with their confidence."""

    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    def __len__(self) -> int:
        return len(self.scores)

    def select(self, mask: np.ndarray) -> Detections:
        return Detections(self.boxes[mask], self.scores[mask])

    def at_least(self, min_side_px: float) -> Detections:
        """Only the faces whose shorter side is at least min_side_px."""
        sides = np.minimum(self.boxes[:, 2] - self.boxes[:, 0], self.boxes[:, 3] - self.boxes[:, 1])
        return self.select(sides >= min_side_px)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection-over-union of (N,4) and (M,4) xyxy boxes, shape (N, M)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> Detections:
    """MediaPipe-style weighted NMS: each cluster of overlapping boxes becomes their
    score-weighted mean box, carrying the cluster's best score."""
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    remaining = np.ones(len(scores), bool)
    kept_boxes, kept_scores = [], []
    overlaps = iou_matrix(boxes, boxes)
    for index in range(len(scores)):
        if not remaining[index]:
            continue
        cluster = remaining & (overlaps[index] > iou_threshold)
        cluster[index] = True
        weights = scores[cluster]
        kept_boxes.append((boxes[cluster] * weights[:, None]).sum(axis=0) / weights.sum())
        kept_scores.append(scores[index])
        remaining &= ~cluster
    if not kept_scores:
        return Detections.empty()
    return Detections(np.asarray(kept_boxes, np.float32), np.asarray(kept_scores, np.float32))
