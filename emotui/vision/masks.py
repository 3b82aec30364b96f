"""Detection masks: polygons in frame-relative coordinates (0-1 from the left and top edges) where
no detection counts, e.g. a poster, a TV or a bush that keeps looking like a face. A face is
masked when the centre of its box lies inside a polygon, so a person walking past the edge of a
mask is still seen."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MASK_COLOUR_BGR = (128, 128, 128)


@dataclass(frozen=True)
class Masks:
    polygons: tuple[np.ndarray, ...] = ()  # each (K, 2) float32, x and y from 0 to 1

    @classmethod
    def from_config(cls, polygons: list[list[list[float]]]) -> Masks:
        return cls(tuple(np.asarray(polygon, np.float32).reshape(-1, 2) for polygon in polygons))

    def __bool__(self) -> bool:
        return bool(self.polygons)

    def covers(self, points: np.ndarray, width: int, height: int) -> np.ndarray:
        """A boolean per (N, 2) pixel point: inside any of the polygons (each by the even-odd rule)."""
        inside = np.zeros(len(points), bool)
        if len(points) == 0:
            return inside
        relative = np.asarray(points, np.float64) / [width, height]
        x, y = relative[:, 0:1], relative[:, 1:2]
        for polygon in self.polygons:
            x1, y1 = polygon[:, 0], polygon[:, 1]
            x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
            crosses = (y1 > y) != (y2 > y)
            with np.errstate(divide="ignore", invalid="ignore"):
                at_x = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            inside |= (np.count_nonzero(crosses & (x < at_x), axis=1) % 2).astype(bool)
        return inside

    def pixel_polygons(self, width: int, height: int) -> list[np.ndarray]:
        """The polygons in pixels of a width x height image, as int32 arrays for OpenCV."""
        return [np.round(polygon * [width - 1, height - 1]).astype(np.int32) for polygon in self.polygons]

    def draw(self, image: np.ndarray, colour: tuple[int, int, int] = MASK_COLOUR_BGR) -> np.ndarray:
        """`image` (changed in place and returned) with the masked areas shaded and outlined."""
        if not self.polygons:
            return image
        height, width = image.shape[:2]
        polygons = self.pixel_polygons(width, height)
        shaded = image.copy()
        cv2.fillPoly(shaded, polygons, colour)
        cv2.addWeighted(shaded, 0.45, image, 0.55, 0, dst=image)
        cv2.polylines(image, polygons, True, colour, max(1, round(min(width, height) / 300)), cv2.LINE_8)
        return image
