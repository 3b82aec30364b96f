"""Face boxes as small numpy-backed dataclasses, and the box geometry shared by detector and tracker."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# BlazeFace's six keypoints, in the order the model emits them (the person's right eye is on the
# image's left for a face looking at the camera).
KEYPOINTS = ("right_eye", "left_eye", "nose", "mouth", "right_ear", "left_ear")


@dataclass(frozen=True)
class Detections:
    """N face boxes in pixel coordinates (x1, y1, x2, y2) with their confidence and, from
    detectors that give them, the six KEYPOINTS of each face."""

    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32, 0-1
    keypoints: np.ndarray | None = None  # (N, 6, 2) float32 pixels, or None

    @classmethod
    def empty(cls, with_keypoints: bool = False) -> Detections:
        keypoints = np.zeros((0, len(KEYPOINTS), 2), np.float32) if with_keypoints else None
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), keypoints)

    @classmethod
    def concatenate(cls, parts: list[Detections]) -> Detections:
        """All boxes of `parts` in one; keypoints are kept only when every part has them."""
        if not parts:
            return cls.empty()
        with_keypoints = all(part.keypoints is not None for part in parts)
        return cls(
            np.concatenate([part.boxes for part in parts]).astype(np.float32),
            np.concatenate([part.scores for part in parts]).astype(np.float32),
            np.concatenate([part.keypoints for part in parts]).astype(np.float32) if with_keypoints else None,
        )

    def __len__(self) -> int:
        return len(self.scores)

    def select(self, mask: np.ndarray) -> Detections:
        return Detections(self.boxes[mask], self.scores[mask], None if self.keypoints is None else self.keypoints[mask])

    def shifted(self, dx: float, dy: float) -> Detections:
        """The same faces moved by (dx, dy) pixels, e.g. from a tile's coordinates to the frame's."""
        keypoints = None if self.keypoints is None else self.keypoints + np.float32([dx, dy])
        return Detections(self.boxes + np.float32([dx, dy, dx, dy]), self.scores, keypoints)

    def at_least(self, min_side_px: float) -> Detections:
        """Only the faces whose shorter side is at least min_side_px."""
        return self.select(box_sides(self.boxes) >= min_side_px)


def box_sides(boxes: np.ndarray) -> np.ndarray:
    """The shorter side of each (N, 4) xyxy box."""
    return np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])


def box_centres(boxes: np.ndarray) -> np.ndarray:
    """The (N, 2) centres of (N, 4) xyxy boxes."""
    return (boxes[:, :2] + boxes[:, 2:]) / 2


# Two face boxes are one face when they overlap by more than an IoU threshold, or when the smaller
# lies this much inside the larger (a tight and a loose box of the same head: two people's faces
# never nest).
CONTAINED = 0.9


def _intersections(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    return inter, np.prod(a[:, 2:] - a[:, :2], axis=1), np.prod(b[:, 2:] - b[:, :2], axis=1)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection-over-union of (N,4) and (M,4) xyxy boxes, shape (N, M)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    inter, area_a, area_b = _intersections(a, b)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def same_face(a: np.ndarray, b: np.ndarray, iou_threshold: float) -> np.ndarray:
    """(N, M) booleans: box i of `a` and box j of `b` show the same face (IoU above the
    threshold, or the smaller at least CONTAINED inside the larger)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), bool)
    inter, area_a, area_b = _intersections(a, b)
    iou = inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
    inside = inter / np.maximum(np.minimum(area_a[:, None], area_b[None, :]), 1e-9)
    return (iou > iou_threshold) | (inside >= CONTAINED)


def weighted_nms(found: Detections, iou_threshold: float) -> Detections:
    """MediaPipe-style weighted NMS: each cluster of boxes of the same face (see same_face)
    becomes their score-weighted mean box (and mean keypoints), carrying the cluster's best score."""
    order = np.argsort(-found.scores, kind="stable")
    boxes, scores = found.boxes[order], found.scores[order]
    keypoints = None if found.keypoints is None else found.keypoints[order]
    remaining = np.ones(len(scores), bool)
    overlaps = same_face(boxes, boxes, iou_threshold)
    kept_boxes, kept_scores, kept_keypoints = [], [], []
    for index in range(len(scores)):
        if not remaining[index]:
            continue
        cluster = remaining & overlaps[index]
        cluster[index] = True
        weights = scores[cluster] / max(float(scores[cluster].sum()), 1e-9)
        kept_boxes.append((boxes[cluster] * weights[:, None]).sum(axis=0))
        if keypoints is not None:
            kept_keypoints.append((keypoints[cluster] * weights[:, None, None]).sum(axis=0))
        kept_scores.append(scores[index])
        remaining &= ~cluster
    if not kept_scores:
        return Detections.empty(with_keypoints=keypoints is not None)
    return Detections(
        np.asarray(kept_boxes, np.float32), np.asarray(kept_scores, np.float32),
        np.asarray(kept_keypoints, np.float32) if keypoints is not None else None,
    )
