"""Webhook sink: each alert event is POSTed as JSON to the configured URL.

Events go through an on-disk outbox and are sent one at a time, oldest first, so those raised while
the server is unreachable (or before a restart) are delivered, in order, once it answers. Connection
errors, timeouts, 408, 429 and 5xx are retried with exponential backoff (or the server's numeric
Retry-After), up to `retries` times; any other answer but 2xx gives the event up at once. Redirects
are not followed: urllib would turn the POST into a GET without the body. Messages name the server
by scheme and host only (credentials as `***@`): webhook paths and queries often hold tokens.
"""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from emotui import __version__
from emotui.alerts.events import AlertEvent, AlertSetupError
from emotui.alerts.network import describe_connection_error, url_problem
from emotui.alerts.outbox import Outbox, OutboxSender, QueuedMessage
from emotui.config import WebhookConfig, header_problem

MAX_BACKOFF_S = 60.0  # longest wait between attempts, Retry-After included
RETRYABLE_STATUSES = (408, 429)  # and every 5xx


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx surfaces as an HTTPError


@dataclass(frozen=True)
class _Attempt:
    """The outcome of one POST: delivered, or why not and whether trying again may help."""

    delivered: bool
    reason: str = ""
    retryable: bool = False
    retry_after: float | None = None  # seconds the server asked us to wait


class WebhookSink(OutboxSender):
    name = "webhook"

    def __init__(self, config: WebhookConfig, outbox: Outbox, on_problem: Callable[[str], None],
                 environ: Mapping[str, str] = os.environ) -> None:
        """Resolves the headers (raises AlertSetupError naming a missing variable or a bad header)
        and starts the sender, which first delivers what a previous run left in the outbox."""
        self.config = config
        self.wants_snapshot_jpeg = config.include_snapshot
        self.delivered = 0
        self.failed = 0
        self._url, basic_auth = _split_credentials(config.url)
        self._server = _describe_server(config.url)
        self._url_problem = url_problem(config.url)
        self._headers = {"Content-Type": "application/json", "User-Agent": f"emotui/{__version__}"}
        if basic_auth:
            self._headers["Authorization"] = basic_auth
        for name, value in config.headers.items():
            self._headers[name] = _checked_header(f"webhook.headers.{name}", name, value)
        for name, variable in config.headers_env.items():
            if variable not in environ:
                raise AlertSetupError(f"webhook.headers_env.{name}: environment variable {variable} is not set")
            self._headers[name] = _checked_header(f"webhook.headers_env.{name} (${variable})", name,
                                                  environ[variable])
        self._opener = urllib.request.build_opener(_NoRedirects)
        super().__init__(outbox, on_problem)

    def submit(self, event: AlertEvent, snapshot_jpeg: bytes | None = None) -> None:
        """Queue the event if its type is configured; the snapshot rides along as base64 JPEG
        when `include_snapshot` is on."""
        if event.type not in self.config.events:
            return
        body = event.to_dict()
        if self.config.include_snapshot and snapshot_jpeg is not None:
            body["snapshot_jpeg"] = base64.b64encode(snapshot_jpeg).decode("ascii")
        self.outbox.put("", json.dumps(body).encode())

    # --- the sender thread ---------------------------------------------------------------------

    def _deliver(self, message: QueuedMessage) -> None:
        """POST the message until it is delivered or given up; returns early, leaving it queued,
        when the sink is closing."""
        attempts = 0
        while True:
            attempts += 1
            attempt = self._post(message.body)
            if attempt.delivered:
                self.outbox.remove(message.id)
                self.delivered += 1
                return
            if not attempt.retryable or attempts > self.config.retries:
                break
            delay = self.config.backoff_s * 2 ** (attempts - 1) if attempt.retry_after is None else attempt.retry_after
            if self._pause(min(delay, MAX_BACKOFF_S)):
                return
        self.outbox.remove(message.id)
        self.failed += 1
        self._on_problem(f"webhook: gave up on event {_event_label(message)} after {attempts} "
                         f"attempt{'s' if attempts != 1 else ''}: {attempt.reason} from {self._server}")

    def _post(self, body: bytes) -> _Attempt:
        if self._url_problem:
            return _Attempt(False, f"{self._url_problem} in the URL")
        request = urllib.request.Request(self._url, data=body, headers=self._headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.config.timeout_s):
                return _Attempt(delivered=True)
        except urllib.error.HTTPError as error:
            error.close()
            retryable = error.code in RETRYABLE_STATUSES or 500 <= error.code <= 599
            return _Attempt(False, f"HTTP {error.code} {error.reason}", retryable,
                            _retry_after(error.headers.get("Retry-After")))
        except urllib.error.URLError as error:
            return _Attempt(False, _reason(error.reason), retryable=True)
        except Exception as error:  # timeouts while reading, dropped connections, anything unforeseen
            return _Attempt(False, _reason(error), retryable=True)


def _split_credentials(url: str) -> tuple[str, str | None]:
    """The URL without `user:password@`, and the Basic Authorization value they make (if any);
    urllib cannot send them itself."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii")
    return urlunsplit(parts._replace(netloc=host)), f"Basic {token}"


def _describe_server(url: str) -> str:
    """`scheme://host[:port]`, credentials shown as `***@`, no path or query (they may hold tokens)."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    return f"{parts.scheme}://{'***@' if at else ''}{host}"


def _checked_header(key: str, name: str, value: str) -> str:
    """The value, if it can be sent; the error never quotes it (it may be a secret)."""
    if problem := header_problem(name, value):
        raise AlertSetupError(f"{key}: {problem}")
    return value


def _retry_after(value: str | None) -> float | None:
    """Seconds from a numeric Retry-After header; None when absent or an HTTP date."""
    return float(value) if value and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value) else None


def _reason(error: object) -> str:
    return describe_connection_error(error) if isinstance(error, BaseException) else str(error)


def _event_label(message: QueuedMessage) -> str:
    """`<id> (<type>)` from the queued body."""
    try:
        event = json.loads(message.body)
        return f"{event['id']} ({event['type']})"
    except (ValueError, TypeError, KeyError):
        return f"#{message.id} (unreadable)"
