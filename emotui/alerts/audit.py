"""The tamper-evident audit log of alert events: JSON lines chained by SHA-256 hashes.

Every record holds `prev`, the hash of the record before it, and `hash`, the SHA-256 of its own
canonical JSON without `hash`. Editing, removing, inserting or reordering records breaks the chain
at that point, across rotated files. Two limits: records removed from the very end leave no trace
(the log just ends earlier; `verify` only notes a log that does not end with a "stop" record), and
the chain has no secret, so whoever can rewrite the files can recompute every hash after an edit.
Keeping the last hash elsewhere (an alert sink, a note) detects both."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from emotui.alerts.events import AlertEvent
from emotui.alerts.queues import BoundedQueue
from emotui.storage import DiskFull, is_disk_full, private_folder

GENESIS = "0" * 64  # the `prev` of the very first record
FIELDS = {"seq": int, "time": str, "type": str, "data": dict, "prev": str, "hash": str}
START = "start"  # the record type each run begins with
STOP = "stop"  # the record type a clean shutdown ends the log with
UNCLEAN_STOP = "unclean stop"  # recorded on start when the last run has no stop record
_TAIL_CHUNK = 64 * 1024
AUDIT_QUEUE_MAX = 10_000  # records waiting for the writer; beyond, the newest are counted in a `dropped` record


class AuditLogError(Exception):
    """The audit log cannot be opened, locked, read or written; the message names the file."""


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(record: dict) -> str:
    """The SHA-256 of the record's canonical JSON without its "hash" key."""
    return hashlib.sha256(_canonical({k: v for k, v in record.items() if k != "hash"}).encode()).hexdigest()


def _parse(line: bytes) -> dict:
    """The record on a line; ValueError saying what is wrong if it is not one."""
    try:
        record = json.loads(line)
    except ValueError:
        raise ValueError("not valid JSON") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    wrong = [key for key, kind in FIELDS.items()
             if not isinstance(record.get(key), kind) or isinstance(record.get(key), bool)]
    if wrong:
        raise ValueError(f"missing or malformed {', '.join(wrong)}")
    return record


def _record_or_none(line: bytes) -> dict | None:
    try:
        return _parse(line)
    except ValueError:
        return None


def _last_line(fd: int, size: int) -> tuple[int, bytes]:
    """Where the file's last line starts, and its bytes (with its newline, if it has one)."""
    start, data = size, b""
    while start > 0:
        step = min(_TAIL_CHUNK, start)
        start -= step
        data = os.pread(fd, step, start) + data
        newline = data.rfind(b"\n", 0, len(data) - 1)
        if newline >= 0:
            return start + newline + 1, data[newline + 1:]
    return 0, data


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _rotated(path: Path) -> dict[int, Path]:
    """The rotated files beside `path` (path.1, path.2 ...) by number."""
    if not path.parent.is_dir():
        return {}
    pattern = re.compile(re.escape(path.name) + r"\.([1-9][0-9]*)")
    return {int(match[1]): entry for entry in path.parent.iterdir() if (match := pattern.fullmatch(entry.name))}


def chain_files(path: Path) -> list[Path]:
    """The files of one log, oldest first: the rotated path.N ... path.1, then path (those that exist)."""
    path = Path(path)
    rotated = _rotated(path)
    return [rotated[number] for number in sorted(rotated, reverse=True)] + ([path] if path.exists() else [])


