"""Faces and events on disk: folders emotui creates are 0700 and its files 0600 (outbox with its
-wal and -shm, audit log, snapshots), folders a user made are warned about, not changed; snapshot
retention removes the oldest first, by size and by age, and counts what it removed; a full disk is
told once, counted and summarised. (A real full disk: tests/e2e/test_full_disk.py.)"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from emotui.alerts.audit import AuditLogError
from emotui.alerts.hub import AlertHub, AlertListener
from emotui.alerts.outbox import Outbox
from emotui.config import AlertRuleConfig, Config
from emotui.snapshots import SnapshotError, prune_snapshots
from emotui.storage import DiskFull, is_disk_full, private_file, private_folder
from tests.factories import frame_result
from tests.helpers import audit_records


@pytest.fixture
def small_statvfs(monkeypatch):
    """Makes os.statvfs report the given free bytes (the edge: a disk's free space cannot be set)."""
    def set_free(free: int) -> None:
        real = os.statvfs("/")
        monkeypatch.setattr(os, "statvfs", lambda path: os.statvfs_result(
            (real.f_bsize, 1, real.f_blocks, free, free, *real[5:])))
    return set_free


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_created_folders_are_0700_whatever_the_umask_and_existing_ones_are_only_warned_about(tmp_path):
    previous = os.umask(0o002)
    try:
        assert private_folder(tmp_path / "a" / "b" / "c") is None
    finally:
        os.umask(previous)
    assert [_mode(tmp_path / part) for part in ("a", "a/b", "a/b/c")] == [0o700] * 3
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    warning = private_folder(shared)
    assert str(shared) in warning and "755" in warning and f"chmod 700 {shared}" in warning
    assert _mode(shared) == 0o755  # the user's folder is not changed silently
    shared.chmod(0o711)  # others may pass through, not list: nothing to warn about
    assert private_folder(shared) is None


def test_private_file_creates_or_tightens_to_0600(tmp_path):
    loose = tmp_path / "loose"
    loose.write_bytes(b"kept")
    loose.chmod(0o644)
    private_file(loose)
    private_file(tmp_path / "new")
    assert (_mode(loose), loose.read_bytes(), _mode(tmp_path / "new")) == (0o600, b"kept", 0o600)


def test_an_outbox_and_its_journal_are_0600_in_a_0700_folder(tmp_path):
    path = tmp_path / "alerts" / "outbox.sqlite3"
    outbox = Outbox(path, "webhook", 10)
    outbox.put("", b"face jpeg")
    assert {p.name: _mode(p) for p in path.parent.iterdir()} == {"outbox.sqlite3": 0o600,
                                                                 "outbox.sqlite3-journal": 0o600}
    assert _mode(path.parent) == 0o700
    outbox.close()


def test_an_outbox_an_older_emotui_left_0644_in_wal_mode_is_made_private_and_keeps_its_messages(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    older = sqlite3.connect(path, isolation_level=None)  # as emotui made it before: WAL, umask 022
    older.execute("PRAGMA journal_mode=WAL")
    older.execute("CREATE TABLE webhook (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, "
                  "body BLOB NOT NULL, queued_at REAL NOT NULL)")
    older.execute("INSERT INTO webhook (topic, body, queued_at) VALUES ('', x'6a706567', 1.0)")
    older.close()
    for own in tmp_path.iterdir():
        own.chmod(0o644)
    outbox = Outbox(path, "webhook", 10)
    assert outbox.peek().body == b"jpeg"
    assert {p.name: _mode(p) for p in tmp_path.iterdir() if p.name.startswith("outbox")} == {
        "outbox.sqlite3": 0o600, "outbox.sqlite3-journal": 0o600}
    assert outbox._db.execute("PRAGMA auto_vacuum").fetchone() == (1,)  # rebuilt to give space back
    outbox.close()


def _hub_config(tmp_path: Path) -> Config:
    config = Config()
    config.alerts.rules = [AlertRuleConfig(name="fear", min_duration_s=0.0, inertia_frames=1, cooldown_s=0.0)]
    config.alerts.dir = str(tmp_path / "data" / "alerts")
    config.snapshots.dir = str(tmp_path / "data" / "snaps")
    config.webhook.url = "http://127.0.0.1:9/hook"  # never answers: the event stays queued on disk
    config.webhook.include_snapshot = True
    return config


def test_everything_the_hub_creates_is_0600_in_0700_folders(tmp_path):
    hub = AlertHub(_hub_config(tmp_path), "cam", environ={})
    hub.observe(frame_result(0.0, {1: 0.9}))
    hub.close(timeout=0.1)
    created = list((tmp_path / "data").rglob("*"))
    names = {path.name for path in created}
    assert {"alerts", "snaps", "alerts.jsonl", "outbox.sqlite3"} <= names and any(n.endswith(".png") for n in names)
    assert {path.name: _mode(path) for path in created} == {
        path.name: 0o700 if path.is_dir() else 0o600 for path in created}
    assert _mode(tmp_path / "data") == 0o700


def test_the_hub_warns_once_about_data_folders_others_can_read(tmp_path):
    config = _hub_config(tmp_path)
    for folder in (config.alerts.dir, config.snapshots.dir):
        Path(folder).mkdir(parents=True)
        Path(folder).chmod(0o755)
    told = []
    AlertHub(config, "cam", AlertListener(on_problem=told.append), environ={}).close(timeout=0.1)
    assert [text.split(" can be read")[0] for text in told] == [config.alerts.dir, config.snapshots.dir]
    assert [r["data"]["text"] for r in audit_records(Path(config.alerts.dir)) if r["type"] == "problem"] == told


def _snapshot(folder: Path, name: str, size: int, age_days: float, sidecar: bool = True) -> None:
    mtime = time.time() - age_days * 86400
    for suffix, data in ((".png", b"p" * size), (".json", b"{}")) if sidecar else ((".png", b"p" * size),):
        path = folder / f"emotui-{name}{suffix}"
        path.write_bytes(data)
        os.utime(path, (mtime, mtime))


def test_retention_by_size_removes_the_oldest_first_with_their_sidecars_and_counts_them(tmp_path):
    for number, age in enumerate((5, 4, 3, 2, 1)):  # emotui-0 is the oldest
        _snapshot(tmp_path, str(number), 1000, age)
    (tmp_path / "notes.png").write_bytes(b"x" * 10_000)  # not emotui's: never looked at
    pruned = prune_snapshots(tmp_path, max_bytes=3100, keep_days=0)
    assert (pruned.removed, pruned.freed_bytes, pruned.kept, pruned.kept_bytes) == (2, 2004, 3, 3006)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["notes.png"] + [f"emotui-{n}{s}" for n in (2, 3, 4) for s in (".png", ".json")])
    assert prune_snapshots(tmp_path, max_bytes=3100, keep_days=0).removed == 0


def test_retention_by_age_removes_what_is_older_than_keep_days_and_zero_turns_each_limit_off(tmp_path):
    _snapshot(tmp_path, "old", 10, 31)
    _snapshot(tmp_path, "older", 10, 40, sidecar=False)
    _snapshot(tmp_path, "recent", 10, 29)
    assert prune_snapshots(tmp_path, max_bytes=0, keep_days=0).removed == 0
    pruned = prune_snapshots(tmp_path, max_bytes=0, keep_days=30)
    assert (pruned.removed, pruned.kept) == (2, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emotui-recent.json", "emotui-recent.png"]


def test_the_hub_applies_retention_at_start_and_after_each_snapshot_and_records_it(tmp_path):
    config = _hub_config(tmp_path)
    config.webhook.url = ""
    config.snapshots.max_mb, config.snapshots.keep_days = 0.004, 30.0  # 4000 bytes
    snaps = Path(config.snapshots.dir)
    snaps.mkdir(parents=True, mode=0o700)
    for number in range(3):
        _snapshot(snaps, f"2020-{number}", 1000, 40 - number)  # all past keep_days
    _snapshot(snaps, "recent", 1000, 1)
    told = []
    hub = AlertHub(config, "cam", AlertListener(on_problem=told.append), environ={})
    assert sorted(p.name for p in snaps.iterdir()) == ["emotui-recent.json", "emotui-recent.png"]
    hub.observe(frame_result(0.0, {1: 0.9}))  # a new alert's snapshot (a PNG of some kB) goes over max_mb
    hub.close()
    records = audit_records(Path(config.alerts.dir))
    retention = [r["data"] for r in records if r["type"] == "retention"]
    assert [(r["removed"], r["kept"]) for r in retention] == [(3, 1), (1, 1)]
    assert retention[0]["freed_bytes"] == 3006 and retention[0]["max_mb"] == 0.004
    saved = Path(next(r["data"]["snapshot"] for r in records if r["data"].get("snapshot")))
    assert sorted(snaps.iterdir()) == sorted([saved, saved.with_suffix(".json")])  # the newest is kept
    assert len(told) == 1 and told[0].startswith("snapshots: removed the 3 oldest")


# --- a full disk ----------------------------------------------------------------------------

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_is_told_once_then_counted_summarised_every_period_and_ended_by_every_kind_written(tmp_path):
    told, now = [], [100.0]
    disk = DiskFull(told.append, summary_every_s=600, clock=lambda: now[0])
    disk.written("audit records", tmp_path)  # not full: nothing to end
    for kind in ("audit records", "webhook events", "audit records", "snapshots"):
        disk.failed(kind, tmp_path / "alerts.jsonl", ENOSPC)
    assert told == [f"disk full: cannot write {tmp_path / 'alerts.jsonl'} (No space left on device); alerts are "
                    "still shown, what cannot be written is counted until space returns"]
    now[0] += 601
    disk.failed("snapshots", tmp_path, ENOSPC)
    disk.failed("snapshots", tmp_path, ENOSPC)
    assert told[1:] == [
        "disk still full after 10 min: 2 audit records, 1 webhook events, 2 snapshots not written so far"]
    disk.written("audit records", tmp_path)
    disk.written("webhook events", tmp_path)
    assert len(told) == 2  # snapshots are still not written
    now[0] += 60
    disk.written("snapshots", tmp_path)
    assert told[2:] == ["disk space is back after 11 min: 2 audit records, 1 webhook events, 3 snapshots not written"]
    disk.written("snapshots", tmp_path)
    disk.failed("audit records", tmp_path, ENOSPC)  # full again: a new condition, told again
    assert len(told) == 4 and told[3].startswith("disk full:")


def test_a_write_with_little_room_left_does_not_end_the_condition(tmp_path, small_statvfs):
    told = []
    disk = DiskFull(told.append)
    disk.failed("audit records", tmp_path, ENOSPC)
    small_statvfs(DiskFull.RESUME_FREE_BYTES - 4096)
    disk.written("audit records", tmp_path)
    small_statvfs(DiskFull.RESUME_FREE_BYTES)
    assert len(told) == 1
    disk.written("audit records", tmp_path)
    assert told[1] == "disk space is back after 0 s: 1 audit records not written"


def test_full_disk_errors_are_recognised_through_the_errors_raised_from_them():
    def raised_from(cause: BaseException, suppress: bool) -> BaseException:
        try:
            try:
                raise cause
            except BaseException as error:
                if suppress:
                    raise SnapshotError("cannot write the snapshot x.png: No space left on device") from None
                raise AuditLogError("cannot write alerts.jsonl") from error
        except Exception as outer:
            return outer

    full_sqlite = sqlite3.connect(":memory:")
    full_sqlite.execute("CREATE TABLE t (b BLOB)")
    full_sqlite.execute(f"PRAGMA max_page_count={full_sqlite.execute('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(sqlite3.Error) as sqlite_full:
        full_sqlite.execute("INSERT INTO t VALUES (zeroblob(100000))")
    quota = OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
    assert all(is_disk_full(error) for error in (ENOSPC, quota, sqlite_full.value, raised_from(ENOSPC, True),
                                                 raised_from(quota, False)))
    assert not any(is_disk_full(error) for error in (OSError(errno.EACCES, "denied"), ValueError("x"),
                                                     raised_from(PermissionError(errno.EACCES, "denied"), False)))
