"""Bounded queues between the alert hub's threads, and the count of what a full queue lost, so the
audit log records it in a `dropped` record instead of losing it silently."""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from typing import Generic, TypeVar

Item = TypeVar("Item")
REPORT_INTERVAL_S = 10.0  # while losses go on, one `dropped` record per queue at most this often


class Drops:
    """What a queue lost, by kind, until it is reported: at once the first time, then at most
    every REPORT_INTERVAL_S while losses go on (and whenever forced, e.g. at stop). Thread-safe."""

    def __init__(self, what: str, reason: str) -> None:
        self.what, self.reason = what, reason  # name the queue and the cause in `dropped` records
        self._counts: Counter[str] = Counter()
        self._reported_at: float | None = None  # monotonic
        self._lock = threading.Lock()

    def add(self, kind: str, count: int = 1) -> None:
        with self._lock:
            self._counts[kind] += count

    def take(self, force: bool = False) -> dict | None:
        """The `dropped` record's data for what was lost since the last one, if it is time; else None."""
        now = time.monotonic()
        with self._lock:
            due = force or self._reported_at is None or now - self._reported_at >= REPORT_INTERVAL_S
            if not self._counts or not due:
                return None
            counts, self._counts, self._reported_at = self._counts, Counter(), now
        return dropped_record(self.what, counts, self.reason)


class BoundedQueue(Generic[Item]):
    """A FIFO of at most `max_items`. When it is full, `offer` turns the newest item away (those
    already queued keep their order and are not undone) and counts it by kind in `drops`."""

    def __init__(self, what: str, max_items: int) -> None:
        self.what = what
        self.drops = Drops(what, f"queue full ({max_items})")
        self._items: queue.Queue[tuple[str, Item] | None] = queue.Queue(max_items)  # (kind, item)

    def offer(self, item: Item, kind: str) -> bool:
        """Queue the item; False (and counted) if the queue is full. Never blocks."""
        try:
            self._items.put_nowait((kind, item))
            return True
        except queue.Full:
            self.drops.add(kind)
            return False

    def get(self, timeout: float | None = None) -> Item | None:
        """The oldest item, waiting for one; None for the end (see `end`) or after `timeout` seconds."""
        try:
            entry = self._items.get(timeout=timeout)
        except queue.Empty:
            return None
        return None if entry is None else entry[1]

    def end(self) -> None:
        """Queue the end marker after what is queued (waiting for room if need be)."""
        self._items.put(None)

    def take_pending(self) -> Counter[str]:
        """Remove what is still queued; how many of each kind."""
        pending: Counter[str] = Counter()
        while True:
            try:
                entry = self._items.get_nowait()
            except queue.Empty:
                return pending
            if entry is not None:
                pending[entry[0]] += 1


def dropped_record(what: str, counts: Counter[str], reason: str) -> dict:
    """The data of a `dropped` audit record: what lost how many of which kind, and why."""
    return {"what": what, "count": sum(counts.values()), "kinds": dict(counts), "reason": reason}
