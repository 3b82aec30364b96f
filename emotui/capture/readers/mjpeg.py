"""HTTP streams: MJPEG (multipart/x-mixed-replace, the usual IP-camera stream) parsed and decoded
here, for clear errors, stall detection and a count of corrupt frames; anything else an HTTP
server sends goes to FFmpeg."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from emotui.capture.readers.opencv import VideoReader
from emotui.capture.sources import SourceError, SourceSpec, StreamLost, redact_source
from emotui.config import SourceConfig


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
