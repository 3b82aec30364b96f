"""The tamper-evident audit log: chained records, rotation, crash recovery, and what `verify` and
`emotui log verify` report when a copy of the log is edited."""

from __future__ import annotations

import hashlib
import json
import re
import stat
from datetime import datetime
from pathlib import Path

import pytest

from emotui.alerts.audit import GENESIS, AuditLog, AuditLogError, chain_files, verify
from tests.helpers import run_cli

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


def seqs(path: Path) -> list[int]:
    return [json.loads(line)["seq"] for line in lines_of(path)]


def own_hash(record: dict) -> str:
    body = {key: value for key, value in record.items() if key != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode()).hexdigest()


@pytest.fixture
def log_path(tmp_path) -> Path:
    return tmp_path / "audit" / "alerts.jsonl"


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


def test_a_damaged_line_in_the_middle_is_a_problem_but_an_unfinished_last_line_only_a_note(log_path):
    write_log(log_path, 3)
    lines = lines_of(log_path)
    copy = tampered_copy(log_path, lines[:2] + ["not json\n"] + lines[2:])
    assert verify([copy]).problem == f"{copy} line 3: not valid JSON - the line was damaged or inserted"
    copy = tampered_copy(log_path, lines + ['{"seq": 5, "ti'])
    report = verify([copy])
    assert report.ok and report.records == 4
    assert report.notes[0].startswith(f"{copy} line 5 is incomplete")


def test_rotation_keeps_one_chain_across_files_and_deletes_files_beyond_keep(log_path):
    line_size = len(json.dumps(write_log(log_path, 1, stop=False)[0], separators=(",", ":"))) + 1
    log_path.unlink()
    max_bytes = 2 * line_size + 10  # two records per file
    write_log(log_path, 5, max_bytes=max_bytes, keep=3)  # 6 records
    files = chain_files(log_path)
    assert [f.name for f in files] == ["alerts.jsonl.2", "alerts.jsonl.1", "alerts.jsonl"]
    assert [seqs(f) for f in files] == [[1, 2], [3, 4], [5, 6]]
    assert all(f.stat().st_size <= max_bytes for f in files)
    for older, newer in zip(files, files[1:]):
        assert json.loads(lines_of(newer)[0])["prev"] == json.loads(lines_of(older)[-1])["hash"]
    report = verify(files)
    assert (report.ok, report.records, report.first_seq, report.last_seq, report.notes) == (True, 6, 1, 6, [])

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


def test_reopening_continues_seq_and_hash(log_path):
    written = write_log(log_path, 2)
    log = AuditLog(log_path, BIG, 5)
    assert (log.last_seq, log.last_hash) == (3, written[-1]["hash"])
    record = log.append("start", {})
    log.close()
    assert (record["seq"], record["prev"]) == (4, written[-1]["hash"])
    assert verify([log_path]).records == 4


def test_reopening_with_the_active_file_gone_continues_from_the_newest_rotated_file(log_path):
    line_size = len(json.dumps(write_log(log_path, 1, stop=False)[0], separators=(",", ":"))) + 1
    log_path.unlink()
    written = write_log(log_path, 3, max_bytes=2 * line_size + 10, keep=3)  # alerts.jsonl.1: records 1-2
    log_path.unlink()
    log = AuditLog(log_path, BIG, 3)
    assert (log.last_seq, log.last_hash) == (2, written[1]["hash"])
    log.append("start", {})
    log.close()
    assert verify(chain_files(log_path)).ok


@pytest.mark.parametrize("tail", [b'{"seq": 4, "time": "2024', b"\x00\x00\x00\x00", b'{"seq": 4, "garbled\n'])
def test_an_incomplete_last_line_is_moved_aside_and_a_recovered_record_appended(log_path, tail):
    written = write_log(log_path, 2)
    with log_path.open("ab") as file:
        file.write(tail)
    log = AuditLog(log_path, BIG, 5)
    log.close()
    partials = list(log_path.parent.glob("alerts.jsonl.partial-*"))
    assert len(partials) == 1 and partials[0].read_bytes() == tail
    assert partials[0].name[len("alerts.jsonl.partial-"):].replace("-", "").isdigit()
    records = [json.loads(line) for line in lines_of(log_path)]
    assert records[:3] == written
    assert records[3]["type"] == "recovered" and records[3]["prev"] == written[-1]["hash"]
    assert records[3]["data"] == {"partial_file": partials[0].name, "size": len(tail)}
    assert verify([log_path]).ok


def test_a_second_writer_on_the_same_file_is_refused_until_the_first_closes(log_path):
    first = AuditLog(log_path, BIG, 5)
    with pytest.raises(AuditLogError, match=f"another emotui process is writing {log_path}"):
        AuditLog(log_path, BIG, 5)
    first.close()
    AuditLog(log_path, BIG, 5).close()


def test_an_unusable_folder_or_a_closed_log_is_a_clear_error(tmp_path, log_path):
    (tmp_path / "afile").write_text("")
    with pytest.raises(AuditLogError, match="cannot create the folder of .*afile/alerts.jsonl"):
        AuditLog(tmp_path / "afile" / "alerts.jsonl", BIG, 5)
    log = AuditLog(log_path, BIG, 5)
    log.close()
    with pytest.raises(AuditLogError, match="the audit log is closed"):
        log.append("alert", {})


# --- the command line -----------------------------------------------------------------------


def test_cli_verifies_a_log_with_its_rotated_files_and_reports_tampering(log_path):
    line_size = len(json.dumps(write_log(log_path, 1, stop=False)[0], separators=(",", ":"))) + 1
    log_path.unlink()
    write_log(log_path, 5, max_bytes=2 * line_size + 10, keep=3)
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


def test_cli_exits_1_when_a_file_cannot_be_read(tmp_path):
    result = run_cli("log", "verify", str(tmp_path / "missing.jsonl"), timeout=30)
    assert result.returncode == 1
    assert f"cannot read {tmp_path / 'missing.jsonl'}: No such file or directory" in result.stderr

