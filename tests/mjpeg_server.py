"""A real HTTP MJPEG server, as IP cameras serve: a video's frames, looped, as
multipart/x-mixed-replace JPEG parts at a steady rate. A script, so tests and benchmarks can run it
in a process of its own, kill it and start it again on the same port (tests/cameras.py).

    python tests/mjpeg_server.py --port N --video FILE [--fps 15] [--mode MODE]

Modes: `mjpeg` (the stream), `corrupt` (every third part is not a JPEG), `stall` (three frames,
then silence with the connection open), `octet` (200 with random bytes as
application/octet-stream), `missing` (404). Hostile ones, as an attacker or a broken camera serves
(HOSTILE_MODES): `huge-length` (three frames, then a part announcing 10 GB followed by endless junk
as fast as it can be read), `trickle` (three frames, then the next part at 1 byte/s),
`slow-headers` (the HTTP answer's headers at 1 byte/s, endlessly), `bad-boundary` (from the start,
parts framed by another boundary than the one declared), `endless-part` (three frames, then a part
without a length that never ends: junk as fast as it can be read), `wrong-length`
(WRONG_LENGTH_PARTS parts, every third announcing a wrong Content-Length, too long and too short in
turn, then the end of the stream).
Prints `ready <port>` once it listens.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2

BOUNDARY = "emotuiframe"
HOSTILE_MODES = ("huge-length", "trickle", "slow-headers", "bad-boundary", "endless-part", "wrong-length")
GOOD_FRAMES = 3  # sent before a hostile mode misbehaves, so the source has been live
HUGE_LENGTH = 10_000_000_000
WRONG_LENGTH_PARTS = 30  # every third wrong: 10 damaged parts, 20 frames
JUNK = bytes(b for b in random.Random(0).randbytes(64 * 1024) if b != ord("-"))  # never spells a boundary


def load_jpegs(video: str, limit: int = 150) -> list[bytes]:
    capture = cv2.VideoCapture(video)
    frames = []
    while len(frames) < limit:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
    capture.release()
    if not frames:
        sys.exit(f"no frames in {video}")
    return frames


def make_handler(frames: list[bytes], fps: float, mode: str):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if mode == "missing":
                self.send_error(404, "Not Found")
                return
            if mode == "redirect-loop" or (mode == "redirect" and self.path != "/moved"):
                self.send_response(302)
                self.send_header("Location", self.path if mode == "redirect-loop" else "/moved")
                self.end_headers()
                return
            if mode == "octet":
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                for _ in range(13):  # the same bytes each time: random ones are now and then taken for media
                    self.wfile.write(JUNK)
                return
            try:
                if mode == "slow-headers":
                    self.trickle(b"HTTP/1.0 200 OK\r\n" + b"X-Slow: 1\r\n" * 1_000_000)
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.end_headers()
                self.stream()
            except (BrokenPipeError, ConnectionResetError):
                pass

        def stream(self) -> None:
            started, sent = time.monotonic(), 0
            misbehave_after = 0 if mode == "bad-boundary" else GOOD_FRAMES
            while True:
                if sent == misbehave_after and mode in HOSTILE_MODES and mode != "wrong-length":
                    self.misbehave()
                    return
                if mode == "stall" and sent == 3:
                    time.sleep(3600)
                if mode == "wrong-length" and sent == WRONG_LENGTH_PARTS:
                    self.wfile.write(f"--{BOUNDARY}--\r\n".encode())
                    return
                body = b"\x00not a jpeg\x00" * 40 if mode == "corrupt" and sent % 3 == 2 \
                    else frames[sent % len(frames)]
                length = len(body)
                if mode == "wrong-length" and sent % 3 == 1:
                    length = length + 100 if sent % 2 else length // 2
                self.part(body, f"Content-Length: {length}\r\n")
                sent += 1
                time.sleep(max(0.0, started + sent / fps - time.monotonic()))

        def part(self, body: bytes, headers: str, boundary: str = BOUNDARY) -> None:
            self.wfile.write(f"--{boundary}\r\nContent-Type: image/jpeg\r\n{headers}\r\n".encode() + body + b"\r\n")
            self.wfile.flush()

        def misbehave(self) -> None:
            """What a hostile mode does once it has sent its good frames."""
            if mode == "huge-length":
                self.wfile.write(f"--{BOUNDARY}\r\nContent-Length: {HUGE_LENGTH}\r\n\r\n".encode())
            elif mode == "trickle":
                self.trickle(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n".encode() + frames[0])
            elif mode == "bad-boundary":
                while True:
                    self.part(frames[0], "", boundary="otherframe")
                    time.sleep(1 / fps)
            elif mode == "endless-part":
                self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n".encode())
            if mode in ("huge-length", "endless-part"):
                while True:
                    self.wfile.write(JUNK)

        def trickle(self, data: bytes) -> None:
            for byte in data:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(1.0)

        def log_message(self, *args) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--video", required=True)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--mode", default="mjpeg",
                        choices=["mjpeg", "corrupt", "stall", "octet", "missing", "redirect", "redirect-loop", *HOSTILE_MODES])
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(load_jpegs(args.video), args.fps, args.mode))
    server.daemon_threads = True
    print(f"ready {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
