"""`emotui eval`: how well emotui does on labelled media, with the configuration in use.

- expressions: emotion accuracy on DIR/<label>/* images, per source (file-name prefix) and class;
- faces: detector recall and false positives on photos against DIR/boxes.csv;
- videos: the share of frames in which a face is reported, tracks started, label flicker and
  speed, running the whole analysis on every frame as on a camera;
- media: all of these on a folder laid out like the research media (each part optional).
"""

from __future__ import annotations

import csv
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from emotui.capture import IMAGE_SUFFIXES, Frame, read_image
from emotui.models import Progress
from emotui.vision import EMOTIONS
from emotui.vision.detections import iou_matrix

FACE_CROP_MAX_PX = 64  # images no larger than this on either side are taken as face crops
PROGRESS_EVERY = 200
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}

# The parts of a media folder (`emotui eval media`), relative to it.
EXPRESSIONS_DIR = "expressions"
GROUP_PHOTOS_DIR = "photos/group_annotated"
FACE_VIDEOS_DIR = "videos/faces"
NO_FACE_VIDEOS_DIR = "videos/nofaces"


class EvaluationError(Exception):
    """The evaluation folder is not laid out as expected."""


def _ratio(part: float, total: float) -> float | None:
    return round(part / total, 4) if total else None


def evaluate_expressions(root: Path, analyzer, progress: Progress) -> dict:
    """Accuracy over ROOT/<label>/*; a face not found counts as a wrong answer and is tallied.
    Images of at most FACE_CROP_MAX_PX are face crops; in larger ones the largest face the
    analyzer finds is classified."""
    images = [
        (label, path)
        for label in EMOTIONS
        if (root / label).is_dir()
        for path in sorted((root / label).iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not images:
        raise EvaluationError(f"{root} has no images in folders named after the classes ({', '.join(EMOTIONS)})")
    unknown = [p.name for p in root.iterdir() if p.is_dir() and p.name not in EMOTIONS]
    if unknown:
        progress(f"ignoring folders that are not emotion classes: {', '.join(sorted(unknown))}")
    confusion = np.zeros((len(EMOTIONS), len(EMOTIONS)), int)
    totals: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    by_source: dict[str, Counter[str]] = defaultdict(Counter)
    unreadable: list[str] = []
    for number, (label, path) in enumerate(images, start=1):
        source = path.name.split("_", 1)[0] if "_" in path.name else "(none)"
        image = read_image(path)
        if image is None:
            unreadable.append(str(path))
            continue
        by_source[source]["total"] += 1
        totals[label] += 1
        probabilities = analyzer.classify_largest_face(image, is_crop=max(image.shape[:2]) <= FACE_CROP_MAX_PX)
        if probabilities is None:
            by_source[source]["not_found"] += 1
            continue
        predicted = int(np.argmax(probabilities))
        truth = EMOTIONS.index(label)
        confusion[truth, predicted] += 1
        if predicted == truth:
            correct[label] += 1
            by_source[source]["correct"] += 1
        if number % PROGRESS_EVERY == 0:
            progress(f"evaluated {number}/{len(images)} images")
    total = sum(totals.values())
    return {
        "images": total,
        "accuracy": _ratio(sum(correct.values()), total),
        "faces_not_found": sum(s["not_found"] for s in by_source.values()),
        "unreadable": unreadable,
        "per_class": {e: _ratio(correct[e], totals[e]) for e in EMOTIONS if totals[e]},
        "per_source": {
            name: {"images": s["total"], "accuracy": _ratio(s["correct"], s["total"]),
                   "faces_not_found": s["not_found"]}
            for name, s in sorted(by_source.items())
        },
        "labels": list(EMOTIONS),
        "confusion": confusion.tolist(),  # rows: true class, columns: predicted
    }


def read_boxes(csv_path: Path) -> dict[str, np.ndarray]:
    """boxes.csv (file,x,y,w,h) → {file: (N, 4) xyxy}."""
    boxes: dict[str, list[list[float]]] = defaultdict(list)
    with open(csv_path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"file", "x", "y", "w", "h"} - set(reader.fieldnames or [])
        if missing:
            raise EvaluationError(f"{csv_path} lacks the columns {', '.join(sorted(missing))} (needs file,x,y,w,h)")
        for line, row in enumerate(reader, start=2):
            try:
                x, y, w, h = (float(row[k]) for k in "xywh")
            except (TypeError, ValueError):
                raise EvaluationError(f"{csv_path}:{line}: x, y, w and h must be numbers") from None
            boxes[row["file"]].append([x, y, x + w, y + h])
    return {name: np.asarray(b, np.float32) for name, b in boxes.items()}


def evaluate_faces(root: Path, analyzer, iou_threshold: float, progress: Progress) -> dict:
    """Recall and false positives of the faces the analyzer reports in each photo (as a still
    image) against ROOT/boxes.csv, one-to-one at IoU ≥ threshold."""
    csv_path = root / "boxes.csv"
    if not csv_path.is_file():
        raise EvaluationError(f"{root} has no boxes.csv (file,x,y,w,h)")
    truth = read_boxes(csv_path)
    found_total = false_positives = boxes_total = 0
    per_file = {}
    for name, expected in sorted(truth.items()):
        image = read_image(root / name)
        if image is None:
            raise EvaluationError(f"{root / name} (listed in boxes.csv) is missing or not an image")
        detections = analyzer.faces_in_photo(image)
        overlap = iou_matrix(expected, detections.boxes)
        matched = 0
        while overlap.size and overlap.max() >= iou_threshold:
            row, column = np.unravel_index(np.argmax(overlap), overlap.shape)
            overlap[row, :] = -1
            overlap[:, column] = -1
            matched += 1
        per_file[name] = {"faces": len(expected), "found": matched, "false_positives": len(detections) - matched}
        found_total += matched
        false_positives += len(detections) - matched
        boxes_total += len(expected)
        progress(f"{name}: {matched}/{len(expected)} faces found, {len(detections) - matched} false positives")
    return {
        "detector": analyzer.detector.name,
        "iou_threshold": iou_threshold,
        "images": len(truth),
        "faces": boxes_total,
        "found": found_total,
        "recall": _ratio(found_total, boxes_total),
        "false_positives": false_positives,
        "false_positives_per_image": _ratio(false_positives, len(truth)),
        "per_file": per_file,
    }


def video_files(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def evaluate_video(path: Path, analyzer, every: int = 1) -> dict:
    """Run the analysis on every `every`-th frame of a video, in order, as on a camera, and count
    the frames in which a face is reported, the tracks started, and the changes of each face's
    dominant emotion (flicker)."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise EvaluationError(f"cannot decode {path} as video")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    frames = with_face = face_frames = flips = index = 0
    labels: dict[int, str] = {}
    tracks: set[int] = set()
    busy = 0.0
    try:
        while True:
            decode_started = time.perf_counter()
            ok, image = capture.read()
            if not ok:
                break
            if index % every == 0:
                started = time.perf_counter()
                result = analyzer.process(Frame(index, index / fps, started, (started - decode_started) * 1000, image))
                busy += time.perf_counter() - decode_started
                frames += 1
                with_face += bool(result.faces)
                face_frames += len(result.faces)
                for face in result.faces:
                    tracks.add(face.track_id)
                    flips += face.track_id in labels and labels[face.track_id] != face.dominant
                    labels[face.track_id] = face.dominant
            index += 1
    finally:
        capture.release()
    minutes = frames * every / fps / 60
    face_minutes = face_frames * every / fps / 60
    return {
        "frames": frames,
        "frames_with_face": with_face,
        "share_with_face": _ratio(with_face, frames),
        "tracks": len(tracks),
        "mean_faces": round(face_frames / frames, 3) if frames else 0.0,
        "tracks_per_minute": round(len(tracks) / minutes, 2) if minutes else None,
        "tracks_per_face_minute": round(len(tracks) / face_minutes, 2) if face_minutes else None,
        "label_changes": int(flips),
        "label_changes_per_face_minute": round(flips / face_minutes, 2) if face_minutes else None,
        "processed_fps": round(frames / busy, 1) if busy else None,
    }


def evaluate_videos(root: Path, new_analyzer: Callable[[], object], every: int, progress: Progress) -> dict:
    """evaluate_video on each video in ROOT (a fresh analyzer each), with totals."""
    videos = video_files(root)
    if not videos:
        raise EvaluationError(f"{root} holds no video files ({', '.join(sorted(VIDEO_SUFFIXES))})")
    per_video = {}
    for path in videos:
        per_video[path.name] = report = evaluate_video(path, new_analyzer(), every)
        progress(f"{path.name}: a face in {report['frames_with_face']} of {report['frames']} frames, "
                 f"{report['tracks']} tracks, {report['label_changes']} label changes")
    frames = sum(v["frames"] for v in per_video.values())
    with_face = sum(v["frames_with_face"] for v in per_video.values())
    return {
        "every": every,
        "videos": len(videos),
        "frames": frames,
        "frames_with_face": with_face,
        "share_with_face": _ratio(with_face, frames),
        "tracks": sum(v["tracks"] for v in per_video.values()),
        "label_changes": sum(v["label_changes"] for v in per_video.values()),
        "per_video": per_video,
    }


def evaluate_media(root: Path, new_analyzer: Callable[[], object], iou_threshold: float, every: int,
                   progress: Progress) -> dict:
    """The scorecard of a folder laid out like the research media; parts that are missing are
    reported as null. Raises EvaluationError when none is there."""
    parts = {
        "expressions": root / EXPRESSIONS_DIR,
        "group_photos": root / GROUP_PHOTOS_DIR,
        "face_videos": root / FACE_VIDEOS_DIR,
        "no_face_videos": root / NO_FACE_VIDEOS_DIR,
    }
    present = {name: path for name, path in parts.items()
               if (path / "boxes.csv").is_file() or (name != "group_photos" and path.is_dir())}
    if not present:
        raise EvaluationError(
            f"{root} has none of {EXPRESSIONS_DIR}/<label>/, {GROUP_PHOTOS_DIR}/boxes.csv, {FACE_VIDEOS_DIR}/, "
            f"{NO_FACE_VIDEOS_DIR}/")
    report: dict = {name: None for name in parts}
    started = time.perf_counter()
    analyzer = new_analyzer()
    report["detector"], report["emotion_model"] = analyzer.detector.name, analyzer.classifier.name
    for name, path in present.items():
        progress(f"{name}: {path}")
        if name == "expressions":
            report[name] = evaluate_expressions(path, analyzer, progress)
        elif name == "group_photos":
            report[name] = evaluate_faces(path, analyzer, iou_threshold, progress)
        else:
            report[name] = evaluate_videos(path, new_analyzer, every, progress)
    video_reports = [report[n] for n in ("face_videos", "no_face_videos") if report[n]]
    frames = sum(r["frames"] for r in video_reports)
    fps = [v["processed_fps"] for r in video_reports for v in r["per_video"].values() if v["processed_fps"]]
    report["video_processed_fps"] = round(float(np.median(fps)), 1) if fps else None
    report["video_frames"] = frames
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    return report


def render_media(report: dict) -> str:
    """The scorecard as one plain-text table per part."""
    lines = [f"emotui scorecard: {report['detector']} + {report['emotion_model']}"]
    expressions = report["expressions"]
    if expressions:
        lines += ["", f"emotion accuracy: {_pct(expressions['accuracy'])} of {expressions['images']} images "
                  f"(faces not found: {expressions['faces_not_found']})"]
        lines += [f"  {name:<12} {_pct(s['accuracy']):>7} of {s['images']}" for name, s in expressions["per_source"].items()]
        lines += ["  per class: " + ", ".join(f"{label} {_pct(a)}" for label, a in expressions["per_class"].items())]
    photos = report["group_photos"]
    if photos:
        lines += ["", f"group photos: recall {_pct(photos['recall'])} ({photos['found']}/{photos['faces']} faces), "
                  f"{photos['false_positives']} false positives in {photos['images']} images"]
        lines += [f"  {name:<28} {f['found']}/{f['faces']} found, {f['false_positives']} false"
                  for name, f in photos["per_file"].items()]
    for name, title in (("face_videos", "face videos: a face in"), ("no_face_videos", "no-face videos: a face in")):
        videos = report[name]
        if not videos:
            continue
        lines += ["", f"{title} {_pct(videos['share_with_face'])} of {videos['frames']} frames"]
        lines.append(f"  {'video':<42} {'face':>7} {'tracks':>6} {'tr/face-min':>11} {'flips/face-min':>14} {'fps':>6}")
        for video, v in videos["per_video"].items():
            lines.append(f"  {video[:42]:<42} {_pct(v['share_with_face']):>7} {v['tracks']:>6} "
                         f"{_num(v['tracks_per_face_minute']):>11} {_num(v['label_changes_per_face_minute']):>14} "
                         f"{_num(v['processed_fps']):>6}")
    if report["video_processed_fps"]:
        lines += ["", f"processed fps (median over videos): {report['video_processed_fps']}"]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
