"""Unit tests: anchors, box decoding, NMS, crops, smoothing and the tracker."""

from __future__ import annotations

import numpy as np
import pytest

from emotui.config import TrackerConfig
from emotui.vision import EMOTIONS
from emotui.vision.detections import Detections, iou_matrix, weighted_nms
from emotui.vision.detectors import FULL_RANGE, SHORT_RANGE, decode_boxes, generate_anchors
from emotui.vision.emotions import crop_faces
from emotui.vision.tracker import EmaSmoother, Tracker, WindowSmoother


def test_short_range_anchors_match_the_model_layout():
    anchors = generate_anchors(SHORT_RANGE)
    assert anchors.shape == (896, 2)
    # stride 8: a 16x16 grid with 2 anchors per cell, first cell centre at (0.5/16, 0.5/16)
    assert np.allclose(anchors[0], [1 / 32, 1 / 32]) and np.allclose(anchors[1], anchors[0])
    assert np.allclose(anchors[2], [3 / 32, 1 / 32])
    # row-major: the 17th cell (index 16 → anchors 32, 33) starts the second row
    assert np.allclose(anchors[32], [1 / 32, 3 / 32])
    # stride 16 layers: an 8x8 grid with 6 anchors per cell, after the 512 stride-8 anchors
    assert np.allclose(anchors[512:518], [1 / 16, 1 / 16])
    assert np.allclose(anchors[-1], [15 / 16, 15 / 16])


def test_full_range_anchors_are_one_per_cell_of_a_48_grid():
    anchors = generate_anchors(FULL_RANGE)
    assert anchors.shape == (2304, 2)
    assert np.allclose(anchors[1], [1.5 / 48, 0.5 / 48])


def test_decode_boxes_offsets_from_the_anchor_in_input_pixels():
    anchors = np.array([[0.5, 0.5], [0.25, 0.75]], np.float32)
    raw = np.zeros((2, 16), np.float32)
    raw[0, :4] = [12.8, -12.8, 25.6, 51.2]  # shift +0.1/-0.1, size 0.2 x 0.4 at 128 px
    boxes = decode_boxes(raw, anchors, 128)
    assert np.allclose(boxes[0], [0.5, 0.2, 0.7, 0.6])
    assert np.allclose(boxes[1], [0.25, 0.75, 0.25, 0.75])  # zero size at the anchor


def test_iou_matrix():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    assert np.allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]])
    assert iou_matrix(a, np.zeros((0, 4), np.float32)).shape == (1, 0)


def test_weighted_nms_merges_a_cluster_into_its_score_weighted_mean():
    boxes = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.3, 0.8], np.float32)
    merged = weighted_nms(boxes, scores, 0.3)
    assert len(merged) == 2
    assert merged.scores.tolist() == pytest.approx([0.9, 0.8])
    assert np.allclose(merged.boxes[0], [0.5, 0, 10.5, 10])  # (0.9*0 + 0.3*2) / 1.2
    assert np.allclose(merged.boxes[1], [50, 50, 60, 60])


def test_weighted_nms_keeps_boxes_that_overlap_less_than_the_threshold():
    boxes = np.array([[0, 0, 10, 10], [8, 0, 18, 10]], np.float32)  # IoU 2/18
    assert len(weighted_nms(boxes, np.array([0.9, 0.8], np.float32), 0.3)) == 2


def test_min_face_size_filter_uses_the_shorter_side():
    found = Detections(np.array([[0, 0, 30, 10], [0, 0, 20, 20]], np.float32), np.ones(2, np.float32))
    assert found.at_least(15).boxes.tolist() == [[0, 0, 20, 20]]


def test_crop_faces_is_square_padded_and_replicates_the_border():
    frame = np.arange(100 * 100, dtype=np.uint16).reshape(100, 100)
    (inside,) = crop_faces(frame, np.array([[40, 40, 60, 50]], np.float32), padding=0.0)
    assert inside.shape == (20, 20)  # square on the longer side
    assert inside[0, 0] == frame[35, 40]
    (padded,) = crop_faces(frame, np.array([[40, 40, 60, 60]], np.float32), padding=0.25)
    assert padded.shape == (30, 30)
    (edge,) = crop_faces(frame, np.array([[-10, -10, 10, 10]], np.float32), padding=0.0)
    assert edge.shape == (20, 20) and edge[0, 0] == frame[0, 0]  # outside the frame: border replicated


