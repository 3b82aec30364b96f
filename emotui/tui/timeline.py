"""Each tracked face's emotion scores over the last minute, and sparklines drawn from them."""

from __future__ import annotations

from collections import deque

import numpy as np

from emotui.pipeline import FrameResult

TIMELINE_S = 60.0
MAX_SAMPLES = 600  # per face: at the panel rate (4 a second) a minute is 240 samples
SPARKS = "▁▂▃▄▅▆▇█"


class Timelines:
    """A deque of (source time, scores) per track, trimmed to the last TIMELINE_S seconds and
    dropped when the track ends."""

    def __init__(self) -> None:
        self._samples: dict[int, deque[tuple[float, np.ndarray]]] = {}
        self._last_index: int | None = None

    def add(self, result: FrameResult) -> None:
        """Record the result's faces (once per frame) and forget its ended tracks."""
        if result.index == self._last_index:
            return
        self._last_index = result.index
        for track_id in result.ended_tracks:
            self._samples.pop(track_id, None)
        for face in result.faces:
            samples = self._samples.setdefault(face.track_id, deque(maxlen=MAX_SAMPLES))
            samples.append((result.time, face.probabilities.copy()))
            while samples and samples[0][0] < result.time - TIMELINE_S:
                samples.popleft()
        tracked = {face.track_id for face in result.faces}
        for track_id in [t for t in self._samples if t not in tracked and self._is_stale(t, result.time)]:
            del self._samples[track_id]

    def _is_stale(self, track_id: int, now: float) -> bool:
        return self._samples[track_id][-1][0] < now - TIMELINE_S

    def sparkline(self, track_id: int, emotion_index: int, cells: int) -> str:
        """The emotion's score for the track over the last minute in `cells` characters, oldest
        on the left; the highest score within each cell's slice of time; blank where no sample."""
        samples = self._samples.get(track_id)
        if not samples or cells <= 0:
            return " " * max(cells, 0)
        now = samples[-1][0]
        peaks = [-1.0] * cells
        for time, scores in samples:
            cell = min(cells - 1, int((time - (now - TIMELINE_S)) / TIMELINE_S * cells))
            peaks[cell] = max(peaks[cell], float(scores[emotion_index]))
        return "".join(" " if peak < 0 else SPARKS[min(len(SPARKS) - 1, int(peak * len(SPARKS)))] for peak in peaks)

    def __len__(self) -> int:
        return len(self._samples)
