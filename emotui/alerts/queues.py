"""The bounded queue between the alert hub's threads: what does not fit is turned away and counted,
so the audit log can record it in a `dropped` record instead of losing it silently."""

from __future__ import annotations

import queue
import threading
from collections import Counter
from typing import Generic, TypeVar

Item = TypeVar("Item")


class BoundedQueue(Generic[Item]):
    """A FIFO of at most `max_items`. When it is full, `offer` turns the newest item away (those
    already queued keep their order and are not undone) and counts it by kind."""

    def __init__(self, what: str, max_items: int) -> None:
        self.what = what  # names the queue in `dropped` records
        self.max_items = max_items
        self._items: queue.Queue[tuple[str, Item] | None] = queue.Queue(max_items)  # (kind, item)
        self._dropped: Counter[str] = Counter()
        self._lock = threading.Lock()

    def offer(self, item: Item, kind: str) -> bool:
        """Queue the item; False (and counted) if the queue is full. Never blocks."""
        try:
            self._items.put_nowait((kind, item))
            return True
        except queue.Full:
            with self._lock:
                self._dropped[kind] += 1
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

    def take_dropped(self) -> dict | None:
        """The `dropped` record's data for what was turned away since the last call, or None."""
        with self._lock:
            counts, self._dropped = self._dropped, Counter()
        return dropped_record(self.what, counts, f"queue full ({self.max_items})") if counts else None


def dropped_record(what: str, counts: Counter[str], reason: str) -> dict:
    """The data of a `dropped` audit record: what lost how many of which kind, and why."""
    return {"what": what, "count": sum(counts.values()), "kinds": dict(counts), "reason": reason}
