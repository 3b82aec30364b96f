"""`emotui eval`: emotion accuracy on labelled images, detector recall on annotated photos."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np

from emotui.capture import IMAGE_SUFFIXES, read_image
from emotui.models import Progress
from emotui.vision import EMOTIONS
from emotui.vision.detections import iou_matrix
from emotui.vision.detectors import FaceDetector
from emotui.vision.emotions import EmotionClassifier, crop_faces

FACE_CROP_MAX_PX = 64  # images no larger than this on either side are taken as face crops
PROGRESS_EVERY = 200


class EvaluationError(Exception):
    """The evaluation folder is not laid out as expected."""


def _accuracy(correct: int, total: int) -> float | None:
    return round(correct / total, 4) if total else None


def evaluate_expressions(root: Path, detector: FaceDetector, classifier: EmotionClassifier,
                         padding: float, min_face_px: int, progress: Progress) -> dict:
    """Accuracy over ROOT/<label>/*; a face not found counts as a wrong answer and is tallied."""
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
        height, width = image.shape[:2]
        if max(height, width) <= FACE_CROP_MAX_PX:
            crops = [image]
        else:
            faces = detector.detect(image).at_least(min_face_px)
            if len(faces) == 0:
                by_source[source]["not_found"] += 1
                continue
            areas = np.prod(faces.boxes[:, 2:] - faces.boxes[:, :2], axis=1)
            crops = crop_faces(image, faces.boxes[[int(np.argmax(areas))]], padding)
        predicted = int(np.argmax(classifier.classify(crops)[0]))
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
        "accuracy": _accuracy(sum(correct.values()), total),
        "faces_not_found": sum(s["not_found"] for s in by_source.values()),
        "unreadable": unreadable,
        "per_class": {e: _accuracy(correct[e], totals[e]) for e in EMOTIONS if totals[e]},
        "per_source": {
            name: {"images": s["total"], "accuracy": _accuracy(s["correct"], s["total"]),
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


def evaluate_faces(root: Path, detector: FaceDetector, min_face_px: int, iou_threshold: float,
                   progress: Progress) -> dict:
    """Recall and false positives of the detector against ROOT/boxes.csv, one-to-one at IoU ≥ threshold."""
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
        detections = detector.detect(image).at_least(min_face_px)
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
        "detector": detector.name,
        "iou_threshold": iou_threshold,
        "faces": boxes_total,
        "found": found_total,
        "recall": _accuracy(found_total, boxes_total),
        "false_positives": false_positives,
        "per_file": per_file,
    }


def evaluate_false_alarms(root: Path, detector: FaceDetector, min_face_px: int, every: int,
                          progress: Progress) -> dict:
    """Share of sampled frames (every Nth) of the videos in ROOT in which the detector reports a face."""
    videos = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() not in IMAGE_SUFFIXES)
    if not videos:
        raise EvaluationError(f"{root} holds no video files")
    per_video = {}
    for path in videos:
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            raise EvaluationError(f"cannot decode {path} as video")
        sampled = with_face = index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                sampled += 1
                with_face += len(detector.detect(frame).at_least(min_face_px)) > 0
            index += 1
        capture.release()
        per_video[path.name] = {"sampled_frames": sampled, "frames_with_face": with_face}
        progress(f"{path.name}: a face in {with_face} of {sampled} sampled frames")
    sampled = sum(v["sampled_frames"] for v in per_video.values())
    flagged = sum(v["frames_with_face"] for v in per_video.values())
    return {
        "detector": detector.name,
        "every": every,
        "sampled_frames": sampled,
        "frames_with_face": flagged,
        "rate": _accuracy(flagged, sampled),
        "per_video": per_video,
    }
