"""HTTP streams: MJPEG (multipart/x-mixed-replace, the usual IP-camera stream) parsed and decoded
here, for clear errors, stall detection and a count of corrupt frames; anything else an HTTP
server sends goes to FFmpeg.

Whatever the server sends, the reader stays bounded: a part's headers are capped at
MAX_HEADER_BYTES and its body at MAX_PART_BYTES, whatever its Content-Length says; the bytes before
a boundary are dropped as they are scanned. A part that breaks the framing (too long, or a
Content-Length the boundary after it disagrees with) is counted as corrupt and skipped, and the
stream resynchronised on the next boundary. Every wait has a deadline: the HTTP answer must be
complete within `stall_s`, and so must each frame, however the bytes trickle in."""

from __future__ import annotations

import base64
import contextlib
import http.client
import socket
import threading
import time
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

import cv2
import numpy as np

from emotui.capture.readers.opencv import VideoReader
from emotui.capture.sources import SourceError, SourceSpec, StreamLost, redact_source
from emotui.config import SourceConfig

JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"
TRICKLE_BYTES_PER_S = 1024  # a stream slower than this, stalled, is said to trickle


class DamagedPart(Exception):
    """A part that breaks the framing: counted as corrupt, the stream resumes at the next
    boundary found from `resume_at` on."""

    def __init__(self, reason: str, resume_at: int) -> None:
        super().__init__(reason)
        self.resume_at = resume_at


class MjpegReader:
    """An HTTP MJPEG stream (multipart/x-mixed-replace of JPEG parts), read and decoded here.
    No decodable frame within `stall_s` raises StreamLost saying why; damaged and undecodable
    parts are skipped and counted (see the module docstring)."""

    CHUNK = 64 * 1024
    MAX_PART_BYTES = 16 * 1024 * 1024
    MAX_HEADER_BYTES = 16 * 1024

    def __init__(self, url: str, response, boundary: bytes, stall_s: float, sock: socket.socket | None = None) -> None:
        """sock: the response's socket, whose timeout is set to what is left before each read's
        deadline (without it, a read waits on whatever timeout the response has)."""
        self.fps = 0.0
        self.corrupt_frames = 0
        self._shown = redact_source(url)
        self._response = response
        self._sock = sock
        self._boundary = b"--" + boundary.removeprefix(b"--")
        self._stall_s = stall_s
        self._buffer = bytearray()
        self._received = 0  # bytes read from the stream so far
        self._skipped = 0  # bytes dropped so far while looking for the next boundary
        self._last_damage = ""
        self._deadline = 0.0
        self._window = (0, 0)  # the bytes received and corrupt frames when the current read began

    def read(self) -> tuple[np.ndarray, float] | None:
        self._deadline = time.monotonic() + self._stall_s
        self._window = (self._received, self.corrupt_frames)
        while (body := self._part()) is not None:
            image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR) if body else None
            if image is not None:
                return image, 0.0
            self.corrupt_frames += 1
            self._last_damage = "not a decodable image"
        return None

    def close(self) -> None:
        self._response.close()

    # --- framing ---------------------------------------------------------------------------

    def _part(self) -> bytes | None:
        """The next well-framed part's body, or None at the end of the stream."""
        while True:
            try:
                return self._framed_part()
            except DamagedPart as damage:
                self.corrupt_frames += 1
                self._last_damage = str(damage)
                del self._buffer[:damage.resume_at]

    def _framed_part(self) -> bytes | None:
        boundary = self._boundary
        if not self._seek_boundary():
            return None
        headers_end = self._find(b"\r\n\r\n", len(boundary), self.MAX_HEADER_BYTES,
                                 f"part headers over {self.MAX_HEADER_BYTES // 1024} KB")
        if headers_end is None:
            return None
        body_start = headers_end + 4
        length = _content_length(self._buffer[len(boundary):headers_end])
        if length is None:
            end = self._find(boundary, body_start, self.MAX_PART_BYTES,
                             f"no boundary within the {self.MAX_PART_BYTES >> 20} MB cap")
            if end is None:
                return None
            body = bytes(self._buffer[body_start:end]).removesuffix(b"\r\n")
            del self._buffer[:end]
            return body
        if length > self.MAX_PART_BYTES:
            raise DamagedPart(f"Content-Length {length} is over the {self.MAX_PART_BYTES >> 20} MB cap", body_start)
        while len(self._buffer) < body_start + length:
            if not self._fill():
                return None
        body = bytes(self._buffer[body_start:body_start + length])
        if body.startswith(JPEG_START) and not body.rstrip(b"\r\n\x00 ").endswith(JPEG_END):
            raise DamagedPart(f"Content-Length {length} does not end the JPEG", body_start)
        del self._buffer[:body_start + length]
        return body

    def _seek_boundary(self) -> bool:
        """Drop what comes before the next boundary, so the buffer starts with it; False at the end."""
        keep = len(self._boundary) - 1  # a tail that may hold the boundary's start
        while (start := self._buffer.find(self._boundary)) < 0:
            dropped = max(0, len(self._buffer) - keep)
            self._skipped += dropped
            del self._buffer[:dropped]
            if not self._fill():
                return False
        del self._buffer[:start]
        self._skipped = 0
        return True

    def _find(self, needle: bytes, start: int, limit: int, too_long: str) -> int | None:
        """Where `needle` is in the buffer from `start` on, reading more as needed; None at the end
        of the stream; DamagedPart(too_long) when it is not within `limit` bytes of `start`."""
        scanned = start
        while (found := self._buffer.find(needle, scanned)) < 0:
            if len(self._buffer) - start > limit:
                raise DamagedPart(too_long, start)
            scanned = max(start, len(self._buffer) - len(needle) + 1)
            if not self._fill():
                return None
        if found - start > limit:
            raise DamagedPart(too_long, start)
        return found

    # --- reading ---------------------------------------------------------------------------

    def _fill(self) -> bool:
        """Read what the server has sent (False at the end of the stream), within the frame's deadline."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise self._stalled()
        if self._sock is not None:
            self._sock.settimeout(remaining)
        try:
            chunk = self._response.read1(self.CHUNK)
        except TimeoutError:
            raise self._stalled() from None
        except OSError as error:
            raise StreamLost(f"{self._shown}: {error.strerror or error}") from None
        self._received += len(chunk)
        self._buffer += chunk
        return bool(chunk)

    def _stalled(self) -> StreamLost:
        """Why no frame came within `stall_s`: silence, a trickle, damaged parts, or no boundary."""
        stall_s = self._stall_s
        received, corrupt = self._received - self._window[0], self.corrupt_frames - self._window[1]
        if received == 0:
            return StreamLost(f"no data from {self._shown} for {stall_s:g} s (stalled)")
        reasons = []
        if corrupt:
            reasons.append(f"{corrupt} damaged part{'s' * (corrupt > 1)}: {self._last_damage}")
        if received < TRICKLE_BYTES_PER_S * stall_s:
            rate = received / stall_s
            reasons.append(f"the server trickles {rate:.3g} byte{'s' * (rate != 1)}/s")
        elif not self._buffer.startswith(self._boundary):  # looking for it, past the line end after a part
            if self._skipped > len(b"\r\n"):
                reasons.append(f"{_amount(self._skipped)} without the boundary {self._boundary.decode('latin-1')}")
        else:
            reasons.append(f"{_amount(len(self._buffer))} of a part not finished")
        return StreamLost(f"no complete frame from {self._shown} for {stall_s:g} s ({'; then '.join(reasons)})")


def _amount(size: int) -> str:
    return f"{size} bytes" if size < 10 * 1024 else f"{size >> 10} KB" if size < 10 * 2**20 else f"{size >> 20} MB"


def _content_length(headers: bytes) -> int | None:
    """A part's Content-Length (in any case), or None without a valid one."""
    for line in bytes(headers).decode("latin-1").lower().splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "content-length" and value.strip().isdigit():
            return int(value)
    return None


MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)


def open_http_stream(spec: SourceSpec, settings: SourceConfig) -> MjpegReader | VideoReader:
    """MJPEG is read here; anything else an HTTP server sends goes to FFmpeg. Redirects are
    followed (up to MAX_REDIRECTS), with the URL's credentials sent to its own host only."""
    url = str(spec.target)
    shown = redact_source(url)
    origin = urlsplit(url)
    for _ in range(MAX_REDIRECTS + 1):
        response, sock = _get(url, origin, settings.stall_s, shown)
        location = response.headers.get("Location") if response.status in REDIRECTS else None
        if location is None:
            break
        response.close()
        url = urljoin(url, location)
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise SourceError(f"{shown}: redirected to {redact_source(url)}, which is not an http(s) URL")
    else:
        raise SourceError(f"{shown}: more than {MAX_REDIRECTS} redirects")
    if response.status != 200:
        response.close()
        raise SourceError(f"{shown}: the server answered {response.status} {response.reason}")
    content_type = response.headers.get_content_type()
    if content_type == "multipart/x-mixed-replace":
        boundary = response.headers.get_param("boundary")
        if not boundary:
            response.close()
            raise SourceError(f"{shown}: a multipart stream without a boundary (not MJPEG)")
        return MjpegReader(url, response, str(boundary).strip('"').encode("latin-1"), settings.stall_s, sock)
    response.close()
    try:
        return VideoReader(SourceSpec(spec.kind, url), settings)
    except SourceError:
        raise SourceError(f"{shown}: the server sends {content_type}, which is neither MJPEG nor a stream FFmpeg "
                          "can read") from None


def _get(url: str, origin: SplitResult, deadline_s: float, shown: str) -> tuple[http.client.HTTPResponse, socket.socket]:
    """GET `url`: its answer's status and headers (within `deadline_s`), and the socket the body comes on."""
    parts = urlsplit(url)
    connection_type = http.client.HTTPSConnection if parts.scheme.lower() == "https" else http.client.HTTPConnection
    connection = connection_type(parts.hostname, parts.port, timeout=deadline_s)
    headers = {"User-Agent": "emotui"}
    if origin.username is not None and (parts.hostname, parts.port) == (origin.hostname, origin.port):
        token = base64.b64encode(f"{origin.username}:{origin.password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"  # credentials in the URL: HTTP Basic, to that host only
    try:
        connection.connect()
        sock = connection.sock  # the response closes the connection, not the socket it reads
        path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        return _answer_within(connection, path, headers, deadline_s, shown), sock
    except (OSError, http.client.HTTPException) as error:
        connection.close()
        raise SourceError(f"cannot open {shown}: {getattr(error, 'strerror', None) or error}") from None


def _answer_within(connection: http.client.HTTPConnection, path: str, headers: dict[str, str], deadline_s: float,
                   shown: str) -> http.client.HTTPResponse:
    """The answer's status and headers, complete within `deadline_s` however slowly they come:
    past it, the socket is shut down under the reading."""
    sock, expired = connection.sock, threading.Event()

    def expire() -> None:
        expired.set()
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(deadline_s, expire)
    watchdog.start()
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
    except (OSError, http.client.HTTPException):
        if not expired.is_set():
            raise
    finally:
        watchdog.cancel()
        watchdog.join()
    if expired.is_set():
        connection.close()
        raise SourceError(f"{shown}: no complete HTTP answer within {deadline_s:g} s (the server sends it too slowly)")
    return response
