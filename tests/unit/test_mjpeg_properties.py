"""Property-based tests of the MJPEG parser: any framing a camera may use (parts with or without
Content-Length, extra headers, a preamble, any read sizes) yields the good frames in order and
counts the undecodable parts, whatever they contain."""

from __future__ import annotations

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from emotui.capture.readers.mjpeg import MjpegReader
from tests.helpers import ChunkedResponse

JPEGS = {value: cv2.imencode(".jpg", np.full((8, 8, 3), value, np.uint8))[1].tobytes() for value in range(0, 256, 17)}

PART = st.one_of(
    st.tuples(st.just("jpeg"), st.sampled_from(sorted(JPEGS)), st.booleans(), st.booleans()),
    # junk that is not a JPEG and holds no boundary
    st.tuples(st.just("junk"), st.binary(min_size=1, max_size=40).filter(lambda b: b"--cam" not in b),
              st.booleans(), st.booleans()),
)


def _frame(kind, payload, with_length: bool, extra_header: bool) -> bytes:
    body = JPEGS[payload] if kind == "jpeg" else payload
    headers = b"Content-Type: image/jpeg\r\n"
    if extra_header:
        headers += b"X-Timestamp: 12345.678\r\n"
    if with_length:
        headers += b"Content-Length: %d\r\n" % len(body)
    return b"--cam\r\n" + headers + b"\r\n" + body + b"\r\n"


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(PART, max_size=8), preamble=st.binary(max_size=20).filter(lambda b: b"--cam" not in b),
       read_size=st.integers(min_value=1, max_value=300))
def test_any_framing_yields_the_good_frames_in_order_and_counts_the_rest(parts, preamble, read_size):
    stream = preamble + b"\r\n" + b"".join(_frame(*part) for part in parts) + b"--cam--\r\n"
    reader = MjpegReader("http://cam.local/mjpg", ChunkedResponse(stream, size=read_size), b"cam", stall_s=1.0)
    seen = []
    while (decoded := reader.read()) is not None:
        seen.append(int(round(decoded[0].mean())))
    expected = [value for kind, value, _, _ in parts if kind == "jpeg"]
    assert len(seen) == len(expected)
    assert all(abs(a - b) <= 3 for a, b in zip(seen, expected))
    assert reader.corrupt_frames == sum(kind == "junk" for kind, *_ in parts)
