"""A durable, bounded FIFO of messages awaiting delivery, kept in SQLite so a crash, a reboot or
an unreachable broker or server loses nothing that was queued. One table per sink."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emotui.storage import is_disk_full, private_file, private_folder

AUTO_VACUUM_FULL = 1  # what PRAGMA auto_vacuum reads when it is FULL
IDLE_POLL_S = 0.1  # how often an idle sender checks whether it should stop
JOIN_GRACE_S = 0.5  # how long close() waits for a delivery in flight once its timeout has passed
UNEXPECTED_ERROR_PAUSE_S = 1.0



@dataclass(frozen=True)
class QueuedMessage:
    id: int
    topic: str  # where it goes (an MQTT topic; empty for a webhook)
    body: bytes
    queued_at: float  # epoch seconds


class Outbox:
    """Messages are delivered oldest first: `peek()` the head, deliver it, then `remove()` it.
    Beyond `max_items`, the oldest are dropped (counted in `dropped`). Thread-safe.

    On a full disk nothing half-written is left: `put` raises (the database keeps what it held),
    and messages removed meanwhile are hidden and deleted once there is room."""

    def __init__(self, path: Path, name: str, max_items: int) -> None:
        if not re.fullmatch(r"[a-z_]+", name):
            raise ValueError(f"outbox name must be lower-case letters and underscores: {name!r}")
        self.path = Path(path)
        self.name = name
        self.max_items = max_items
        self.dropped = 0
        private_folder(self.path.parent)
        for own in (self.path, *self.path.parent.glob(self.path.name + "-*")):  # SQLite's -journal (or an old -wal)
            private_file(own)  # SQLite gives the files it creates the mode of the database
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        # A rollback journal, emptied after each commit: no -wal or -shm file to grow or to need
        # room before the database can even be read (benchmarks/outbox_journal.py measures the choice).
        self._db.execute("PRAGMA journal_mode=TRUNCATE")
        self._db.execute("PRAGMA synchronous=FULL")  # a commit is on disk before put() returns: a power cut loses nothing
        self._db.execute("PRAGMA secure_delete=ON")  # deleted messages leave no face behind in free pages
        if self._db.execute("PRAGMA auto_vacuum").fetchone()[0] != AUTO_VACUUM_FULL:
            self._give_space_back()
        self._db.execute(f"CREATE TABLE IF NOT EXISTS {name} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                         "topic TEXT NOT NULL, body BLOB NOT NULL, queued_at REAL NOT NULL)")
        self.newest_id, self._count = self._db.execute(
            f"SELECT COALESCE(MAX(id), 0), COUNT(*) FROM {name}").fetchone()
        self._changed = threading.Condition()
        self._closed = False
        self._removed: set[int] = set()  # delivered, but a full disk kept them from being deleted

    def _give_space_back(self) -> None:
        """Makes delivered messages give their space back to the disk (auto_vacuum; a database an
        older emotui made is rebuilt for it), unless the disk is full: then at the next start."""
        try:
            self._db.execute("PRAGMA auto_vacuum=FULL")
            self._db.execute("VACUUM")
        except sqlite3.Error as error:
            if not is_disk_full(error):
                raise

    def put(self, topic: str, body: bytes) -> None:
        """Queues a message; raises sqlite3.Error (SQLITE_FULL on a full disk) if it cannot be stored."""
        with self._changed:
            self._write(self._insert, topic, body)
            self._changed.notify_all()

    def _insert(self, topic: str, body: bytes) -> None:
        self._db.execute("BEGIN IMMEDIATE")  # the message and the drops beyond max_items, or neither
        newest_id = self._db.execute(f"INSERT INTO {self.name} (topic, body, queued_at) VALUES (?, ?, ?)",
                                     (topic, body, time.time())).lastrowid
        excess = max(0, self._count + 1 - self.max_items)
        dropped = self._db.execute(f"DELETE FROM {self.name} WHERE id IN "
                                   f"(SELECT id FROM {self.name} ORDER BY id LIMIT ?)", (excess,)).rowcount
        self._db.execute("COMMIT")
        self.newest_id, self._count, self.dropped = newest_id, self._count + 1 - dropped, self.dropped + dropped

    def _write(self, change: Callable[..., None], *args) -> None:
        """Runs `change` after deleting what a full disk kept in; rolls it back if it fails."""
        try:
            self._delete_removed()
            change(*args)
        except sqlite3.Error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _delete_removed(self) -> None:
        while self._removed:
            message_id = next(iter(self._removed))
            self._count -= self._db.execute(f"DELETE FROM {self.name} WHERE id = ?", (message_id,)).rowcount
            self._removed.discard(message_id)

    def peek(self) -> QueuedMessage | None:
        """The oldest message, or None."""
        batch = self.batch(0, 1)
        return batch[0] if batch else None

    def batch(self, after: int, limit: int) -> list[QueuedMessage]:
        """Up to `limit` messages with ids above `after`, oldest first."""
        with self._changed:
            rows = self._db.execute(f"SELECT id, topic, body, queued_at FROM {self.name} WHERE id > ? "
                                    "ORDER BY id LIMIT ?", (after, limit + len(self._removed))).fetchall()
        return [QueuedMessage(row[0], row[1], bytes(row[2]), row[3]) for row in rows
                if row[0] not in self._removed][:limit]

    def remove(self, message_id: int) -> None:
        """Deletes a delivered message; on a full disk it is hidden until it can be deleted."""
        with self._changed:
            self._removed.add(message_id)
            try:
                self._write(self._delete_removed)
            except sqlite3.Error as error:
                if not is_disk_full(error):
                    raise

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
        return self._count - len(self._removed)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            self._db.close()


class OutboxSender:
    """A sink's thread that delivers its outbox one message at a time, oldest first, with waits
    between attempts that closing interrupts. Subclasses set `name`, deliver a message in
    `_deliver` (removing it once done, returning early when `_pause` says the sink is closing),
    and call `__init__` last, which starts the thread; `_tick` runs before each wait for a message."""

    name: str

    def __init__(self, outbox: Outbox, on_problem: Callable[[str], None]) -> None:
        self.outbox = outbox
        self._on_problem = on_problem
        self._stopping = threading.Event()
        self._retry_at = 0.0  # monotonic time of the next attempt while backing off, else 0
        self._sender = threading.Thread(target=self._send_queued, name=f"emotui-{self.name}", daemon=True)
        self._sender.start()

    def close(self, timeout: float = 5.0) -> None:
        """Deliver for up to `timeout` seconds until the outbox is empty (no longer than that: a
        backoff ending later stops it at once), then stop the sender. What is undelivered stays
        in the outbox for the next start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._retry_at <= deadline and len(self.outbox):
            time.sleep(0.02)
        self._stopping.set()
        self._sender.join(max(deadline - time.monotonic(), JOIN_GRACE_S))

    def _tick(self) -> None:
        """Work of the sender's own between messages (none unless a subclass has some)."""

    def _deliver(self, message: QueuedMessage) -> None:
        raise NotImplementedError

    def _send_queued(self) -> None:
        while not self._stopping.is_set():
            try:
                self._tick()
                if (message := self.outbox.wait(IDLE_POLL_S)) is not None:
                    self._deliver(message)
            except Exception as error:  # the sender must never die
                if self._stopping.is_set():
                    return  # e.g. the outbox was closed under a delivery that outlived close()
                self._on_problem(f"{self.name}: unexpected {type(error).__name__} while sending: {error}")
                self._stopping.wait(UNEXPECTED_ERROR_PAUSE_S)

    def _pause(self, seconds: float) -> bool:
        """Wait before the next attempt; True if the sink is closing meanwhile."""
        self._retry_at = time.monotonic() + seconds
        try:
            return self._stopping.wait(seconds)
        finally:
            self._retry_at = 0.0
