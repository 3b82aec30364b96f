"""The `demo` scene: deterministic frames that the real detector, tracker, alert rules, headless run,
benchmark and snapshots work on without a camera or media."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from emotui.capture.readers.demo import FPS, HEIGHT, PASS_FRAMES, WIDTH, DemoReader, DemoScene
from emotui.config import Config
from emotui.models import MODELS_DIR_ENV
from emotui.pipeline import create_pipeline
from emotui.vision.detections import iou_matrix
from tests.helpers import audit_records, offline_pip, run_cli

pytestmark = pytest.mark.usefixtures("model_store")


@pytest.fixture(scope="module")
def photo(model_store) -> Path:
    return model_store.verified_path("demo")


def whole(box) -> bool:
    return box[0] >= 0 and box[1] >= 0 and box[2] <= WIDTH and box[3] <= HEIGHT


def test_same_seed_same_frames_at_a_steady_rate(photo):
    scene, again, other = DemoScene(photo, seed=3), DemoScene(photo, seed=3), DemoScene(photo, seed=4)
    for index in (0, 100, 222):
        frame = scene.frame(index)
        assert frame.shape == (HEIGHT, WIDTH, 3) and frame.dtype == np.uint8
        assert np.array_equal(frame, again.frame(index))
        assert not np.array_equal(frame, other.frame(index))
    assert not np.array_equal(scene.frame(100), scene.frame(101))  # it moves

    once = DemoReader(scene, endless=False)
    times = []
    while (read := once.read()) is not None:
        times.append(read[1])
    assert FPS == 15.0 and PASS_FRAMES == 450
    assert np.allclose(times, np.arange(PASS_FRAMES) / FPS)

    endless = DemoReader(scene, endless=True)
    reads = [endless.read() for _ in range(PASS_FRAMES + 1)]
    assert reads[-1][1] == pytest.approx(PASS_FRAMES / FPS)  # the clock runs on
    assert np.array_equal(reads[-1][0], reads[0][0])  # the scene starts again


def first_frames(config: Config, count: int, realtime: bool) -> list:
    capture = create_pipeline(config, "demo", lambda _: None, realtime=realtime).capture.start()
    try:
        return [frame for frame, _ in zip(capture.frames(), range(count))]
    finally:
        capture.stop()


def test_the_demo_keeps_its_frame_rate_in_real_time_and_repeats_in_a_loop():
    before_start = time.perf_counter()
    frames = first_frames(Config(), 16, realtime=True)
    assert [frame.index for frame in frames] == list(range(16)) and frames[-1].time == pytest.approx(1.0)
    assert frames[-1].captured_at - before_start >= 1.0  # held back to 15 frames a second (unpaced: ~0.05 s)

    looping = Config()
    looping.source.loop = True
    frames = first_frames(looping, PASS_FRAMES + 1, realtime=False)
    assert frames[-1].time == pytest.approx(PASS_FRAMES / FPS)


def test_the_default_detector_finds_every_face_shown_and_none_in_the_empty_room(photo):
    """One pass through the real pipeline (blazeface-dual + mini-xception), compared with where the
    scene put its faces: near (filling the frame) and far (about 30 px), one and two at a time."""
    scene = DemoScene(photo)
    pipeline = create_pipeline(Config(), "demo", lambda _: None)
    shown = found = 0
    tracks: dict[int, list[int]] = {}
    sizes = []
    for result in pipeline.results():
        truth = scene.faces(result.index)
        boxes = np.array([face.box for face in result.faces]).reshape(-1, 4)
        for face in result.faces:
            tracks.setdefault(face.track_id, []).append(result.index)
        if not truth:
            assert len(boxes) == 0, f"a face reported in the empty room at frame {result.index}"
        for box in filter(whole, truth):
            shown += 1
            sizes.append(box[3] - box[1])
            found += bool((iou_matrix(np.array([box]), boxes) > 0.3).any())
    assert result.index == PASS_FRAMES - 1
    assert min(sizes) < 36 and max(sizes) > 300  # far and near
    assert found >= 0.98 * shown, (found, shown)
    assert list(tracks) == [1, 2]  # the astronaut throughout, and the visitor who comes and goes
    first, last = min(tracks[2]) / FPS, max(tracks[2]) / FPS
    assert 13 < first < 16 and 17 < last < 20 and min(tracks[1]) / FPS < 4.5


def test_a_headless_demo_run_raises_and_ends_a_presence_alert(tmp_path):
    (tmp_path / "emotui.toml").write_text(f'[alerts]\ndir = "{tmp_path / "alerts"}"\n\n'
                                          f'[snapshots]\ndir = "{tmp_path / "snaps"}"\n')
    result = run_cli("run", "--headless", "--json", "--changes", "--source", "demo")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    alerts = [line["alert"] for line in lines if "alert" in line]
    presence = [(a["type"], a["track_id"]) for a in alerts if a["rule"] == "presence" and a["type"] != "update"]
    assert presence == [("new", 1), ("new", 2), ("end", 2), ("end", 1)]
    assert alerts[0]["kind"] == "face" and alerts[0]["severity"] == "alert" and alerts[0]["source_time"] < 6
    summary = lines[-1]["summary"]
    assert summary["source"] == "demo" and summary["frames_processed"] == PASS_FRAMES and summary["alerts"] == 2

    records = audit_records(tmp_path / "alerts")
    assert records[0]["type"] == "start" and records[0]["data"]["rules"] == ["fear", "anger", "presence"]
    snapshot = next(a["snapshot"] for a in alerts if a["type"] == "update" and a["snapshot"])
    assert json.loads(Path(snapshot).with_suffix(".json").read_text())["source"] == "demo"


def test_bench_on_the_demo_needs_no_media():
    result = run_cli("bench", "--source", "demo", "--frames", "60", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["source"] == "demo" and report["resolution"] == [WIDTH, HEIGHT] and report["frames"] == 60
    assert report["processed_fps"] > 0 and report["frame_latency_ms"]["p95"] > 0


def test_without_its_photo_the_demo_names_the_pull_command(tmp_path, monkeypatch):
    empty = {MODELS_DIR_ENV: str(tmp_path / "empty")}
    (tmp_path / "emotui.toml").write_text("[models]\nauto_pull = false\n")
    result = run_cli("run", "--headless", "--source", "demo", env=empty)
    assert result.returncode == 4
    assert "the demo scene is made from a photo" in result.stderr and "emotui models pull demo" in result.stderr

    (tmp_path / "emotui.toml").unlink()  # auto_pull on, but no registry: pip finds nothing
    offline_pip(monkeypatch, tmp_path)
    result = run_cli("run", "--headless", "--source", "demo", env=empty)
    assert result.returncode == 4
    assert "pip could not download scikit-image==0.26.0" in result.stderr
    assert "run `emotui models pull demo`" in result.stderr
