"""Detector calibration: the measurements behind the constants in emotui/vision/blazeface.py
(CALIBRATION, CONFIRM_RAW, REFIND_RAW, BOX_FIT), emotui/vision/detectors.py (FULL_RANGE_MIN_FACE) and
emotui/vision/plausibility.py, and behind the default `detector.min_score`. Prints JSON.

    EMOTUI_MODELS_DIR=.models .venv/bin/python benchmarks/calibrate_detector.py [--media DIR]

Faces (positives): the annotated group photos rescaled from 0.5x to 3x (faces of 18-270 px), every
5th frame of the single-face LivePortrait clips (the largest box), and the JAFFE and Yale
expression photos (grey). Look-alikes (negatives): every candidate of at least a raw 0.3 on every
2nd frame of the no-face videos and in the no-face photos.

- Each model's raw logit gets a Platt scaling fitted with both classes weighted equally (and the
  three face sources equally), so a calibrated score is comparable between models.
- A closer look (the model on a window `CLOSER_ZOOM` times the face around a candidate) is scored
  for every positive and negative; the confirmation level is the raw score that about 1% of the
  negatives reach.
- The smallest face the full range finds: recall of the group faces at 6-64 px in its input.
- Box fit: how much larger and lower the full range frames a face than the short range.
- Plausibility: the share of positives and negatives the keypoint checks keep.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emotui.evaluation import read_boxes  # noqa: E402
from emotui.models import ModelStore, default_models_dir  # noqa: E402
from emotui.vision.blazeface import (  # noqa: E402
    CLOSER_ZOOM, CONFIRM_RAW, FULL_RANGE, SHORT_RANGE, BlazeFaceModel, Calibration,
)
from emotui.vision.detections import iou_matrix  # noqa: E402
from emotui.vision.detectors import SAME_FACE_IOU  # noqa: E402
from emotui.vision.plausibility import plausible  # noqa: E402
from tests.media import find_media  # noqa: E402

RAW = Calibration(1.0, 0.0)  # identity: the model's own probability
SCALES = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
MODELS = {"blazeface": SHORT_RANGE, "blazeface-full": FULL_RANGE}


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def fit_platt(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Weighted logistic regression of y on x (Newton's method)."""
    a, b = 1.0, 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(a * x + b)))
        g = weights * (p - y)
        h = weights * p * (1 - p)
        grad = np.array([(g * x).sum(), g.sum()])
        hess = np.array([[(h * x * x).sum(), (h * x).sum()], [(h * x).sum(), h.sum()]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-9:
            break
    return float(a), float(b)


def every_nth_frame(path: Path, n: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames, index = [], 0
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        if index % n == 0:
            frames.append(frame)
        index += 1


def closer_raw(model: BlazeFaceModel, zoom: float, image: np.ndarray, box: np.ndarray) -> float:
    """The raw score of the face a closer look finds overlapping the box (IoU ≥ SAME_FACE_IOU, as
    emotui's CloserLook takes it), 0 when none."""
    side = float(max(box[2] - box[0], box[3] - box[1]))
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    found = model.run_window(image, cx - side * zoom / 2, cy - side * zoom / 2, side * zoom, floor=0.01)
    overlap = iou_matrix(np.asarray(box, np.float32)[None], found.boxes)[0]
    return float(found.scores[int(np.argmax(overlap))]) if len(found) and overlap.max() >= SAME_FACE_IOU else 0.0


def box_fit(short: BlazeFaceModel, full: BlazeFaceModel, images: list[np.ndarray]) -> dict:
    """How the full range's box of a face compares with the short range's: size ratio and the
    downward shift of its centre in short-range box sides (medians over faces both find)."""
    ratios, shifts = [], []
    for image in images:
        a, b = short.run(image), full.run(image)
        if not len(a) or not len(b):
            continue
        one, two = a.boxes[np.argmax(a.scores)], b.boxes[np.argmax(b.scores)]
        if iou_matrix(one[None], two[None])[0, 0] < 0.3:
            continue
        side = float(max(one[2:] - one[:2]))
        ratios.append(float(max(two[2:] - two[:2])) / side)
        shifts.append(float((two[1] + two[3]) / 2 - (one[1] + one[3]) / 2) / side)
    return {"faces": len(ratios), "full_over_short_size": round(float(np.median(ratios)), 3),
            "full_centre_shift_down": round(float(np.median(shifts)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--media", type=Path, default=find_media())
    args = parser.parse_args()
    media = args.media
    store = ModelStore(default_models_dir())
    models = {name: BlazeFaceModel(store.verified_path(name), layout, RAW, 0.3, 0.3, 0.5) for name, layout in
              MODELS.items()}

    # (source, image, box) of faces, and (image, box) of look-alikes, found per model
    group = read_boxes(media / "photos/group_annotated/boxes.csv")
    group_images = {name: cv2.imread(str(media / "photos/group_annotated" / name)) for name in group}
    single_face_frames = [frame for clip in sorted((media / "videos/faces").glob("liveportrait_*.mp4"))
                          for frame in every_nth_frame(clip, 5)]
    stills = [cv2.imread(str(p)) for label in (media / "expressions").iterdir() if label.is_dir()
              for p in sorted(label.iterdir()) if p.name.startswith(("jaffe_", "yale_"))]
    negative_images = [frame for clip in sorted((media / "videos/nofaces").glob("*.mp4"))
                       for frame in every_nth_frame(clip, 2)]
    negative_images += [cv2.imread(str(p)) for p in sorted((media / "photos/nofaces").glob("*.jpg"))]

    report: dict = {"media": str(media), "positives": {}, "negatives": {}}
    for name, model in models.items():
        zoom = CLOSER_ZOOM[name]
        positives: list[tuple[str, float, float, bool]] = []  # source, raw, closer raw, plausible
        for file, boxes in group.items():
            for scale in SCALES:
                image = cv2.resize(group_images[file], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                found = model.run(image)
                overlap = iou_matrix(boxes * scale, found.boxes)
                for row in range(len(boxes)):
                    if overlap.shape[1] and overlap[row].max() >= 0.3:
                        column = int(np.argmax(overlap[row]))
                        one = found.select(np.arange(len(found)) == column)
                        positives.append(("group", float(one.scores[0]),
                                          closer_raw(model, zoom, image, one.boxes[0]),
                                          bool(plausible(one, image.shape)[0])))
        for source, images in (("single_face_video", single_face_frames), ("jaffe_yale", stills)):
            for image in images:
                found = model.run(image)
                if len(found):
                    largest = int(np.argmax(found.boxes[:, 2] - found.boxes[:, 0]))
                    one = found.select(np.arange(len(found)) == largest)
                    positives.append((source, float(one.scores[0]), closer_raw(model, zoom, image, one.boxes[0]),
                                      bool(plausible(one, image.shape)[0])))
        negatives: list[tuple[float, float, bool]] = []
        for image in negative_images:
            found = model.run(image)
            for index in range(len(found)):
                one = found.select(np.arange(len(found)) == index)
                negatives.append((float(one.scores[0]), closer_raw(model, zoom, image, one.boxes[0]),
                                  bool(plausible(one, image.shape)[0])))

        sources = [p[0] for p in positives]
        counts = {s: sources.count(s) for s in set(sources)}
        x = logit(np.array([p[1] for p in positives] + [n[0] for n in negatives]))
        y = np.array([1.0] * len(positives) + [0.0] * len(negatives))
        weights = np.array([0.5 / len(counts) / counts[s] for s in sources] + [0.5 / len(negatives)] * len(negatives))
        slope, offset = fit_platt(x, y, weights)
        calibration = Calibration(slope, offset)
        positive_scores = calibration(logit(np.array([p[1] for p in positives])))
        negative_scores = calibration(logit(np.array([n[0] for n in negatives])))
        positive_closer = np.array([p[2] for p in positives])
        negative_closer = np.array([n[1] for n in negatives])
        report[name] = {
            "calibration": {"slope": round(slope, 3), "offset": round(offset, 3)},
            "positives": counts,
            "negatives": len(negatives),
            "positive_calibrated_percentiles": dict(zip(("p1", "p5", "p10", "median"),
                                                        np.percentile(positive_scores, [1, 5, 10, 50]).round(3).tolist())),
            "negative_calibrated_percentiles": dict(zip(("median", "p90", "p95", "p99"),
                                                        np.percentile(negative_scores, [50, 90, 95, 99]).round(3).tolist())),
            "share_reaching_min_score": {
                str(t): {"positives": round(float((positive_scores >= t).mean()), 4),
                         "negatives": round(float((negative_scores >= t).mean()), 4)}
                for t in (0.1, 0.2, 0.3, 0.4, 0.5)
            },
            "closer_look": {
                "zoom": zoom,
                "confirm_raw": CONFIRM_RAW[name],
                "positive_min": round(float(positive_closer.min()), 3),
                "positive_p1": round(float(np.percentile(positive_closer, 1)), 3),
                "negatives_reaching": {str(t): round(float((negative_closer >= t).mean()), 4)
                                       for t in (0.1, 0.2, 0.3, 0.5, 0.75, 0.9)},
                "positives_reaching_confirm": round(float((positive_closer >= CONFIRM_RAW[name]).mean()), 4),
                "raw_passing_1pct_of_negatives": round(float(np.percentile(negative_closer, 99)), 3),
            },
            "plausibility": {
                "positives_kept": round(float(np.mean([p[3] for p in positives])), 4),
                "negatives_kept": round(float(np.mean([n[2] for n in negatives])), 4),
            },
        }

    report["box_fit"] = box_fit(models["blazeface"], models["blazeface-full"], stills + single_face_frames[::4])

    # smallest face the full range finds: group faces shown at 6-64 px in its 192 px input
    full = models["blazeface-full"]
    calibration = Calibration(**report["blazeface-full"]["calibration"])
    recall = {}
    faces = [(file, box) for file, boxes in group.items() for box in boxes]
    for pixels in (6, 8, 10, 12, 14, 16, 20, 24, 32, 48):
        hits = 0
        for file, box in faces:
            side = float(box[2] - box[0]) * FULL_RANGE.input_size / pixels
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            found = full.run_window(group_images[file], cx - side * 0.4, cy - side * 0.45, side, floor=0.05)
            if len(found):
                overlap = iou_matrix(box[None], found.boxes)[0]
                hits += bool((overlap >= 0.3).any() and
                             calibration(logit(found.scores[overlap >= 0.3])).max() >= 0.3)
        recall[str(pixels)] = f"{hits}/{len(faces)}"
    report["full_range_recall_by_face_px_in_input"] = recall
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
