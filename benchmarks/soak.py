"""Soak benchmark: `emotui run --headless` for a long time on a looping face video, watching
memory, throughput and alert delivery. Prints JSON.

    EMOTUI_MODELS_DIR=.models .venv/bin/python benchmarks/soak.py [--minutes 10]

The clip is a face video followed by two seconds without a face, played in real time
(`--realtime`, `source.loop = true`), so every pass raises a `face` alert (`new`) that ends when
the face leaves (`end`). Events must arrive everywhere: the run's output, the audit log, a real
mosquitto broker and a local HTTP server. RSS of the emotui process is sampled every 5 s; the
processed frame rate is counted per minute from its JSON lines. Ends with SIGTERM.
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.media import find_media  # noqa: E402
from tests.mosquitto import Broker, Subscriber  # noqa: E402

CLIP = find_media() / "videos" / "faces" / "liveportrait_d6.mp4"


def make_clip(target: Path) -> dict:
    """The face clip, then two seconds of an empty grey frame."""
    reader = cv2.VideoCapture(str(CLIP))
    fps = reader.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while True:
        ok, image = reader.read()
        if not ok:
            break
        frames.append(image)
    reader.release()
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for image in frames + [np.full_like(frames[0], 128)] * int(2 * fps):
        writer.write(image)
    writer.release()
    return {"clip": str(CLIP), "face_frames": len(frames), "empty_frames": int(2 * fps), "fps": fps,
            "loop_s": round((len(frames) + int(2 * fps)) / fps, 2)}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="emotui-soak-") as tmp:
        folder = Path(tmp)
        clip = make_clip(folder / "loop.mp4")
        broker = Broker(folder / "broker").start()
        subscriber = Subscriber(broker.port, ["emotui/events"])
        received: list[dict] = []

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        config = folder / "soak.toml"
        config.write_text(
            '[source]\nname = "soak"\nloop = true\n'
            f'[alerts]\ndir = "{folder / "alerts"}"\n'
            '[[alerts.rules]]\nname = "visitor"\nkind = "face"\nmin_duration_s = 0.5\ncooldown_s = 0.0\n'
            f'[snapshots]\ndir = "{folder / "snapshots"}"\n'
            f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n'
            f'[webhook]\nurl = "http://127.0.0.1:{server.server_address[1]}/hook"\n')
        process = subprocess.Popen(
            [sys.executable, "-m", "emotui", "--config", str(config), "run", "--headless", "--json", "--realtime",
             "--source", str(folder / "loop.mp4")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
        frame_times: list[float] = []
        printed_events: list[dict] = []
        summary: dict = {}

        def read_output() -> None:
            for line in process.stdout:
                data = json.loads(line)
                if "frame" in data:
                    frame_times.append(time.monotonic())
                elif "alert" in data:
                    printed_events.append(data["alert"])
                elif "summary" in data:
                    summary.update(data["summary"])

        reader = threading.Thread(target=read_output, daemon=True)
        reader.start()
        started = time.monotonic()
        samples: list[tuple[float, float]] = []
        while time.monotonic() - started < args.minutes * 60 and process.poll() is None:
            samples.append((round(time.monotonic() - started, 1), round(rss_mb(process.pid), 1)))
            time.sleep(5)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        reader.join(timeout=10)  # stdout is read by the reader thread alone
        stderr = process.stderr.read()
        time.sleep(1)
        subscriber.close()
        server.shutdown()
        broker.stop()

        minutes = int(args.minutes)
        per_minute = [sum(1 for t in frame_times if started + 60 * m <= t < started + 60 * (m + 1)) / 60
                      for m in range(minutes)]
        after_first_minute = [rss for at, rss in samples if at >= 60]
        audit = [json.loads(line) for path in sorted((folder / "alerts").glob("alerts.jsonl*"))
                 for line in path.read_text().splitlines()]
        audit_events = [r["data"] for r in audit if r["type"] in ("new", "update", "end")]
        keys = lambda events: [(e["id"], e["type"], e["snapshot"]) for e in events]  # noqa: E731
        mqtt_events = [json.loads(m.payload)["after"] for m in subscriber.messages]
        print(json.dumps({
            "benchmark": "soak",
            "parameters": {"minutes": args.minutes, "cores": os.cpu_count(), **clip},
            "exit_code": process.returncode,
            "stopped_by": summary.get("stopped_by"),
            "rss_mb": {
                "at_1_min": after_first_minute[0] if after_first_minute else None,
                "end": samples[-1][1] if samples else None,
                "max_after_1_min": max(after_first_minute) if after_first_minute else None,
                "growth_after_1_min_percent": round(100 * (max(after_first_minute) / after_first_minute[0] - 1), 1)
                if after_first_minute else None,
                "samples": samples,
            },
            "processed_fps_per_minute": [round(v, 2) for v in per_minute],
            "last_vs_first_minute_percent": round(100 * (per_minute[-1] / per_minute[0] - 1), 1)
            if minutes >= 2 and per_minute[0] else None,
            "frames_processed": summary.get("frames_processed"),
            "dropped_frames": summary.get("dropped_frames"),
            "events": {
                "printed": len(printed_events), "audit_log": len(audit_events), "mqtt": len(mqtt_events),
                "webhook": len(received), "new_alerts": sum(e["type"] == "new" for e in printed_events),
                "all_identical": keys(printed_events) == keys(audit_events) == keys(mqtt_events) == keys(received),
            },
            "stderr_tail": stderr.strip().splitlines()[-3:],
        }, indent=2))


if __name__ == "__main__":
    main()
