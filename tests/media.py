"""Where the research media is (never copied into the repository): $EMOTUI_MEDIA_DIR, else
../shared/media beside this checkout, else beside the local checkout this one was cloned from
(a fresh clone made elsewhere, e.g. to check CI, reads the same media)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MEDIA_ENV = "EMOTUI_MEDIA_DIR"


def find_media(repo: Path = REPO) -> Path:
    """The media folder for the checkout `repo`; the first candidate (for the error message)
    when none holds it."""
    if os.environ.get(MEDIA_ENV):
        return Path(os.environ[MEDIA_ENV])
    candidates = [repo.parent / "shared" / "media"]
    try:
        origin = subprocess.run(["git", "remote", "get-url", "origin"], cwd=repo, capture_output=True, text=True,
                                timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        origin = ""
    if origin and Path(origin).is_dir():  # cloned from a local checkout
        candidates.append(Path(origin).resolve().parent / "shared" / "media")
    return next((path for path in candidates if (path / "expressions").is_dir()), candidates[0])
