"""Unit tests: mask geometry and drawing, keypoint plausibility, and the mask settings' checks."""

from __future__ import annotations

import numpy as np
import pytest

from emotui.config import ConfigError, load_config
from emotui.vision.detections import Detections
from emotui.vision.finder import FaceFinder
from emotui.vision.masks import Masks
from emotui.vision.plausibility import plausible

SQUARE = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]
TRIANGLE = [[0.6, 0.9], [0.9, 0.6], [0.9, 0.9]]
# a U shape: its notch (0.4-0.6 wide, down to 0.5) is outside the polygon
U_SHAPE = [[0.2, 0.2], [0.4, 0.2], [0.4, 0.5], [0.6, 0.5], [0.6, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]


def test_points_inside_any_polygon_are_covered_in_frame_relative_coordinates():
    masks = Masks.from_config([SQUARE, TRIANGLE])
    points = np.array([[100, 100], [400, 100], [500, 350], [390, 270], [560, 420]], np.float32)
    # a 640 x 480 frame: the square is the top-left quarter, the triangle the bottom-right corner
    assert masks.covers(points, 640, 480).tolist() == [True, False, True, False, True]
    # the same relative places in a frame of another size
    assert masks.covers(points / 2, 320, 240).tolist() == [True, False, True, False, True]


def test_a_concave_polygon_leaves_its_notch_uncovered():
    masks = Masks.from_config([U_SHAPE])
    points = np.array([[50, 30], [50, 70], [30, 30], [70, 30], [10, 10]], np.float32)  # on a 100 x 100 frame
    assert masks.covers(points, 100, 100).tolist() == [False, True, True, True, False]


def test_overlapping_polygons_do_not_cancel_out():
    masks = Masks.from_config([SQUARE, [[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]]])
    assert masks.covers(np.array([[40, 40]], np.float32), 100, 100).tolist() == [True]


def test_no_masks_cover_nothing():
    assert not Masks() and Masks().covers(np.array([[1, 1]], np.float32), 10, 10).tolist() == [False]


def test_drawing_shades_and_outlines_the_masked_area_only():
    image = np.full((100, 200, 3), 200, np.uint8)
    Masks.from_config([SQUARE]).draw(image)
    assert (image[25, 50] != 200).all()  # inside: shaded
    assert (image[75, 150] == 200).all()  # outside: untouched
    assert (image[0, 0] == (128, 128, 128)).all()  # outline


def _frontal(box):
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    rel = [(0.3, 0.35), (0.7, 0.35), (0.5, 0.55), (0.5, 0.78), (0.1, 0.45), (0.9, 0.45)]
    return [(x1 + a * w, y1 + b * h) for a, b in rel]


def _one(box, keypoints):
    return Detections(np.array([box], np.float32), np.array([0.9], np.float32), np.array([keypoints], np.float32))


def test_a_frontal_face_and_a_profile_are_plausible():
    box = [100, 100, 200, 200]
    assert plausible(_one(box, _frontal(box)), (480, 640))[0]
    # a profile: both eyes close together on one side, nose at the edge, mouth below
    profile = [(130, 135), (142, 136), (112, 158), (128, 180), (175, 145), (176, 146)]
    assert plausible(_one(box, profile), (480, 640))[0]
    # a head tilted by 40 degrees
    angle = np.radians(40)
    centre = np.array([150, 150])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    tilted = [(rotation @ (np.array(p) - centre) + centre).tolist() for p in _frontal(box)]
    assert plausible(_one(box, tilted), (480, 640))[0]


@pytest.mark.parametrize("why, keypoints", [
    ("mouth above the eyes (upside down)", [(130, 175), (170, 175), (150, 155), (150, 122), (110, 165), (190, 165)]),
    ("mouth on the eyes' line", [(130, 135), (170, 135), (150, 136), (150, 137), (110, 145), (190, 145)]),
    ("mouth far below the box", [(130, 135), (170, 135), (150, 160), (150, 250), (110, 145), (190, 145)]),
    ("nose below the mouth", [(130, 135), (170, 135), (150, 190), (150, 170), (110, 145), (190, 145)]),
    ("lying on its side", [(180, 130), (180, 170), (160, 150), (125, 150), (170, 110), (170, 190)]),
    ("keypoints beside the box", [(230, 135), (270, 135), (250, 155), (250, 178), (210, 145), (290, 145)]),
])
def test_geometry_that_no_face_has_is_not_plausible(why, keypoints):
    assert not plausible(_one([100, 100, 200, 200], keypoints), (480, 640))[0], why


def test_a_box_much_larger_than_the_frame_is_not_plausible_even_without_keypoints():
    found = Detections(np.array([[0, 0, 90, 90], [-100, -100, 300, 300]], np.float32), np.ones(2, np.float32))
    assert plausible(found, (100, 100)).tolist() == [True, False]


class _Fixed:
    name = "fixed"

    def __init__(self, found):
        self.found = found

    def detect(self, frame, full_scan=False):
        return self.found

    def confirm(self, frame, boxes):
        return None

    def refind(self, frame, boxes):
        return None


def test_the_finder_drops_faces_centred_in_a_mask_too_small_or_implausible():
    boxes = [[10, 10, 60, 60], [400, 300, 450, 350], [400, 100, 410, 110], [500, 100, 550, 150]]
    keypoints = [_frontal(b) for b in boxes]
    keypoints[3] = [(510, 140), (540, 140), (525, 125), (525, 105), (505, 130), (545, 130)]  # upside down
    found = Detections(np.array(boxes, np.float32), np.full(4, 0.9, np.float32), np.array(keypoints, np.float32))
    finder = FaceFinder(_Fixed(found), min_face_px=20, masks=Masks.from_config([SQUARE]))
    kept = finder.detect(np.zeros((480, 640, 3), np.uint8))
    assert kept.boxes.tolist() == [[400, 300, 450, 350]]


def _config(tmp_path, text):
    path = tmp_path / "emotui.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("masks, message", [
    ("[[[0, 0], [1, 0]]]", "polygon 1 (masks[0]) must be a list of at least three [x, y] points"),
    ("[[[0, 0], [1, 0], [1, 1]], [[0, 0], [1.2, 0], [1, 1]]]",
     "polygon 2 (masks[1]): point [1.2, 0] is outside the frame"),
    ("[[[0, 0], [0.5, 0.5], [1, 1]]]", "polygon 1 (masks[0]) encloses no area"),
    ("[[[0, 0], [1, 0], [\"a\", 1]]]", "polygon 1 (masks[0]): ['a', 1] is not an [x, y] pair"),
    ("[[[0, 0], [1, 0], 0.5]]", "polygon 1 (masks[0]): 0.5 is not an [x, y] pair"),
    ("[[[0, 0], [1, 0], [1, 1, 0]]]", "polygon 1 (masks[0]): [1, 1, 0] is not an [x, y] pair"),
    ("[[0, 0], [1, 0], [1, 1]]", "polygon 1 (masks[0]) must be a list of at least three [x, y] points"),
])
def test_bad_masks_are_named_by_polygon_with_the_line(tmp_path, masks, message):
    path = _config(tmp_path, f"[detector]\nname = \"blazeface-dual\"\nmasks = {masks}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    (issue,) = raised.value.issues
    assert issue.key == "detector.masks" and issue.line == 3 and message in issue.message


def test_good_masks_load(tmp_path):
    path = _config(tmp_path, "[detector]\nmasks = [\n  [[0.0, 0.0], [0.3, 0.0], [0.3, 0.2], [0.0, 0.2]],\n"
                             "  [[0.7, 0.6], [1, 0.6], [1, 1]],\n]\n")
    assert len(load_config(path).detector.masks) == 2
