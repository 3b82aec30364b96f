"""The frames the capture thread hands over to analysis, and the bounded buffer between them."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    index: int  # position in the source, dropped frames included
    time: float  # seconds on the source clock: media time for files, since the capture started for live ones
    captured_at: float  # time.perf_counter() when the frame was handed over (after decoding)
    decode_ms: float
    image: np.ndarray  # BGR


class FrameBuffer:
    """A bounded hand-over between the capture thread and analysis.

    With drop_oldest, a full buffer discards its oldest frame (live sources); otherwise the
    producer waits for room (files), so no frame is lost."""

    def __init__(self, capacity: int, drop_oldest: bool) -> None:
        self.on_change: Callable[[], None] | None = None  # called after a frame is put or the buffer closes
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
        self._changed()
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

    def poll(self) -> Frame | None:
        """The next frame if one is waiting, else None at once (see `finished`)."""
        with self._ready:
            if not self._frames:
                return None
            frame = self._frames.popleft()
            self._ready.notify_all()
            return frame

    @property
    def finished(self) -> bool:
        """Closed, and every frame taken."""
        with self._ready:
            return self._closed and not self._frames

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        self._changed()

    def _changed(self) -> None:
        """Outside the buffer's lock, so a listener may hold its own lock while it polls."""
        if self.on_change is not None:
            self.on_change()
