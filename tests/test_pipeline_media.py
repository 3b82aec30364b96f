"""Integration: the real models on the real media in ../shared/media."""

from __future__ import annotations

import numpy as np
import pytest

from emotui.capture import read_image
from emotui.config import Config
from emotui.pipeline import create_analyzer, create_pipeline
from emotui.vision import EMOTIONS
from emotui.vision.emotions import crop_faces


@pytest.fixture(scope="module")
def analyzer(model_store):
    return create_analyzer(Config(), lambda message: None)


@pytest.mark.parametrize("name", ["yale_subject08_happy.png", "jaffe_NA.HA2.203.png"])
def test_a_known_happy_face_is_detected_once_and_classified_happy(media_dir, analyzer, name):
    image = read_image(media_dir / "expressions" / "happy" / name)
    faces = analyzer.detector.detect(image)
    assert len(faces) == 1
    probabilities = analyzer.classifier.classify(crop_faces(image, faces.boxes, 0.05))
    assert probabilities.shape == (1, 7) and probabilities.sum() == pytest.approx(1, abs=1e-4)
    assert EMOTIONS[int(np.argmax(probabilities[0]))] == "happy"


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


def test_tiled_full_range_detector_finds_small_faces_in_group_photos(media_dir, model_store):
    config = Config()
    config.detector.name, config.detector.tiles, config.detector.min_score = "blazeface-full", 3, 0.64
    detector = create_analyzer(config, print).detector
    image = read_image(media_dir / "photos" / "group_annotated" / "2007_007763.jpg")
    plain = create_analyzer(Config(), print).detector.detect(image)
    assert len(detector.detect(image)) == 7 > len(plain)
