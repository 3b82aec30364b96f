"""Alert delivery benchmark: N events through the audit log, MQTT (a real mosquitto broker) and a
webhook (a local HTTP server), from the rule engine's firing to arrival. Prints JSON.

    .venv/bin/python benchmarks/alerts.py [--events 1000] [--rate 100] [--snapshots]

Events come from the real rule engine: a `face` rule with no duration, fed hand-made results in
which faces come and go (a `new` and an `end` event each). `--rate 0` fires them all at once.
Latency is measured from the event's `timestamp` (set when the rule fires) to its arrival at the
MQTT subscriber and at the HTTP server, which run in a process of their own (the same clock: all
on this machine).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from emotui.alerts.audit import chain_files, verify  # noqa: E402
from emotui.alerts.hub import AUDIT_FILE, AlertHub, AlertListener  # noqa: E402
from emotui.config import AlertRuleConfig, Config  # noqa: E402
from tests.factories import frame_result  # noqa: E402
from tests.mosquitto import Broker, Subscriber  # noqa: E402


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[float, dict]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((time.time(), json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def receive(broker_port: int, ready, stop, results) -> None:
    """In a process of its own (so it does not compete with emotui for the GIL): the MQTT
    subscriber and the HTTP server, returning (arrival time, payload) lists when told to stop."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    subscriber = Subscriber(broker_port, ["emotui/events"])
    ready.put(server.server_address[1])
    stop.wait()
    subscriber.close()
    server.shutdown()
    results.put(([(m.at, json.loads(m.payload)) for m in subscriber.messages], Receiver.received))


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    array = np.asarray(values) * 1000
    return {"median_ms": round(float(np.median(array)), 2), "p95_ms": round(float(np.percentile(array, 95)), 2),
            "max_ms": round(float(array.max()), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000, help="events to produce (even)")
    parser.add_argument("--rate", type=float, default=100.0, help="events per second; 0 = all at once")
    parser.add_argument("--snapshots", action="store_true", help="also save a snapshot per new alert")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="emotui-alert-bench-") as tmp:
        folder = Path(tmp)
        broker = Broker(folder / "broker").start()
        context = multiprocessing.get_context("spawn")
        ready, results, stop = context.Queue(), context.Queue(), context.Event()
        receiver = context.Process(target=receive, args=(broker.port, ready, stop, results), daemon=True)
        receiver.start()
        http_port = ready.get(timeout=60)

        config = Config()
        config.source.name = "bench"
        config.alerts.rules = [AlertRuleConfig(name="visitor", kind="face", min_duration_s=0.0, inertia_frames=1,
                                               cooldown_s=0.0)]
        config.alerts.dir = str(folder / "alerts")
        config.snapshots.dir = str(folder / "snapshots")
        config.snapshots.on_alert = args.snapshots
        config.mqtt.host, config.mqtt.port, config.mqtt.discovery = "127.0.0.1", broker.port, False
        config.webhook.url = f"http://127.0.0.1:{http_port}/alerts"
        produced: list = []
        problems: list[str] = []
        hub = AlertHub(config, "benchmark", AlertListener(on_event=produced.append, on_problem=problems.append),
                       environ={})
        deadline = time.monotonic() + 10
        while not hub.mqtt.connected and time.monotonic() < deadline:
            time.sleep(0.01)

        image = np.full((480, 640, 3), 90, np.uint8)
        interval = 2 / args.rate if args.rate > 0 else 0.0  # two events per visit
        started = time.perf_counter()
        for visit in range(args.events // 2):
            track = visit + 1
            hub.observe(frame_result(track, {track: 0.5}, image=image))
            hub.observe(frame_result(track + 0.5, {}, ended=[track], image=image))
            if interval:
                time.sleep(max(0.0, started + (visit + 1) * interval - time.perf_counter()))
        production_s = time.perf_counter() - started
        hub.close(timeout=120)  # delivers everything still queued
        time.sleep(1.0)  # the last messages reach the receivers
        stop.set()
        mqtt_received, webhook_received = results.get(timeout=60)
        receiver.join(timeout=10)
        broker.stop()

        fired_at = {(e.id, e.type, e.snapshot): e.timestamp for e in produced}
        mqtt_latency, mqtt_keys = [], []
        for at, payload in mqtt_received:
            after = payload["after"]
            key = (after["id"], after["type"], after["snapshot"])
            mqtt_keys.append(key)
            mqtt_latency.append(at - fired_at[key])
        webhook_latency = [at - fired_at[(body["id"], body["type"], body["snapshot"])]
                           for at, body in webhook_received]
        report = verify(chain_files(folder / "alerts" / AUDIT_FILE))
        audit_events = sum(1 for path in chain_files(folder / "alerts" / AUDIT_FILE)
                           for line in path.read_text().splitlines()
                           if json.loads(line)["type"] in ("new", "update", "end"))
        print(json.dumps({
            "benchmark": "alerts",
            "parameters": {"events": args.events, "rate_per_s": args.rate, "snapshots": args.snapshots,
                           "cores": os.cpu_count(), "sinks": ["audit log (fsync per event)", "mqtt qos 1", "webhook"]},
            "produced": len(produced),
            "production_s": round(production_s, 3),
            "mqtt": {"delivered": len(mqtt_received), "unique": len(set(mqtt_keys)),
                     "in_order": mqtt_keys == [(e.id, e.type, e.snapshot) for e in produced],
                     "lost": len(set(fired_at) - set(mqtt_keys)),
                     "firing_to_broker_delivery": percentiles(mqtt_latency)},
            "webhook": {"delivered": len(webhook_received), "lost": len(produced) - len(webhook_received),
                        "firing_to_server": percentiles(webhook_latency)},
            "audit_log": {"event_records": audit_events, "intact": report.ok, "records": report.records},
            "problems": problems,
        }, indent=2))


if __name__ == "__main__":
    main()
