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
import tracemalloc
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


class FakeClip:
    """Stands in for a video file: `frames` small frames at 100 fps of source time."""

    fps = 100.0

    def __init__(self, frames: int) -> None:
        self.frames, self.read_count = frames, 0

    def read(self):
        if self.read_count == self.frames:
            return None
        self.read_count += 1
        return np.zeros((4, 4, 3), np.uint8), (self.read_count - 1) / self.fps

    def close(self) -> None:
        pass


def test_a_file_played_in_real_time_keeps_its_pace_and_drops_the_oldest_frame_while_analysis_is_busy():
    ended = threading.Event()
    capture = Capture(SourceSpec("video", "clip.mp4"), reader=FakeClip(30), realtime=True,
                      on_status=lambda status: status.state == SourceState.ENDED and ended.set()).start()
    assert ended.wait(EVENT_TIMEOUT_S)  # played to its end, though analysis took no frame meanwhile
    assert [frame.index for frame in capture.frames()] == [29] and capture.dropped == 29


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


@pytest.mark.parametrize(("url", "shown", "port"), [
    ("http://cam.local:99999/mjpg", "http://cam.local:99999/mjpg", "99999"),
    ("rtsp://admin:secret@cam.local:0/live", "rtsp://admin:***@cam.local:0/live", "0"),
    ("http://[::1]:70000/mjpg", "http://[::1]:70000/mjpg", "70000"),
    ("https://cam.local:8o8o/mjpg", "https://cam.local:8o8o/mjpg", "8o8o"),
], ids=["too-high", "zero", "ipv6", "not-a-number"])
def test_a_stream_url_with_a_bad_port_is_a_specific_error_before_anything_connects(url, shown, port):
    with pytest.raises(SourceError) as raised:
        parse_source(url)
    assert str(raised.value) == f"{shown}: the port {port} is not a number from 1 to 65535"


def test_undecodable_images_in_a_folder_are_counted_and_reported_when_it_ends(tmp_path):
    for name, content in (("a.png", _png(40)), ("b.jpg", b"not a jpeg"), ("c.png", _png(90)), ("d.png", b"")):
        (tmp_path / name).write_bytes(content)
    statuses = []
    capture = Capture(parse_source(str(tmp_path)), on_status=statuses.append).start()
    assert [int(frame.image.mean()) for frame in capture.frames()] == [40, 90]
    assert capture.corrupt_frames == 2
    assert statuses[-1].describe() == "ended: with 2 undecodable frames skipped"
    assert statuses[-1].corrupt_frames == 2


def test_source_kinds():
    assert parse_source("0") == SourceSpec("camera", 0)
    assert parse_source("rtsp://cam.local/stream").kind == "url"
    assert parse_source("http://cam.local/mjpg").live


def _jpeg(value: int | tuple[int, int, int]) -> bytes:
    """An 8x8 JPEG of one grey level, or of one BGR colour."""
    return cv2.imencode(".jpg", np.full((8, 8, 3), value, np.uint8))[1].tobytes()


def _png(level: int) -> bytes:
    return cv2.imencode(".png", np.full((8, 8, 3), level, np.uint8))[1].tobytes()


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
    response = ChunkedResponse(b"", size=64, error=error)
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


