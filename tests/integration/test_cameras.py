"""Several cameras in one process, on real media and models: each camera's rules, thresholds and
masks, the camera in every line, record and snapshot, and fair analysis when one camera floods."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from emotui.alerts.audit import chain_files, verify
from emotui.cameras import camera_setups, open_cameras
from emotui.config import load_config
from tests.helpers import HeadlessRun, audit_records, run_cli

pytestmark = pytest.mark.usefixtures("model_store")

WHOLE_FRAME = "[[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]]"


@pytest.fixture(scope="module")
def face_video(media_dir) -> Path:
    return media_dir / "videos" / "faces" / "liveportrait_d0.mp4"  # 78 frames, one face throughout


def test_each_camera_runs_its_own_rules_thresholds_and_masks(tmp_path, face_video):
    config = tmp_path / "emotui.toml"
    config.write_text(f"""
[alerts]
dir = "{tmp_path / 'alerts'}"
[snapshots]
dir = "{tmp_path / 'snapshots'}"

[[alerts.rules]]
name = "visitor"
kind = "face"
min_duration_s = 0.0

[[alerts.rules]]
name = "fear"
threshold = 0.99
min_duration_s = 0.0

[[cameras]]
name = "porch"
uri = "{face_video}"
rules = ["visitor"]
detect_fps = 0

[[cameras]]
name = "hall"
uri = "{face_video}"
rules = ["visitor"]
masks = {WHOLE_FRAME}
detect_fps = 0

[[cameras]]
name = "lobby"
uri = "{face_video}"
rules = ["fear"]
thresholds = {{fear = 0.0}}
detect_fps = 5
""")
    result = run_cli("run", "--headless", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    frames = {camera: [line for line in lines if line.get("camera") == camera] for camera in ("porch", "hall", "lobby")}
    assert all("camera" in line for line in lines if "frame" in line)
    assert [line["frame"] for line in frames["porch"]] == list(range(78))  # a file: every frame, in order
    assert [line["frame"] for line in frames["hall"]] == list(range(78))
    assert 13 <= len(frames["lobby"]) <= 17  # 5 of the clip's 25 frames per second of its 3.1 s
    assert all(line["faces"] for line in frames["porch"][3:]) and not any(line["faces"] for line in frames["hall"])
    alerts = [line["alert"] for line in lines if "alert" in line]
    assert {(alert["camera"], alert["rule"]) for alert in alerts} == {("porch", "visitor"), ("lobby", "fear")}
    summaries = {line["summary"]["camera"]: line["summary"] for line in lines if "summary" in line}
    assert (summaries["porch"]["alerts"], summaries["hall"]["alerts"], summaries["lobby"]["alerts"]) == (1, 0, 1)
    assert summaries["lobby"]["frames_processed"] == len(frames["lobby"]) and summaries["lobby"]["skipped_by_cap"] > 0
    assert sorted(line["status"]["camera"] for line in lines if "status" in line) == ["hall", "lobby", "porch"]
    records = audit_records(tmp_path / "alerts")
    assert {r["data"]["camera"] for r in records if r["type"] in ("start", "stop")} == {"porch", "hall", "lobby"}
    assert {(r["data"]["camera"], r["data"]["rules"][0]) for r in records if r["type"] == "start"} == {
        ("porch", "visitor"), ("hall", "visitor"), ("lobby", "fear")}
    snapshots = {r["data"]["camera"]: r["data"]["snapshot"] for r in records if r["type"] == "update"}
    assert set(snapshots) == {"porch", "lobby"}
    assert all(Path(path).name.startswith(f"emotui-{camera}-") for camera, path in snapshots.items())
    assert verify(chain_files(tmp_path / "alerts" / "alerts.jsonl")).ok


def test_plain_lines_start_with_the_camera(tmp_path, face_video):
    config = tmp_path / "emotui.toml"
    config.write_text(f'[alerts]\ndir = "{tmp_path}"\n[[cameras]]\nname = "porch"\nuri = "{face_video}"\n')
    result = run_cli("run", "--headless", "--frames", "2", "--config", str(config))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("porch frame 0 t=0.00s: #1 ") and lines[2] == "summary of porch:"


def _clip(path: Path, frames: int, fps: float) -> Path:
    """A small clip of a face (a frame of the face video) at `fps`, written for the test."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (160, 160))
    face = np.full((160, 160, 3), 128, np.uint8)
    for index in range(frames):
        writer.write(np.roll(face, index % 8, axis=1))
    writer.release()
    return path


