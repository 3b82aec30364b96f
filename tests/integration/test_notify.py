"""Notifications through Apprise against real local servers: an SMTP server (aiosmtpd) that gets
the mail with the snapshot attached, a local HTTP endpoint through Apprise's json:// URL, a server
that is down and comes back (nothing lost across a restart of the sink, order kept), the rate
limit through the hub, and `emotui notify test`. "Nothing more arrives" is shown by a sentinel:
one more alert after those under test, and nothing but them before it."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from emotui.alerts.hub import AlertHub
from emotui.alerts.notify import NotifySink
from emotui.alerts.outbox import Outbox
from emotui.config import AlertRuleConfig, Config, NotifyConfig, SnapshotsConfig
from emotui.snapshots import encode_jpeg
from tests.factories import frame_result, visitor_config
from tests.helpers import alert_event, audit_records, run_cli, wait_until
from tests.hookserver import HookServer
from tests.mosquitto import free_port
from tests.smtpserver import SmtpServer

JPEG = b"\xff\xd8\xff\xe0 a snapshot \xff\xd9"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@dataclass
class OpenedSink:
    sink: NotifySink
    outbox: Outbox
    problems: list[str]
    records: list[tuple[str, dict]]


@pytest.fixture
def open_sink(tmp_path: Path) -> Iterator[Callable[..., OpenedSink]]:
    """Opens a sink on tmp_path/outbox.sqlite3 (no rate limit unless given); closed after the test."""
    opened: list[OpenedSink] = []

    def open_(snapshots: SnapshotsConfig = SnapshotsConfig(), **settings) -> OpenedSink:
        config = NotifyConfig(**{"min_interval_s": 0.0, "backoff_s": 0.05, **settings})
        outbox = Outbox(tmp_path / "outbox.sqlite3", "notify", config.queue_max)
        problems: list[str] = []
        records: list[tuple[str, dict]] = []
        sink = NotifySink(config, snapshots, outbox, problems.append, lambda *record: records.append(record),
                          environ={})
        opened.append(OpenedSink(sink, outbox, problems, records))
        return opened[-1]

    yield open_
    for item in opened:
        item.sink.close(timeout=0)
        item.outbox.close()


def _new_with_snapshot(sink: NotifySink, number: int) -> None:
    """A new alert, then the hub's update that brings its snapshot."""
    sink.submit(alert_event(number))
    sink.submit(replace(alert_event(number, "update"), snapshot=f"/snaps/{number}.png"), JPEG)


def test_the_mail_carries_the_templates_and_the_snapshot(smtp, open_sink):
    opened = open_sink(urls={"mail": smtp.url()}, title="{camera}: {rule}", body="{emotion} {score} face {track_id}")
    _new_with_snapshot(opened.sink, 1)
    opened.sink.submit(alert_event(1, "end"))  # not notified: only new alerts by default
    _new_with_snapshot(opened.sink, 2)  # the sentinel
    assert wait_until(lambda: len(smtp.mails) == 2)
    assert [(mail.subject, mail.text.strip()) for mail in smtp.mails] == [
        ("door: fear", "fear 0.750 face 1"), ("door: fear", "fear 0.750 face 2")]
    assert smtp.mails[0].attachments == [("snapshot.jpg", "image/jpeg", JPEG)]
    assert opened.problems == []


def test_the_json_endpoint_gets_the_body_and_the_picture(open_sink):
    server = HookServer(0).start()
    try:
        opened = open_sink(urls={"hook": f"json://127.0.0.1:{server.port}/hook"})
        _new_with_snapshot(opened.sink, 1)
        assert wait_until(lambda: len(server.received) == 1)
    finally:
        server.stop()
    body = server.received[0].body
    assert (body["title"], body["message"]) == ("emotui door: fear", "fear on door: fear 0.750, face 1, 1 faces")
    assert [(a["filename"], a["mimetype"], base64.b64decode(a["base64"])) for a in body["attachments"]] == [
        ("snapshot.jpg", "image/jpeg", JPEG)]


