"""Reconnect benchmark: `emotui run --headless` on a real MJPEG camera (tests/mjpeg_server.py)
that is killed and started again, for outages of several lengths; measures how long after the
stream is back the first frame is analysed. Prints JSON.

    EMOTUI_MODELS_DIR=.models .venv/bin/python benchmarks/reconnect.py [--outages 1 3 10 30]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.cameras import MjpegCamera  # noqa: E402
from tests.media import find_media  # noqa: E402
from tests.mosquitto import free_port  # noqa: E402

CLIP = find_media() / "videos" / "faces" / "liveportrait_d6.mp4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outages", type=float, nargs="+", default=[1, 3, 10, 30], help="seconds each")
    args = parser.parse_args()
    camera = MjpegCamera(free_port(), CLIP).start()
    with tempfile.TemporaryDirectory(prefix="emotui-reconnect-") as tmp:
        config = Path(tmp) / "emotui.toml"
        config.write_text(f'[alerts]\ndir = "{Path(tmp) / "alerts"}"\n')  # the source section keeps its defaults
        process = subprocess.Popen(
            [sys.executable, "-m", "emotui", "--config", str(config), "run", "--headless", "--json",
             "--source", camera.url], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ})
        frames: list[float] = []
        statuses: list[dict] = []

        def read_output() -> None:
            for line in process.stdout:
                data = json.loads(line)
                if "frame" in data:
                    frames.append(time.monotonic())
                elif "status" in data:
                    statuses.append({**data["status"], "at": time.monotonic()})

        threading.Thread(target=read_output, daemon=True).start()
        while not frames:
            time.sleep(0.05)
        runs = []
        for outage in args.outages:
            time.sleep(2)
            killed = time.monotonic()
            camera.kill()
            time.sleep(outage)
            seen = len(frames)
            camera.start()
            back = time.monotonic()
            while len(frames) == seen and time.monotonic() - back < 60:
                time.sleep(0.01)
            lost = next((s for s in reversed(statuses) if s["state"] == "lost"), None)
            runs.append({"outage_s": outage,
                         "lost_detected_after_s": round(lost["at"] - killed, 2) if lost else None,
                         "resumed_after_stream_back_s": round(frames[seen] - back, 2) if len(frames) > seen else None})
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        camera.kill()
    print(json.dumps({
        "benchmark": "reconnect",
        "parameters": {"source": "MJPEG over HTTP (tests/mjpeg_server.py), 15 fps", "retry_min_s": 0.5,
                       "retry_max_s": 2.0, "stall_s": 5.0},
        "runs": runs,
        "status_lines": [s["state"] for s in statuses],
        "exit_code": process.returncode,
    }, indent=2))


if __name__ == "__main__":
    main()