def test_ema_smoothing():
    smoother = EmaSmoother(alpha=0.5)
    first = np.array([1.0, 0.0], np.float32)
    assert np.allclose(smoother.update(first), first)  # first value passes through
    assert np.allclose(smoother.update(np.array([0.0, 1.0])), [0.5, 0.5])
    assert np.allclose(smoother.update(np.array([0.0, 1.0])), [0.25, 0.75])


def test_window_smoothing_forgets_beyond_the_window():
    smoother = WindowSmoother(size=2)
    smoother.update(np.array([1.0, 0.0]))
    assert np.allclose(smoother.update(np.array([0.0, 1.0])), [0.5, 0.5])
    assert np.allclose(smoother.update(np.array([0.0, 1.0])), [0.0, 1.0])


def _faces(*boxes):
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.9, np.float32))


def _probs(count, emotion="happy"):
    probabilities = np.zeros((count, len(EMOTIONS)), np.float32)
    probabilities[:, EMOTIONS.index(emotion)] = 1.0
    return probabilities


def test_tracker_keeps_ids_for_moving_faces_and_ends_absent_tracks():
    tracker = Tracker(TrackerConfig(max_absence_s=0.5))
    first = tracker.update(_faces([0, 0, 50, 50], [200, 0, 250, 50]), _probs(2), 0.0)
    assert [f.track_id for f in first.faces] == [1, 2]
    # both move a little (IoU well above 0.3), listed in the other order
    second = tracker.update(_faces([205, 2, 255, 52], [4, 0, 54, 50]), _probs(2), 0.1)
    assert [f.track_id for f in second.faces] == [2, 1]
    assert second.faces[0].dwell_s == pytest.approx(0.1)
    # face 1 vanishes; after more than max_absence_s its track ends, face 2 keeps its id
    tracker.update(_faces([206, 2, 256, 52]), _probs(1), 0.3)
    later = tracker.update(_faces([207, 2, 257, 52]), _probs(1), 0.7)
    assert later.ended == [1] and [f.track_id for f in later.faces] == [2]
    # a face where track 1 was is a new track now
    again = tracker.update(_faces([4, 0, 54, 50], [207, 2, 257, 52]), _probs(2), 0.8)
    assert [f.track_id for f in again.faces] == [3, 2]


def test_tracker_falls_back_to_centroid_distance_for_fast_motion():
    tracker = Tracker(TrackerConfig(iou_threshold=0.3))
    tracker.update(_faces([0, 0, 40, 40]), _probs(1), 0.0)
    # moved 18 px on a 40 px face: IoU 0.38, matched by IoU
    assert tracker.update(_faces([18, 0, 58, 40]), _probs(1), 0.1).faces[0].track_id == 1
    # jumped 30 px: IoU 0.14 < 0.3, but the centre moved less than 0.8 of the face size
    assert tracker.update(_faces([48, 0, 88, 40]), _probs(1), 0.2).faces[0].track_id == 1
    # a jump of a whole face width is someone else
    assert tracker.update(_faces([88, 0, 128, 40]), _probs(1), 0.3).faces[0].track_id == 2


def test_tracker_smooths_per_track_so_one_noisy_frame_does_not_flip_the_dominant_emotion():
    tracker = Tracker(TrackerConfig(smoothing="ema", ema_alpha=0.3))
    for step in range(5):
        tracker.update(_faces([0, 0, 50, 50]), _probs(1, "neutral"), step * 0.1)
    noisy = tracker.update(_faces([0, 0, 50, 50]), _probs(1, "angry"), 0.5)
    assert noisy.faces[0].dominant == "neutral"
    assert noisy.faces[0].probabilities[EMOTIONS.index("angry")] == pytest.approx(0.3)
    for step in range(3):
        result = tracker.update(_faces([0, 0, 50, 50]), _probs(1, "angry"), 0.6 + step * 0.1)
    assert result.faces[0].dominant == "angry"
