"""Snapshots: an annotated PNG and a JSON sidecar from a real pipeline result, written
atomically, with clear errors naming the path."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from emotui.config import Config
from emotui.pipeline import FrameResult, create_analyzer, create_pipeline
from emotui.snapshots import (
    SnapshotError,
    blur_faces,
    encode_jpeg,
    face_label,
    head_region,
    save_snapshot,
)
from emotui.vision import EMOTION_COLOURS, EMOTIONS
from emotui.vision.masks import Masks

SOURCE = "videos/faces/liveportrait_d0.mp4"


def _bgr(emotion: str) -> tuple[int, int, int]:
    r, g, b = EMOTION_COLOURS[emotion]
    return b, g, r


@pytest.fixture(scope="module")
def real_result(media_dir, model_store) -> FrameResult:
    """A result of the real pipeline on the real video, with at least one face."""
    pipeline = create_pipeline(Config(), str(media_dir / SOURCE), lambda message: None)
    found = None
    try:
        for count, result in enumerate(pipeline.results()):
            if result.faces and count >= 2:  # a few frames in, so the track is established
                found = result
                break
            if count > 50:
                break
    finally:
        pipeline.stop()
    assert found is not None, "no face found in the first frames"
    return found


@pytest.fixture(scope="module")
def two_face_result(real_result) -> FrameResult:
    """The real result plus a second face (copied from the real one) moved to the top-left and
    made 'angry', whose RGB colour is not symmetric, so a wrong channel order shows up."""
    real = real_result.faces[0]
    angry = np.zeros(len(EMOTIONS), dtype=np.float32)
    angry[EMOTIONS.index("angry")] = 0.83
    angry[EMOTIONS.index("neutral")] = 0.17
    extra = dataclasses.replace(
        real, track_id=real.track_id + 41, box=np.array([20, 60, 110, 140], dtype=np.float32), probabilities=angry,
        label="angry",
    )
    return dataclasses.replace(real_result, faces=[*real_result.faces, extra], image=real_result.image)


def _read_png(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, f"{path} does not decode"
    return image


def _label_region(face, shape) -> tuple[int, int, int, int]:
    """A generous bound (x1, y1, x2, y2) for the box outline and its label above it."""
    height, width = shape[:2]
    x1, y1, x2, y2 = (int(round(float(v))) for v in face.box)
    (text_w, text_h), base = cv2.getTextSize(face_label(face), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 2)
    scale = max(0.4, min(width, height) / 1000) * 1.2
    margin = 6
    return (
        max(0, x1 - margin),
        max(0, y1 - int((text_h + base) * scale) - 3 * margin),
        min(width, max(x2, x1 + int(text_w * scale)) + 3 * margin),
        min(height, y2 + margin),
    )


def _no_temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"] if folder.exists() else []


def test_snapshot_png_has_the_frame_size_and_boxes_in_the_emotion_colours(tmp_path, two_face_result):
    result = two_face_result
    frame = result.image.copy()
    png, sidecar = save_snapshot(tmp_path / "shots", result, "cam")

    assert png.parent == sidecar.parent == tmp_path / "shots"
    assert png.suffix == ".png" and sidecar.suffix == ".json" and png.stem == sidecar.stem
    assert png.stem.startswith("emotui-")
    datetime.strptime(png.stem.removeprefix("emotui-")[:22], "%Y%m%d-%H%M%S-%f")  # name carries the time
    image = _read_png(png)
    assert image.shape == frame.shape and image.dtype == frame.dtype
    assert np.array_equal(result.image, frame), "the result's frame must not be drawn on"

    for face in result.faces:
        x1, y1, x2, y2 = (int(round(float(v))) for v in face.box)
        colour = _bgr(face.dominant)
        mid_x, mid_y = (x1 + x2) // 2, (y1 + y2) // 2
        for x, y in ((x1, mid_y), (x2, mid_y), (mid_x, y2)):  # left, right and bottom edges
            assert tuple(int(c) for c in image[y, x]) == colour, (face.dominant, x, y)
    # angry is (230, 57, 70) in RGB: stored BGR it must read (70, 57, 230)
    angry = result.faces[-1]
    x1, y1, x2, y2 = (int(v) for v in angry.box)
    assert tuple(int(c) for c in image[(y1 + y2) // 2, x1]) == (70, 57, 230)

    changed = np.any(image != frame, axis=2)
    allowed = np.zeros_like(changed)
    for face in result.faces:
        ax1, ay1, ax2, ay2 = _label_region(face, frame.shape)
        allowed[ay1:ay2, ax1:ax2] = True
        # a label was drawn above each box (a block of pixels in the band above the top edge)
        top = int(round(float(face.box[1])))
        assert changed[max(0, top - 12):top, ax1:ax2].sum() > 50
    assert changed.any()
    assert not (changed & ~allowed).any(), "pixels changed away from the boxes and labels"
    assert _no_temp_files(tmp_path / "shots") == []


def test_sidecar_json_describes_the_result(tmp_path, real_result):
    before = datetime.now().astimezone()
    png, sidecar = save_snapshot(tmp_path, dataclasses.replace(real_result, camera="porch"), "videos/liveportrait_d0.mp4")
    data = json.loads(sidecar.read_text(encoding="utf-8"))

    assert set(data) == {"saved_at", "camera", "source", "frame", "source_time", "resolution", "faces", "images"}
    assert data["camera"] == "porch" and png.name.startswith("emotui-porch-")
    assert data["images"] == "full"
    saved_at = datetime.fromisoformat(data["saved_at"])
    assert saved_at.utcoffset() is not None, "saved_at must carry the local offset"
    assert before <= saved_at <= datetime.now().astimezone()
    assert data["source"] == "videos/liveportrait_d0.mp4"
    assert data["frame"] == real_result.index
    assert data["source_time"] == pytest.approx(real_result.time)
    height, width = real_result.image.shape[:2]
    assert data["resolution"] == [width, height]
    assert data["faces"] == real_result.to_dict()["faces"]
    assert data["faces"] and data["faces"][0]["dominant"] == real_result.faces[0].dominant
    assert png.with_suffix(".json") == sidecar


def test_without_boxes_the_png_is_the_frame_unchanged(tmp_path, two_face_result):
    png, sidecar = save_snapshot(tmp_path, two_face_result, "cam", draw_boxes=False)
    assert np.array_equal(_read_png(png), two_face_result.image)
    assert len(json.loads(sidecar.read_text())["faces"]) == 2  # the sidecar still lists the faces


def _face_region(result: FrameResult, image: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = (int(v) for v in result.faces[0].box)
    return image[y1 + 5:y2 - 5, x1 + 5:x2 - 5].astype(np.int16)


def test_blurred_snapshots_hide_the_face_and_keep_the_rest(tmp_path, real_result):
    png, sidecar = save_snapshot(tmp_path, real_result, "cam", draw_boxes=False, images="blurred")
    saved, original = _read_png(png), real_result.image
    face, blurred_face = _face_region(real_result, original), _face_region(real_result, saved)
    repeats = lambda region: float((np.diff(region, axis=1) == 0).all(axis=2).mean())  # noqa: E731
    assert repeats(blurred_face) > 0.85 > 0.3 > repeats(face)  # pixelated: big blocks of one colour
    assert np.abs(blurred_face - face).mean() > 5
    left, top, right, bottom = head_region(real_result.faces[0].box, *original.shape[1::-1])
    outside = np.ones(original.shape[:2], bool)
    outside[top:bottom, left:right] = False
    assert outside.sum() > 0.1 * outside.size and np.array_equal(saved[outside], original[outside])  # beyond the head
    assert json.loads(sidecar.read_text())["images"] == "blurred"
    jpeg = cv2.imdecode(np.frombuffer(encode_jpeg(real_result, "blurred"), np.uint8), cv2.IMREAD_COLOR)
    sent_face = _face_region(real_result, jpeg)  # what MQTT and webhooks get: blurred too
    assert np.abs(sent_face - blurred_face).mean() < np.abs(sent_face - face).mean() / 2
    assert np.array_equal(blur_faces(original, []), original)


BLUR_PHOTOS = ("photos/group_annotated/2007_007763.jpg", "photos/group_annotated/2008_001322.jpg",
               "photos/group_annotated/2008_002079.jpg", "photos/multi_face/face_recognition_two_people.jpg",
               "photos/multi_face/face_recognition_kit_with_rose.jpg", "photos/varied_pose/keshavoct98_0.jpg")
BLUR_VIDEO_FRAMES = (("videos/faces/liveportrait_d6.mp4", 250), ("videos/faces/facenet_pytorch_video.mp4", 26),
                     ("videos/faces/keshavoct98_vid0.mp4", 54))


def test_the_real_detector_finds_no_face_in_blurred_snapshots_of_real_photos_and_frames(tmp_path, media_dir,
                                                                                        model_store):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for number, photo in enumerate(BLUR_PHOTOS):
        (scenes / f"{number:02d}{Path(photo).suffix}").symlink_to(media_dir / photo)
    for number, (video, index) in enumerate(BLUR_VIDEO_FRAMES, len(BLUR_PHOTOS)):
        capture = cv2.VideoCapture(str(media_dir / video))
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = capture.read()
        capture.release()
        assert ok, f"cannot read frame {index} of {video}"
        cv2.imwrite(str(scenes / f"{number:02d}.png"), frame)
    pipeline = create_pipeline(Config(), str(scenes), lambda message: None)
    try:
        saved = [(len(result.faces), save_snapshot(tmp_path / "out", result, "cam", images="blurred")[0])
                 for result in pipeline.results()]
    finally:
        pipeline.stop()
    analyzer = create_analyzer(Config(), lambda message: None, still_images=True)
    found = [len(analyzer.faces_in_photo(_read_png(png)[:, :, :3])) for _, png in saved]
    assert len(saved) == len(BLUR_PHOTOS) + len(BLUR_VIDEO_FRAMES)
    assert sum(faces for faces, _ in saved) >= 20 and min(faces for faces, _ in saved) >= 1
    assert found == [0] * len(saved)


def test_the_blur_covers_the_head_around_the_face_box(real_result):
    image = real_result.image
    blurred = blur_faces(image, real_result.faces)
    height, width = image.shape[:2]
    left, top, right, bottom = head_region(real_result.faces[0].box, width, height)
    x1, y1, x2, y2 = (int(v) for v in real_result.faces[0].box)
    assert top < y1 - (y2 - y1) // 2 and left < x1 - (x2 - x1) // 3 and right > x2 + (x2 - x1) // 3
    hair = blurred[top:y1, left:right].astype(np.int16)  # above the eyebrows: hair and forehead
    repeats = float((np.diff(hair, axis=1) == 0).all(axis=2).mean())
    assert repeats > 0.85 and np.abs(hair - image[top:y1, left:right]).mean() > 3
    assert np.array_equal(blurred[:, right + 1:], image[:, right + 1:])  # beside the head: untouched


def test_no_images_keeps_only_the_sidecar(tmp_path, real_result):
    png, sidecar = save_snapshot(tmp_path, real_result, "cam", images="none")
    assert png is None and sidecar.is_file()
    assert [p.suffix for p in tmp_path.iterdir()] == [".json"]
    assert json.loads(sidecar.read_text())["faces"] == real_result.to_dict()["faces"]
    assert encode_jpeg(real_result, "none") is None


def test_two_saves_in_a_row_give_different_files(tmp_path, real_result):
    first = save_snapshot(tmp_path, real_result, "cam")
    second = save_snapshot(tmp_path, real_result, "cam")
    assert set(first).isdisjoint(second)
    assert all(p.is_file() for p in (*first, *second))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (*first, *second))


def test_an_existing_name_gets_a_counter(tmp_path, real_result, monkeypatch):
    fixed = datetime(2026, 11, 24, 15, 30, 12, 123456).astimezone()

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return fixed

    monkeypatch.setattr("emotui.snapshots.datetime", FrozenDatetime)
    names = [save_snapshot(tmp_path, real_result, "cam")[0].name for _ in range(3)]
    assert names == [
        "emotui-20261124-153012-123456.png",
        "emotui-20261124-153012-123456-1.png",
        "emotui-20261124-153012-123456-2.png",
    ]
    assert (tmp_path / "emotui-20261124-153012-123456-2.json").is_file()


def test_folder_is_created_including_parents(tmp_path, real_result):
    folder = tmp_path / "a" / "b" / "snapshots"
    png, sidecar = save_snapshot(folder, real_result, "cam")
    assert png.is_file() and sidecar.is_file()


def test_a_folder_under_a_file_raises_an_error_naming_the_path(tmp_path, real_result):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    folder = blocker / "snapshots"
    with pytest.raises(SnapshotError) as caught:
        save_snapshot(folder, real_result, "cam")
    assert str(folder) in str(caught.value)
    assert blocker.read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


def test_a_folder_that_is_a_file_raises_an_error_naming_the_path(tmp_path, real_result):
    blocker = tmp_path / "snapshots"
    blocker.write_text("x")
    with pytest.raises(SnapshotError) as caught:
        save_snapshot(blocker, real_result, "cam")
    assert str(blocker) in str(caught.value)


def test_a_failed_sidecar_write_removes_the_png_and_all_temp_files(tmp_path, real_result, monkeypatch):
    """PNG first, then JSON: if the JSON cannot be written, no orphan image or temp file stays."""
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst).endswith(".json"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr("emotui.files.os.replace", failing_replace)
    with pytest.raises(SnapshotError) as caught:
        save_snapshot(tmp_path, real_result, "cam")
    assert ".json" in str(caught.value) and str(tmp_path) in str(caught.value)
    assert "No space left on device" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_png_write_leaves_no_files(tmp_path, real_result, monkeypatch):
    def failing_replace(src, dst):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("emotui.files.os.replace", failing_replace)
    with pytest.raises(SnapshotError, match="Input/output error"):
        save_snapshot(tmp_path, real_result, "cam")
    assert list(tmp_path.iterdir()) == []


def test_no_temp_files_remain_after_success(tmp_path, real_result):
    for _ in range(3):
        save_snapshot(tmp_path, real_result, "cam")
    assert _no_temp_files(tmp_path) == []
    assert len(list(tmp_path.iterdir())) == 6


def test_a_frame_without_faces_saves_the_frame_and_an_empty_face_list(tmp_path, real_result):
    empty = dataclasses.replace(real_result, faces=[], image=real_result.image)
    png, sidecar = save_snapshot(tmp_path, empty, "cam")
    assert np.array_equal(_read_png(png), real_result.image)
    assert json.loads(sidecar.read_text())["faces"] == []


def test_permission_denied_is_reported_with_the_path_even_when_running_as_root(tmp_path, real_result, monkeypatch):
    """A folder emotui may not write to (as root, permissions do not stop it): EACCES simulated."""
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("emotui.files.tempfile.mkstemp", denied)
    with pytest.raises(SnapshotError, match="Permission denied") as caught:
        save_snapshot(tmp_path, real_result, "cam")
    assert str(tmp_path) in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_masks_are_shaded_and_outlined_on_snapshots_and_a_stationary_face_is_labelled_still(tmp_path, real_result):
    masks = Masks.from_config([[[0.0, 0.0], [0.25, 0.0], [0.25, 0.25], [0.0, 0.25]]])
    still = dataclasses.replace(real_result.faces[0], stationary=True)
    result = dataclasses.replace(real_result, faces=[still], image=real_result.image, masks=masks)
    png, sidecar = save_snapshot(tmp_path, result, "cam")
    image, frame = _read_png(png), real_result.image
    height, width = frame.shape[:2]
    assert not np.array_equal(image[height // 16, width // 16], frame[height // 16, width // 16])  # shaded
    assert tuple(int(c) for c in image[0, width // 8]) == (128, 128, 128)  # the outline
    assert np.array_equal(image[height - 2, :width // 3], frame[height - 2, :width // 3])  # outside: untouched
    assert face_label(still).endswith(" still")
    assert json.loads(sidecar.read_text())["faces"][0]["stationary"] is True
    unboxed, _ = save_snapshot(tmp_path, result, "cam", draw_boxes=False)
    assert np.array_equal(_read_png(unboxed), frame)  # masks are drawn with the boxes, not without them
