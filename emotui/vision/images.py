"""Image resizing shared by the detectors and the emotion crops."""

from __future__ import annotations

import cv2
import numpy as np


def shrink(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """`image` reduced to width x height: halved by area averaging while it is at least twice as
    big (OpenCV's fast path), then bilinear, which alone would alias and area alone is slow."""
    while image.shape[1] >= 2 * width and image.shape[0] >= 2 * height:
        half_w, half_h = image.shape[1] // 2, image.shape[0] // 2
        image = cv2.resize(image[: half_h * 2, : half_w * 2], (half_w, half_h), interpolation=cv2.INTER_AREA)
    if (image.shape[1], image.shape[0]) == (width, height):
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
