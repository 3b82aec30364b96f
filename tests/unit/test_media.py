"""The media folder is found beside the checkout, or beside the one a clone was made from."""

from __future__ import annotations

import subprocess

from tests.media import MEDIA_ENV, find_media


def _git(*args: str, cwd) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_media_beside_the_checkout_then_beside_its_origin_then_the_env(tmp_path, monkeypatch):
    monkeypatch.delenv(MEDIA_ENV, raising=False)
    origin = tmp_path / "work" / "main"
    origin.mkdir(parents=True)
    _git("init", "-q", ".", cwd=origin)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x", cwd=origin)
    media = tmp_path / "work" / "shared" / "media"
    (media / "expressions").mkdir(parents=True)
    assert find_media(origin) == media
    clone = tmp_path / "elsewhere" / "clone"
    _git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    assert find_media(clone) == media  # a fresh clone in /tmp reads its origin's media
    (media / "expressions").rmdir()
    assert find_media(clone) == tmp_path / "elsewhere" / "shared" / "media"  # named in the error
    monkeypatch.setenv(MEDIA_ENV, str(tmp_path / "mine"))
    assert find_media(clone) == tmp_path / "mine"
