"""Does a detection have a face's geometry? BlazeFace gives six keypoints per box; on a real face
the mouth lies below the eyes at about half the box's size, with the nose between them, whatever
the pose (profiles included). Most false faces (feathers, leaves, car fronts) break one of these.

Bounds measured with benchmarks/calibrate_detector.py on the media's faces (mouth-to-eyes 0.38-0.48
of the box side, tilt within 25°, nose at 0.42-0.65 of the way down, keypoints' centre within 0.23
of the box centre) and set well outside them: they keep every face of the media and reject 8% of
the short range's look-alikes on the no-face footage and 21% of the full range's, before any
closer look."""

from __future__ import annotations

import numpy as np

from emotui.vision.detections import Detections

EYES_TO_MOUTH = (0.25, 0.75)  # distance from the eyes' midpoint to the mouth, in box sides
MAX_TILT_DEG = 60.0  # eyes-to-mouth direction away from straight down (a tilted or lying head)
NOSE_ALONG = (0.1, 0.95)  # the nose's position from the eyes (0) to the mouth (1)
MAX_KEYPOINT_OFFSET = 0.3  # the keypoints' centre from the box centre, in box sides
MAX_FRAME_FRACTION = 1.25  # box side against the frame's shorter side


def plausible(found: Detections, frame_shape: tuple[int, ...]) -> np.ndarray:
    """A boolean per detection: True when its keypoints have a face's layout and its size fits
    the frame. Detections without keypoints are judged by size only."""
    if len(found) == 0:
        return np.zeros(0, bool)
    sides = np.maximum(found.boxes[:, 2] - found.boxes[:, 0], found.boxes[:, 3] - found.boxes[:, 1])
    fits = sides <= MAX_FRAME_FRACTION * min(frame_shape[:2])
    if found.keypoints is None:
        return fits
    keypoints = found.keypoints
    eyes = (keypoints[:, 0] + keypoints[:, 1]) / 2
    down = keypoints[:, 3] - eyes
    length = np.linalg.norm(down, axis=1)
    safe = np.maximum(length, 1e-6)
    tilt = np.degrees(np.arccos(np.clip(down[:, 1] / safe, -1.0, 1.0)))
    nose_along = np.einsum("ij,ij->i", keypoints[:, 2] - eyes, down) / safe**2
    centre = (found.boxes[:, :2] + found.boxes[:, 2:]) / 2
    offset = np.abs(keypoints[:, :4].mean(axis=1) - centre).max(axis=1)
    return (
        fits
        & (length >= EYES_TO_MOUTH[0] * sides) & (length <= EYES_TO_MOUTH[1] * sides)
        & (tilt <= MAX_TILT_DEG)
        & (nose_along >= NOSE_ALONG[0]) & (nose_along <= NOSE_ALONG[1])
        & (offset <= MAX_KEYPOINT_OFFSET * sides)
    )
