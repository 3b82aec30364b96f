"""A durable, bounded FIFO of messages awaiting delivery, kept in SQLite so a crash, a reboot or
an unreachable broker or server loses nothing that was queued. One table per sink."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from emotui.storage import private_file, private_folder


@dataclass(frozen=True)
class QueuedMessage:
    id: int
    topic: str  # where it goes (an MQTT topic; empty for a webhook)
    body: bytes
    queued_at: float  # epoch seconds


class Outbox:
    """Messages are delivered oldest first: `peek()` the head, deliver it, then `remove()` it.
    Beyond `max_items`, the oldest are dropped (counted in `dropped`). Thread-safe."""

    def __init__(self, path: Path, name: str, max_items: int) -> None:
        if not re.fullmatch(r"[a-z_]+", name):
            raise ValueError(f"outbox name must be lower-case letters and underscores: {name!r}")
        self.path = Path(path)
        self.name = name
        self.max_items = max_items
        self.dropped = 0
        private_folder(self.path.parent)
        for own in (self.path, *self.path.parent.glob(self.path.name + "-*")):  # SQLite's -wal and -shm files
            private_file(own)  # SQLite gives the files it creates the mode of the database
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")  # survives a process crash; cheap commits
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"CREATE TABLE IF NOT EXISTS {name} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                         "topic TEXT NOT NULL, body BLOB NOT NULL, queued_at REAL NOT NULL)")
        self.newest_id, self._count = self._db.execute(
            f"SELECT COALESCE(MAX(id), 0), COUNT(*) FROM {name}").fetchone()
        self._changed = threading.Condition()
        self._closed = False

    def put(self, topic: str, body: bytes) -> None:
        with self._changed:
            inserted = self._db.execute(f"INSERT INTO {self.name} (topic, body, queued_at) VALUES (?, ?, ?)",
                                        (topic, body, time.time()))
            self.newest_id = inserted.lastrowid
            self._count += 1
            excess = self._count - self.max_items
            if excess > 0:
                deleted = self._db.execute(f"DELETE FROM {self.name} WHERE id IN "
                                           f"(SELECT id FROM {self.name} ORDER BY id LIMIT ?)", (excess,)).rowcount
                self._count -= deleted
                self.dropped += deleted
            self._changed.notify_all()

    def peek(self) -> QueuedMessage | None:
        """The oldest message, or None."""
        batch = self.batch(0, 1)
        return batch[0] if batch else None

    def batch(self, after: int, limit: int) -> list[QueuedMessage]:
        """Up to `limit` messages with ids above `after`, oldest first."""
        with self._changed:
            rows = self._db.execute(f"SELECT id, topic, body, queued_at FROM {self.name} WHERE id > ? "
                                    "ORDER BY id LIMIT ?", (after, limit)).fetchall()
        return [QueuedMessage(row[0], row[1], bytes(row[2]), row[3]) for row in rows]

    def remove(self, message_id: int) -> None:
        with self._changed:
            self._count -= self._db.execute(f"DELETE FROM {self.name} WHERE id = ?", (message_id,)).rowcount

    def wait(self, timeout: float) -> QueuedMessage | None:
        """The oldest message, waiting up to `timeout` seconds for one to arrive; None if there is
        still none, or the outbox is closed."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self._closed:
                if (head := self.peek()) is not None:
                    return head
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining)
        return None

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            self._db.close()
