"""What a source is: the `--source` text parsed into a SourceSpec, a URL shown without its
password, and a stream's host checked for an answer before a reader opens it."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from emotui.config import DEMO_SOURCE

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".gif"}


class SourceError(Exception):
    """A source cannot be opened or read."""


class StreamLost(SourceError):
    """A live source stopped delivering: closed, stalled or unreadable."""


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # camera, url, video, image, folder or demo
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
    """Camera index, rtsp/http(s) URL, image file, image folder, video file or `demo`."""
    text = text.strip()
    if text == DEMO_SOURCE:
        return SourceSpec("demo", DEMO_SOURCE)
    if text.isdigit():
        return SourceSpec("camera", int(text))
    if text.lower().startswith(("rtsp://", "rtsps://", "http://", "https://")):
        _check_url(text)
        return SourceSpec("url", text)
    path = Path(text).expanduser()
    if path.is_dir():
        return SourceSpec("folder", str(path))
    if not path.exists():
        raise SourceError(f"source {text!r} is not a camera index, a URL, or an existing file or folder")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return SourceSpec("image", str(path))
    return SourceSpec("video", str(path))


def _check_url(url: str) -> None:
    """A stream URL names a host and, if any, a port from 1 to 65535: a typo is an error before
    anything connects."""
    parts = urlsplit(url)
    shown = redact_source(url)
    if not parts.hostname:
        raise SourceError(f"{shown} is not a valid stream URL (no host)")
    try:
        valid = parts.port != 0
    except ValueError:  # not a number, or out of range
        valid = False
    if not valid:
        port = parts.netloc.rpartition("@")[2].rpartition("]")[2].partition(":")[2]  # after any [IPv6 address]
        raise SourceError(f"{shown}: the port {port} is not a number from 1 to 65535")


def check_reachable(url: str, timeout: float) -> None:
    """Connect to the URL's host and port, so an unreachable camera gets a specific error."""
    parts = urlsplit(url)
    shown = redact_source(url)
    default = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}.get(parts.scheme.lower(), 80)
    port = parts.port or default
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
