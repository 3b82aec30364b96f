"""Several cameras in one process: can the analysis pool keep every camera at its `detect_fps`?
Prints JSON.

    EMOTUI_MODELS_DIR=.models .venv/bin/python benchmarks/cameras.py [--cameras 4] [--detect-fps 10]
        [--seconds 30] [--threads 0] [--workers 0] [--find-max]

Each camera plays a 640x480 copy (made by OpenCV's FFmpeg in a temporary folder) of one of the face videos
of the research media, looped, in real time at 15 fps, through the default detector and emotion
model, capped at `--detect-fps`. After a warm-up of 5 s, per camera over `--seconds`: the analysed
frames per second, that as a share of the cap, the p95 of the analysis time of a frame (detect,
classify, track) and of its latency (from the frame's hand-over by the capture thread to its
result), and the frames the cap skipped; for the process, the peak and current RSS and the load
average. `--find-max` raises the number of cameras at 5 fps each from 1 while every camera keeps
at least 90% of its cap, each number in a process of its own, and reports the largest that does.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emotui.cameras import camera_setups, open_cameras  # noqa: E402
from emotui.config import CameraConfig, Config  # noqa: E402
from emotui.pipeline import summarise  # noqa: E402
from tests.media import find_media  # noqa: E402

PLAY_FPS = 15
SIZE = (640, 480)
WARM_UP_S = 5.0
MIN_SHARE_OF_CAP = 0.9
FIND_MAX_FPS = 5.0


def make_clips(media: Path, folder: Path) -> list[Path]:
    """640x480, 15 fps copies of the face videos, encoded by OpenCV's FFmpeg (no ffmpeg program needed)."""
    clips = []
    for source in sorted((media / "videos" / "faces").glob("*.mp4")):
        reader = cv2.VideoCapture(str(source))
        step = (reader.get(cv2.CAP_PROP_FPS) or PLAY_FPS) / PLAY_FPS  # source frames per copied frame
        target = folder / f"{source.stem}_640x480.mp4"
        writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), PLAY_FPS, SIZE)
        index, next_kept = 0, 0.0
        while (frame := reader.read()[1]) is not None:
            if index >= next_kept:
                writer.write(cv2.resize(frame, SIZE, interpolation=cv2.INTER_AREA))
                next_kept += step
            index += 1
        reader.release()
        writer.release()
        clips.append(target)
    return clips


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def run(clips: list[Path], cameras: int, detect_fps: float, seconds: float, threads: int, workers: int) -> dict:
    config = Config()
    config.models.threads = threads
    config.cameras = [CameraConfig(name=f"cam{n}", uri=str(clips[n % len(clips)]), loop=True, detect_fps=detect_fps)
                      for n in range(cameras)]
    camera_set = open_cameras(camera_setups(config), lambda text: print(text, file=sys.stderr), realtime=True,
                              workers=workers or None)
    frames: dict[str, int] = defaultdict(int)
    analysis_ms: dict[str, list[float]] = defaultdict(list)
    latency_ms: dict[str, list[float]] = defaultdict(list)
    started = time.perf_counter()
    measured_from = started + WARM_UP_S
    skipped_before = {}
    for result in camera_set.results():
        now = time.perf_counter()
        if now < measured_from:
            continue
        if not skipped_before:
            skipped_before = {camera.name: camera.skipped_by_cap for camera in camera_set}
        if now >= measured_from + seconds:
            break
        frames[result.camera] += 1
        analysis_ms[result.camera].append(sum(ms for stage, ms in result.stage_ms.items() if stage != "decode"))
        latency_ms[result.camera].append(result.latency_ms)
    camera_set.stop()
    per_camera = {
        camera.name: {
            "clip": Path(camera.source.target).name,
            "analysed_fps": round(frames[camera.name] / seconds, 2),
            "share_of_cap": round(frames[camera.name] / seconds / detect_fps, 3),
            "analysis_ms": summarise(analysis_ms[camera.name]),
            "latency_ms": summarise(latency_ms[camera.name]),
            "skipped_by_cap": camera.skipped_by_cap - skipped_before.get(camera.name, 0),
        }
        for camera in camera_set
    }
    return {
        "cameras": cameras, "detect_fps": detect_fps, "seconds": seconds, "workers": camera_set.workers,
        "model_threads": threads or "auto", "per_camera": per_camera,
        "min_share_of_cap": min(c["share_of_cap"] for c in per_camera.values()),
        "max_latency_p95_ms": max(c["latency_ms"]["p95"] for c in per_camera.values()),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_mb": current_rss_mb(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--detect-fps", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=0, help="models.threads (0: automatic)")
    parser.add_argument("--workers", type=int, default=0, help="analysis threads (0: one per core)")
    parser.add_argument("--find-max", action="store_true", help="the most cameras at 5 fps each")
    parser.add_argument("--media", type=Path, default=find_media())
    args = parser.parse_args()
    if args.find_max:
        print(json.dumps(find_max(args), indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="emotui-cameras-") as folder:
        clips = make_clips(args.media, Path(folder))
        print(json.dumps(run(clips, args.cameras, args.detect_fps, args.seconds, args.threads, args.workers),
                         indent=2))


def find_max(args: argparse.Namespace) -> dict:
    """One process per trial (so that each trial's RSS is its own), from 1 camera up."""
    trials = []
    for cameras in range(1, 64):
        command = [sys.executable, __file__, "--cameras", str(cameras), "--detect-fps", str(FIND_MAX_FPS),
                   "--seconds", str(args.seconds), "--threads", str(args.threads), "--workers", str(args.workers),
                   "--media", str(args.media)]
        trial = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        trials.append({key: trial[key] for key in ("cameras", "min_share_of_cap", "max_latency_p95_ms",
                                                   "peak_rss_mb", "load_average")})
        print(json.dumps(trials[-1]), file=sys.stderr)
        if trial["min_share_of_cap"] < MIN_SHARE_OF_CAP:
            break
    passing = [trial["cameras"] for trial in trials if trial["min_share_of_cap"] >= MIN_SHARE_OF_CAP]
    return {"max_cameras_at_5_fps": max(passing, default=0), "trials": trials}


if __name__ == "__main__":
    main()
