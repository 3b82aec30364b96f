"""Shared fixtures: the research media folder and the pulled models, and the kind of each test.

Tests live by kind: tests/unit (no media, no models, no services: seconds), tests/integration
(the real media and models, in-process servers), tests/e2e (a real terminal, SSH, a broker, RTSP
and MJPEG cameras); each gets the marker of its folder, so `-m unit` selects by kind too.
In CI (CI=true) a missing media folder or model fails the run; elsewhere such tests are skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from emotui.models import ModelError, ModelStore, default_models_dir
from tests.helpers import OFFLINE_MODELS, unavailable
from tests.media import MEDIA_ENV, find_media

TESTS = Path(__file__).resolve().parent
KINDS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        kind = Path(item.fspath).resolve().relative_to(TESTS).parts[0]
        if kind in KINDS:
            item.add_marker(kind)


@pytest.fixture(scope="session")
def media_dir() -> Path:
    """The research media (tests/media.py: $EMOTUI_MEDIA_DIR, else ../shared/media)."""
    path = find_media()
    if not (path / "expressions").is_dir():
        unavailable(f"test media not found at {path} (set {MEDIA_ENV})")
    return path


@pytest.fixture(scope="session")
def model_store() -> ModelStore:
    """The store holding the offline models and the demo's photo (`make test` pulls them first)."""
    store = ModelStore(default_models_dir())
    try:
        for name in OFFLINE_MODELS:
            store.verified_path(name)
    except ModelError as error:
        unavailable(str(error))
    return store


@pytest.fixture(autouse=True)
def isolated_config(monkeypatch, tmp_path):
    """No user or project config or data leaks into or out of a test: run from an empty folder."""
    monkeypatch.delenv("EMOTUI_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))  # audit logs, outboxes, snapshots
    monkeypatch.chdir(tmp_path)
