"""The headless service's stop as systemd drives it, with a real webhook server: queued events are
delivered for up to 5 s, the rest is kept on disk for the next run, and a second signal stops at
once. (SIGTERM and SIGINT with their exit codes are in test_sources.py, MQTT's `offline` in
test_mqtt.py.)

The webhook server holds every request until the test opens its gate, so what the service does
while a delivery is pending is seen in order, not timed."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from emotui.alerts.hub import OUTBOX_FILE
from emotui.alerts.outbox import Outbox
from tests.helpers import HeadlessRun, audit_records, run_cli, wait_until
from tests.hookserver import HookServer

pytestmark = pytest.mark.usefixtures("model_store")


@pytest.fixture
def held_hook():
    """A webhook server that answers nothing until its gate is opened."""
    server = HookServer(0, gate=threading.Event()).start()
    yield server
    server.stop()


@pytest.fixture
def video(media_dir) -> str:
    return str(media_dir / "videos" / "faces" / "liveportrait_d6.mp4")


def write_config(folder: Path, hook_url: str, armed: bool = True) -> Path:
    """A face rule that alerts at once on the looping face video, and the webhook."""
    config = folder / "emotui.toml"
    config.write_text(
        f'[source]\nname = "door"\nloop = true\n'
        f'[alerts]\ndir = "{folder / "alerts"}"\narmed = {str(armed).lower()}\n'
        '[[alerts.rules]]\nname = "visitor"\nkind = "face"\nmin_duration_s = 0\n'
        f'[snapshots]\ndir = "{folder / "snaps"}"\n'
        f'[webhook]\nurl = "{hook_url}"\ntimeout_s = 60\n')
    return config


@contextlib.contextmanager
def alerting(config: Path, video: str, hook: HookServer) -> Iterator[HeadlessRun]:
    """The service on the face video, once its first alert is being POSTed (and held)."""
    with HeadlessRun("--config", str(config), "run", "--headless", "--json", "--realtime", "--source", video) as run:
        run.read_until(lambda line: line.get("alert", {}).get("type") == "new")
        assert wait_until(lambda: len(hook.received) == 1)
        yield run


def stop_until_delivering(run: HeadlessRun) -> None:
    """SIGTERM; returns once the stop has ended the open alert (the hub prints it as it shuts down),
    i.e. while it delivers what is queued."""
    run.process.send_signal(signal.SIGTERM)
    run.read_until(lambda line: line.get("alert", {}).get("type") == "end")


def queued(folder: Path) -> list[dict]:
    """The webhook events waiting in the on-disk outbox."""
    outbox = Outbox(folder / "alerts" / OUTBOX_FILE, "webhook", 100)
    try:
        return [json.loads(message.body) for message in outbox.batch(0, 100)]
    finally:
        outbox.close()


def test_a_webhook_that_answers_within_5_s_of_the_stop_receives_every_event(tmp_path, held_hook, video):
    with alerting(write_config(tmp_path, held_hook.url), video, held_hook) as run:
        stop_until_delivering(run)
        held_hook.gate.set()  # the server answers now, while the service is stopping
        assert run.finish() == 0, run.stderr
    alerts = run.alerts()
    assert [a["type"] for a in alerts][-1] == "end"
    assert [request.body for request in held_hook.received] == alerts  # all delivered, in order
    assert queued(tmp_path) == []
    assert run.lines[-1]["summary"]["stopped_by"] == "SIGTERM"


def test_what_is_still_queued_after_5_s_stays_on_disk_and_the_next_run_delivers_it(tmp_path, held_hook, video):
    with alerting(write_config(tmp_path, held_hook.url), video, held_hook) as run:
        stop_until_delivering(run)
        assert run.finish() == 0, run.stderr  # after 5 s, the first POST still held
    alerts = run.alerts()
    assert [request.body for request in held_hook.received] == alerts[:1]
    assert queued(tmp_path) == alerts  # the held one too: it was never answered
    assert run.lines[-1]["summary"]["stopped_by"] == "SIGTERM"

    held_hook.gate.set()
    disarmed = write_config(tmp_path, held_hook.url, armed=False)  # the next run raises no alert of its own
    assert run_cli("--config", str(disarmed), "run", "--headless", "--frames", "3", "--source", video).returncode == 0
    assert [request.body for request in held_hook.received[1:]] == alerts
    assert queued(tmp_path) == []


@pytest.mark.parametrize("second", ["together_with_the_first", "while_delivering"])
def test_a_second_signal_stops_at_once(tmp_path, held_hook, video, second):
    """Whether both signals come together (they reach the process as it is analysing: it is
    stopped while they are sent) or the second comes while the stop waits for the held webhook: no
    summary, no `stop` record, and what was queued stays on disk."""
    with alerting(write_config(tmp_path, held_hook.url), video, held_hook) as run:
        if second == "while_delivering":
            stop_until_delivering(run)
            run.process.send_signal(signal.SIGTERM)
        else:
            run.process.send_signal(signal.SIGSTOP)
            run.process.send_signal(signal.SIGTERM)
            run.process.send_signal(signal.SIGINT)  # another signal: two of a kind would merge into one
            run.process.send_signal(signal.SIGCONT)
        assert run.finish() == 130, run.stderr
    assert run.stderr[-2].endswith(": stopping") and run.stderr[-1] == "emotui: interrupted", run.stderr
    assert not any("summary" in line for line in run.lines)
    assert len(held_hook.received) == 1  # still held when the process ended
    alerts = run.alerts()
    assert queued(tmp_path)[:len(alerts)] == alerts
    assert "stop" not in [record["type"] for record in audit_records(tmp_path / "alerts")]
