"""What emotui keeps on disk holds faces and events: folders it creates are 0700 and its files
0600, whatever the umask. Folders a user made are left as they are, with a warning when other
users can read them. A full disk is reported once, with a count of what could not be written."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600


def private_folder(path: Path) -> str | None:
    """Creates `path` and its missing parents, each 0700. A folder that already exists is not
    changed: returns a warning when group or others can read it, else None. Raises OSError."""
    path = Path(path)
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another thread or process
            os.mkdir(folder, PRIVATE_FOLDER)
            os.chmod(folder, PRIVATE_FOLDER)  # the umask may have taken bits away, never added any
    if missing:
        return None
    if not path.is_dir():
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
    mode = path.stat().st_mode & 0o777
    if mode & 0o044:
        return (f"{path} can be read by other users (mode {mode:o}); `chmod 700 {path}` keeps the faces and "
                "events in it private")
    return None


def private_file(path: Path) -> None:
    """Creates `path` empty if it does not exist, and makes it 0600. Raises OSError."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE))
    os.chmod(path, PRIVATE_FILE)


def is_disk_full(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from, is a full disk or an exceeded quota
    (ENOSPC, EDQUOT, SQLite's SQLITE_FULL)."""
    return _full_disk_error(error) is not None


def _full_disk_error(error: BaseException | None) -> BaseException | None:
    """The full-disk error in `error`'s chain of causes, if there is one."""
    while error is not None:
        if (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)) or (
                isinstance(error, sqlite3.Error) and getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL):
            return error
        error = error.__cause__ or error.__context__
    return None


class DiskFull:
    """One report for a full disk, however many writes fail. The first failed write is told at
    once; the writes that fail after it are counted by what they would have written, and told in
    a summary every `summary_every_s` while it lasts and when it ends: once each kind of write
    that failed has succeeded again with at least RESUME_FREE_BYTES free. Thread-safe; `tell` is
    called outside the lock and may write (and fail to write) again."""

    RESUME_FREE_BYTES = 256 * 1024

    def __init__(self, tell: Callable[[str], None], summary_every_s: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._tell, self._summary_every_s, self._clock = tell, summary_every_s, clock
        self._lock = threading.Lock()
        self._unwritten: Counter[str] = Counter()  # by kind, since the disk was found full
        self._failing: set[str] = set()  # kinds that have not been written again since
        self._since = self._last_told = 0.0

    def failed(self, what: str, where: Path, error: BaseException) -> None:
        """A write of one of `what` (e.g. "audit records") into `where` failed with `error`, a full disk."""
        with self._lock:
            now = self._clock()
            self._unwritten[what] += 1
            if not self._failing:
                self._since = self._last_told = now
                text = (f"disk full: cannot write {where} ({_reason(error)}); alerts are still shown, what "
                        "cannot be written is counted until space returns")
            elif now - self._last_told >= self._summary_every_s:
                self._last_told = now
                text = f"disk still full after {_duration(now - self._since)}: {self._counts()} not written so far"
            else:
                text = None
            self._failing.add(what)
        if text:
            self._tell(text)

    def written(self, what: str, where: Path) -> None:
        """A write of one of `what` into `where` succeeded. Cheap while the disk is not full."""
        if what not in self._failing:
            return
        try:
            status = os.statvfs(where)
        except OSError:
            return
        if status.f_bavail * status.f_frsize < self.RESUME_FREE_BYTES:
            return
        with self._lock:
            self._failing.discard(what)
            if self._failing or not self._unwritten:
                return
            text = f"disk space is back after {_duration(self._clock() - self._since)}: {self._counts()} not written"
            self._unwritten.clear()
        self._tell(text)

    def _counts(self) -> str:
        return ", ".join(f"{count} {what}" for what, count in self._unwritten.items())


def _reason(error: BaseException) -> str:
    """The words of the full-disk error `error` was raised from."""
    cause = _full_disk_error(error) or error
    return getattr(cause, "strerror", None) or str(cause)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
