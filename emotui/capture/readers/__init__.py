"""The readers a Capture decodes frames with, one module per kind of source: `opencv` (cameras,
RTSP and other streams through OpenCV's FFmpeg backend, video files), `mjpeg` (HTTP streams),
`images` (an image or a folder of them) and `demo` (the generated scene, whose reader the pipeline
opens: its photo comes from the model store)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from emotui.capture.readers.images import ImageReader
from emotui.capture.readers.mjpeg import open_http_stream
from emotui.capture.readers.opencv import VideoReader
from emotui.capture.sources import SourceSpec, check_reachable
from emotui.config import SourceConfig


class FrameReader(Protocol):
    fps: float

    def read(self) -> tuple[np.ndarray, float] | None: ...

    def close(self) -> None: ...


def open_reader(spec: SourceSpec, settings: SourceConfig | None = None) -> FrameReader:
    settings = settings or SourceConfig()
    if spec.kind in ("image", "folder"):
        return ImageReader(spec)
    if spec.kind == "url":
        check_reachable(str(spec.target), settings.stall_s)  # a specific error when the host is not there
        if str(spec.target).lower().startswith(("http://", "https://")):
            return open_http_stream(spec, settings)
    return VideoReader(spec, settings)
