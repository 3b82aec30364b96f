"""Delivery at the edges, with real processes and a real broker: `emotui run --headless` killed -9
again and again loses no printed event from its audit log and closes what each kill left open;
a frozen broker and a restart of emotui deliver events at least once, in order, each with its id;
TLS failures are named for what they are."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from emotui.alerts.hub import AlertHub, AlertListener
from emotui.config import Config
from emotui.vision import EMOTIONS
from tests.factories import frame_result, visitor_config
from tests.helpers import EVENT_TIMEOUT_S, HeadlessRun, audit_records, private_ca_certs, run_cli, wait_until
from tests.mosquitto import Broker, Subscriber, free_port, mosquitto_binary

KILLS = 8  # SIGKILLs in the loop
PREFIX = "emotui"


@pytest.fixture
def mosquitto():
    if mosquitto_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("mosquitto is not installed (CI must have it)")
        pytest.skip("mosquitto is not installed")


def _busy_config_file(tmp_path: Path) -> Path:
    """A face rule and one rule per emotion at a low threshold, all without inertia or cooldown:
    alerts start and end every few frames."""
    rules = '[[alerts.rules]]\nname = "visitor"\nkind = "face"\nmin_duration_s = 0.0\ninertia_frames = 1\n' + "".join(
        f'[[alerts.rules]]\nname = "{emotion}"\nemotions = ["{emotion}"]\nthreshold = 0.25\nmin_duration_s = 0.0\n'
        'inertia_frames = 1\ncooldown_s = 0.0\n' for emotion in EMOTIONS)
    config_file = tmp_path / "emotui.toml"
    config_file.write_text(f'[source]\nname = "door"\nloop = true\n[alerts]\ndir = "{tmp_path / "alerts"}"\n'
                           f'{rules}[snapshots]\non_alert = false\n')
    return config_file


def test_kill_9_in_a_loop_loses_no_printed_event_and_each_restart_closes_what_it_left_open(tmp_path, media_dir,
                                                                                         model_store):
    command = ("--config", str(_busy_config_file(tmp_path)), "run", "--headless", "--json",
               "--source", str(media_dir / "videos" / "faces" / "liveportrait_d6.mp4"))
    printed: list[dict] = []
    for kill in range(KILLS + 1):
        with HeadlessRun(*command) as run:
            seen = len(run.alerts()) if run.lines else 0
            run.read_until(lambda line: "alert" in line and len(run.alerts()) >= seen + 5 + kill % 4)
            if kill < KILLS:
                run.process.kill()  # mid-flight: alerts are being raised and written
                run.finish()
            else:
                run.process.send_signal(signal.SIGTERM)
                assert run.finish() == 0, run.stderr
            printed += run.alerts()
    records = audit_records(tmp_path / "alerts")
    logged = {(r["data"]["id"], r["data"]["sequence"], r["type"]) for r in records if r["type"] in ("new", "update", "end")}
    missing = [a for a in printed if (a["id"], a["sequence"], a["type"]) not in logged]
    assert missing == []  # every event printed is in the audit log
    types = [r["type"] for r in records]
    assert types.count("start") == KILLS + 1 and types.count("unclean stop") == KILLS and types[-1] == "stop"
    for index, record in enumerate(records):
        if record["type"] == "unclean stop":  # straight after it, an end for each alert the kill left open
            ends = records[index + 1:index + 1 + len(record["data"]["open_alerts"])]
            assert [(r["type"], r["data"]["id"], r["data"]["reason"]) for r in ends] == \
                [("end", alert_id, "unclean stop") for alert_id in record["data"]["open_alerts"]]
            assert records[index + 1 + len(ends)]["type"] == "start"
    opened = [r["data"]["id"] for r in records if r["type"] == "new"]
    ended = [r["data"]["id"] for r in records if r["type"] == "end"]
    assert sorted(opened) == sorted(ended)  # every alert has its end, once
    verified = run_cli("log", "verify", str(tmp_path / "alerts" / "alerts.jsonl"))
    assert verified.returncode == 0 and "intact" in verified.stdout, verified.stdout
    left_open = sum(len(r["data"]["open_alerts"]) for r in records if r["type"] == "unclean stop")
    print(f"\nSIGKILL loop: {KILLS} kills, {len(printed)} events printed, {len(printed) - len(missing)} in the "
          f"audit log, {types.count('unclean stop')} unclean stops recorded, {left_open} open alerts ended")


def test_sigterm_records_the_exec_runs_still_waiting(tmp_path, media_dir, model_store):
    config_file = _busy_config_file(tmp_path)
    runs = tmp_path / "runs.txt"
    hook = [sys.executable, "-c", "import sys, time; open(sys.argv[1], 'a').write('x'); time.sleep(2)", str(runs)]
    config_file.write_text(config_file.read_text().replace("[alerts]\n", f"[alerts]\nexec = {json.dumps(hook)}\n"))
    with HeadlessRun("--config", str(config_file), "run", "--headless", "--json",
                     "--source", str(media_dir / "videos" / "faces" / "liveportrait_d6.mp4")) as run:
        run.read_until(lambda line: "alert" in line and sum(a["type"] == "new" for a in run.alerts()) >= 10)
        run.process.send_signal(signal.SIGTERM)
        assert run.finish() == 0, run.stderr
    records = audit_records(tmp_path / "alerts")
    news = sum(r["type"] == "new" for r in records)
    dropped = [r["data"] for r in records if r["type"] == "dropped"]
    left_at_stop = sum(d["count"] for d in dropped if d["reason"] == "shutting down")
    assert left_at_stop > 0 and {d["what"] for d in dropped} == {"exec runs"}
    assert wait_until(lambda: len(runs.read_text()) + sum(d["count"] for d in dropped) == news)  # every run accounted for
    assert records[-1]["type"] == "stop"


def _event(message) -> dict:
    return json.loads(message.payload)["after"]


def test_a_frozen_broker_and_a_restart_deliver_each_event_in_order_with_its_id(tmp_path, mosquitto):
    broker = Broker(tmp_path / "broker").start()
    watcher = Subscriber(broker.port, [f"{PREFIX}/events"], client_id="operator", persistent=True)
    config = visitor_config(tmp_path)
    config.mqtt.host, config.mqtt.port = "127.0.0.1", broker.port
    clock = iter(range(1, 10_000))

    def visits(hub: AlertHub, count: int) -> None:
        for _ in range(count):
            track = next(clock)
            hub.observe(frame_result(track / 10, {track: 0.5}))
            hub.observe(frame_result(track / 10 + 0.05, {}, ended=[track]))

    try:
        first = AlertHub(config, "test", environ={})
        assert wait_until(lambda: first.mqtt.connected)
        visits(first, 5)
        assert watcher.wait_for(lambda ms: len(ms) == 10, timeout=EVENT_TIMEOUT_S)
        broker.process.send_signal(signal.SIGSTOP)  # frozen: publishes go out, no acknowledgement comes back
        visits(first, 10)
        assert wait_until(lambda: first.mqtt.outbox.newest_id == 30 and first.mqtt.delivered == 10)
        first.close(timeout=0.5)  # restarted while the broker is frozen
        shown = []
        second = AlertHub(config, "test", AlertListener(on_event=shown.append), environ={})
        visits(second, 5)
        broker.process.send_signal(signal.SIGCONT)
        visits(second, 1)  # the sentinel: its end is the last event
        assert wait_until(lambda: len(shown) == 12)
        assert watcher.wait_for(lambda ms: ms and _event(ms[-1])["id"] == shown[-1].id
                                and _event(ms[-1])["type"] == "end", timeout=EVENT_TIMEOUT_S)
        second.close()
    finally:
        watcher.close()
        broker.process.send_signal(signal.SIGCONT)
        broker.stop()
    received = [_event(message) for message in watcher.on(f"{PREFIX}/events")]
    first_arrivals: dict[tuple, dict] = {}
    for event in received:
        key = (event["id"], event["sequence"])
        assert first_arrivals.setdefault(key, event) == event  # a duplicate is the same event, with the same id
    logged = [(r["data"]["id"], r["data"]["sequence"]) for r in audit_records(tmp_path / "alerts")
              if r["type"] in ("new", "end")]
    assert list(first_arrivals) == logged  # every event, in the order raised: none older after a newer one
    print(f"\nfrozen broker and restart: {len(logged)} events, {len(received)} received, "
          f"{len(received) - len(logged)} duplicates")


def test_tls_failures_name_the_certificate_problem(tmp_path, mosquitto):
    certs = private_ca_certs(tmp_path / "certs", san="DNS:elsewhere.example")
    other_ca = private_ca_certs(tmp_path / "other")
    broker = Broker(tmp_path / "broker", f"cafile {certs / 'ca.pem'}\ncertfile {certs / 'server.pem'}\n"
                                         f"keyfile {certs / 'server.key'}\n").start()
    cases = [
        (broker.port, other_ca / "ca.pem", "TLS certificate verification failed: self-signed certificate in certificate chain"),
        (broker.port, certs / "ca.pem", "TLS host name mismatch: IP address mismatch, certificate is not valid for "
                                        "'127.0.0.1'"),
        (free_port(), certs / "ca.pem", "connection refused (nothing listening on that port?)"),
    ]
    try:
        for number, (port, ca_file, expected) in enumerate(cases):
            config = Config()
            config.alerts.dir = str(tmp_path / f"alerts-{number}")
            config.mqtt.host, config.mqtt.port = "127.0.0.1", port
            config.mqtt.tls, config.mqtt.ca_file = True, str(ca_file)
            problems = []
            hub = AlertHub(config, "test", AlertListener(on_problem=problems.append), environ={})
            assert wait_until(lambda: problems), f"no problem reported for {expected}"
            hub.close(timeout=0.1)
            assert problems[0] == f"mqtt: cannot reach broker 127.0.0.1:{port}: {expected}; retrying, events are kept " \
                                  "on disk meanwhile"
    finally:
        broker.stop()
