"""Sources on the real media: a video file read in order with its timestamps, an image folder
with an unreadable file."""

from __future__ import annotations

import cv2
import pytest

from emotui.capture import Capture, parse_source


def test_video_file_is_read_in_order_with_media_timestamps(media_dir):
    path = media_dir / "videos" / "faces" / "liveportrait_d0.mp4"
    expected = int(cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT))
    capture = Capture(parse_source(str(path))).start()
    frames = [(f.index, f.time, f.image.shape) for f in capture.frames()]
    assert [i for i, _, _ in frames] == list(range(expected))
    times = [t for _, t, _ in frames]
    assert times == sorted(times) and times[1] == pytest.approx(1 / 25, abs=1e-3)
    assert frames[0][2] == (512, 512, 3) and capture.dropped == 0


def test_image_folder_skips_unreadable_files(tmp_path, media_dir):
    folder = tmp_path / "images"
    folder.mkdir()
    image = cv2.imread(str(media_dir / "photos" / "group_annotated" / "2008_001009.jpg"))
    cv2.imwrite(str(folder / "a.png"), image)
    (folder / "b.jpg").write_bytes(b"not an image")
    cv2.imwrite(str(folder / "c.png"), image)
    spec = parse_source(str(folder))
    capture = Capture(spec).start()
    assert [f.index for f in capture.frames()] == [0, 1]
    assert spec.kind == "folder"
