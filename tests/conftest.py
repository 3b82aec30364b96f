"""Shared fixtures: the research media folder and the pulled models.

In CI (CI=true) a missing media folder or model fails the run; elsewhere such tests are skipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from emotui.models import ModelError, ModelStore, default_models_dir
from tests.media import MEDIA_ENV, find_media

REPO = Path(__file__).resolve().parents[1]
OFFLINE_MODELS = ("mini-xception", "blazeface", "blazeface-full")


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must have it)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def media_dir() -> Path:
    """The research media (tests/media.py: $EMOTUI_MEDIA_DIR, else ../shared/media)."""
    path = find_media()
    if not (path / "expressions").is_dir():
        _unavailable(f"test media not found at {path} (set {MEDIA_ENV})")
    return path


@pytest.fixture(scope="session")
def model_store() -> ModelStore:
    """The store holding the offline models (`make test` pulls them first)."""
    store = ModelStore(default_models_dir())
    try:
        for name in OFFLINE_MODELS:
            store.verified_path(name)
    except ModelError as error:
        _unavailable(str(error))
    return store


@pytest.fixture(autouse=True)
def isolated_config(monkeypatch, tmp_path):
    """No user or project config or data leaks into or out of a test: run from an empty folder."""
    monkeypatch.delenv("EMOTUI_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))  # audit logs, outboxes, snapshots
    monkeypatch.chdir(tmp_path)


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


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m emotui ARGS` as a user runs it, in the current folder."""
    return subprocess.run(
        [sys.executable, "-m", "emotui", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )
