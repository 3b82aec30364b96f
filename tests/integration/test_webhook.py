"""The webhook sink against a real local HTTP server: retries, giving up, order, headers, restarts.
"Nothing more arrives" is shown by order: one more event is sent after the ones under test, and
nothing but them may arrive before it."""

from __future__ import annotations

import base64
import http.server
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emotui import __version__
from emotui.alerts.events import AlertSetupError
from emotui.alerts.outbox import Outbox
from emotui.alerts.webhook import WebhookSink
from emotui.config import WebhookConfig
from tests.helpers import EVENT_TIMEOUT_S, alert_event, private_ca_certs, wait_until
from tests.hookserver import HookServer


@pytest.fixture
def server() -> Iterator[HookServer]:
    hook = HookServer(port=0).start()
    yield hook
    hook.stop()


@pytest.fixture
def free_port() -> int:
    """A port nothing listens on (yet)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class OpenedSink:
    sink: WebhookSink
    outbox: Outbox
    problems: list[str]


@pytest.fixture
def open_sink(tmp_path: Path) -> Iterator[Callable[..., OpenedSink]]:
    """Opens a sink on tmp_path/outbox.sqlite3 (environ empty unless given); closed after the test."""
    opened: list[OpenedSink] = []

    def open_(config: WebhookConfig, environ: dict[str, str] | None = None) -> OpenedSink:
        outbox = Outbox(tmp_path / "outbox.sqlite3", "webhook", config.queue_max)
        problems: list[str] = []
        try:
            sink = WebhookSink(config, outbox, problems.append, environ={} if environ is None else environ)
        except Exception:
            outbox.close()
            raise
        opened.append(OpenedSink(sink, outbox, problems))
        return opened[-1]

    yield open_
    for item in opened:
        item.sink.close(timeout=0)
        item.outbox.close()


def test_a_server_error_is_retried_and_the_event_delivered_once(server, open_sink):
    server.answers = [(500, {}), (200, {})]
    opened = open_sink(WebhookConfig(url=server.url, backoff_s=0.05, retries=3))

    opened.sink.submit(alert_event(1))
    opened.sink.submit(alert_event(2))  # the sentinel
    assert wait_until(lambda: opened.sink.delivered == 2)

    assert [request.body for request in server.received] == [alert_event(1).to_dict()] * 2 + [alert_event(2).to_dict()]
    assert server.received[1].path == "/hook"
    assert (opened.sink.failed, len(opened.outbox)) == (0, 0)
    assert opened.problems == []


@pytest.mark.parametrize(("status", "reason"), [(404, "Not Found"), (302, "Found")])
def test_a_client_error_or_redirect_gives_the_event_up_at_once(server, open_sink, status, reason):
    server.answers = [(status, {"Location": "/elsewhere"}), (200, {})]
    opened = open_sink(WebhookConfig(url=server.url, backoff_s=0.05, retries=5))

    opened.sink.submit(alert_event(1))
    opened.sink.submit(alert_event(2))
    assert wait_until(lambda: opened.sink.delivered == 1)

    assert [request.body["id"] for request in server.received] == ["alert-1", "alert-2"]
    assert server.methods == ["POST", "POST"]  # the redirect was not followed with a GET
    assert opened.sink.failed == 1
    assert opened.problems == [f"webhook: gave up on event alert-1 (new) after 1 attempt: HTTP {status} {reason} "
                               f"from http://127.0.0.1:{server.port}"]


def test_retries_run_out_against_a_server_that_is_always_unavailable(server, open_sink):
    server.answers = [(503, {})]
    opened = open_sink(WebhookConfig(url=server.url, backoff_s=0.01, retries=2))

    opened.sink.submit(alert_event(1, "end"))
    assert wait_until(lambda: opened.sink.failed == 1)
    server.answers = [(200, {})]
    opened.sink.submit(alert_event(2))  # the sentinel
    assert wait_until(lambda: opened.sink.delivered == 1)

    assert [request.body["id"] for request in server.received] == ["alert-1"] * 3 + ["alert-2"]
    assert len(opened.outbox) == 0
    assert opened.problems == ["webhook: gave up on event alert-1 (end) after 3 attempts: "
                               f"HTTP 503 Service Unavailable from http://127.0.0.1:{server.port}"]


def test_retry_after_from_the_server_replaces_the_backoff(server, open_sink):
    server.answers = [(429, {"Retry-After": "0"}), (200, {})]
    opened = open_sink(WebhookConfig(url=server.url, backoff_s=2 * EVENT_TIMEOUT_S, retries=1))

    opened.sink.submit(alert_event(1))

    assert wait_until(lambda: opened.sink.delivered == 1)  # long before the backoff would have ended
    assert len(server.received) == 2


def test_headers_come_from_the_config_the_environment_and_url_credentials(server, open_sink):
    url = server.url.replace("http://", "http://hook%40user:pa55@")
    opened = open_sink(
        WebhookConfig(url=url, headers={"X-Source": "door"}, headers_env={"X-Token": "HOOK_TOKEN"}),
        environ={"HOOK_TOKEN": "s3cret"},
    )
    server.answers = [(401, {})]

    opened.sink.submit(alert_event(1))
    assert wait_until(lambda: opened.sink.failed == 1)

    headers = server.received[0].headers
    assert headers["X-Source"] == "door"
    assert headers["X-Token"] == "s3cret"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"hook@user:pa55").decode()
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == f"emotui/{__version__}"
    [problem] = opened.problems
    assert f"HTTP 401 Unauthorized from http://***@127.0.0.1:{server.port}" in problem
    assert "pa55" not in problem and "s3cret" not in problem


def test_a_missing_or_unsendable_header_secret_stops_the_setup(open_sink):
    config = WebhookConfig(url="http://127.0.0.1:9/hook", headers_env={"Authorization": "HOOK_AUTH"})

    with pytest.raises(AlertSetupError) as missing:
        open_sink(config, environ={})
    assert str(missing.value) == "webhook.headers_env.Authorization: environment variable HOOK_AUTH is not set"

    with pytest.raises(AlertSetupError) as broken:
        open_sink(config, environ={"HOOK_AUTH": "Bearer top\r\nX-Evil: 1"})
    assert "webhook.headers_env.Authorization" in str(broken.value)
    assert "top" not in str(broken.value)


@pytest.mark.parametrize("include_snapshot", [True, False])
def test_the_snapshot_is_sent_as_base64_only_when_asked(server, open_sink, include_snapshot):
    jpeg = b"\xff\xd8\xff\xe0 not really a JPEG \x00\xff\xd9"
    opened = open_sink(WebhookConfig(url=server.url, include_snapshot=include_snapshot))

    opened.sink.submit(alert_event(1, "update"), jpeg)
    opened.sink.submit(alert_event(2, "update"))
    assert wait_until(lambda: opened.sink.delivered == 2)

    first, second = (request.body for request in server.received)
    if include_snapshot:
        assert base64.b64decode(first.pop("snapshot_jpeg"), validate=True) == jpeg
    assert first == alert_event(1, "update").to_dict()
    assert second == alert_event(2, "update").to_dict()


def test_only_the_configured_event_types_are_sent(server, open_sink):
    opened = open_sink(WebhookConfig(url=server.url, events=["new"]))

    for event in (alert_event(1, "new"), alert_event(1, "update"), alert_event(1, "end"), alert_event(2, "new"), alert_event(2, "end")):
        opened.sink.submit(event)
    opened.sink.submit(alert_event(3, "new"))  # the sentinel
    assert wait_until(lambda: opened.sink.delivered == 3)

    assert [(r.body["id"], r.body["type"]) for r in server.received] == [
        ("alert-1", "new"), ("alert-2", "new"), ("alert-3", "new")]


class DroppingServer:
    """A server that is down: it drops every connection at once, and counts them."""

    def __init__(self, port: int) -> None:
        self.connections = 0
        self._socket = socket.create_server(("127.0.0.1", port))
        threading.Thread(target=self._drop, daemon=True).start()

    def _drop(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:  # stopped
                return
            connection.close()
            self.connections += 1

    def stop(self) -> None:
        self._socket.shutdown(socket.SHUT_RDWR)  # wakes accept(), which close() alone would not
        self._socket.close()


def test_events_raised_while_the_server_is_down_arrive_in_order_once_it_is_up(free_port, open_sink):
    down = DroppingServer(free_port)
    opened = open_sink(WebhookConfig(url=f"http://127.0.0.1:{free_port}/hook", backoff_s=0.05, retries=100))
    for number in (1, 2, 3):
        opened.sink.submit(alert_event(number))
    assert wait_until(lambda: down.connections >= 3)  # the first event tried, and retried, in vain
    down.stop()
    assert opened.sink.delivered == 0

    late = HookServer(port=free_port).start()
    try:
        assert wait_until(lambda: opened.sink.delivered == 3)
        assert [request.body["id"] for request in late.received] == ["alert-1", "alert-2", "alert-3"]
    finally:
        late.stop()
    assert (opened.sink.failed, opened.problems) == (0, [])


def test_what_is_left_at_close_is_delivered_by_the_next_start(free_port, tmp_path):
    config = WebhookConfig(url=f"http://127.0.0.1:{free_port}/hook", backoff_s=0.05, retries=100)
    outbox = Outbox(tmp_path / "outbox.sqlite3", "webhook", config.queue_max)
    sink = WebhookSink(config, outbox, lambda text: None, environ={})
    sink.submit(alert_event(1))
    sink.submit(alert_event(2, "end"))
    sink.close(timeout=0.2)
    outbox.close()
    assert (sink.delivered, sink.failed) == (0, 0)

    late = HookServer(port=free_port).start()
    outbox = Outbox(tmp_path / "outbox.sqlite3", "webhook", config.queue_max)
    sink = WebhookSink(config, outbox, lambda text: None, environ={})
    try:
        assert wait_until(lambda: sink.delivered == 2)
        assert [(r.body["id"], r.body["type"]) for r in late.received] == [("alert-1", "new"), ("alert-2", "end")]
    finally:
        sink.close(timeout=0)
        outbox.close()
        late.stop()


def test_close_interrupts_a_backoff_that_ends_after_its_deadline_and_keeps_the_event(server, open_sink):
    server.answers = [(503, {})]
    opened = open_sink(WebhookConfig(url=server.url, backoff_s=2 * EVENT_TIMEOUT_S, retries=5))
    opened.sink.submit(alert_event(1))
    assert wait_until(lambda: len(server.received) == 1)  # the retry would come after close's deadline

    started = time.monotonic()
    opened.sink.close(timeout=EVENT_TIMEOUT_S)

    assert time.monotonic() - started < EVENT_TIMEOUT_S / 2  # it did not wait for its deadline
    assert (len(server.received), len(opened.outbox), opened.sink.failed) == (1, 1, 0)


@pytest.mark.parametrize(("url", "problem"), [
    ("http://127.0.0.1:99999/hook", "invalid port 99999 (1-65535)"),  # urllib would try port 99999 % 65536
    ("http://127.0.0.1:80x/hook", "invalid port 80x (1-65535)"),
    ("ftp://127.0.0.1/hook", "unsupported scheme 'ftp' (http or https)"),
    ("http:///hook", "no host name"),
])
def test_a_url_that_cannot_work_is_named_for_what_is_wrong_with_it(open_sink, url, problem):
    opened = open_sink(WebhookConfig(url=url, backoff_s=0.01, retries=3))
    opened.sink.submit(alert_event(1))
    assert wait_until(lambda: opened.sink.failed == 1)
    server = url.split("/hook")[0]
    assert opened.problems == [f"webhook: gave up on event alert-1 (new) after 1 attempt: {problem} in the URL "
                               f"from {server}"]


@pytest.fixture
def https_server(tmp_path) -> Iterator[tuple[int, Path]]:
    """An HTTPS server answering 200, with a certificate for elsewhere.example signed by a private
    CA; its port and the CA file."""
    certs = private_ca_certs(tmp_path / "certs", san="DNS:elsewhere.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs / "server.pem", certs / "server.key")

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1], certs / "ca.pem"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(("trust_the_ca", "problem"), [
    (False, "TLS certificate verification failed: unable to get local issuer certificate"),
    (True, "TLS host name mismatch: IP address mismatch, certificate is not valid for '127.0.0.1'"),
])
def test_tls_failures_are_named_for_what_is_wrong(https_server, open_sink, monkeypatch, trust_the_ca, problem):
    port, ca_file = https_server
    if trust_the_ca:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    opened = open_sink(WebhookConfig(url=f"https://127.0.0.1:{port}/hook", backoff_s=0.01, retries=0))
    opened.sink.submit(alert_event(1))
    assert wait_until(lambda: opened.sink.failed == 1)
    assert opened.problems == [f"webhook: gave up on event alert-1 (new) after 1 attempt: {problem} "
                               f"from https://127.0.0.1:{port}"]
