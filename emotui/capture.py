"""Frame sources and the capture thread.

Live sources (camera, stream URL) keep only the newest frame, counting the ones dropped, so
analysis never falls behind and memory stays bounded; files and image folders are read in
order with a small bounded buffer, so nothing is skipped.

A live source that drops, stalls (no frame for `stall_s`) or cannot be reached is reopened
with capped exponential backoff and jitter; its state (connecting, live, lost, retrying,
ended, failed) is reported through `Capture.status` and an optional callback. HTTP streams
are read by emotui itself when they are MJPEG (multipart/x-mixed-replace: the usual IP-camera
stream), which gives clear errors, stall detection and a count of corrupt frames; RTSP and
other streams go through OpenCV's FFmpeg backend.
"""

from __future__ import annotations

import base64
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from emotui.config import SourceConfig

# OpenCV's warnings (e.g. each failed camera open while retrying) would go straight to the
# terminal, over the console's screen; the errors they stand for are raised as SourceError.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".gif"}
FILE_BUFFER_FRAMES = 1


class SourceError(Exception):
    """A source cannot be opened or read."""


class StreamLost(SourceError):
    """A live source stopped delivering: closed, stalled or unreadable."""


@dataclass(frozen=True)
class SourceStatus:
    state: str  # connecting, live, lost, retrying, ended or failed
    detail: str = ""  # why (lost, failed) or what (ended)
    retry_at: float | None = None  # time.time() of the next attempt, while retrying
    outages: int = 0  # times a live source was lost
    reconnects: int = 0  # times it came back
    corrupt_frames: int = 0  # undecodable frames skipped
    since: float = field(default_factory=time.time)

    @property
    def retry_in_s(self) -> float | None:
        return max(0.0, self.retry_at - time.time()) if self.retry_at is not None else None

    def describe(self) -> str:
        text = self.state + (f": {self.detail}" if self.detail else "")
        return text + (f"; retry in {self.retry_in_s:.1f} s" if self.retry_at is not None else "")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["retry_in_s"] = None if self.retry_at is None else round(self.retry_in_s, 2)
        return data


@dataclass(frozen=True)
class Frame:
    index: int  # position in the source, dropped frames included
    time: float  # seconds on the source clock: media time for files, since the capture started for live ones
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
            return f"no camera at index {self.spec.target}; pass --source with a video file, image or URL"
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


def check_reachable(url: str, timeout: float) -> None:
    """Connect to the URL's host and port, so an unreachable camera gets a specific error."""
    parts = urlsplit(url)
    shown = redact_source(url)
    if not parts.hostname:
        raise SourceError(f"{shown} is not a valid stream URL (no host)")
    default = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}.get(parts.scheme.lower(), 80)
    try:
        port = parts.port or default
    except ValueError:
        raise SourceError(f"{shown}: the port is not a number") from None
    where = f"{parts.hostname}:{port}"
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except socket.gaierror:
        raise SourceError(f"cannot resolve the host of {shown} ({parts.hostname})") from None
    except ConnectionRefusedError:
        raise SourceError(f"cannot connect to {where} for {shown}: connection refused (nothing listens there)") \
            from None
    except TimeoutError:
        raise SourceError(f"no answer from {where} for {shown} within {timeout:g} s") from None
    except OSError as error:
        raise SourceError(f"cannot connect to {where} for {shown}: {error.strerror or error}") from None


class MjpegReader:
    """An HTTP MJPEG stream (multipart/x-mixed-replace of JPEG parts), read and decoded here.
    No part within `stall_s` raises StreamLost; undecodable parts are skipped and counted."""

    CHUNK = 64 * 1024
    MAX_PART_BYTES = 16 * 1024 * 1024

    def __init__(self, url: str, response, boundary: bytes, stall_s: float) -> None:
        self.fps = 0.0
        self.corrupt_frames = 0
        self._shown = redact_source(url)
        self._response = response
        self._boundary = b"--" + boundary.removeprefix(b"--")
        self._stall_s = stall_s
        self._buffer = b""

    def _fill(self) -> bool:
        try:
            chunk = self._response.read1(self.CHUNK)
        except TimeoutError:
            raise StreamLost(f"no data from {self._shown} for {self._stall_s:g} s (stalled)") from None
        except OSError as error:
            raise StreamLost(f"{self._shown}: {error.strerror or error}") from None
        self._buffer += chunk
        return bool(chunk)

    def _part(self) -> bytes | None:
        """The next part's body, or None at the end of the stream."""
        while (start := self._buffer.find(self._boundary)) < 0:
            self._buffer = self._buffer[-len(self._boundary):]
            if not self._fill():
                return None
        while (headers_end := self._buffer.find(b"\r\n\r\n", start)) < 0:
            if not self._fill() or len(self._buffer) > self.MAX_PART_BYTES:
                return None
        headers = self._buffer[start:headers_end].decode("latin-1").lower().splitlines()
        body_start = headers_end + 4
        length = next((int(line.split(":", 1)[1]) for line in headers
                       if line.startswith("content-length:") and line.split(":", 1)[1].strip().isdigit()), None)
        if length is not None:
            while len(self._buffer) < body_start + length:
                if not self._fill():
                    return None
            body, self._buffer = self._buffer[body_start:body_start + length], self._buffer[body_start + length:]
            return body
        while (end := self._buffer.find(self._boundary, body_start)) < 0:
            if not self._fill() or len(self._buffer) > self.MAX_PART_BYTES:
                return None
        body, self._buffer = self._buffer[body_start:end], self._buffer[end:]
        return body.removesuffix(b"\r\n")

    def read(self) -> tuple[np.ndarray, float] | None:
        while (body := self._part()) is not None:
            image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR) if body else None
            if image is not None:
                return image, 0.0
            self.corrupt_frames += 1
        return None

    def close(self) -> None:
        self._response.close()


