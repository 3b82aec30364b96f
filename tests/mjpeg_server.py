"""A real HTTP MJPEG server, as IP cameras serve: a video's frames, looped, as
multipart/x-mixed-replace JPEG parts at a steady rate. A script, so tests and benchmarks can run it
in a process of its own, kill it and start it again on the same port (tests/cameras.py).

    python tests/mjpeg_server.py --port N --video FILE [--fps 15] [--mode MODE]

Modes: `mjpeg` (the stream), `corrupt` (every third part is not a JPEG), `stall` (three frames,
then silence with the connection open), `octet` (200 with random bytes as
application/octet-stream), `missing` (404). Prints `ready <port>` once it listens.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2

BOUNDARY = "emotuiframe"


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
            if mode == "octet":
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                for _ in range(200):
                    self.wfile.write(os.urandom(4096))
                return
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.end_headers()
            started, sent = time.monotonic(), 0
            try:
                while True:
                    if mode == "stall" and sent == 3:
                        time.sleep(3600)
                    body = b"\x00not a jpeg\x00" * 40 if mode == "corrupt" and sent % 3 == 2 \
                        else frames[sent % len(frames)]
                    self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body + b"\r\n")
                    self.wfile.flush()
                    sent += 1
                    time.sleep(max(0.0, started + sent / fps - time.monotonic()))
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--video", required=True)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--mode", default="mjpeg", choices=["mjpeg", "corrupt", "stall", "octet", "missing"])
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(load_jpegs(args.video), args.fps, args.mode))
    server.daemon_threads = True
    print(f"ready {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
