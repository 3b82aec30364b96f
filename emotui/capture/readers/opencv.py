"""Cameras, RTSP and other streams FFmpeg reads, and video files, through OpenCV."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from emotui.capture.sources import SourceError, SourceSpec, redact_source
from emotui.config import SourceConfig

# OpenCV's warnings (e.g. each failed camera open while retrying) would go straight to the
# terminal, over the console's screen; the errors they stand for are raised as SourceError.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


class VideoReader:
    """A camera, RTSP or other stream URL, or video file through OpenCV."""

    def __init__(self, spec: SourceSpec, settings: SourceConfig | None = None) -> None:
        self.spec = spec
        settings = settings or SourceConfig()
        if spec.kind == "url":
            if str(spec.target).lower().startswith("rtsp"):
                # read by FFmpeg when the capture opens; one transport for every RTSP source
                os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = f"rtsp_transport;{settings.rtsp_transport}"
            timeout_ms = int(settings.stall_s * 1000)
            self._capture = cv2.VideoCapture(spec.target, cv2.CAP_FFMPEG, [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms])
        else:
            self._capture = cv2.VideoCapture(spec.target)
        if not self._capture.isOpened():
            raise SourceError(self._open_failure())
        self.fps = self._capture.get(cv2.CAP_PROP_FPS) or 0.0
        self.frame_count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if spec.kind == "video" else 0
        self.corrupt_frames = 0

    def _open_failure(self) -> str:
        if self.spec.kind == "camera":
            return (f"no camera at index {self.spec.target}; pass --source with a video file, image or URL "
                    "(`--source demo`: a generated scene)")
        if self.spec.kind == "url":
            return (f"cannot open stream {redact_source(str(self.spec.target))}: the server does not send a video "
                    "stream FFmpeg can read (check the path, credentials and format)")
        if Path(self.spec.target).stat().st_size == 0:
            return f"{self.spec.target} is empty (0 bytes)"
        return (f"cannot decode {self.spec.target} as video (not a video, truncated, or a format OpenCV "
                "cannot read)")

    def read(self) -> tuple[np.ndarray, float] | None:
        ok, image = self._capture.read()
        if not ok:
            return None
        return image, self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0

    def close(self) -> None:
        self._capture.release()
