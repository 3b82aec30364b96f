"""A real local HTTP server for webhook tests: answers each POST as scripted and records it; with a
gate, it holds each request (recorded on arrival) until the gate is opened, as a hanging server does."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict


@dataclass
class HookServer:
    """Answers each POST with the next scripted (status, headers); the last one repeats."""

    port: int
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=lambda: [(200, {})])
    received: list[Received] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    gate: threading.Event | None = None  # when given, each POST is answered only once it is set
    _httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> HookServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.methods.append("POST")
                server.received.append(Received(self.path, dict(self.headers), json.loads(body)))
                if server.gate is not None:
                    server.gate.wait()
                status, headers = server.answers.pop(0) if len(server.answers) > 1 else server.answers[0]
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a held request whose sender has gone meanwhile

            def do_GET(self) -> None:
                server.methods.append("GET")
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving; held requests are answered (to whoever still waits)."""
        if self.gate is not None:
            self.gate.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
