"""Sources and the capture thread: ordered files, drop-oldest live sources, clear errors."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from emotui.capture import Capture, Frame, FrameBuffer, SourceError, SourceSpec, parse_source
from emotui.config import SourceConfig


def _frame(index: int) -> Frame:
    return Frame(index, index / 25, time.perf_counter(), 0.0, np.zeros((2, 2, 3), np.uint8))


def test_live_buffer_keeps_only_the_newest_frame_and_counts_drops():
    buffer = FrameBuffer(capacity=1, drop_oldest=True)
    for index in range(5):
        assert buffer.put(_frame(index))
    assert buffer.dropped == 4
    assert buffer.get().index == 4
    buffer.close()
    assert buffer.get() is None


def test_file_buffer_blocks_the_producer_and_loses_nothing():
    buffer = FrameBuffer(capacity=2, drop_oldest=False)
    high_water = []

    def produce():
        for index in range(20):
            buffer.put(_frame(index))
            high_water.append(len(buffer._frames))
        buffer.close()

    producer = threading.Thread(target=produce)
    producer.start()
    received = []
    while (frame := buffer.get()) is not None:
        received.append(frame.index)
        time.sleep(0.002)  # a slow consumer
    producer.join()
    assert received == list(range(20))
    assert max(high_water) <= 2 and buffer.dropped == 0


class FakeWebcam:
    """Stands in for a physical camera (none exists here): 640x480 frames as fast as asked."""

    fps = 30.0

    def __init__(self, frames: int) -> None:
        self.remaining = frames
        self.closed = False

    def read(self):
        if self.remaining == 0:
            return None
        self.remaining -= 1
        time.sleep(0.001)
        return np.full((480, 640, 3), self.remaining % 255, np.uint8), time.perf_counter()

    def close(self):
        self.closed = True


def test_live_capture_drops_oldest_when_analysis_is_slow_and_releases_the_camera():
    webcam = FakeWebcam(frames=200)
    capture = Capture(SourceSpec("camera", 0), reader=webcam, settings=SourceConfig(reconnect=False)).start()
    indices = []
    for frame in capture.frames():
        indices.append(frame.index)
        time.sleep(0.01)  # analysis 10x slower than the camera
    assert webcam.closed
    assert indices == sorted(indices) and indices[-1] == 199  # newest frames, in order, to the end
    assert capture.dropped > 100 and len(indices) + capture.dropped == 200


def test_stop_ends_a_live_capture_promptly():
    webcam = FakeWebcam(frames=10**9)
    capture = Capture(SourceSpec("camera", 0), reader=webcam, settings=SourceConfig(reconnect=False)).start()
    frames = capture.frames()
    next(frames)
    started = time.perf_counter()
    capture.stop()
    assert len(list(frames)) <= 1  # at most the one buffered frame, then the iteration ends
    assert time.perf_counter() - started < 2 and webcam.closed


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


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.mp4", None, "is not a camera index, a URL, or an existing file"),
        ("empty.mp4", b"", "is empty \\(0 bytes\\)"),
        ("junk.mp4", b"\x00garbage" * 500, "cannot decode .* as video"),
        ("junk.png", b"garbage", "cannot decode .* as an image"),
        ("no-images", "folder", "holds no images"),
    ],
)
def test_bad_sources_give_specific_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content == "folder":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(SourceError, match=message):
        Capture(parse_source(str(path)))


def test_missing_camera_names_the_index_and_the_source_hint():
    with pytest.raises(SourceError, match=r"no camera at index 7; pass --source"):
        Capture(parse_source("7"))


def test_source_kinds():
    assert parse_source("0") == SourceSpec("camera", 0)
    assert parse_source("rtsp://cam.local/stream").kind == "url"
    assert parse_source("http://cam.local/mjpg").live