@pytest.mark.parametrize("workers", [1, 2])
def test_a_camera_fed_at_60_fps_does_not_starve_another(tmp_path, workers):
    """Both are files read as fast as they decode, so each always has a frame waiting: a scheduler
    that favoured the first camera would analyse all 600 of its frames before the other's first."""
    config = load_config(None)
    config.models.threads = 1
    busy = _clip(tmp_path / "busy.mp4", 600, 60.0)
    calm = _clip(tmp_path / "calm.mp4", 30, 10.0)
    (setup,) = camera_setups(config, str(busy))
    setups = [setup, *camera_setups(config, str(calm))]
    setups[0].name, setups[1].name = "busy", "calm"
    cameras = open_cameras(setups, lambda text: None, workers=workers)
    seen = {"busy": 0, "calm": 0}
    busy_when_calm_ended = None
    for result in cameras.results():
        seen[result.camera] += 1
        if result.camera == "calm" and seen["calm"] == 30:
            busy_when_calm_ended = seen["busy"]
    assert seen == {"busy": 600, "calm": 30}
    assert busy_when_calm_ended <= 3 * 30, busy_when_calm_ended  # taken in turn (exactly: about 30)


def test_a_paused_camera_is_read_but_not_analysed(tmp_path):
    config = load_config(None)
    setups = [*camera_setups(config, str(_clip(tmp_path / "a.mp4", 30, 10.0))),
              *camera_setups(config, str(_clip(tmp_path / "b.mp4", 20, 10.0)))]
    setups[0].name, setups[1].name = "a", "b"
    cameras = open_cameras(setups, lambda text: None)
    cameras["b"].set_paused(True)
    seen = Counter(result.camera for result in cameras.results())
    assert seen == {"a": 30} and cameras["b"].skipped_while_paused == 20 and cameras["b"].latest is None
    assert cameras["a"].latest.index == 29 and cameras["a"].metrics().processed_frames == 30


def test_a_consumer_that_stops_early_leaves_no_analysis_thread_behind(tmp_path):
    """Else a thread could still be inside a model when the process ends (LiteRT then aborts it)."""
    config = load_config(None)
    setups = [*camera_setups(config, str(_clip(tmp_path / "a.mp4", 300, 30.0))),
              *camera_setups(config, str(_clip(tmp_path / "b.mp4", 300, 30.0)))]
    setups[0].name, setups[1].name = "a", "b"
    cameras = open_cameras(setups, lambda text: None, workers=2)
    results = cameras.results()
    for _ in zip(results, range(10)):
        pass
    results.close()  # as `--frames N` or a benchmark's deadline does
    assert [thread.name for thread in threading.enumerate() if thread.name.startswith("emotui-analysis")] == []


def _camera_config(path: Path, video: Path, *names: str, alerts_dir: Path | None = None) -> Path:
    """A config watching `video` (looped, analysed twice a second) as each named camera."""
    folder = f'[alerts]\ndir = "{alerts_dir}"\n' if alerts_dir else ""
    path.write_text(folder + "".join(
        f'[[cameras]]\nname = "{name}"\nuri = "{video}"\nloop = true\ndetect_fps = 2\n' for name in names))
    return path


def test_two_processes_on_one_machine_each_keep_their_alerts_or_are_refused(tmp_path, face_video):
    data = tmp_path / "xdg-data" / "emotui"  # the user data dir (conftest)
    door = _camera_config(tmp_path / "door.toml", face_video, "door")
    garden = _camera_config(tmp_path / "garden.toml", face_video, "garden")
    with HeadlessRun("run", "--headless", "--json", "--realtime", "--config", str(door)) as first, \
            HeadlessRun("run", "--headless", "--json", "--realtime", "--config", str(garden)) as second:
        first.read_until(lambda line: "frame" in line)
        second.read_until(lambda line: "frame" in line)  # both run: each has its own audit log

        watched = run_cli("run", "--headless", "--config",
                          str(_camera_config(tmp_path / "both.toml", face_video, "porch", "door")))
        assert watched.returncode == 2
        assert (f"camera 'door' is already watched by another emotui process (pid {first.process.pid}: "
                f"emotui run --headless --json --realtime --config {door}, cameras door") in watched.stderr
        assert "give this camera another name ([[cameras]] name, or source.name)" in watched.stderr

        shared = run_cli("run", "--headless", "--config", str(
            _camera_config(tmp_path / "shared.toml", face_video, "porch", alerts_dir=data / "alerts" / "door")))
        assert shared.returncode == 2
        assert (f"the alerts folder {data / 'alerts' / 'door'} is in use by another emotui process "
                f"(pid {first.process.pid}: ") in shared.stderr
        assert "give each process its own alerts.dir" in shared.stderr
        for run in (first, second):
            run.process.terminate()
            assert run.finish() == 0
    for camera in ("door", "garden"):
        records = audit_records(data / "alerts" / camera)
        assert [r["type"] for r in records] == ["start", "stop"] and records[0]["data"]["camera"] == camera
        assert run_cli("log", "verify", str(data / "alerts" / camera / "alerts.jsonl")).returncode == 0
    assert not (data / "alerts" / "porch").exists()  # the refused processes wrote nothing


def test_a_single_camera_keeps_its_audit_log_where_it_always_was(tmp_path, face_video):
    result = run_cli("run", "--headless", "--frames", "2", "--source", str(face_video))
    assert result.returncode == 0, result.stderr
    log = tmp_path / "xdg-data" / "emotui" / "alerts" / "alerts.jsonl"
    assert run_cli("log", "verify", str(log)).returncode == 0
