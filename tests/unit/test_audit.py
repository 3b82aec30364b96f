"""The tamper-evident audit log: chained records, rotation, crash recovery, failed writes, the sink
that feeds it, and what `verify` and `emotui log verify` report when a copy of the log is edited."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from emotui.alerts.audit import GENESIS, AuditLog, AuditLogError, AuditSink, chain_files, verify
from emotui.storage import DiskFull
from tests.helpers import alert_event, run_cli

BIG = 1_000_000


def write_log(path: Path, alerts: int, stop: bool = True, max_bytes: int = BIG, keep: int = 5) -> list[dict]:
    """A closed log of `alerts` "alert" records, then a "stop" one; the records written."""
    log = AuditLog(path, max_bytes, keep)
    written = [log.append("alert", {"n": n, "camera": "gate"}) for n in range(1, alerts + 1)]
    if stop:
        written.append(log.append("stop", {}))
    log.close()
    return written


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def tampered_copy(path: Path, lines: list[str]) -> Path:
    copy = path.with_name("copy.jsonl")
    copy.write_text("".join(lines))
    return copy


def record_size(log_path: Path) -> int:
    """The size of an alert's line in the logs of `write_log` (alerts 1-9 are all this long); leaves no log."""
    write_log(log_path, 1, stop=False)
    size = log_path.stat().st_size
    log_path.unlink()
    return size


def seqs(path: Path) -> list[int]:
    return [json.loads(line)["seq"] for line in lines_of(path)]


def own_hash(record: dict) -> str:
    body = {key: value for key, value in record.items() if key != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode()).hexdigest()


@pytest.fixture
def log_path(tmp_path) -> Path:
    return tmp_path / "data" / "audit" / "alerts.jsonl"  # neither folder exists yet: both are created


