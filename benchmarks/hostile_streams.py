"""Hostile-stream benchmark: `emotui run --headless` on a real MJPEG server in each of its hostile
modes (tests/mjpeg_server.py) for a while; per mode: RSS when the first line is out and at its peak,
how long after the last frame the source was reported lost (or retrying, or the run refused it),
the frames read and the corrupt parts counted. The source keeps its default settings (stall_s 5 s).
Prints JSON.

    EMOTUI_MODELS_DIR=.models .venv/bin/python benchmarks/hostile_streams.py [--seconds 60] [--modes …]
"""

from __future__ import annotations

import argparse
import json
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
from tests.helpers import RssSampler  # noqa: E402
from tests.media import find_media  # noqa: E402
from tests.mjpeg_server import HOSTILE_MODES  # noqa: E402
from tests.mosquitto import free_port  # noqa: E402

CLIP = find_media() / "videos" / "faces" / "liveportrait_d6.mp4"


def run_mode(mode: str, seconds: float, folder: Path) -> dict:
    camera = MjpegCamera(free_port(), CLIP, mode=mode).start()
    config = folder / f"{mode}.toml"
    config.write_text(f'[alerts]\ndir = "{folder / mode}"\n')
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "emotui", "--config", str(config), "run", "--headless",
                                "--json", "--source", camera.url], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    rss = RssSampler(process.pid)
    lines: list[tuple[float, dict]] = []
    first_line = threading.Event()

    def read_output() -> None:
        for line in process.stdout:
            lines.append((time.monotonic(), json.loads(line)))
            first_line.set()

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    while not first_line.wait(0.1) and process.poll() is None and time.monotonic() < started + seconds:
        pass
    start = rss.mark()
    rss_start = rss.samples[start]
    try:
        process.wait(max(0.0, started + seconds - time.monotonic()))
        exited_after = round(time.monotonic() - started, 2)  # on its own: the source refused
    except subprocess.TimeoutExpired:
        exited_after = None
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    reader.join(10)
    camera.kill()
    outage = next(((at, line["status"]) for at, line in lines
                   if line.get("status", {}).get("state") in ("lost", "retrying")), None)
    last_frame = max((at for at, line in lines if "frame" in line and (outage is None or at < outage[0])),
                     default=started)
    summary = next((line["summary"] for _, line in lines if "summary" in line), {})
    return {
        "mode": mode,
        "rss_start_mb": round(rss_start, 1),
        "rss_peak_mb": round(max(rss.samples[start:]), 1),
        "first_outage": None if outage is None else {
            "state": outage[1]["state"], "after_last_frame_s": round(outage[0] - last_frame, 2),
            "detail": outage[1]["detail"]},
        "outages": sum(line.get("status", {}).get("state") == "lost" for _, line in lines),
        "frames_read": summary.get("frames_read"),
        "corrupt_frames": summary.get("corrupt_frames"),
        "exit_code": process.returncode,
        "exited_by_itself_after_s": exited_after,
        "stderr_last": process.stderr.read().strip().splitlines()[-1:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per mode")
    parser.add_argument("--modes", nargs="+", default=list(HOSTILE_MODES), choices=HOSTILE_MODES)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="emotui-hostile-") as tmp:
        runs = [run_mode(mode, args.seconds, Path(tmp)) for mode in args.modes]
    print(json.dumps({"benchmark": "hostile_streams",
                      "parameters": {"seconds_per_mode": args.seconds, "stall_s": 5.0,
                                     "source": "tests/mjpeg_server.py"},
                      "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
