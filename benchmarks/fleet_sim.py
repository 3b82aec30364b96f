"""Simulated emotui devices on a real broker, for `emotui fleet` (benchmarks/fleet.py, or by hand).

    .venv/bin/python benchmarks/fleet_sim.py --port 1883 [--devices 20] [--first 0] [--keepalive 5]
                                             [--events-per-minute 3] [--preview-fps 1] [--seconds 0]

Each device publishes what `emotui run` with `mqtt.preview_fps = 1` does, under its own prefix
`emotui/sim<NN>` with one camera `cam<NN>`: `available` (retained, `offline` as its last will),
the `device` record, `armed/state`, `status`, each rule's `state` and `threshold/state` (retained;
a `threshold/set` is validated and echoed like a device does), the live `state` about twice a
second, alert `events` (a `new`, then an `end` a few seconds later) a few times a minute, and a
320x240 preview JPEG (frames of a real face video, 10-20 KB) once a second. Every device has its
own MQTT connection, so the broker's last will fires for each.

For each alert started it prints a JSON line `{"marker", "device", "published"}` (epoch seconds
just before the publish): the rule's name is the marker, so the benchmark can find when the row
appears on the console's screen."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import random
import signal
import sys
import threading
import time
from pathlib import Path

import cv2
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.media import find_media  # noqa: E402

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
CLIPS = ("liveportrait_d6.mp4", "liveportrait_d12.mp4", "liveportrait_d18.mp4", "liveportrait_d20.mp4")
PREVIEW_SIZE = (320, 240)
FRAMES_PER_CLIP = 30
STATE_INTERVAL_S = 0.5
ALERT_LENGTH_S = (2.0, 8.0)
_print_lock = threading.Lock()


def preview_frames() -> list[bytes]:
    """320x240 JPEGs (quality 70, as devices send) from the research media's face clips."""
    frames = []
    for clip in CLIPS:
        reader = cv2.VideoCapture(str(find_media() / "videos" / "faces" / clip))
        for _ in range(FRAMES_PER_CLIP):
            ok, frame = reader.read()
            if not ok:
                break
            small = cv2.resize(frame, PREVIEW_SIZE, interpolation=cv2.INTER_AREA)
            frames.append(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 70])[1].tobytes())
            for _ in range(4):  # a frame in five: a second of video at 1 fps is more than enough variety
                reader.grab()
        reader.release()
    if not frames:
        raise SystemExit(f"no face clips under {find_media() / 'videos' / 'faces'}")
    return frames


