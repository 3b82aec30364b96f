"""End to end in a real terminal: `python -m emotui run` with four [[cameras]] (three looped research
videos and an RTSP camera that is not there) in tmux. The tiles show each camera's live state, a
number key focuses a camera full size with its bars, Escape brings the grid back, q quits."""

from __future__ import annotations

import json
import re
import shlex
import sys

import pytest

from tests.e2e.test_terminal import (  # noqa: F401 (terminal: the fixture)
    FACE_HEADER, START_S, STEP_S, header, python_path, status_line, terminal, wait_for,
)

pytestmark = pytest.mark.usefixtures("model_store")

CAMERAS = {  # name -> video under the research media's videos/ (looped)
    "door": "faces/liveportrait_d6.mp4",
    "garage": "faces/liveportrait_d0.mp4",
    "yard": "nofaces/diego_chickens.mp4",
}
ABSENT = "rtsp://127.0.0.1:9/nothing"  # the discard port: nothing answers RTSP there
TILE = re.compile(r"(\d+)  ([a-z]+) (live|connecting|retrying|lost|ended|failed|paused)\S*(?:, retry in \d+ s)?  (\d+) faces?")


def tiles(screen: str) -> dict[str, tuple[str, int]]:
    """Each tile's camera name -> (state, faces), read off the tiles' title lines."""
    return {match[2]: (match[3], int(match[4])) for match in TILE.finditer(screen)}


def test_the_grid_shows_live_tiles_and_a_camera_focused_and_back(terminal, media_dir, model_store, tmp_path):
    tables = "".join(f'[[cameras]]\nname = "{name}"\nuri = {json.dumps(str(media_dir / "videos" / video))}\n\n'
                     for name, video in CAMERAS.items())
    config = tmp_path / "emotui.toml"
    config.write_text(
        f'[source]\nloop = true\n\n{tables}[[cameras]]\nname = "porch"\nuri = "{ABSENT}"\n\n'
        f'[alerts]\ndir = {json.dumps(str(tmp_path / "alerts"))}\n\n'
        f'[snapshots]\ndir = {json.dumps(str(tmp_path / "snaps"))}\n\n'
        '[ui]\nbell = false\n\n[models]\nauto_pull = false\n')
    terminal.start(f"cd {shlex.quote(str(tmp_path))} && env -u EMOTUI_CONFIG TERM=xterm-256color LANG=C.UTF-8 "
                   f"{python_path()}EMOTUI_MODELS_DIR={shlex.quote(str(model_store.directory))} "
                   f"XDG_CONFIG_HOME={shlex.quote(str(tmp_path / 'xdg-config'))} "
                   f"{shlex.quote(sys.executable)} -m emotui run --config {shlex.quote(str(config))}")

    def grid_live(screen: str) -> bool:
        shown = tiles(screen)
        return (all(shown.get(name, ("",))[0] == "live" for name in CAMERAS) and shown["door"][1] >= 1
                and shown.get("porch", ("",))[0] in ("connecting", "retrying"))

    screen = wait_for("the tiles of four cameras, three live with a face on door's",
                      terminal.screen_when(lambda s: "porch" in tiles(s) and grid_live(s)), START_S, terminal.screen)
    assert "4 cameras · selected door (1/4)" in header(screen), screen

    terminal.keys("2")
    screen = wait_for("garage focused with its bars", terminal.screen_when(
        lambda s: "garage (2/4)" in header(s) and FACE_HEADER.search(s) and "liveportrait_d0.mp4" in status_line(s)),
        STEP_S, terminal.screen)
    assert not tiles(screen), screen  # no grid while a camera is focused

    terminal.keys("Escape")
    wait_for("the grid again, garage selected", terminal.screen_when(
        lambda s: "selected garage (2/4)" in header(s) and grid_live(s)), STEP_S, terminal.screen)

    terminal.keys("q")
    assert wait_for("the exit status", terminal.exit_status, STEP_S, terminal.screen) == "EXIT=0"
