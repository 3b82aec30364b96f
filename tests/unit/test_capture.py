"""Sources and the capture thread without media: the frame buffer, drop-oldest live sources,
clear errors for bad sources, states, the MJPEG parser and the readers' independence."""

from __future__ import annotations

import ast
import errno
import importlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from emotui.capture import (
    Capture,
    Frame,
    FrameBuffer,
    SourceError,
    SourceSpec,
    SourceState,
    parse_source,
)
from emotui.capture.readers.mjpeg import MjpegReader
from emotui.capture.sources import StreamLost
from emotui.config import SourceConfig
from tests.helpers import EVENT_TIMEOUT_S, ChunkedResponse, wait_until


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
    """Stands in for a physical camera (none exists here): 640x480 frames as fast as asked.
    With `hold_after_first`, frames after the first wait until `resume` is set; `exhausted` is set
    once the last frame has been read."""

    fps = 30.0

    def __init__(self, frames: int, hold_after_first: bool = False) -> None:
        self.remaining = frames
        self.closed = False
        self.resume = threading.Event()
        if not hold_after_first:
            self.resume.set()
        self.exhausted = threading.Event()
        self._first = True

    def read(self):
        if not self._first:
            self.resume.wait()
        self._first = False
        if self.remaining == 0:
            self.exhausted.set()
            return None
        self.remaining -= 1
        return np.full((480, 640, 3), self.remaining % 255, np.uint8), time.perf_counter()

    def close(self):
        self.closed = True


def test_live_capture_drops_oldest_while_analysis_is_busy_and_releases_the_camera():
    webcam = FakeWebcam(frames=200, hold_after_first=True)
    capture = Capture(SourceSpec("camera", 0), reader=webcam, settings=SourceConfig(reconnect=False)).start()
    frames = capture.frames()
    indices = [next(frames).index]
    webcam.resume.set()  # analysis is busy with the first frame while the camera sends the other 199
    assert webcam.exhausted.wait(EVENT_TIMEOUT_S)
    indices += [frame.index for frame in frames]
    assert indices == [0, 199]  # only the newest frame was kept meanwhile
    assert capture.dropped == 198
    assert wait_until(lambda: webcam.closed)  # the capture thread's last act


def test_stop_ends_a_live_capture_and_releases_the_camera():
    webcam = FakeWebcam(frames=10**9)
    capture = Capture(SourceSpec("camera", 0), reader=webcam, settings=SourceConfig(reconnect=False)).start()
    frames = capture.frames()
    next(frames)
    capture.stop()
    assert webcam.closed  # by the capture thread, which stop() waited for
    assert len(list(frames)) <= 1  # at most the one buffered frame, then the iteration ends


def test_source_states_are_published_as_the_same_strings():
    assert [state.value for state in SourceState] == ["connecting", "live", "lost", "retrying", "ended", "failed"]
    statuses = []
    capture = Capture(SourceSpec("camera", 0), reader=FakeWebcam(frames=3), settings=SourceConfig(reconnect=False),
                      on_status=statuses.append).start()
    list(capture.frames())
    assert all(isinstance(status.state, SourceState) for status in statuses)
    assert [json.loads(json.dumps(status.to_dict()))["state"] for status in statuses] == ["live", "lost", "ended"]
    assert statuses[-1].describe() == "ended: camera 0 stopped sending frames (closed, or stalled for 5 s)"


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


def _jpeg(value: int | tuple[int, int, int]) -> bytes:
    """An 8x8 JPEG of one grey level, or of one BGR colour."""
    return cv2.imencode(".jpg", np.full((8, 8, 3), value, np.uint8))[1].tobytes()


def _frames(reader: MjpegReader) -> list[np.ndarray]:
    """Every frame the reader decodes, to the end of its stream."""
    frames = []
    while (decoded := reader.read()) is not None:
        frames.append(decoded[0])
    return frames


def test_mjpeg_parts_with_and_without_a_length_split_across_reads_and_corrupt_ones_counted():
    parts = [
        b"Content-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (len(_jpeg(40)), _jpeg(40)),
        b"Content-Type: image/jpeg\r\n\r\n%s\r\n" % _jpeg(120),  # delimited by the next boundary only
        b"Content-Length: 9\r\n\r\nnot jpeg!\r\n",
        b"Content-Type: image/jpeg\r\n\r\n%s\r\n" % _jpeg(200),
    ]
    stream = b"preamble\r\n" + b"".join(b"--cam\r\n" + part for part in parts) + b"--cam--\r\n"
    reader = MjpegReader("http://cam.local/mjpg", ChunkedResponse(stream, size=7), b"cam", stall_s=1.0)
    assert [int(frame.mean()) for frame in _frames(reader)] == pytest.approx([40, 120, 200], abs=3)
    assert reader.corrupt_frames == 1