@pytest.mark.parametrize(("snapshots", "attached"), [
    (SnapshotsConfig(images="none"), []),  # no snapshot JPEG is wanted: the alert goes at once, without
    (SnapshotsConfig(on_alert=False), []),  # no snapshot follows
])
def test_without_a_snapshot_the_alert_goes_at_once(smtp, open_sink, snapshots, attached):
    opened = open_sink(snapshots, urls={"mail": smtp.url()})
    opened.sink.submit(alert_event(1))
    assert wait_until(lambda: len(smtp.mails) == 1)
    assert smtp.mails[0].attachments == attached


def test_an_alert_whose_snapshot_never_comes_goes_without_it(smtp, open_sink):
    opened = open_sink(urls={"mail": smtp.url()})
    opened.sink.submit(alert_event(1))  # the snapshot failed: no update follows
    assert wait_until(lambda: len(smtp.mails) == 1)
    assert smtp.mails[0].attachments == []


def test_a_snapshot_over_the_limit_is_not_attached_and_the_body_says_so(smtp, open_sink):
    opened = open_sink(urls={"mail": smtp.url()}, max_attachment_kb=16)
    opened.sink.submit(alert_event(1))
    opened.sink.submit(alert_event(1, "update"), b"\xff" * 20_000)
    assert wait_until(lambda: len(smtp.mails) == 1)
    assert smtp.mails[0].attachments == []
    assert "(snapshot of 19 KB not attached: over 16 KB)" in smtp.mails[0].text


def test_routes_send_each_rule_to_its_urls(smtp, open_sink):
    other = SmtpServer().start()
    try:
        opened = open_sink(urls={"mail": smtp.url(), "other": other.url()}, routes={"anger": "other"},
                           rules=["fear", "anger"])
        opened.sink.submit(replace(alert_event(1), rule="anger"))
        opened.sink.submit(replace(alert_event(2), rule="sad"))  # not a rule that notifies
        opened.sink.submit(alert_event(3))  # fear: every URL; the sentinel
        assert wait_until(lambda: len(smtp.mails) == 1 and len(other.mails) == 2)
    finally:
        other.stop()
    assert [mail.subject for mail in other.mails] == ["emotui door: anger", "emotui door: fear"]
    assert "face 3" in smtp.mails[0].text


def test_alerts_queued_while_the_server_is_down_arrive_in_order_after_a_restart(tmp_path, open_sink):
    server = SmtpServer()  # not started: its port refuses connections
    opened = open_sink(urls={"mail": server.url()}, retries=100)
    for number in (1, 2, 3):
        opened.sink.submit(alert_event(number))
    assert wait_until(lambda: len(opened.problems) == 1)
    assert opened.problems[0].startswith("notify: mail failed (") and "retrying with backoff" in opened.problems[0]
    opened.sink.close(timeout=0)  # emotui stops with the three still queued
    opened.outbox.close()

    server.start()
    try:
        reopened = open_sink(urls={"mail": server.url()}, retries=100)
        reopened.sink.submit(alert_event(4))  # the sentinel
        assert wait_until(lambda: len(server.mails) == 4)
    finally:
        server.stop()
    assert ["face 1" in mail.text for mail in server.mails] == [True, False, False, False]
    assert [next(n for n in (1, 2, 3, 4) if f"face {n}," in mail.text) for mail in server.mails] == [1, 2, 3, 4]
    assert reopened.problems == []


class Hangup:
    """A server that accepts each connection and closes it at once, counting them: each is one
    attempt of the sink's that fails."""

    def __init__(self, port: int) -> None:
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", port))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # closed
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._listener.close()
        self._thread.join()


