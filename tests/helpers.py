"""Helpers shared by the tests of every kind (fixtures stay in conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from emotui.alerts.events import AlertEvent

OFFLINE_MODELS = ("mini-xception", "blazeface", "blazeface-full")


def unavailable(message: str) -> None:
    """A missing tool, service, media folder or model: a failure in CI (CI=true), else a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must have it)")
    pytest.skip(message)


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False); assert on it."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def audit_records(alerts_dir: Path) -> list[dict]:
    """The records of the audit log in an `alerts.dir`, in order."""
    return [json.loads(line) for line in (alerts_dir / "alerts.jsonl").read_text().splitlines()]


def alert_event(number: int, event_type: str = "new") -> AlertEvent:
    """Alert number `number` of rule "fear" on camera "door": its new, update or end event."""
    return AlertEvent(
        type=event_type, id=f"alert-{number}", camera="door", rule="fear", kind="emotion", severity="alert",
        track_id=number, emotion="fear", score=0.75, peak_score=0.8, faces=1, start_time=1_700_000_000.0,
        end_time=1_700_000_005.0 if event_type == "end" else None, timestamp=1_700_000_000.0 + number,
        source_time=12.5, snapshot=None,
    )


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m emotui ARGS` as a user runs it, in the current folder."""
    return subprocess.run(
        [sys.executable, "-m", "emotui", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )


class ChunkedResponse:
    """Stands in for an HTTP response: the given bytes, `size` at a time, then an optional error."""

    def __init__(self, data: bytes, size: int, error: Exception | None = None) -> None:
        self.chunks = [data[i:i + size] for i in range(0, len(data), size)]
        self.error = error

    def read1(self, _limit: int) -> bytes:
        if self.chunks:
            return self.chunks.pop(0)
        if self.error is not None:
            raise self.error
        return b""

    def close(self) -> None:
        pass
