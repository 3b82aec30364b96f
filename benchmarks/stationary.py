"""Stationary faces: would a person sitting still be marked stationary (and, with
`tracker.ignore_stationary`, lost)? Prints JSON.

    EMOTUI_MODELS_DIR=.models .venv/bin/python benchmarks/stationary.py [--minutes 3] [--stationary-s 60]

Each face video is played on a loop (its own frame rate, as a camera would) for `--minutes` of
source time through the default analysis, with `tracker.stationary_s` set to `--stationary-s`
(shorter than the default 120 s, so the clips can reach it). For each video: the frames with a
face, how many of those faces were marked stationary, the longest time a track stayed within the
stationary bounds, and the median detector score of its faces (a face is only stationary when
that median is below `tracker.stationary_score`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emotui.capture import Frame  # noqa: E402
from emotui.config import Config  # noqa: E402
from emotui.pipeline import create_analyzer  # noqa: E402
from emotui.vision.tracker import STATIONARY_MOVE, STATIONARY_SIZE  # noqa: E402
from tests.media import find_media  # noqa: E402


def longest_still_span(boxes: list[tuple[float, np.ndarray]]) -> float:
    """The longest stretch (seconds) during which the box centre stayed within
    2 * STATIONARY_MOVE of the box size and the size within STATIONARY_SIZE."""
    best = 0.0
    start = 0
    for end in range(len(boxes)):
        while True:
            window = np.array([b for _, b in boxes[start:end + 1]])
            centres = (window[:, :2] + window[:, 2:]) / 2
            sides = (window[:, 2:] - window[:, :2]).max(axis=1)
            size = float(np.median(sides))
            spread = float((centres.max(axis=0) - centres.min(axis=0)).max())
            if spread <= 2 * STATIONARY_MOVE * size and np.abs(sides / size - 1).max() <= STATIONARY_SIZE:
                break
            start += 1
        best = max(best, boxes[end][0] - boxes[start][0])
    return round(best, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--stationary-s", type=float, default=60.0)
    parser.add_argument("--media", type=Path, default=find_media())
    args = parser.parse_args()
    config = Config()
    config.tracker.stationary_s = args.stationary_s
    base = create_analyzer(config, lambda message: None)
    report = {"stationary_s": args.stationary_s, "stationary_score": config.tracker.stationary_score,
              "minutes": args.minutes, "videos": {}}
    for path in sorted((args.media / "videos" / "faces").glob("*.mp4")):
        capture = cv2.VideoCapture(str(path))
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        frames = []
        while True:
            ok, image = capture.read()
            if not ok:
                break
            frames.append(image)
        analyzer = base.restarted()
        total = int(args.minutes * 60 * fps)
        with_face = stationary = 0
        tracks: dict[int, list[tuple[float, np.ndarray]]] = defaultdict(list)
        scores: dict[int, list[float]] = defaultdict(list)
        for index in range(total):
            # a loop that plays forwards then backwards, so the picture never jumps at the seam
            cycle = index % (2 * len(frames) - 2)
            image = frames[cycle if cycle < len(frames) else 2 * len(frames) - 2 - cycle]
            result = analyzer.process(Frame(index, index / fps, time.perf_counter(), 0.0, image))
            with_face += bool(result.faces)
            for face in result.faces:
                stationary += face.stationary
                if len(tracks[face.track_id]) < 20000:
                    tracks[face.track_id].append((result.time, face.box.copy()))
                    scores[face.track_id].append(face.score)
        longest = max(tracks, key=lambda t: len(tracks[t])) if tracks else None
        report["videos"][path.name] = {
            "frames": total,
            "frames_with_face": with_face,
            "faces_marked_stationary": stationary,
            "tracks": len(tracks),
            "longest_track_s": round(len(tracks[longest]) / fps, 1) if longest else 0.0,
            "longest_still_span_s": longest_still_span(tracks[longest][::max(1, int(fps // 5))]) if longest else 0.0,
            "median_score": round(float(np.median(scores[longest])), 3) if longest else None,
        }
        print(f"{path.name}: {report['videos'][path.name]}", file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
