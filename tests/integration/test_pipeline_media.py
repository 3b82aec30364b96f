"""Integration: the real models on the real media in ../shared/media."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotui.capture import read_image
from emotui.config import Config
from emotui.evaluation import evaluate_video, read_boxes
from emotui.pipeline import create_analyzer, create_pipeline
from emotui.vision import EMOTIONS
from emotui.vision.detections import box_sides, iou_matrix


@pytest.fixture(scope="module")
def analyzer(model_store):
    return create_analyzer(Config(), lambda message: None)


@pytest.mark.parametrize("name", ["yale_subject08_happy.png", "jaffe_NA.HA2.203.png"])
def test_a_known_happy_face_is_detected_once_and_classified_happy(media_dir, analyzer, name):
    image = read_image(media_dir / "expressions" / "happy" / name)
    faces = analyzer.faces_in_photo(image)
    assert len(faces) == 1
    probabilities = analyzer.classify(image, faces)
    assert probabilities.shape == (1, 7) and probabilities.sum() == pytest.approx(1, abs=1e-4)
    assert EMOTIONS[int(np.argmax(probabilities[0]))] == "happy"
    assert EMOTIONS[int(np.argmax(analyzer.classify_largest_face(image)))] == "happy"


def test_face_crops_are_classified_in_one_batch_matching_single_calls(media_dir, analyzer):
    paths = sorted((media_dir / "expressions" / "surprise").glob("ckplus48_*"))[:5]
    crops = [read_image(p) for p in paths]
    batch = analyzer.classifier.classify(crops)
    singles = np.concatenate([analyzer.classifier.classify([c]) for c in crops])
    assert batch.shape == (5, 7)
    assert np.allclose(batch, singles, atol=1e-5)


def test_no_face_video_yields_no_faces(media_dir, model_store):
    pipeline = create_pipeline(Config(), str(media_dir / "videos" / "nofaces" / "iacv_highway_foreste.mp4"), print)
    results = list(pipeline.results())
    assert len(results) == 375
    assert all(not r.faces for r in results)


def test_face_video_yields_one_stable_track(media_dir, model_store):
    pipeline = create_pipeline(Config(), str(media_dir / "videos" / "faces" / "liveportrait_d12.mp4"), print)
    results = list(pipeline.results())
    ids = {face.track_id for r in results for face in r.faces}
    assert len(results) == 183
    assert sum(len(r.faces) == 1 for r in results) >= 0.95 * len(results)
    assert ids == {1}
    last = results[-1].faces[0]
    assert last.dwell_s == pytest.approx(results[-1].time - results[0].time, abs=0.05)
    metrics = pipeline.metrics()
    assert metrics.processed_frames == 183 and metrics.dropped_frames == 0


def test_multi_face_video_keeps_ids_stable_frame_to_frame(media_dir, model_store):
    pipeline = create_pipeline(Config(), str(media_dir / "videos" / "faces" / "face_recognition_short_hamilton_clip.mp4"), print)
    previous: dict[int, np.ndarray] = {}
    continued = switched = 0
    for result in pipeline.results():
        for face in result.faces:
            if face.track_id in previous:
                continued += 1
            # a face in the same place as another track's last box would mean ids swapped
            for other, box in previous.items():
                overlap = _iou(face.box, box)
                if other != face.track_id and overlap > 0.5:
                    switched += 1
        previous.update({f.track_id: f.box for f in result.faces})
        for ended in result.ended_tracks:
            previous.pop(ended)
    assert continued > 200 and switched == 0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None))
    union = np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter
    return float(inter / union)


GROUP = ("photos", "group_annotated")


def _recall(found, truth) -> int:
    overlap = iou_matrix(truth, found.boxes)
    return int((overlap.max(axis=1, initial=0) >= 0.3).sum()) if overlap.size else 0


def test_the_default_finds_the_small_faces_of_a_group_photo_and_nothing_else(media_dir, analyzer):
    truth = read_boxes(media_dir.joinpath(*GROUP, "boxes.csv"))["2007_007763.jpg"]  # 7 faces of 37-45 px
    image = read_image(media_dir.joinpath(*GROUP, "2007_007763.jpg"))
    found = analyzer.faces_in_photo(image)
    assert _recall(found, truth) == 7 and len(found) == 7
    config = Config()
    config.detector.name = "blazeface"  # the short range alone, the fast option, sees few of them
    assert _recall(create_analyzer(config, print).faces_in_photo(image), truth) < 4


def test_the_default_finds_a_face_filling_the_frame_that_the_full_range_alone_misses(media_dir, analyzer):
    capture = cv2.VideoCapture(str(media_dir / "videos" / "faces" / "liveportrait_d18.mp4"))
    config = Config()
    config.detector.name = "blazeface-full"
    full_only = create_analyzer(config, print)
    found = full_found = frames = 0
    while frames < 60:
        ok, frame = capture.read()
        if not ok:
            break
        height, width = frame.shape[:2]
        close_up = frame[int(height * 0.18):int(height * 0.78), int(width * 0.22):int(width * 0.78)]
        faces = analyzer.faces_in_photo(close_up)
        found += len(faces) == 1 and box_sides(faces.boxes)[0] > 0.8 * min(close_up.shape[:2])
        full_found += len(full_only.faces_in_photo(close_up)) > 0
        frames += 1
    assert frames == 60 and found == 60 and full_found < 30


def test_a_mask_hides_the_faces_centred_in_it_and_only_those(media_dir):
    truth = read_boxes(media_dir.joinpath(*GROUP, "boxes.csv"))["2007_007763.jpg"]
    image = read_image(media_dir.joinpath(*GROUP, "2007_007763.jpg"))
    config = Config()
    config.detector.masks = [[[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]]  # the left half
    found = create_analyzer(config, print).faces_in_photo(image)
    centres = (truth[:, 0] + truth[:, 2]) / 2
    left = centres < image.shape[1] / 2
    assert 0 < left.sum() < len(truth)
    assert len(found) == (~left).sum() and _recall(found, truth[~left]) == (~left).sum()
    assert ((found.boxes[:, 0] + found.boxes[:, 2]) / 2 >= image.shape[1] / 2).all()


@pytest.mark.parametrize("clip", ["diego_chickens.mp4", "iacv_highway_foreste.mp4"])
def test_a_no_face_clip_yields_no_track(media_dir, analyzer, clip):
    report = evaluate_video(media_dir / "videos" / "nofaces" / clip, analyzer.restarted())
    assert report["frames"] > 300 and report["tracks"] == 0 and report["frames_with_face"] == 0
