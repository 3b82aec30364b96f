"""A real RTSP server (GStreamer's gst-rtsp-server through GObject introspection) streaming a
folder of JPEG frames, looped, as RTP/JPEG. Run with the system Python, which has `gi`
(Debian: python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-good):

    /usr/bin/python3 tests/rtsp_server.py --port N --frames DIR [--fps 15]

The stream is rtsp://127.0.0.1:N/live. Prints `ready <port>` once it listens. Tests and
benchmarks run it through tests/cameras.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

def jpeg_size(path: Path) -> tuple[int, int]:
    """(width, height) from a JPEG's start-of-frame marker (rtpjpegpay needs them in its caps)."""
    data = path.read_bytes()
    position = 2
    while position < len(data):
        marker, length = data[position + 1], int.from_bytes(data[position + 2:position + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return int.from_bytes(data[position + 7:position + 9], "big"), int.from_bytes(data[position + 5:position + 7], "big")
        position += 2 + length
    raise SystemExit(f"{path}: no JPEG frame header")


def main() -> None:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--frames", required=True, help="a folder of 00000.jpg, 00001.jpg, ...")
    parser.add_argument("--fps", type=int, default=15)
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    width, height = jpeg_size(Path(args.frames) / "00000.jpg")
    factory.set_launch(
        f'( multifilesrc location="{args.frames}/%05d.jpg" loop=true '
        f'caps="image/jpeg,width={width},height={height},framerate={args.fps}/1" ! rtpjpegpay name=pay0 pt=26 )')
    factory.set_shared(True)
    server.get_mount_points().add_factory("/live", factory)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on port {args.port}")
    print(f"ready {args.port}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
