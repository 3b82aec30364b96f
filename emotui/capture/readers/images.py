"""Still images: one file, or a folder of them read as a sequence."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from emotui.capture.sources import IMAGE_SUFFIXES, SourceError, SourceSpec


class ImageReader:
    """One image, or the images of a folder in name order (one per second of source time); a file
    that cannot be decoded is skipped and counted in `corrupt_frames`."""

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec
        path = Path(spec.target)
        if spec.kind == "folder":
            self._paths = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._paths:
                raise SourceError(f"folder {path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        else:
            self._paths = [path]
        self.fps = 0.0
        self._position = 0
        self.corrupt_frames = 0
        if spec.kind == "image" and read_image(path) is None:
            raise SourceError(f"cannot decode {path} as an image")

    def read(self) -> tuple[np.ndarray, float] | None:
        while self._position < len(self._paths):
            path = self._paths[self._position]
            self._position += 1
            image = read_image(path)
            if image is not None:
                return image, float(self._position - 1)
            self.corrupt_frames += 1
        return None

    def close(self) -> None:
        pass


def read_image(path: Path) -> np.ndarray | None:
    """A BGR image, or None if the file cannot be decoded (GIF through OpenCV's video reader)."""
    if path.suffix.lower() == ".gif":
        capture = cv2.VideoCapture(str(path))
        ok, image = capture.read()
        capture.release()
        return image if ok else None
    return cv2.imread(str(path), cv2.IMREAD_COLOR)