def test_a_server_that_fails_and_comes_back_is_told_once_each_way_and_gets_what_waited(open_sink):
    server = SmtpServer()
    hangup = Hangup(server.port)
    opened = open_sink(urls={"mail": server.url()}, retries=100)
    opened.sink.submit(alert_event(1))
    opened.sink.submit(alert_event(2))
    assert wait_until(lambda: hangup.connections >= 4)  # four failed attempts
    hangup.close()
    assert len(opened.problems) == 1 and opened.problems[0].startswith("notify: mail failed (")
    server.start()
    try:
        assert wait_until(lambda: len(server.mails) == 2)
    finally:
        server.stop()
    assert wait_until(lambda: len(opened.problems) == 2)
    assert opened.problems[1] == "notify: mail works again"
    assert ["face 1," in server.mails[0].text, "face 2," in server.mails[1].text] == [True, True]


def test_retries_run_out_and_the_notification_is_given_up_for_that_url_only(smtp, open_sink):
    opened = open_sink(urls={"dead": SmtpServer().url(), "mail": smtp.url()}, retries=2)
    opened.sink.submit(alert_event(1))
    opened.sink.submit(alert_event(2))  # the sentinel
    assert wait_until(lambda: len(opened.problems) == 3)
    assert [problem.split(" after ")[0] for problem in opened.problems[1:]] == [
        "notify: gave up on alert alert-1 (new) for dead", "notify: gave up on alert alert-2 (new) for dead"]
    assert "after 3 attempts" in opened.problems[1]
    assert len(smtp.mails) == 2  # the working URL got each once


def _hub_config(tmp_path: Path, smtp: SmtpServer) -> Config:
    config = Config()
    config.source.name = "door"
    config.alerts.rules = [AlertRuleConfig(name="fear", min_duration_s=0.0, inertia_frames=1, cooldown_s=0.0)]
    config.alerts.dir = str(tmp_path / "alerts")
    config.snapshots.dir = str(tmp_path / "snaps")
    config.notify.urls = {"mail": smtp.url()}
    return config


def test_the_hub_notifies_with_the_blurred_snapshot_and_records_what_the_rate_limit_held_back(tmp_path, smtp):
    config = _hub_config(tmp_path, smtp)
    config.snapshots.images = "blurred"
    hub = AlertHub(config, "cam", environ={})
    scene = np.random.default_rng(1).integers(0, 255, (120, 160, 3), np.uint8)  # texture a blur changes
    for alert in range(3):  # three alerts of one rule within the rate limit: the first notifies
        hub.observe(frame_result(alert, {alert + 1: 0.9}, image=scene))
        hub.observe(frame_result(alert + 0.1, {}, ended=[alert + 1]))
    hub.close()
    assert wait_until(lambda: len(smtp.mails) == 1)
    ((name, content_type, jpeg),) = smtp.mails[0].attachments
    first = frame_result(0, {1: 0.9}, image=scene)
    assert content_type == "image/jpeg" and jpeg == encode_jpeg(first, "blurred") != encode_jpeg(first, "full")
    records = audit_records(tmp_path / "alerts")
    assert records[0]["data"]["sinks"] == ["notify"]
    suppressed = [record["data"] for record in records if record["type"] == "notify_suppressed"]
    new_ids = [record["data"]["id"] for record in records if record["type"] == "new"]
    assert [(data["id"], data["reason"]) for data in suppressed] == [(new_ids[1], "rate limit"),
                                                                     (new_ids[2], "rate limit")]


def test_quiet_hours_send_nothing_and_audit_it(tmp_path, smtp):
    config = _hub_config(tmp_path, smtp)
    config.notify.quiet_hours = ["00:00-24:00"]
    hub = AlertHub(config, "cam", environ={})
    hub.observe(frame_result(0.0, {1: 0.9}))
    hub.close()
    records = audit_records(tmp_path / "alerts")
    assert [record["data"]["reason"] for record in records if record["type"] == "notify_suppressed"] == [
        "quiet hours"]
    assert smtp.mails == []  # the hub has closed: anything queued would have been sent


def test_a_missing_url_variable_stops_the_setup_naming_it(tmp_path, smtp):
    config = _hub_config(tmp_path, smtp)
    config.notify.urls_env = {"phone": "EMOTUI_TEST_PHONE_URL"}
    with pytest.raises(Exception, match="notify.urls_env.phone: environment variable EMOTUI_TEST_PHONE_URL is not set"):
        AlertHub(config, "cam", environ={})


