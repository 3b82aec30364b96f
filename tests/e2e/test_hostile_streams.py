"""Hostile and broken MJPEG streams from a real server (tests/mjpeg_server.py's hostile modes) read
by a real `emotui run --headless`: whatever the server does, the user sees the source lost or
retrying with the specific reason, damaged parts are counted as corrupt, and memory stays flat."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cameras import MjpegCamera
from tests.helpers import HeadlessRun, RssSampler, run_cli
from tests.mjpeg_server import BOUNDARY, HUGE_LENGTH, WRONG_LENGTH_PARTS
from tests.mosquitto import free_port

FACES = ("videos", "faces", "liveportrait_d6.mp4")
STALL_S = 2.0
RSS_RISE_MAX_MB = 40


@pytest.fixture
def video(media_dir) -> Path:
    return media_dir.joinpath(*FACES)


def _config(tmp_path: Path, reconnect: bool = True) -> str:
    config = tmp_path / "emotui.toml"
    config.write_text(f"[source]\nstall_s = {STALL_S}\nretry_min_s = 0.2\nretry_max_s = 1.0\n"
                      f"reconnect = {str(reconnect).lower()}\n[alerts]\ndir = \"{tmp_path / 'alerts'}\"\n")
    return str(config)


def _state(line: dict) -> str | None:
    return line.get("status", {}).get("state")


def _lost_twice(camera: MjpegCamera, tmp_path: Path) -> tuple[list[dict], float]:
    """Run emotui on the camera until the stream has been lost twice (it misbehaves again on the
    reconnection); the status lines, and how far memory rose above its figure at the first frame."""
    with HeadlessRun("--config", _config(tmp_path), "run", "--headless", "--json", "--source", camera.url) as run:
        rss = RssSampler(run.process.pid)
        run.read_until(lambda line: "frame" in line)  # the models loaded and one frame analysed
        start = rss.mark()
        run.read_until(lambda line: _state(line) == "lost")
        run.read_until(lambda line: _state(line) == "lost")
        rise = rss.peak_since(start)
    return [line["status"] for line in run.lines if "status" in line], rise


@pytest.mark.parametrize(("mode", "reason"), [
    ("huge-length", (rf"1 damaged part: Content-Length {HUGE_LENGTH} is over the 16 MB cap; then \d+ (KB|MB) "
                     rf"without the boundary --{BOUNDARY}")),
    ("trickle", r"the server trickles [\d.]+ bytes?/s"),
    ("endless-part", (rf"1 damaged part: no boundary within the 16 MB cap; then \d+ (KB|MB) without the "
                      rf"boundary --{BOUNDARY}")),
])
def test_a_stream_that_stops_delivering_frames_is_lost_with_its_reason_and_memory_stays_flat(
        video, model_store, tmp_path, mode, reason):
    camera = MjpegCamera(free_port(), video, mode=mode).start()
    try:
        statuses, rise = _lost_twice(camera, tmp_path)
    finally:
        camera.kill()
    assert [s["state"] for s in statuses] == ["live", "lost", "retrying", "live", "lost"]
    lost = statuses[1]
    assert re.fullmatch(rf"no complete frame from {re.escape(camera.url)} for 2 s \({reason}\)", lost["detail"]), lost
    assert rise < RSS_RISE_MAX_MB, f"RSS rose {rise:.0f} MB"


def test_a_stream_framed_by_another_boundary_than_the_declared_one_is_retried_with_its_reason(
        video, model_store, tmp_path):
    camera = MjpegCamera(free_port(), video, mode="bad-boundary").start()
    try:
        with HeadlessRun("--config", _config(tmp_path), "run", "--headless", "--json", "--source", camera.url) as run:
            retrying = run.read_until(lambda line: "status" in line)["status"]
    finally:
        camera.kill()
    assert retrying["state"] == "retrying" and not [line for line in run.lines if "frame" in line]
    assert re.fullmatch(rf"no complete frame from {re.escape(camera.url)} for 2 s \(\d+ (KB|MB) without the boundary "
                        rf"--{BOUNDARY}\)", retrying["detail"]), retrying


def test_http_headers_sent_too_slowly_are_a_specific_error(video, model_store, tmp_path):
    camera = MjpegCamera(free_port(), video, mode="slow-headers").start()
    try:
        result = run_cli("--config", _config(tmp_path), "run", "--headless", "--source", camera.url, timeout=120)
    finally:
        camera.kill()
    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"emotui: source error: {camera.url}: no complete HTTP answer within 2 s (the server sends it too slowly)")


def test_parts_with_a_wrong_content_length_are_counted_as_corrupt_and_lose_no_other_frame(
        video, model_store, tmp_path):
    camera = MjpegCamera(free_port(), video, mode="wrong-length").start()
    try:
        result = run_cli("--config", _config(tmp_path, reconnect=False), "run", "--headless", "--json",
                         "--source", camera.url, timeout=120)
    finally:
        camera.kill()
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])["summary"]
    damaged = WRONG_LENGTH_PARTS // 3
    assert (summary["frames_read"], summary["corrupt_frames"]) == (WRONG_LENGTH_PARTS - damaged, damaged)
    assert summary["source_status"]["state"] == "ended"