@pytest.mark.parametrize(("error", "message"), [
    (TimeoutError(), r"^no data from http://admin:\*\*\*@cam.local/mjpg for 2.5 s \(stalled\)$"),
    (ConnectionResetError(errno.ECONNRESET, os.strerror(errno.ECONNRESET)),
     r"^http://admin:\*\*\*@cam.local/mjpg: Connection reset by peer$"),
], ids=["stalled", "reset"])
def test_a_stalled_or_dropped_mjpeg_stream_is_lost_without_showing_the_password(error, message):
    response = ChunkedResponse(b"--cam\r\n\r\n", size=64, error=error)
    reader = MjpegReader("http://admin:secret@cam.local/mjpg", response, b"cam", stall_s=2.5)
    with pytest.raises(StreamLost, match=message):
        reader.read()


@pytest.mark.parametrize("declared", [b"cam", b"--cam"])  # many cameras declare boundary=--cam and write --cam
def test_an_mjpeg_boundary_is_found_whether_or_not_it_was_declared_with_its_dashes(declared):
    stream = b"--cam\r\n\r\n%s\r\n--cam--\r\n" % _jpeg(90)
    reader = MjpegReader("http://cam.local/mjpg", ChunkedResponse(stream, size=64), declared, stall_s=1.0)
    assert [int(frame.mean()) for frame in _frames(reader)] == pytest.approx([90], abs=3)


def test_a_blank_line_before_the_first_mjpeg_boundary_is_no_part():
    stream = b"\r\n\r\n--cam\r\n\r\n%s\r\n--cam--\r\n" % _jpeg(90)
    reader = MjpegReader("http://cam.local/mjpg", ChunkedResponse(stream, size=64), b"cam", stall_s=1.0)
    assert len(_frames(reader)) == 1 and reader.corrupt_frames == 0


@pytest.mark.parametrize("header", [b"Content-Length: %d", b"content-length:%d", b"CONTENT-LENGTH:  %d"])
def test_an_mjpeg_content_length_in_any_case_frames_a_jpeg_that_holds_the_boundary(header):
    """A JPEG is binary: its bytes may spell the boundary, which only the part's length tells apart."""
    blue = _jpeg((255, 0, 0))
    comment = b"\r\n--cam\r\nContent-Length: 3\r\n\r\n"
    jpeg = blue[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + blue[2:]  # a COM segment
    stream = b"--cam\r\nContent-Type: image/jpeg\r\n" + header % len(jpeg) + b"\r\n\r\n" + jpeg + b"\r\n--cam--\r\n"
    reader = MjpegReader("http://cam.local/mjpg", ChunkedResponse(stream, size=100), b"cam", stall_s=1.0)
    (frame,) = _frames(reader)
    assert frame.shape == (8, 8, 3) and frame[0, 0].tolist() == pytest.approx([255, 0, 0], abs=3)  # BGR
    assert reader.corrupt_frames == 0


def test_an_empty_mjpeg_part_is_counted_as_corrupt_and_reading_goes_on():
    stream = b"--cam\r\nContent-Length: 0\r\n\r\n\r\n--cam\r\n\r\n%s\r\n--cam--\r\n" % _jpeg(60)
    reader = MjpegReader("http://cam.local/mjpg", ChunkedResponse(stream, size=16), b"cam", stall_s=1.0)
    assert [int(frame.mean()) for frame in _frames(reader)] == pytest.approx([60], abs=3)
    assert reader.corrupt_frames == 1


def test_an_mjpeg_frame_is_delivered_as_soon_as_its_content_length_has_arrived():
    """A live camera sends nothing more until its next frame: the one received must not wait for it."""
    jpeg = _jpeg(150)
    response = ChunkedResponse(b"--cam\r\nContent-Length: %d\r\n\r\n%s" % (len(jpeg), jpeg), size=64,
                               error=TimeoutError())
    reader = MjpegReader("http://cam.local/mjpg", response, b"cam", stall_s=1.0)
    assert int(reader.read()[0].mean()) == pytest.approx(150, abs=3)
    with pytest.raises(StreamLost, match="stalled"):
        reader.read()


@pytest.mark.parametrize("endless", [b"X-Junk: ", b"\r\n\r\n"], ids=["headers", "body"])
def test_an_mjpeg_part_that_never_ends_ends_the_stream_instead_of_filling_memory(endless):
    endless += b"x" * 2 * MjpegReader.MAX_PART_BYTES
    stream = b"--cam\r\n" + endless + b"\r\n\r\n\r\n--cam\r\n\r\n%s\r\n--cam--\r\n" % _jpeg(60)
    response = ChunkedResponse(stream, size=1024 * 1024)
    reader = MjpegReader("http://cam.local/mjpg", response, b"cam", stall_s=1.0)
    assert reader.read() is None
    assert response.chunks  # the rest of the stream was never read


READERS = ["emotui.capture.readers.opencv", "emotui.capture.readers.mjpeg", "emotui.capture.readers.images"]


@pytest.mark.parametrize("module", READERS)
def test_each_reader_imports_on_its_own_and_knows_nothing_of_the_capture_thread(module):
    """A reader depends on what a source is and on its settings (and MJPEG on FFmpeg's reader for
    other HTTP streams), never on the capture thread or its buffer."""
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    source = Path(importlib.import_module(module).__file__).read_text()
    imported = {node.module for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.ImportFrom) and node.module.startswith("emotui")}
    allowed = {"emotui.capture.sources", "emotui.config", *READERS}
    assert imported <= allowed, imported - allowed