def test_notify_test_sends_a_picture_to_every_url_and_names_each_result(tmp_path, smtp):
    config_file = tmp_path / "emotui.toml"
    config_file.write_text(f'[notify.urls]\nmail = "{smtp.url()}"\n[notify.urls_env]\nphone = "EMOTUI_TEST_PHONE"\n')
    done = run_cli("notify", "test", "--config", str(config_file),
                   env={"EMOTUI_TEST_PHONE": smtp.url("you@example.com")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["ok     mail", "ok     phone"]
    assert len(smtp.mails) == 2
    assert {mail.subject for mail in smtp.mails} == {"emotui test notification"}
    assert all(name == "snapshot.jpg" and jpeg.startswith(b"\xff\xd8") for mail in smtp.mails
               for name, _, jpeg in mail.attachments)

    failing = run_cli("notify", "test", "--config", str(config_file),
                      env={"EMOTUI_TEST_PHONE": SmtpServer(free_port()).url()})
    assert failing.returncode == 1
    lines = failing.stdout.splitlines()
    assert lines[0] == "ok     mail" and lines[1].startswith("FAILED phone: ")
    unset = run_cli("notify", "test", "--config", str(config_file), env={"EMOTUI_TEST_PHONE": ""})
    assert unset.returncode == 1
    assert "FAILED notify.urls_env.phone: environment variable EMOTUI_TEST_PHONE is not set" in unset.stdout


def test_headless_run_on_real_media_mails_the_alert_with_its_snapshot(tmp_path, smtp, media_dir, model_store):
    config_file = tmp_path / "emotui.toml"
    config_file.write_text(
        f'[source]\nname = "door"\n[alerts]\ndir = "{tmp_path / "alerts"}"\n'
        '[[alerts.rules]]\nname = "visitor"\nkind = "face"\nmin_duration_s = 0.5\n'
        f'[snapshots]\ndir = "{tmp_path / "snaps"}"\n'
        f'[notify]\ntitle = "{{rule}} at {{camera}}"\n[notify.urls]\nmail = "{smtp.url()}"\n')
    done = run_cli("--config", str(config_file), "run", "--headless", "--json", "--changes",
                   "--source", str(media_dir / "videos" / "faces" / "liveportrait_d6.mp4"))
    assert done.returncode == 0, done.stderr
    assert [mail.subject for mail in smtp.mails] == ["visitor at door"]
    ((name, content_type, jpeg),) = smtp.mails[0].attachments
    assert (name, content_type) == ("snapshot.jpg", "image/jpeg") and len(jpeg) > 1000


def test_a_full_outbox_drops_the_oldest_records_it_and_the_rest_survive_a_restart(tmp_path):
    server = SmtpServer()  # not started: every notification waits
    config = visitor_config(tmp_path)
    config.notify.urls = {"mail": server.url()}
    config.notify.min_interval_s, config.notify.queue_max, config.notify.retries = 0.0, 3, 1000
    hub = AlertHub(config, "cam", environ={})
    for index in range(10):
        hub.observe(frame_result(index / 10, {index: 0.9}))
    hub.close(timeout=0.1)
    dropped = [r["data"] for r in audit_records(tmp_path / "alerts") if r["type"] == "dropped"]
    assert sum(d["count"] for d in dropped) == 7
    assert all(d["what"] == "notify outbox" and d["reason"] == "outbox full (3): the oldest dropped" for d in dropped)

    server.start()
    try:
        hub = AlertHub(config, "cam", environ={})
        hub.observe(frame_result(5.0, {10: 0.9}))  # the sentinel
        assert wait_until(lambda: len(server.mails) == 4)
        hub.close()
    finally:
        server.stop()
    assert [next(n for n in range(11) if f"face {n}," in mail.text) for mail in server.mails] == [7, 8, 9, 10]
