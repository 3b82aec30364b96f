"""A real mosquitto broker on a free loopback port, a link to it that can be cut, and a subscriber
that records what arrives. Used by the MQTT tests and by benchmarks/alerts.py."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).is_file()), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Broker:
    """mosquitto with persistence in `folder` (sessions and queued messages survive a restart)."""

    def __init__(self, folder: Path, extra_config: str = "", allow_anonymous: bool = True) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"user {getpass.getuser()}\n"  # as root, mosquitto would switch to a user who cannot read this folder
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {'true' if allow_anonymous else 'false'}\n"
            "persistence true\n"
            f"persistence_location {folder}/\n"
            f"log_dest file {folder / 'mosquitto.log'}\n"
            + extra_config
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> Broker:
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (.ci/run installs it)")
        self.process = subprocess.Popen([binary, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.process.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port}")

    def stop(self) -> None:
        """A clean stop (SIGTERM): mosquitto saves its persistence file."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


class Link:
    """A TCP relay from a loopback port of its own to a broker's: a network link that can be cut (every
    connection through it closed, no new one accepted) and restored on the same port."""

    def __init__(self, broker_port: int) -> None:
        self.port = free_port()
        self._broker_port = broker_port
        self._server: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def restore(self) -> Link:
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._server,), daemon=True).start()
        return self

    def cut(self) -> None:
        with self._lock:
            for end in [self._server, *self._sockets]:
                try:
                    end.shutdown(socket.SHUT_RDWR)  # wakes the threads blocked on it
                except OSError:
                    pass  # already closed by its other end
                end.close()
            self._sockets.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                near, _ = server.accept()
                far = socket.create_connection(("127.0.0.1", self._broker_port))
            except OSError:
                return
            with self._lock:
                self._sockets += [near, far]
            for source, sink in ((near, far), (far, near)):
                threading.Thread(target=self._relay, args=(source, sink), daemon=True).start()

    @staticmethod
    def _relay(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # cut


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float  # time.time() on arrival


class Subscriber:
    """A paho client recording every message on `topics`; `persistent` keeps its session (QoS 1
    messages queued for it) across its own or the broker's restarts."""

    def __init__(self, port: int, topics: list[str] | tuple[str, ...] = ("#",), client_id: str = "",
                 persistent: bool = False, username: str | None = None, password: str | None = None) -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"test-{free_port()}",
                                   clean_session=not persistent)
        if username:
            self._client.username_pw_set(username, password)
        self._client.reconnect_delay_set(0.1, 0.5)
        self._topics = list(topics)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.connect("127.0.0.1", port, keepalive=10)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("subscriber could not subscribe")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        # acknowledge at once: with Nagle's algorithm each PUBACK can wait 40 ms for a delayed ACK
        client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.subscribe([(topic, 1) for topic in self._topics])

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append(Received(message.topic, bytes(message.payload), bool(message.retain), time.time()))

    def on(self, topic: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, condition, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if condition(list(self.messages)):
                    return True
            time.sleep(0.02)
        return False

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self._client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