class Device:
    def __init__(self, index: int, port: int, keepalive: int, frames: list[bytes], args) -> None:
        self.prefix, self.camera = f"emotui/sim{index:02d}", f"cam{index:02d}"
        self.frames, self.args = frames, args
        self.random = random.Random(index)
        self.thresholds = {"fear": 0.6, "anger": 0.7}
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"emotui-sim-{index}")
        self.client.will_set(f"{self.prefix}/available", "offline", qos=1, retain=True)
        self.client.on_connect = self._connected
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port, keepalive)
        self.client.loop_start()

    def topic(self, name: str) -> str:
        return f"{self.prefix}/{self.camera}/{name}"

    def _connected(self, client, userdata, flags, reason_code, properties) -> None:
        retained = {
            f"{self.prefix}/available": "online",
            f"{self.prefix}/device": json.dumps({
                "version": "0.1.0", "host": f"sim-{self.camera}", "cameras": [self.camera], "armed": True,
                "keepalive_s": self.args.keepalive, "preview_fps": self.args.preview_fps,
                "rules": [{"name": name, "slug": name, "kind": "emotion", "emotions": [name.replace("anger", "angry")],
                           "threshold": value, "severity": "alert"} for name, value in self.thresholds.items()]
                + [{"name": "visitor", "slug": "visitor", "kind": "face", "emotions": [], "threshold": None,
                    "severity": "info"}]}),
            self.topic("armed/state"): "ON",
            self.topic("status"): json.dumps({"state": "live", "detail": "", "outages": 0, "reconnects": 0}),
            **{self.topic(f"alerts/{name}/state"): "OFF" for name in (*self.thresholds, "visitor")},
            **{self.topic(f"alerts/{name}/threshold/state"): f"{value:g}" for name, value in self.thresholds.items()},
        }
        for topic, payload in retained.items():
            client.publish(topic, payload, qos=1, retain=True)
        client.subscribe(f"{self.prefix}/+/alerts/+/threshold/set", qos=1)

    def _message(self, client, userdata, message) -> None:
        rule = message.topic.split("/")[-3]
        try:
            value = float(message.payload)
        except ValueError:
            return
        if rule in self.thresholds and 0 <= value <= 1:
            self.thresholds[rule] = value
            client.publish(self.topic(f"alerts/{rule}/threshold/state"), f"{value:g}", qos=1, retain=True)

    def run(self, stop: threading.Event, markers) -> None:
        """State twice a second, a preview at its rate, alerts at random a few times a minute."""
        start = time.monotonic()
        next_state = next_preview = start + self.random.random()
        next_alert = start + self.random.expovariate(self.args.events_per_minute / 60)
        open_alerts: list[tuple[float, dict]] = []
        frame = self.random.randrange(len(self.frames))
        while not stop.wait(0.05):
            now = time.monotonic()
            if now >= next_state:
                next_state += STATE_INTERVAL_S
                faces = self.random.choice((0, 1, 1, 2))
                self.client.publish(self.topic("state"), json.dumps({
                    "faces": faces, "dominant": self.random.choice(EMOTIONS) if faces else "none",
                    "emotions": {str(n): self.random.choice(EMOTIONS) for n in range(faces)}, "armed": True}),
                    qos=0, retain=True)
            if self.args.preview_fps and now >= next_preview:
                next_preview += 1 / self.args.preview_fps
                frame = (frame + 1) % len(self.frames)
                self.client.publish(self.topic("preview"), self.frames[frame], qos=0)
            if now >= next_alert:
                next_alert = now + self.random.expovariate(self.args.events_per_minute / 60)
                marker = f"m{next(markers):05d}"
                record = {"type": "new", "id": f"{time.time():.6f}-{marker}", "camera": self.camera, "rule": marker,
                          "kind": "emotion", "severity": "alert", "track_id": 1, "emotion": "fear", "score": 0.7,
                          "peak_score": 0.7, "faces": 1, "start_time": time.time(), "end_time": None,
                          "timestamp": time.time(), "source_time": now - start, "snapshot": None, "sequence": 1}
                published = time.time()
                self.client.publish(f"{self.prefix}/events", json.dumps({"type": "new", "before": record,
                                                                          "after": record}), qos=1)
                with _print_lock:
                    print(json.dumps({"marker": marker, "device": self.prefix, "published": published}), flush=True)
                open_alerts.append((now + self.random.uniform(*ALERT_LENGTH_S), record))
            for due, record in [alert for alert in open_alerts if alert[0] <= now]:
                open_alerts.remove((due, record))
                end = {**record, "type": "end", "end_time": time.time(), "timestamp": time.time(), "sequence": 2}
                self.client.publish(f"{self.prefix}/events", json.dumps({"type": "end", "before": record,
                                                                          "after": end}), qos=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--first", type=int, default=0, help="number of the first device (prefix emotui/simNN)")
    parser.add_argument("--keepalive", type=int, default=5, help="seconds; the last will fires after 1.5x this")
    parser.add_argument("--events-per-minute", type=float, default=3.0, help="alerts started per device")
    parser.add_argument("--preview-fps", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: on SIGTERM/SIGINT)")
    parser.add_argument("--marker-start", type=int, default=0, help="first marker number (distinct per process)")
    args = parser.parse_args()
    frames = preview_frames()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    markers = itertools.count(args.marker_start)
    devices = [Device(index, args.port, args.keepalive, frames, args)
               for index in range(args.first, args.first + args.devices)]
    threads = [threading.Thread(target=device.run, args=(stop, markers), daemon=True) for device in devices]
    for thread in threads:
        thread.start()
    stop.wait(args.seconds or None)
    stop.set()
    for thread in threads:
        thread.join()
    sent = [device.client.publish(f"{device.prefix}/available", "offline", qos=1, retain=True)
            for device in devices]  # a clean stop says offline itself, as emotui does
    for device, info in zip(devices, sent):
        with contextlib.suppress(RuntimeError, ValueError):
            info.wait_for_publish(1)
        device.client.disconnect()
        device.client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