def test_records_are_canonical_chained_json_lines_and_verify_intact(log_path):
    written = write_log(log_path, 3)
    lines = lines_of(log_path)
    records = [json.loads(line) for line in lines]
    assert records == written
    assert lines == [json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n" for r in records]
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    assert [r["prev"] for r in records] == [GENESIS] + [r["hash"] for r in records[:-1]]
    assert all(r["hash"] == own_hash(r) for r in records)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d", records[0]["time"])
    assert datetime.fromisoformat(records[0]["time"]).utcoffset() is not None
    assert stat.S_IMODE(log_path.stat().st_mode) == 0o600

    report = verify([log_path])
    assert (report.ok, report.records, report.first_seq, report.last_seq) == (True, 4, 1, 4)
    assert report.last_hash == records[-1]["hash"] and report.problem is None and report.notes == []
    assert f"intact: 4 records (seq 1-4) in 1 file; last hash {records[-1]['hash']}" in report.describe()


def test_the_report_as_emotui_log_verify_prints_it_and_as_json(log_path):
    (stop,) = write_log(log_path, 0)
    report = verify([log_path])
    assert report.describe() == f"checked: {log_path}\nintact: 1 record (seq 1-1) in 1 file; last hash {stop['hash']}"
    assert report.to_dict() == {"ok": True, "records": 1, "files": [str(log_path)], "first_seq": 1, "last_seq": 1,
                                "last_hash": stop["hash"], "problem": None, "notes": []}

    copy = tampered_copy(log_path, ["not json\n"])
    report = verify([copy])
    assert report.describe() == (f"checked: {copy}\nTAMPERED: {copy} line 1: not valid JSON - the line was damaged or "
                                 "inserted\nintact before it: 0 records")

    copy = tampered_copy(log_path, [])
    report = verify([copy])
    assert (report.ok, report.records, report.notes) == (True, 0, ["the log has no records"])
    assert report.describe().endswith("\nnote: the log has no records")


def test_non_ascii_data_is_kept_readable_and_verifies(log_path):
    log = AuditLog(log_path, BIG, 5)
    log.append("alert", {"camera": "entrée", "emotion": "😠"})
    log.close()
    assert "entrée" in log_path.read_text() and verify([log_path]).ok


def test_a_log_without_a_final_stop_record_is_intact_with_a_note(log_path):
    write_log(log_path, 2, stop=False)
    report = verify([log_path])
    assert report.ok
    assert report.notes == ["the log does not end with a stop record: emotui is running, crashed, "
                            "or records were removed from the end"]


def test_an_edited_field_is_named_by_file_line_and_record(log_path):
    write_log(log_path, 5)
    lines = lines_of(log_path)
    lines[2] = lines[2].replace('"camera":"gate"', '"camera":"door"')
    copy = tampered_copy(log_path, lines)
    report = verify([copy])
    assert not report.ok
    assert report.problem == f"{copy} line 3 (record 3): content does not match its hash - the record was edited"
    assert (report.records, report.last_seq) == (2, 2)
    assert verify([log_path]).ok  # the original is untouched


def test_a_deleted_middle_line_names_the_removed_record(log_path):
    write_log(log_path, 6)
    lines = lines_of(log_path)
    copy = tampered_copy(log_path, lines[:4] + lines[5:])
    assert verify([copy]).problem == f"{copy} line 5: record 6 follows record 4 - record 5 was removed"
    copy = tampered_copy(log_path, lines[:4] + lines[6:])
    assert verify([copy]).problem == f"{copy} line 5: record 7 follows record 4 - records 5-6 were removed"


def test_swapped_lines_are_reported_as_reordered_at_the_first_moved_line(log_path):
    write_log(log_path, 6)
    lines = lines_of(log_path)
    lines[3], lines[4] = lines[4], lines[3]
    copy = tampered_copy(log_path, lines)
    assert verify([copy]).problem == (f"{copy} line 4: record 5 follows record 3 - records were reordered "
                                      f"(record 4 comes later, at {copy} line 5)")


def test_a_duplicated_line_is_reported(log_path):
    write_log(log_path, 4)
    lines = lines_of(log_path)
    copy = tampered_copy(log_path, lines[:3] + [lines[1]] + lines[3:])
    assert verify([copy]).problem == f"{copy} line 4: record 2 follows record 3 - records were duplicated or reordered"


def test_an_edit_with_its_own_hash_recomputed_breaks_the_next_records_link(log_path):
    write_log(log_path, 5)
    lines = lines_of(log_path)
    record = json.loads(lines[2])
    record["data"]["camera"] = "door"
    record["hash"] = own_hash(record)
    lines[2] = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    copy = tampered_copy(log_path, lines)
    report = verify([copy])
    assert report.problem == (f"{copy} line 4 (record 4): its prev is not the hash of record 3 - record 3 was "
                              "edited and its hash recomputed, or this record was replaced")
    assert report.records == 3


@pytest.mark.parametrize("damage, what", [
    (lambda line: "not json\n", "not valid JSON"),
    (lambda line: "[1, 2]\n", "not a JSON object"),
    (lambda line: json.dumps({**json.loads(line), "seq": True, "hash": None}) + "\n", "missing or malformed seq, hash"),
], ids=["not JSON", "not an object", "malformed fields"])
def test_a_damaged_line_in_the_middle_is_named_with_what_is_wrong(log_path, damage, what):
    write_log(log_path, 3)
    lines = lines_of(log_path)
    copy = tampered_copy(log_path, lines[:2] + [damage(lines[2])] + lines[3:])
    assert verify([copy]).problem == f"{copy} line 3: {what} - the line was damaged or inserted"


def test_an_unfinished_last_line_after_a_crash_is_only_noted(log_path):
    write_log(log_path, 3, stop=False)
    copy = tampered_copy(log_path, lines_of(log_path) + ['{"seq": 4, "ti'])
    report = verify([copy])
    assert report.ok and report.records == 3
    assert report.notes == [
        (f"{copy} line 4 is incomplete (emotui stopped while writing it); emotui moves it aside when it next "
         "opens the log"),
        "the log does not end with a stop record: emotui is running, crashed, or records were removed from the end",
    ]


def test_rotation_keeps_one_chain_across_files_and_deletes_files_beyond_keep(log_path):
    max_bytes = 2 * record_size(log_path) + 10  # two records per file
    write_log(log_path, 5, max_bytes=max_bytes, keep=3)  # 6 records
    files = chain_files(log_path)
    assert [f.name for f in files] == ["alerts.jsonl.2", "alerts.jsonl.1", "alerts.jsonl"]
    assert [seqs(f) for f in files] == [[1, 2], [3, 4], [5, 6]]
    assert all(f.stat().st_size <= max_bytes for f in files)
    for older, newer in zip(files, files[1:]):
        assert json.loads(lines_of(newer)[0])["prev"] == json.loads(lines_of(older)[-1])["hash"]
    report = verify(files)
    assert (report.ok, report.records, report.first_seq, report.last_seq, report.notes) == (True, 6, 1, 6, [])
    assert report.describe() == (f"checked: {files[0]}, {files[1]}, {files[2]}\n"
                                 f"intact: 6 records (seq 1-6) in 3 files; last hash {report.last_hash}")

    log = AuditLog(log_path, max_bytes, keep=3)
    for n in range(5):
        log.append("alert", {"n": n, "camera": "gate"})
    log.close()
    files = chain_files(log_path)
    assert [f.name for f in files] == ["alerts.jsonl.3", "alerts.jsonl.2", "alerts.jsonl.1", "alerts.jsonl"]
    assert [seqs(f) for f in files] == [[5, 6], [7, 8], [9, 10], [11]]
    assert not log_path.with_name("alerts.jsonl.4").exists()
    report = verify(files)
    assert report.ok and (report.first_seq, report.last_seq) == (5, 11)
    assert "chain starts at record 5; earlier files were rotated away (or its first records removed)" in report.notes


def test_a_file_fills_up_to_exactly_max_bytes_and_keep_1_keeps_one_rotated_file(log_path):
    size = record_size(log_path)
    write_log(log_path, 4, max_bytes=2 * size, keep=1)  # alerts 1-4 of `size` bytes each, then a shorter stop
    files = chain_files(log_path)
    assert [f.name for f in files] == ["alerts.jsonl.1", "alerts.jsonl"]
    assert [seqs(f) for f in files] == [[3, 4], [5]]
    assert files[0].stat().st_size == 2 * size


def test_max_bytes_and_keep_must_be_at_least_1(log_path):
    for max_bytes, keep in ((0, 5), (5, 0)):
        with pytest.raises(ValueError, match=f"^max_bytes and keep must be at least 1, not {max_bytes} and {keep}$"):
            AuditLog(log_path, max_bytes, keep)
    AuditLog(log_path, 1, 1).close()


def test_reopening_continues_seq_and_hash(log_path):
    written = write_log(log_path, 2)
    log = AuditLog(log_path, BIG, 5)
    assert (log.last_seq, log.last_hash) == (3, written[-1]["hash"])
    record = log.append("start", {})
    log.close()
    assert (record["seq"], record["prev"]) == (4, written[-1]["hash"])
    assert verify([log_path]).records == 4


def test_reopening_with_the_active_file_gone_continues_from_the_newest_rotated_file(log_path):
    written = write_log(log_path, 3, max_bytes=2 * record_size(log_path) + 10, keep=3)  # alerts.jsonl.1: 1-2
    log_path.unlink()
    rotated = log_path.with_name("alerts.jsonl.1")
    assert chain_files(log_path) == [rotated] and verify([rotated]).ok  # what `emotui log verify` then checks
    log = AuditLog(log_path, BIG, 3)
    assert (log.last_seq, log.last_hash) == (2, written[1]["hash"])
    log.append("start", {})
    log.close()
    assert verify(chain_files(log_path)).ok


@pytest.mark.parametrize("tail", [b'{"seq": 4, "time": "2024', b"\x00\x00\x00\x00", b'{"seq": 4, "garbled\n', b"{",
                                  b"\n"], ids=["cut", "zeros", "garbled", "one byte", "blank line"])
@pytest.mark.parametrize("alerts", [0, 2], ids=["in the first record", "after records"])
def test_an_incomplete_last_line_is_moved_aside_and_a_recovered_record_appended(log_path, tail, alerts):
    written = write_log(log_path, alerts, stop=alerts > 0)
    with log_path.open("ab") as file:
        file.write(tail)
    log = AuditLog(log_path, BIG, 5)
    log.close()
    partials = list(log_path.parent.glob("alerts.jsonl.partial-*"))
    assert len(partials) == 1 and partials[0].read_bytes() == tail
    assert re.fullmatch(r"alerts\.jsonl\.partial-\d{8}-\d{6}", partials[0].name)
    assert stat.S_IMODE(partials[0].stat().st_mode) == 0o600
    records = [json.loads(line) for line in lines_of(log_path)]
    assert records[:-1] == written
    assert records[-1]["type"] == "recovered" and records[-1]["prev"] == (written[-1]["hash"] if written else GENESIS)
    assert records[-1]["data"] == {"partial_file": partials[0].name, "size": len(tail)}
    assert verify([log_path]).ok


def test_an_earlier_partial_file_is_never_overwritten(log_path):
    write_log(log_path, 2)
    now = datetime.now()
    earlier = [log_path.with_name(f"alerts.jsonl.partial-{now + timedelta(seconds=s):%Y%m%d-%H%M%S}")
               for s in range(10)]
    for path in earlier:  # left by crashes in this second and the next nine (a slow machine may take a while)
        path.write_bytes(b"earlier")
    with log_path.open("ab") as file:
        file.write(b'{"seq": 4')
    AuditLog(log_path, BIG, 5).close()
    (moved,) = set(log_path.parent.glob("alerts.jsonl.partial-*")) - set(earlier)
    assert moved.name in {f"{path.name}-2" for path in earlier} and moved.read_bytes() == b'{"seq": 4'
    assert all(path.read_bytes() == b"earlier" for path in earlier)


def test_a_second_writer_on_the_same_file_is_refused_until_the_first_closes(log_path):
    first = AuditLog(log_path, BIG, 5)
    with pytest.raises(AuditLogError, match=f"another emotui process is writing {log_path}"):
        AuditLog(log_path, BIG, 5)
    first.close()
    AuditLog(log_path, BIG, 5).close()


def test_an_unusable_folder_or_a_closed_log_is_a_clear_error(tmp_path, log_path):
    (tmp_path / "afile").write_text("")
    with pytest.raises(AuditLogError, match="^cannot create the folder of .*afile/alerts.jsonl: File exists$"):
        AuditLog(tmp_path / "afile" / "alerts.jsonl", BIG, 5)
    (tmp_path / "folder.jsonl").mkdir()
    with pytest.raises(AuditLogError, match=f"^cannot open {tmp_path}/folder.jsonl for writing: Is a directory$"):
        AuditLog(tmp_path / "folder.jsonl", BIG, 5)
    log = AuditLog(log_path, BIG, 5)
    log.close()
    with pytest.raises(AuditLogError, match="the audit log is closed"):
        log.append("alert", {})


def test_a_record_that_cannot_be_written_leaves_nothing_behind_and_the_chain_goes_on(log_path, monkeypatch):
    written = write_log(log_path, 2, stop=False)
    before = log_path.read_bytes()
    log = AuditLog(log_path, BIG, 5)
    real_write = os.write

    def disk_full_halfway(fd: int, data: bytes) -> int:
        real_write(fd, data[:len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(os, "write", disk_full_halfway)
        with pytest.raises(AuditLogError, match=f"^cannot write {log_path}: No space left on device$"):
            log.append("alert", {"n": 3})
    assert log_path.read_bytes() == before
    record = log.append("alert", {"n": 3})
    log.close()
    assert (record["seq"], record["prev"]) == (3, written[-1]["hash"])
    assert verify([log_path]).records == 3


def test_a_log_whose_last_record_is_unreadable_is_not_continued(log_path):
    write_log(log_path, 3, max_bytes=2 * record_size(log_path) + 10, keep=3)  # alerts.jsonl.1: records 1-2
    log_path.unlink()
    rotated = log_path.with_name("alerts.jsonl.1")
    rotated.write_text(rotated.read_text() + "not a record\n")
    with pytest.raises(AuditLogError) as raised:
        AuditLog(log_path, BIG, 3)
    assert str(raised.value) == (f"cannot continue the hash chain: the last line of {rotated} is not an audit record "
                                 f"(see `emotui log verify {log_path}`)")


# --- the audit sink -------------------------------------------------------------------------


def test_the_sink_writes_events_and_records_in_order_and_every_queued_one_before_it_closes(log_path):
    problems = []
    sink = AuditSink(AuditLog(log_path, BIG, 5), problems.append, DiskFull(problems.append))
    sink.record("start", {"camera": "door"})
    for number in range(1, 21):
        sink.submit(alert_event(number))
    sink.record("stop", {})
    sink.close(timeout=0)
    records = [json.loads(line) for line in lines_of(log_path)]
    assert [(r["type"], r["data"]) for r in records] == (
        [("start", {"camera": "door"})] + [("new", alert_event(n).to_dict()) for n in range(1, 21)] + [("stop", {})])
    assert problems == [] and verify([log_path]).ok


def test_the_sink_reports_a_record_it_cannot_write(log_path):
    problems = []
    sink = AuditSink(AuditLog(log_path, BIG, 5), problems.append, DiskFull(problems.append))
    sink.log.close()
    sink.submit(alert_event(1))
    sink.close()
    assert problems == [(f"audit log {log_path}: cannot write a new record: cannot write {log_path}: the audit log "
                         "is closed")]


# --- the command line -----------------------------------------------------------------------


def test_cli_verifies_a_log_with_its_rotated_files_and_reports_tampering(log_path):
    write_log(log_path, 5, max_bytes=2 * record_size(log_path) + 10, keep=3)
    result = run_cli("log", "verify", str(log_path), timeout=30)
    assert result.returncode == 0, result.stderr
    assert f"checked: {log_path}.2, {log_path}.1, {log_path}" in result.stdout
    assert "intact: 6 records (seq 1-6) in 3 files; last hash " in result.stdout

    result = run_cli("log", "verify", "--json", str(log_path), timeout=30)
    report = json.loads(result.stdout)
    assert (result.returncode, report["ok"], report["records"], len(report["files"])) == (0, True, 6, 3)

    middle = log_path.with_name("alerts.jsonl.1")
    middle.write_text(middle.read_text().replace('"n":3', '"n":9'))
    result = run_cli("log", "verify", str(log_path), timeout=30)
    assert result.returncode == 5
    assert (f"audit log verification failed: {middle} line 1 (record 3): content does not match its hash"
            in result.stderr)


def test_a_file_that_cannot_be_read_is_named_and_the_cli_exits_1(tmp_path):
    missing = tmp_path / "missing.jsonl"
    with pytest.raises(AuditLogError, match=f"^cannot read {missing}: No such file or directory$"):
        verify([missing])
    result = run_cli("log", "verify", str(missing), timeout=30)
    assert result.returncode == 1
    assert f"cannot read {missing}: No such file or directory" in result.stderr