def open_http_stream(spec: SourceSpec, settings: SourceConfig) -> MjpegReader | VideoReader:
    """MJPEG is read here; anything else an HTTP server sends goes to FFmpeg."""
    url = str(spec.target)
    shown = redact_source(url)
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # IPv6
    request = urllib.request.Request(urlunsplit(parts._replace(netloc=host + (f":{parts.port}" if parts.port else ""))),
                                     headers={"User-Agent": "emotui"})
    if parts.username is not None:  # urllib does not take credentials from the URL
        token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        response = urllib.request.urlopen(request, timeout=settings.stall_s)
    except urllib.error.HTTPError as error:
        raise SourceError(f"{shown}: the server answered {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SourceError(f"cannot open {shown}: {getattr(reason, 'strerror', None) or reason}") from None
    content_type = response.headers.get_content_type()
    if content_type == "multipart/x-mixed-replace":
        boundary = response.headers.get_param("boundary")
        if not boundary:
            response.close()
            raise SourceError(f"{shown}: a multipart stream without a boundary (not MJPEG)")
        return MjpegReader(url, response, str(boundary).strip('"').encode("latin-1"), settings.stall_s)
    response.close()
    try:
        return VideoReader(spec, settings)
    except SourceError:
        raise SourceError(f"{shown}: the server sends {content_type}, which is neither MJPEG nor a stream FFmpeg "
                          "can read") from None


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


def open_reader(spec: SourceSpec, settings: SourceConfig | None = None) -> FrameReader:
    settings = settings or SourceConfig()
    if spec.kind in ("image", "folder"):
        return ImageReader(spec)
    if spec.kind == "url":
        check_reachable(str(spec.target), settings.stall_s)  # a specific error when the host is not there
        if str(spec.target).lower().startswith(("http://", "https://")):
            return open_http_stream(spec, settings)
    return VideoReader(spec, settings)


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
    """Opens a source and decodes it on a daemon thread into a FrameBuffer; live sources are
    reopened when they drop (see the module docstring)."""

    RATE_WINDOW = 60

    def __init__(self, spec: SourceSpec, reader: FrameReader | None = None, realtime: bool = False,
                 settings: SourceConfig | None = None, fail_fast: bool = True,
                 on_status: Callable[[SourceStatus], None] | None = None) -> None:
        """realtime: hand file frames over at the file's own pace, as a camera would.
        fail_fast: a source that cannot be opened raises SourceError here; otherwise a live
        source is retried on the capture thread from the start (the console)."""
        self.spec = spec
        self.settings = settings or SourceConfig()
        self._realtime = realtime and not spec.live
        self._on_status = on_status
        self._status = SourceStatus("connecting" if spec.live else "live")
        self._corrupt_closed = 0  # corrupt frames counted by readers already closed
        self._reader = reader if reader is not None else (
            open_reader(spec, self.settings) if fail_fast or not spec.live else None)
        self._buffer = FrameBuffer(1 if spec.live else FILE_BUFFER_FRAMES, drop_oldest=spec.live)
        self._read_times: deque[float] = deque(maxlen=self.RATE_WINDOW)
        self._error: Exception | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emotui-capture", daemon=True)
        self._started = time.perf_counter()
        self.frames_read = 0
        self.resolution: tuple[int, int] | None = None

    @property
    def dropped(self) -> int:
        return self._buffer.dropped

    @property
    def corrupt_frames(self) -> int:
        return self._corrupt_closed + getattr(self._reader, "corrupt_frames", 0)

    @property
    def status(self) -> SourceStatus:
        return replace(self._status, corrupt_frames=self.corrupt_frames)

    @property
    def capture_fps(self) -> float:
        times = list(self._read_times)
        if len(times) < 2 or times[-1] == times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def start(self) -> Capture:
        self._started = time.perf_counter()
        self._thread.start()
        return self

    # --- the capture thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            if self.spec.live:
                self._run_live()
            else:
                self._run_file()
        except Exception as error:  # handed to the consumer, which raises it
            self._error = error
            self._set_status("failed", str(error))
        finally:
            self._buffer.close()
            self._close_reader()

    def _run_file(self) -> None:
        """Frames in order; again from the start with `loop`, the source clock running on."""
        offset, early = 0.0, ""
        while not self._stopping.is_set():
            read, last_time = 0, 0.0
            while not self._stopping.is_set() and (decoded := self._timed_read()) is not None:
                (image, source_time), decode_ms = decoded
                last_time = source_time
                if not self._deliver(image, offset + source_time, decode_ms):
                    return
                read += 1
            if self.frames_read == 0:
                raise SourceError(f"no frame could be decoded from {self.spec}")
            expected = getattr(self._reader, "frame_count", 0)
            early = f"after {read} of its {expected} frames (truncated?)" if expected and read < expected * 0.9 else ""
            if not self.settings.loop or read == 0 or self._stopping.is_set():
                break
            fps = self._reader.fps
            offset += last_time + (1 / fps if fps else 1.0)
            self._close_reader()
            self._reader = open_reader(self.spec, self.settings)
        if not self._stopping.is_set():
            self._set_status("ended", early)

    def _run_live(self) -> None:
        """Read until the source drops, then reopen it with capped exponential backoff and jitter."""
        attempt = 0
        while not self._stopping.is_set():
            if self._reader is None:
                self._set_status("connecting")
                try:
                    self._reader = open_reader(self.spec, self.settings)
                except SourceError as error:
                    if not self.settings.reconnect:
                        raise
                    self._wait_to_retry(str(error), attempt)
                    attempt += 1
                    continue
            delivered_before = self.frames_read
            try:
                reason = self._pump_live()
            except StreamLost as error:
                reason = str(error)
            if self._stopping.is_set():
                return
            self._close_reader()
            if self.frames_read > delivered_before:  # it had been live: a new outage
                attempt = 0
                self._set_status("lost", reason, outages=self._status.outages + 1)
            if not self.settings.reconnect:
                self._set_status("ended", reason)
                return
            self._wait_to_retry(reason, attempt)
            attempt += 1

    def _pump_live(self) -> str:
        """Deliver frames until the source ends; returns why it ended."""
        while not self._stopping.is_set():
            decoded = self._timed_read()
            if decoded is None:
                return f"{self.spec} stopped sending frames (closed, or stalled for {self.settings.stall_s:g} s)"
            (image, _), decode_ms = decoded
            if self._status.state != "live":
                came_back = self._status.outages > 0
                self._set_status("live", reconnects=self._status.reconnects + came_back)
            if not self._deliver(image, time.perf_counter() - self._started, decode_ms):
                return "stopped"
        return "stopped"

    def _wait_to_retry(self, reason: str, attempt: int) -> None:
        settings = self.settings
        delay = min(settings.retry_max_s, settings.retry_min_s * 2 ** min(attempt, 30))
        delay *= random.uniform(0.5, 1.0)  # jitter, so cameras that dropped together do not retry together
        self._set_status("retrying", reason, retry_at=time.time() + delay)
        self._stopping.wait(delay)

    def _timed_read(self) -> tuple[tuple[np.ndarray, float], float] | None:
        started = time.perf_counter()
        decoded = self._reader.read()
        return None if decoded is None else (decoded, (time.perf_counter() - started) * 1000)

    def _deliver(self, image: np.ndarray, source_time: float, decode_ms: float) -> bool:
        if self._realtime and (ahead := source_time - (time.perf_counter() - self._started)) > 0:
            self._stopping.wait(ahead)
        captured_at = time.perf_counter()
        self._read_times.append(captured_at)
        self.resolution = (image.shape[1], image.shape[0])
        frame = Frame(self.frames_read, source_time, captured_at, decode_ms, image)
        self.frames_read += 1
        return self._buffer.put(frame)

    def _set_status(self, state: str, detail: str = "", **changes) -> None:
        self._status = replace(self._status, state=state, detail=detail, since=time.time(),
                                      retry_at=changes.pop("retry_at", None), corrupt_frames=self.corrupt_frames,
                                      **changes)
        if self._on_status is not None:
            self._on_status(self._status)

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._corrupt_closed += getattr(self._reader, "corrupt_frames", 0)
            self._reader.close()
            self._reader = None

    # --- the consumer's side ------------------------------------------------------------------

    def frames(self) -> Iterator[Frame]:
        """Frames until the source ends or stop() is called; re-raises a capture failure."""
        while (frame := self._buffer.get()) is not None:
            yield frame
        if self._error is not None:
            raise self._error

    def stop(self, wait: bool = True) -> None:
        """End the capture; `wait` False only asks (safe from a signal handler): frames() ends soon."""
        self._stopping.set()
        self._buffer.close()
        if not wait:
            return
        if self._thread.ident is None:  # never started: release the source here
            self._close_reader()
        elif self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

