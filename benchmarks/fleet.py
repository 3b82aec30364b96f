"""Fleet console benchmark: a real mosquitto, simulated devices (benchmarks/fleet_sim.py) and the real
`emotui fleet` in a pseudo-terminal; prints JSON figures.

    .venv/bin/python benchmarks/fleet.py [--devices 20] [--seconds 60] [--keepalive 5] [--cols 160 --rows 50]

What it does:
  * starts mosquitto on a free port, `fleet_sim.py` with devices-2 devices in one process and the
    last two in a process each (one is killed, the other frozen), each device on its own connection;
  * starts `python -m emotui fleet --mqtt 127.0.0.1:PORT` in a pty of --cols x --rows and reads
    everything it writes, with the time of arrival;
  * from 10 s after the console logs the first device online (warm-up), for --seconds: the fleet's user+system CPU
    time from /proc/<pid>/stat (% of one core), and for every alert a simulated device starts, the
    time from just before its publish to the first arrival of its marker (the rule's name, unique)
    in the terminal output: event-to-screen latency, p50 / p95 / max (and, apart, from its arrival
    at a subscriber of the benchmark's own: the console's part, without the simulator's and broker's);
  * SIGKILLs the last device's process and times until the console writes `emotui/simNN: offline`
    (a killed process's socket is closed by the kernel, so the broker sends the last will at once);
    then SIGSTOPs the one before it (a device that loses power or network: the socket stays open
    and silent) and times the same, which the broker can only notice after 1.5 x keepalive;
  * reports the machine's load (`uptime`) before and after. Figures only: nothing here asserts.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.mosquitto import Broker, Subscriber  # noqa: E402

WARM_UP_S = 10.0  # after the first device is online: the rest and their retained topics arrive
TARGETS = {"cpu_percent_of_one_core": 30.0, "event_to_screen_ms_p95": 200.0, "offline_vs_keepalive": 1.5}


def say(text: str) -> None:
    print(f"fleet-bench: {text}", file=sys.stderr, flush=True)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Terminal:
    """`emotui fleet` in a pty; its output kept with the time each chunk arrived."""

    def __init__(self, command: list[str], cols: int, rows: int) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ.update(TERM="xterm-256color", LANG="C.UTF-8")
            os.environ.pop("COLORTERM", None)
            os.execvp(command[0], command)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.output = bytearray()
        self.chunks: list[tuple[float, int]] = []  # (arrival, end offset in output)
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.output += data
                self.chunks.append((time.time(), len(self.output)))

    def first_seen(self, text: bytes, after: float) -> float | None:
        """When `text` first arrived in a chunk received after `after` (epoch seconds)."""
        with self.lock:
            start = next((end for at, end in reversed(self.chunks) if at < after), 0)
            index = self.output.find(text, max(0, start - len(text)))
            if index < 0:
                return None
            return next(at for at, end in self.chunks if end >= index + len(text))

    def wait_for(self, text: bytes, after: float, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (seen := self.first_seen(text, after)) is not None:
                return seen
            time.sleep(0.01)
        return None

    def stop(self) -> None:
        os.write(self.fd, b"q")
        for _ in range(50):
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                return
            time.sleep(0.1)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


class Simulator:
    def __init__(self, port: int, first: int, devices: int, keepalive: int, marker_start: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "benchmarks" / "fleet_sim.py"), "--port", str(port), "--first", str(first),
             "--devices", str(devices), "--keepalive", str(keepalive), "--marker-start", str(marker_start)],
            stdout=subprocess.PIPE, text=True)
        self.published: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.published.append(json.loads(line))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--keepalive", type=int, default=5)
    parser.add_argument("--cols", type=int, default=160)
    parser.add_argument("--rows", type=int, default=50)
    args = parser.parse_args()
    result: dict = {"devices": args.devices, "seconds": args.seconds, "keepalive_s": args.keepalive,
                    "terminal": [args.cols, args.rows], "load_before": uptime()}
    killed, frozen = args.devices - 1, args.devices - 2  # each device in a process of its own
    with tempfile.TemporaryDirectory(prefix="emotui-fleet-bench-") as folder:
        broker = Broker(Path(folder) / "broker").start()
        many = Simulator(broker.port, 0, args.devices - 2, args.keepalive, 0)
        lone = {index: Simulator(broker.port, index, 1, args.keepalive, 10_000 * (index + 1))
                for index in (killed, frozen)}
        watcher = Subscriber(broker.port, ["emotui/+/events", "emotui/+/available"])  # what left the broker, when
        terminal = Terminal([sys.executable, "-m", "emotui", "fleet", "--mqtt", f"127.0.0.1:{broker.port}"],
                            args.cols, args.rows)
        try:
            started = time.time()
            say("waiting for the devices")
            if terminal.wait_for(b": online", started, 60) is None:
                raise SystemExit("no device came online")
            result["first_device_online_after_s"] = round(time.time() - started, 2)
            time.sleep(WARM_UP_S)
            say(f"measuring for {args.seconds:g} s")
            begin, cpu_begin = time.time(), cpu_seconds(terminal.pid)
            time.sleep(args.seconds)
            end, cpu_end = time.time(), cpu_seconds(terminal.pid)
            result["cpu_percent_of_one_core"] = round(100 * (cpu_end - cpu_begin) / (end - begin), 1)
            say(f"CPU {result['cpu_percent_of_one_core']} % of a core")
            time.sleep(2)  # the last events' rows
            latencies, from_broker, missing = [], [], 0
            delivered: dict[str, float] = {}  # marker -> arrival of its alert's first event
            for message in watcher.messages:
                if message.topic.endswith("/events"):
                    delivered.setdefault(json.loads(message.payload)["after"]["rule"], message.at)
            for alert in many.published + lone[killed].published + lone[frozen].published:
                if begin <= alert["published"] <= end:
                    seen = terminal.first_seen(alert["marker"].encode(), alert["published"] - 0.5)
                    if seen is None:
                        missing += 1
                    else:
                        latencies.append(1000 * (seen - alert["published"]))
                        if alert["marker"] in delivered:
                            from_broker.append(1000 * (seen - delivered[alert["marker"]]))
            result["events"] = len(latencies)
            result["events_not_seen"] = missing
            say(f"{len(latencies)} events on screen, {missing} not seen")
            if latencies:
                result["event_to_screen_ms"] = {"p50": round(statistics.median(latencies), 1),
                                                "p95": round(percentile(latencies, 0.95), 1),
                                                "max": round(max(latencies), 1)}
                result["broker_to_screen_ms"] = {"p50": round(statistics.median(from_broker), 1),
                                                 "p95": round(percentile(from_broker, 0.95), 1)}
            killed_at = time.time()
            lone[killed].process.send_signal(signal.SIGKILL)
            seen = terminal.wait_for(f"emotui/sim{killed:02d}: offline".encode(), killed_at, 10 * args.keepalive)
            result["offline_after_sigkill_s"] = round(seen - killed_at, 3) if seen else None
            stopped_at = time.time()
            lone[frozen].process.send_signal(signal.SIGSTOP)
            seen = terminal.wait_for(f"emotui/sim{frozen:02d}: offline".encode(), stopped_at, 10 * args.keepalive)
            result["offline_after_sigstop_s"] = round(seen - stopped_at, 3) if seen else None
            if seen:
                result["offline_after_sigstop_vs_keepalive"] = round((seen - stopped_at) / args.keepalive, 2)
            will = next((m.at for m in watcher.messages if m.topic == f"emotui/sim{frozen:02d}/available"
                         and m.payload == b"offline" and m.at > stopped_at), None)
            result["broker_will_after_sigstop_s"] = round(will - stopped_at, 3) if will else None
            result["terminal_output_kb_per_s"] = round(len(terminal.output) / 1000 / (time.time() - started), 1)
        finally:
            terminal.stop()
            watcher.close()
            for simulator in (many, *lone.values()):
                simulator.stop()
            broker.stop()
    result["load_after"] = uptime()
    result["targets"] = TARGETS
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
