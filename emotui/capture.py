"""Frame sources and the capture thread.

Live sources (camera, stream URL) keep only the newest frame, counting the ones dropped, so
analysis never falls behind and memory stays bounded; files and image folders are read in
order with a small bounded buffer, so nothing is skipped.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".gif"}
FILE_BUFFER_FRAMES = 1


class SourceError(Exception):
    """A source cannot be opened or read."""


@dataclass(frozen=True)
class Frame:
    index: int  # position in the source, dropped frames included
    time: float  # seconds on the source clock: media time for files, since opening for live sources
    captured_at: float  # time.perf_counter() when the frame was handed over (after decoding)
    decode_ms: float
    image: np.ndarray  # BGR


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # camera, url, video, image or folder
    target: str | int

    @property
    def live(self) -> bool:
        return self.kind in ("camera", "url")

    def __str__(self) -> str:
        return f"camera {self.target}" if self.kind == "camera" else redact_source(str(self.target))


def redact_source(source: str) -> str:
    """The source with any password in a URL replaced by `***` (camera credentials must not
    end up in snapshot files); anything else unchanged."""
    try:
        parts = urlsplit(source)
        if parts.scheme and parts.password is not None:
            user = parts.username or ""
            host = parts.netloc.rsplit("@", 1)[1]
            return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        pass
    return source


def parse_source(text: str) -> SourceSpec:
    """Camera index, rtsp/http(s) URL, image file, image folder or video file."""
    text = text.strip()
    if text.isdigit():
        return SourceSpec("camera", int(text))
    if text.lower().startswith(("rtsp://", "rtsps://", "http://", "https://")):
        return SourceSpec("url", text)
    path = Path(text).expanduser()
    if path.is_dir():
        return SourceSpec("folder", str(path))
    if not path.exists():
        raise SourceError(f"source {text!r} is not a camera index, a URL, or an existing file or folder")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return SourceSpec("image", str(path))
    return SourceSpec("video", str(path))


class VideoReader:
    """A camera, stream URL or video file through OpenCV."""

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec
        self._capture = cv2.VideoCapture(spec.target)
        if not self._capture.isOpened():
            raise SourceError(self._open_failure())
        self.fps = self._capture.get(cv2.CAP_PROP_FPS) or 0.0
        self._opened_at = time.perf_counter()

    def _open_failure(self) -> str:
        if self.spec.kind == "camera":
            return f"no camera at index {self.spec.target}; pass --source with a video file, image or URL"
        if self.spec.kind == "url":
            return f"cannot open stream {self.spec.target} (unreachable, refused or not a video stream)"
        if Path(self.spec.target).stat().st_size == 0:
            return f"{self.spec.target} is empty (0 bytes)"
        return f"cannot decode {self.spec.target} as video (not a video, or a format OpenCV cannot read)"

    def read(self) -> tuple[np.ndarray, float] | None:
        ok, image = self._capture.read()
        if not ok:
            return None
        if self.spec.live:
            return image, time.perf_counter() - self._opened_at
        return image, self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0

    def close(self) -> None:
        self._capture.release()


class ImageReader:
    """One image, or the images of a folder in name order (one per second of source time)."""

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
        self.unreadable: list[Path] = []
        if spec.kind == "image" and read_image(path) is None:
            raise SourceError(f"cannot decode {path} as an image")

    def read(self) -> tuple[np.ndarray, float] | None:
        while self._position < len(self._paths):
            path = self._paths[self._position]
            self._position += 1
            image = read_image(path)
            if image is not None:
                return image, float(self._position - 1)
            self.unreadable.append(path)
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


class FrameReader(Protocol):
    fps: float

    def read(self) -> tuple[np.ndarray, float] | None: ...

    def close(self) -> None: ...


def open_reader(spec: SourceSpec) -> FrameReader:
    return ImageReader(spec) if spec.kind in ("image", "folder") else VideoReader(spec)


class FrameBuffer:
    """A bounded hand-over between the capture thread and analysis.

    With drop_oldest, a full buffer discards its oldest frame (live sources); otherwise the
    producer waits for room (files), so no frame is lost."""

    def __init__(self, capacity: int, drop_oldest: bool) -> None:
        self._frames: deque[Frame] = deque()
        self._capacity = capacity
        self._drop_oldest = drop_oldest
        self._ready = threading.Condition()
        self._closed = False
        self.dropped = 0

    def put(self, frame: Frame) -> bool:
        """False once the buffer is closed."""
        with self._ready:
            while len(self._frames) >= self._capacity and not self._closed:
                if self._drop_oldest:
                    self._frames.popleft()
                    self.dropped += 1
                else:
                    self._ready.wait()
            if self._closed:
                return False
            self._frames.append(frame)
            self._ready.notify_all()
            return True

    def get(self) -> Frame | None:
        """The next frame, waiting for one; None once closed and empty."""
        with self._ready:
            while not self._frames and not self._closed:
                self._ready.wait()
            if not self._frames:
                return None
            frame = self._frames.popleft()
            self._ready.notify_all()
            return frame

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()


class Capture:
    """Opens a source and decodes it on a daemon thread into a FrameBuffer."""

    RATE_WINDOW = 60

    def __init__(self, spec: SourceSpec, reader: FrameReader | None = None, realtime: bool = False) -> None:
        """realtime: hand file frames over at the file's own pace, as a camera would."""
        self.spec = spec
        self._realtime = realtime and not spec.live
        self._reader = reader or open_reader(spec)
        self._buffer = FrameBuffer(1 if spec.live else FILE_BUFFER_FRAMES, drop_oldest=spec.live)
        self._read_times: deque[float] = deque(maxlen=self.RATE_WINDOW)
        self._error: Exception | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emotui-capture", daemon=True)
        self.frames_read = 0
        self.resolution: tuple[int, int] | None = None

    @property
    def source_fps(self) -> float:
        return self._reader.fps

    @property
    def dropped(self) -> int:
        return self._buffer.dropped

    @property
    def capture_fps(self) -> float:
        times = list(self._read_times)
        if len(times) < 2 or times[-1] == times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def start(self) -> Capture:
        self._thread.start()
        return self

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            while not self._stopping.is_set():
                decode_started = time.perf_counter()
                decoded = self._reader.read()
                if decoded is None:
                    if self.frames_read == 0:
                        raise SourceError(f"no frame could be decoded from {self.spec}")
                    break
                image, source_time = decoded
                decode_ms = (time.perf_counter() - decode_started) * 1000
                if self._realtime and (ahead := source_time - (time.perf_counter() - started)) > 0:
                    self._stopping.wait(ahead)
                captured_at = time.perf_counter()
                self._read_times.append(captured_at)
                self.resolution = (image.shape[1], image.shape[0])
                frame = Frame(self.frames_read, source_time, captured_at, decode_ms, image)
                self.frames_read += 1
                if not self._buffer.put(frame):
                    break
        except Exception as error:  # handed to the consumer, which raises it
            self._error = error
        finally:
            self._buffer.close()
            self._reader.close()

    def frames(self) -> Iterator[Frame]:
        """Frames until the source ends or stop() is called; re-raises a capture failure."""
        while (frame := self._buffer.get()) is not None:
            yield frame
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        self._stopping.set()
        self._buffer.close()
        if self._thread.ident is None:  # never started: release the source here
            self._reader.close()
        elif self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