def _read_all_within(reader: MjpegReader) -> tuple[list[int], int]:
    """The grey levels of every frame the reader decodes to the end of its stream, and the most
    memory Python allocated meanwhile (bytes)."""
    tracemalloc.start()
    try:
        levels = [int(frame.mean()) for frame in _frames(reader)]
        return levels, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("damage", "cap"), [
    (b"X-Junk: " + b"x" * 2 * MjpegReader.MAX_PART_BYTES, MjpegReader.MAX_HEADER_BYTES),  # headers never end
    (b"\r\n\r\n" + b"x" * 2 * MjpegReader.MAX_PART_BYTES, MjpegReader.MAX_PART_BYTES),  # no length, no boundary
    (b"Content-Length: 10000000000\r\n\r\n" + b"x" * 2 * MjpegReader.MAX_PART_BYTES, 0),  # a length over the cap
], ids=["headers", "body", "huge-length"])
def test_an_mjpeg_part_over_its_cap_is_corrupt_and_skipped_without_holding_it_and_the_next_one_comes(damage, cap):
    stream = b"--cam\r\n" + damage + b"\r\n\r\n\r\n--cam\r\n\r\n%s\r\n--cam--\r\n" % _jpeg(60)
    reader = MjpegReader("http://cam.local/mjpg", ChunkedResponse(stream, size=MjpegReader.CHUNK), b"cam", stall_s=60)
    levels, peak = _read_all_within(reader)
    assert levels == pytest.approx([60], abs=3) and reader.corrupt_frames == 1
    assert peak < cap * 1.25 + 4 * MjpegReader.CHUNK  # a buffer's growth margin; what came past the cap was dropped


def test_mjpeg_parts_with_a_wrong_content_length_are_corrupt_and_the_next_parts_are_found():
    """Too long, it swallows the next part's start; too short, it cuts the JPEG: each damaged part
    is counted, the boundary after it found again, and no good frame lost."""
    jpegs = [_jpeg(level) for level in (20, 70, 120, 170, 220)]
    lengths = [len(jpegs[0]), len(jpegs[1]) + 60, len(jpegs[2]), len(jpegs[3]) // 2, len(jpegs[4])]
    stream = b"".join(b"--cam\r\nContent-Length: %d\r\n\r\n%s\r\n" % (length, jpeg)
                      for length, jpeg in zip(lengths, jpegs)) + b"--cam--\r\n"
    reader = MjpegReader("http://cam.local/mjpg", ChunkedResponse(stream, size=50), b"cam", stall_s=60)
    assert [int(frame.mean()) for frame in _frames(reader)] == pytest.approx([20, 120, 220], abs=3)
    assert reader.corrupt_frames == 2


class EndlessResponse:
    """A server that never sends a whole frame: `data` again and again, `pause_s` between reads."""

    def __init__(self, data: bytes, pause_s: float = 0.0, first: bytes = b"") -> None:
        self.data, self.pause_s, self.first = data, pause_s, first

    def read1(self, _limit: int) -> bytes:
        if self.first:
            sent, self.first = self.first, b""
            return sent
        time.sleep(self.pause_s)
        return self.data

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("response", "reason"), [
    (EndlessResponse(b"x", pause_s=0.05), r"the server trickles [\d.]+ bytes/s"),
    (EndlessResponse(b"x", pause_s=0.05, first=b"--cam\r\nContent-Type: image/jpeg\r\n"),  # slow headers
     r"the server trickles [\d.]+ bytes/s"),
    (EndlessResponse(b"x" * 65536), r"\d+ (KB|MB) without the boundary --cam"),  # junk, or another boundary
    (EndlessResponse(b"--cam\r\nContent-Length: 9\r\n\r\nnot jpeg!\r\n"),
     r"\d+ damaged parts: not a decodable image"),
    (EndlessResponse(b"x" * 65536, first=b"--cam\r\nContent-Length: 10000000000\r\n\r\n"),
     r"1 damaged part: Content-Length 10000000000 is over the 16 MB cap; then \d+ (KB|MB) without the boundary --cam"),
], ids=["trickle", "slow-headers", "junk", "undecodable", "huge-length"])
def test_no_complete_mjpeg_frame_within_stall_s_is_a_stall_that_says_why(response, reason):
    reader = MjpegReader("http://cam.local/mjpg", response, b"cam", stall_s=0.5)
    with pytest.raises(StreamLost, match=rf"^no complete frame from http://cam.local/mjpg for 0.5 s \({reason}\)$"):
        reader.read()


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
