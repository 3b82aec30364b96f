"""Real cameras on loopback for tests and benchmarks: the MJPEG and RTSP server scripts run in
processes of their own, so a test can unplug one (kill it) and plug it back in (start it again on
the same port)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"  # the RTSP server needs GStreamer's `gi`, which the venv lacks


class ServerProcess:
    """A server script that prints `ready <port>` once it listens."""

    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.process: subprocess.Popen | None = None

    def start(self):
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if not self.process.stdout.readline().startswith("ready"):
            self.process.kill()
            raise RuntimeError(f"{Path(self.command[1]).name} did not start: {self.process.stderr.read()[-2000:]}")
        return self

    def kill(self) -> None:
        """Gone at once, like a camera losing power: no goodbye to connected clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


class MjpegCamera(ServerProcess):
    def __init__(self, port: int, video: Path | str, mode: str = "mjpeg", fps: float = 15.0) -> None:
        super().__init__([sys.executable, str(HERE / "mjpeg_server.py"), "--port", str(port), "--video", str(video),
                          "--mode", mode, "--fps", str(fps)])
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream"


class RtspCamera(ServerProcess):
    def __init__(self, port: int, frames: Path, fps: int = 15) -> None:
        super().__init__([SYSTEM_PYTHON, str(HERE / "rtsp_server.py"), "--port", str(port), "--frames", str(frames),
                          "--fps", str(fps)])
        self.port = port

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/live"


def rtsp_unavailable() -> str | None:
    """Why the RTSP server cannot run here, or None if it can."""
    probe = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
             "assert Gst.ElementFactory.find('rtpjpegpay') and Gst.ElementFactory.find('multifilesrc')")
    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{SYSTEM_PYTHON} cannot run: {error}"
    return None if done.returncode == 0 else done.stderr.strip().splitlines()[-1]
