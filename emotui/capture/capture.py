"""The capture thread: a source decoded into a FrameBuffer, reopened when it drops, its state
and rates reported.

Live sources (camera, stream URL), and files played in real time, keep only the newest frame,
counting the ones dropped, so analysis never falls behind and memory stays bounded; otherwise
files and image folders are read in order with a small bounded buffer, so nothing is skipped.

A live source that drops, stalls (no frame for `stall_s`) or cannot be reached is reopened
with capped exponential backoff and jitter; its state (connecting, live, lost, retrying,
ended, failed) is reported through `Capture.status` and an optional callback.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum

import numpy as np

from emotui.capture.buffer import Frame, FrameBuffer
from emotui.capture.readers import FrameReader, open_reader
from emotui.capture.sources import SourceError, SourceSpec, StreamLost
from emotui.config import SourceConfig

FILE_BUFFER_FRAMES = 1


class SourceState(StrEnum):
    """A source's state; its values are what the status lines, MQTT and the audit log publish."""

    CONNECTING = "connecting"  # opening a live source
    LIVE = "live"  # delivering frames
    LOST = "lost"  # a live source stopped delivering: an outage begins
    RETRYING = "retrying"  # waiting to open it again
    ENDED = "ended"  # a file's end, or a live source lost without reconnecting
    FAILED = "failed"  # the capture stopped on an error


@dataclass(frozen=True)
class SourceStatus:
    state: SourceState
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
        self._status = SourceStatus(SourceState.CONNECTING if spec.live else SourceState.LIVE)
        self._corrupt_closed = 0  # corrupt frames counted by readers already closed
        self._reader = reader if reader is not None else (
            open_reader(spec, self.settings) if fail_fast or not spec.live else None)
        # a file played in real time is a camera too: analysis that falls behind skips frames, not time
        self._buffer = FrameBuffer(1 if spec.live else FILE_BUFFER_FRAMES, drop_oldest=spec.live or self._realtime)
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
            self._set_status(SourceState.FAILED, str(error))
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
            corrupt = self.corrupt_frames
            skipped = f"with {corrupt} undecodable frame{'s' * (corrupt > 1)} skipped" if corrupt else ""
            self._set_status(SourceState.ENDED, "; ".join(filter(None, (early, skipped))))

    def _run_live(self) -> None:
        """Read until the source drops, then reopen it with capped exponential backoff and jitter."""
        attempt = 0
        while not self._stopping.is_set():
            if self._reader is None:
                self._set_status(SourceState.CONNECTING)
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
                self._set_status(SourceState.LOST, reason, outages=self._status.outages + 1)
            if not self.settings.reconnect:
                self._set_status(SourceState.ENDED, reason)
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
            if self._status.state != SourceState.LIVE:
                came_back = self._status.outages > 0
                self._set_status(SourceState.LIVE, reconnects=self._status.reconnects + came_back)
            if not self._deliver(image, time.perf_counter() - self._started, decode_ms):
                return "stopped"
        return "stopped"

    def _wait_to_retry(self, reason: str, attempt: int) -> None:
        settings = self.settings
        delay = min(settings.retry_max_s, settings.retry_min_s * 2 ** min(attempt, 30))
        delay *= random.uniform(0.5, 1.0)  # jitter, so cameras that dropped together do not retry together
        self._set_status(SourceState.RETRYING, reason, retry_at=time.time() + delay)
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

    def _set_status(self, state: SourceState, detail: str = "", **changes) -> None:
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

    def poll(self) -> Frame | None:
        """The next frame if one is waiting, else None at once; `finished` tells when none will come.
        `on_frame` hears of each frame and of the end (from the capture thread)."""
        return self._buffer.poll()

    @property
    def finished(self) -> bool:
        return self._buffer.finished

    @property
    def error(self) -> Exception | None:
        """What stopped the capture thread, if anything."""
        return self._error

    def listen(self, on_frame: Callable[[], None]) -> None:
        self._buffer.on_change = on_frame

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

