"""Helpers shared by the tests of every kind (fixtures stay in conftest.py)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

import pytest

from emotui.alerts.events import AlertEvent

OFFLINE_MODELS = ("mini-xception", "blazeface", "blazeface-full", "demo")  # what `make test` pulls
EVENT_TIMEOUT_S = 30.0  # how long a test waits for something that comes in well under a second when idle


def unavailable(message: str) -> None:
    """A missing tool, service, media folder or model: a failure in CI (CI=true), else a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must have it)")
    pytest.skip(message)


def wait_until(condition: Callable[[], object], timeout: float = EVENT_TIMEOUT_S) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False); assert on it."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def offline_pip(monkeypatch, tmp_path) -> None:
    """What pip meets on a machine without internet: no index and nothing in the links."""
    empty = tmp_path / "empty-index"
    empty.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_INDEX_URL", empty.as_uri())
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", empty.as_uri())
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))


async def settle(pilot, condition: Callable[[], object], timeout: float = EVENT_TIMEOUT_S) -> None:
    """Let a Textual app run (under its Pilot) until `condition` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:g} s"
        await pilot.pause(0.05)


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


class HeadlessRun:
    """`python -m emotui ARGS` (a `run --headless --json`) as a service runs, in a process of its
    own; its stdout is read line by line as it comes, its stderr kept. As a context, it ends the
    process should a test fail half-way."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "emotui", *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.lines: list[dict] = []  # stdout's JSON lines read so far
        self.stderr: list[str] = []
        self._stdout: queue.Queue[str | None] = queue.Queue()  # None: the end
        self._readers = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            self._stdout.put(line)
        self._stdout.put(None)

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            self.stderr.append(line.rstrip("\n"))

    def read_until(self, condition: Callable[[dict], object], timeout: float = EVENT_TIMEOUT_S) -> dict:
        """Read stdout until a line for which `condition` holds, and return it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._stdout.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no such line within {timeout:g} s; stderr:\n" + "\n".join(self.stderr)) from None
            if line is None:
                raise AssertionError("stdout ended first; stderr:\n" + "\n".join(self.stderr))
            self.lines.append(json.loads(line))
            if condition(self.lines[-1]):
                return self.lines[-1]

    def finish(self, timeout: float = EVENT_TIMEOUT_S) -> int:
        """Wait for the process to end and read the rest of its output; returns its exit code."""
        try:
            self.process.wait(timeout)
        finally:
            self.kill()
        for reader in self._readers:
            reader.join()
        while not self._stdout.empty():
            if (line := self._stdout.get()) is not None:
                self.lines.append(json.loads(line))
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.kill()

    def alerts(self) -> list[dict]:
        return [line["alert"] for line in self.lines if "alert" in line]


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