class AuditLog:
    """Appends chained records to `path`, rotating it to path.1 ... path.<keep> beyond `max_bytes`.

    One writer per file (an exclusive flock); each record is fsynced before `append` returns.
    Opening continues the chain of the existing files; an incomplete last line left by a crash is
    moved to `<path>.partial-<time>` and a "recovered" record says so. Thread-safe."""

    def __init__(self, path: Path, max_bytes: int, keep: int) -> None:
        if max_bytes < 1 or keep < 1:
            raise ValueError(f"max_bytes and keep must be at least 1, not {max_bytes} and {keep}")
        self.path, self.max_bytes, self.keep = Path(path), max_bytes, keep
        self._lock = threading.Lock()
        try:
            private_folder(self.path.parent)
        except OSError as error:
            raise AuditLogError(f"cannot create the folder of {self.path}: {error.strerror or error}") from error
        self._fd = self._open_locked()
        try:
            self._size = os.fstat(self._fd).st_size
            moved = self._move_partial_line()
            self.last_seq, self.last_hash = self._chain_end()
        except BaseException:
            self.close()
            raise
        if moved:
            self.append("recovered", {"partial_file": moved[0], "size": moved[1]})

    def append(self, record_type: str, data: dict) -> dict:
        """Writes one record (rotating first if it would not fit), fsyncs it and returns it."""
        with self._lock:
            if self._fd < 0:
                raise AuditLogError(f"cannot write {self.path}: the audit log is closed")
            record = {
                "seq": self.last_seq + 1, "time": datetime.now().astimezone().isoformat(timespec="microseconds"),
                "type": record_type, "data": data, "prev": self.last_hash,
            }
            record["hash"] = _digest(record)
            line = (_canonical(record) + "\n").encode()
            try:
                if self._size and self._size + len(line) > self.max_bytes:
                    self._rotate()
                _write_all(self._fd, line)
                os.fsync(self._fd)
            except OSError as error:
                with contextlib.suppress(OSError):  # no half line for the next record to follow
                    os.ftruncate(self._fd, self._size)
                raise AuditLogError(f"cannot write {self.path}: {error.strerror or error}") from error
            self._size += len(line)
            self.last_seq, self.last_hash = record["seq"], record["hash"]
            return record

    def close(self) -> None:
        """Releases the file and its lock; later appends raise AuditLogError."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def _open_locked(self) -> int:
        """The active file, opened for appending (created 0600) and locked."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as error:
            raise AuditLogError(f"cannot open {self.path} for writing: {error.strerror or error}") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if isinstance(error, BlockingIOError):
                raise AuditLogError(f"another emotui process is writing {self.path}") from None
            raise AuditLogError(f"cannot lock {self.path}: {error.strerror or error}") from error
        self._sync_folder()
        return fd

    def _sync_folder(self) -> None:
        """Makes created, renamed and deleted files in the log's folder durable."""
        with contextlib.suppress(OSError):  # not every file system can sync a folder
            fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _move_partial_line(self) -> tuple[str, int] | None:
        """Moves an incomplete or unreadable last line to <path>.partial-<time>; its name and size."""
        start, line = _last_line(self._fd, self._size)
        if not line or (line.endswith(b"\n") and _record_or_none(line)):
            return None
        base = f"{self.path.name}.partial-{datetime.now():%Y%m%d-%H%M%S}"
        try:
            for attempt in itertools.count(1):
                partial = self.path.with_name(base if attempt == 1 else f"{base}-{attempt}")
                with contextlib.suppress(FileExistsError):
                    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    break
            try:
                _write_all(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            self._sync_folder()
            os.ftruncate(self._fd, start)
            os.fsync(self._fd)
        except OSError as error:
            raise AuditLogError(f"cannot move the incomplete last line of {self.path} aside: "
                                f"{error.strerror or error}") from error
        self._size = start
        return partial.name, len(line)

    def _chain_end(self) -> tuple[int, str]:
        """The seq and hash of the last record: in the active file, else in the newest rotated file."""
        rotated = _rotated(self.path)
        if self._size:
            source, line = self.path, _last_line(self._fd, self._size)[1]
        elif rotated:
            source = rotated[min(rotated)]
            try:
                with source.open("rb") as file:
                    line = _last_line(file.fileno(), os.fstat(file.fileno()).st_size)[1]
            except OSError as error:
                raise AuditLogError(f"cannot read {source}: {error.strerror or error}") from error
        else:
            return 0, GENESIS
        if (record := _record_or_none(line)) is None:
            raise AuditLogError(f"cannot continue the hash chain: the last line of {source} is not an audit "
                                f"record (see `emotui log verify {self.path}`)")
        return record["seq"], record["hash"]

    def _rotate(self) -> None:
        """path -> path.1 -> path.2 ..., deleting files beyond `keep`; then a fresh, locked path."""
        os.fsync(self._fd)
        for number, rotated in sorted(_rotated(self.path).items(), reverse=True):
            if number >= self.keep:
                rotated.unlink()
            else:
                os.replace(rotated, self.path.with_name(f"{self.path.name}.{number + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        previous, self._fd = self._fd, self._open_locked()  # locked before the old lock is released
        os.close(previous)
        self._size = 0


def last_run(path: Path) -> list[dict]:
    """The records from the last `start` record on (all of them if there is none), read back from
    the newest file; unreadable lines are skipped (`verify` names them)."""
    records: list[dict] = []
    for file in reversed(chain_files(path)):
        try:
            with file.open("rb") as lines:
                parsed = [record for line in lines if (record := _record_or_none(line))]
        except OSError as error:
            raise AuditLogError(f"cannot read {file}: {error.strerror or error}") from error
        starts = [index for index, record in enumerate(parsed) if record["type"] == START]
        records = parsed[starts[-1] if starts else 0:] + records
        if starts:
            break
    return records


def record_unclean_stop(log: AuditLog) -> list[str] | None:
    """If the last run has no `stop` record (emotui was killed or crashed), append an `unclean stop`
    record and an `end` for each alert it left open (a `new` without an `end`), ended when its last
    record was written; their ids (None after a clean stop)."""
    run = last_run(log.path)
    if not run or any(record["type"] == STOP for record in run):
        return None
    open_alerts: dict[str, dict] = {}  # id -> its last event record's data
    for record in run:
        alert_id = record["data"].get("id")
        if record["type"] == "new" or (record["type"] == "update" and alert_id in open_alerts):
            open_alerts[alert_id] = record["data"]
        elif record["type"] == "end":
            open_alerts.pop(alert_id, None)
    last = run[-1]
    log.append(UNCLEAN_STOP, {"last_seq": last["seq"], "last_time": last["time"], "open_alerts": list(open_alerts)})
    ended_at = datetime.fromisoformat(last["time"]).timestamp()
    for data in open_alerts.values():
        log.append("end", {**data, "type": "end", "end_time": ended_at, "timestamp": time.time(),
                           "sequence": data.get("sequence", 0) + 1, "reason": UNCLEAN_STOP})
    return list(open_alerts)


class AuditSink:
    """The audit log as an alert sink: events and the hub's other records (start, arming,
    thresholds, problems, stop) are appended in order on a thread of its own, so its fsync per
    record never delays the other sinks. `on_written` gets each event once its record is on disk
    (or its write failed, which is reported): what is shown is in the log. At most
    AUDIT_QUEUE_MAX records wait; beyond, the newest are counted and a `dropped` record says so.
    Records that a full disk keeps out are counted by `disk`, which tells it once."""

    name = "audit log"
    wants_snapshot_jpeg = False

    def __init__(self, log: AuditLog, on_problem: Callable[[str], None], disk: DiskFull,
                 on_written: Callable[[AlertEvent], None] = lambda event: None) -> None:
        self.log = log
        self._on_problem = on_problem
        self._disk = disk
        self._on_written = on_written
        self._records: BoundedQueue[tuple[str, dict, AlertEvent | None]] = BoundedQueue("audit records",
                                                                                       AUDIT_QUEUE_MAX)
        self._writer = threading.Thread(target=self._write, name="emotui-audit", daemon=True)
        self._writer.start()

    def submit(self, event: AlertEvent, snapshot_jpeg: bytes | None = None) -> None:
        self._records.offer((event.type, event.to_dict(), event), event.type)

    def record(self, record_type: str, data: dict) -> None:
        self._records.offer((record_type, data, None), record_type)

    def close(self, timeout: float = 5.0) -> None:
        """Write every queued record (the log loses none, whatever the timeout), then close the log."""
        self._records.end()
        self._writer.join()
        self._append_dropped(force=True)
        self.log.close()

    def _write(self) -> None:
        while (item := self._records.get()) is not None:
            self._append_dropped()
            record_type, data, event = item
            self._append(record_type, data)
            if event is not None:
                self._on_written(event)

    def _append_dropped(self, force: bool = False) -> None:
        if dropped := self._records.drops.take(force):
            self._append("dropped", dropped)

    def _append(self, record_type: str, data: dict) -> None:
        try:
            self.log.append(record_type, data)
        except (OSError, AuditLogError, ValueError) as error:
            if is_disk_full(error):
                self._disk.failed("audit records", self.log.path, error)
            else:
                self._on_problem(f"audit log {self.log.path}: cannot write a {record_type} record: {error}")
        else:
            self._disk.written("audit records", self.log.path)


@dataclass
class VerifyReport:
    """What `verify` found. `records`, the seqs and `last_hash` cover the records verified (before
    the problem, if there is one); `notes` are worth knowing but are not tampering."""

    records: int
    files: list[Path]
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    problem: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Intact: no problem found."""
        return self.problem is None

    def describe(self) -> str:
        files = f"{len(self.files)} file{'' if len(self.files) == 1 else 's'}"
        span = f"{self.records} record{'' if self.records == 1 else 's'}" + (
            f" (seq {self.first_seq}-{self.last_seq})" if self.records else "")
        lines = [f"checked: {', '.join(map(str, self.files))}"]
        if self.ok:
            lines.append(f"intact: {span} in {files}; last hash {self.last_hash}")
        else:
            lines += [f"TAMPERED: {self.problem}", f"intact before it: {span}"]
        return "\n".join(lines + [f"note: {note}" for note in self.notes])

    def to_dict(self) -> dict:
        return {"ok": self.ok, **asdict(self), "files": [str(path) for path in self.files]}


def _lines(paths: list[Path]) -> Iterator[tuple[int, Path, int, bytes]]:
    """(file index, file, line number, line) for every line of the files in turn."""
    for index, path in enumerate(paths):
        try:
            with path.open("rb") as file:
                yield from ((index, path, number, line) for number, line in enumerate(file, 1))
        except OSError as error:
            raise AuditLogError(f"cannot read {path}: {error.strerror or error}") from error


def _sequence_problem(previous: dict, record: dict, later: Iterator[tuple[int, Path, int, bytes]]) -> str | None:
    """What a seq other than the previous one's + 1 means; `later` (the lines after) tells
    records that were moved from records that were removed."""
    expected, seq = previous["seq"] + 1, record["seq"]
    if seq == expected:
        return None
    head = f"record {seq} follows record {previous['seq']}"
    if seq < expected:
        return f"{head} - records were duplicated or reordered"
    found: dict[int, str] = {}
    for _, path, number, line in later:
        if (moved := _record_or_none(line)) and expected <= moved["seq"] < seq:
            found.setdefault(moved["seq"], f"{path} line {number}")
    if not found:
        return f"{head} - record {expected} was removed" if seq == expected + 1 else \
            f"{head} - records {expected}-{seq - 1} were removed"
    first = min(found)
    where = f"record {first} comes later, at {found[first]}"
    if len(found) == seq - expected:
        return f"{head} - records were reordered ({where})"
    return f"{head} - records were reordered or removed ({where}; others are missing)"


def verify(paths: list[Path]) -> VerifyReport:
    """Checks the chain through `paths` (oldest first), stopping at the first problem: each line must
    be a record whose hash matches its content, whose seq follows the previous one's and whose `prev`
    is the previous record's hash. Records removed from the very end cannot be detected: the report
    then only notes that the log does not end with a "stop" record. AuditLogError if a file cannot be read."""
    report = VerifyReport(records=0, files=[Path(path) for path in paths])
    report.problem = _first_problem(report, _lines(report.files))
    return report


def _first_problem(report: VerifyReport, lines: Iterator[tuple[int, Path, int, bytes]]) -> str | None:
    """Walks the records, counting the intact ones and adding notes to `report`; the first problem."""
    previous: dict | None = None
    for index, path, number, line in lines:
        try:
            record = _parse(line)
        except ValueError as error:
            if index == len(report.files) - 1 and not line.endswith(b"\n"):
                report.notes.append(f"{path} line {number} is incomplete (emotui stopped while writing it); "
                                    "emotui moves it aside when it next opens the log")
                break
            return f"{path} line {number}: {error} - the line was damaged or inserted"
        where = f"{path} line {number} (record {record['seq']})"
        if _digest(record) != record["hash"]:
            return f"{where}: content does not match its hash - the record was edited"
        if previous is None:
            report.first_seq = record["seq"]
            if record["prev"] != GENESIS:
                report.notes.append(f"chain starts at record {record['seq']}; earlier files were rotated away "
                                    "(or its first records removed)")
        elif problem := _sequence_problem(previous, record, lines):
            return f"{path} line {number}: {problem}"
        elif record["prev"] != previous["hash"]:
            return (f"{where}: its prev is not the hash of record {previous['seq']} - record {previous['seq']} "
                    "was edited and its hash recomputed, or this record was replaced")
        previous = record
        report.records += 1
        report.last_seq, report.last_hash = record["seq"], record["hash"]
    if previous is None:
        report.notes.append("the log has no records")
    elif previous["type"] != STOP:
        report.notes.append("the log does not end with a stop record: emotui is running, crashed, "
                            "or records were removed from the end")
    return None
