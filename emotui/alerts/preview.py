"""Low-rate preview pictures for MQTT (`<prefix>/<camera>/preview`): small JPEGs of the analysed
frames with the boxes drawn, under the snapshots' privacy setting (faces blurred, or no picture)."""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2

from emotui.pipeline import FrameResult
from emotui.snapshots import SnapshotError, picture

PREVIEW_QUALITY = 70  # JPEG quality: a 320x240 picture of about 10-20 KB


class PreviewFeed:
    """Turns at most `fps` results a second into JPEGs `width` pixels wide (None otherwise)."""

    def __init__(self, fps: float, width: int, images: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = 1.0 / fps
        self.width = width
        self.images = images
        self._clock = clock
        self._due_at = 0.0

    def picture(self, result: FrameResult) -> bytes | None:
        """The result's preview JPEG if one is due (and privacy allows it), else None."""
        now = self._clock()
        if now < self._due_at or self.images == "none":
            return None
        self._due_at = now + self.interval_s
        try:
            image = picture(result, self.images)
        except SnapshotError:
            return None
        height, width = image.shape[:2]
        size = (self.width, max(1, round(height * self.width / width)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, PREVIEW_QUALITY])
        return encoded.tobytes() if ok else None
