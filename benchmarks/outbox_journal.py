"""Outbox journal benchmark: how much disk the delivery queue takes, and how fast it is, with the
rollback journal emotui uses (TRUNCATE), SQLite's default WAL and a bounded WAL. Prints JSON.

    .venv/bin/python benchmarks/outbox_journal.py [--events 400] [--body-kb 40] [--backlog 100]

A backlog of `--backlog` events (each a `--body-kb` snapshot JPEG, as with `include_snapshot`)
builds up while the server is away, then is delivered while new events keep coming (one put per
two removals), as after a full disk or an outage. The peak is the largest size of the database
with its -wal or -journal file, sampled after every operation.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emotui.alerts.outbox import Outbox  # noqa: E402

VARIANTS = {  # name: the pragmas set on emotui's outbox (none: as emotui uses it)
    "rollback-truncate": (),
    "rollback-truncate-normal": ("synchronous=NORMAL",),
    "wal-default": ("journal_mode=WAL", "synchronous=NORMAL"),
    "wal-bounded": ("journal_mode=WAL", "synchronous=NORMAL", "wal_autocheckpoint=64",
                    f"journal_size_limit={256 * 1024}"),
}


def disk_bytes(path: Path) -> int:
    return sum(file.stat().st_size for file in path.parent.glob(path.name + "*"))


def run(variant: str, events: int, body: bytes, backlog: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "outbox.sqlite3"
        outbox = Outbox(path, "webhook", 10_000)
        for pragma in VARIANTS[variant]:
            outbox._db.execute(f"PRAGMA {pragma}")
        peak, operations, started = 0, 0, time.perf_counter()
        for _ in range(backlog):
            outbox.put("", body)
            operations += 1
            peak = max(peak, disk_bytes(path))
        for number in range(events):
            if number % 2 == 0:
                outbox.put("", body)
            elif (head := outbox.peek()) is not None:
                outbox.remove(head.id)
            operations += 1
            peak = max(peak, disk_bytes(path))
        while (head := outbox.peek()) is not None:
            outbox.remove(head.id)
            operations += 1
            peak = max(peak, disk_bytes(path))
        elapsed = time.perf_counter() - started
        drained = disk_bytes(path)
        outbox.close()
    return {"variant": variant, "peak_kb": round(peak / 1024), "drained_kb": round(drained / 1024),
            "operations_per_s": round(operations / elapsed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--body-kb", type=int, default=40)
    parser.add_argument("--backlog", type=int, default=100)
    args = parser.parse_args()
    body = bytes(range(256)) * (args.body_kb * 4)
    print(json.dumps({"events": args.events, "body_kb": args.body_kb, "backlog": args.backlog,
                      "results": [run(variant, args.events, body, args.backlog) for variant in VARIANTS]}, indent=2))


if __name__ == "__main__":
    main()
