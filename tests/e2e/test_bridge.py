"""Scale-out over two brokers, as the README's "Several brokers: a bridge" writes it: a site mosquitto
whose config carries the README's bridge section (on loopback: no TLS, no credentials; every `topic`
line as written), a central mosquitto, one real `emotui run --headless` device on the site broker,
and the fleet model (the real FleetClient and Fleet) on the central broker with the README's
pattern. The device is discovered across the bridge, its state and alerts arrive, the commands
(thresholds, arming of a camera and of the device, a rule's switch) reach it, are applied and
recorded, and their echoes come back; across a cut of the link, an event of the site and a command
of the centre wait for it and arrive once it is back; killed, the device shows offline (the last will
crosses the bridge)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from emotui.config import MqttConfig
from emotui.fleet import EventArrived, Fleet, FleetClient, Note
from tests.helpers import EVENT_TIMEOUT_S, HeadlessRun, audit_records, unavailable
from tests.mosquitto import Broker, Link, Subscriber, mosquitto_binary

pytestmark = pytest.mark.usefixtures("model_store")

README = Path(__file__).parents[2] / "README.md"
SITE_ONLY = ("bridge_cafile", "remote_username", "remote_password")  # TLS and credentials: none on loopback
RECONNECT = "restart_timeout 1"  # on loopback, the bridge retries every second (mosquitto's default: 5 s to 30 s)
LOCAL_PREFIX, CAMERA = "emotui/door", "door"
NOTIFICATION = "$SYS/broker/connection/north/state"  # the bridge's link state, where the README says it is
DEADLINE_S = 4 * EVENT_TIMEOUT_S  # a model loading on a loaded machine


def readme_bridge() -> tuple[str, str]:
    """The README's bridge section: the site broker's bridge.conf and the fleet console's pattern."""
    section = README.read_text().split("**Several brokers: a bridge.**")[1].split("| topic (under")[0]
    conf = re.search(r"```conf\n(.*?)```", section, re.DOTALL).group(1)
    return conf, re.search(r"--prefix '([^']+)'", section).group(1)


def site_config(conf: str, link_port: int) -> str:
    """The README's bridge.conf aimed at the link to the central broker, without TLS and credentials."""
    kept = []
    for line in conf.splitlines():
        option = line.split()[0] if line.split() else ""
        if option == "address":
            line = f"address 127.0.0.1:{link_port}"
        if option not in SITE_ONLY:
            kept.append(line)
    assert len(kept) == len(conf.splitlines()) - len(SITE_ONLY)
    return "\n".join([*kept, RECONNECT]) + "\n"


class CentralConsole:
    """The fleet console's model on the central broker: the real FleetClient and Fleet, without a screen."""

    def __init__(self, port: int, pattern: str) -> None:
        self.fleet = Fleet(pattern)
        self.notes: list[str] = []
        self.events: list[EventArrived] = []
        self.client = FleetClient(MqttConfig(host="127.0.0.1", port=port), pattern, lambda: None,
                                  lambda text, level: self.notes.append(text), environ={})
        self.client.start()

    def until(self, what: str, condition: Callable[[], object], context: Callable[[], str]) -> None:
        """Hand what arrived to the fleet until `condition` holds; fail, saying `what`, after DEADLINE_S."""
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            for topic, payload in self.client.inbox.take():
                for update in self.fleet.handle(topic, payload):
                    if isinstance(update, EventArrived):
                        self.events.append(update)
                    elif isinstance(update, Note):
                        self.notes.append(update.text)
            if condition():
                return
            time.sleep(0.05)
        raise AssertionError(f"no {what} within {DEADLINE_S:g} s\nconsole: {self.notes}\n{context()}")


@pytest.fixture
def brokers(tmp_path):
    """(site, central, link): the site broker bridged to the central one as the README says, over a link."""
    if mosquitto_binary() is None:
        unavailable("mosquitto is not installed")
    central = Broker(tmp_path / "central").start()
    link = Link(central.port).restore()
    site = Broker(tmp_path / "site", extra_config=site_config(readme_bridge()[0], link.port))
    try:
        yield site.start(), central, link
    finally:
        site.stop()
        link.cut()
        central.stop()


def device_config(folder: Path, port: int) -> Path:
    config = folder / "emotui.toml"
    config.write_text(
        f'[source]\nname = "{CAMERA}"\nloop = true\n\n'
        f'[alerts]\ndir = {json.dumps(str(folder / "alerts"))}\n\n'
        '[[alerts.rules]]\nname = "visitor"\nkind = "face"\nmin_duration_s = 0.5\ncooldown_s = 0\n\n'
        '[[alerts.rules]]\nname = "fear"\nemotions = ["fear"]\nthreshold = 0.6\n\n'
        f'[snapshots]\ndir = {json.dumps(str(folder / "snaps"))}\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nprefix = "{LOCAL_PREFIX}"\nkeepalive_s = 5\n\n'
        "[models]\nauto_pull = false\n"
    )
    return config


def test_a_device_on_a_site_broker_is_seen_and_commanded_from_the_central_broker(tmp_path, brokers, media_dir):
    site, central, link = brokers
    pattern = readme_bridge()[1]
    remote_prefix = "site/north/" + LOCAL_PREFIX  # the README's `topic` lines map emotui/ to site/north/emotui/
    watcher = Subscriber(central.port, ["$SYS/broker/connection/+/state", "site/#"])

    def link_state(subscriber: Subscriber, payload: bytes) -> bool:
        return subscriber.wait_for(lambda ms: [m.payload for m in ms if m.topic == NOTIFICATION][-1:] == [payload],
                                   DEADLINE_S)

    assert link_state(watcher, b"1"), [(m.topic, m.payload) for m in watcher.messages]
    console = CentralConsole(central.port, pattern)
    alerts = tmp_path / "alerts"
    run = HeadlessRun("run", "--headless", "--json", "--changes", "--realtime", "--config",
                      str(device_config(tmp_path, site.port)), "--source",
                      str(media_dir / "videos" / "faces" / "liveportrait_d6.mp4"))

    def context() -> str:
        return "device: " + "\n".join(run.stderr[-10:])

    def audited(kind: str) -> list[dict]:
        return [r["data"] for r in audit_records(alerts) if r["type"] == kind]

    try:
        # discovered: the retained availability and device record crossed the bridge, then the camera's state
        console.until("device online with its camera live and a face", lambda: (
            (device := console.fleet.devices.get(remote_prefix)) is not None and device.online
            and device.cameras == [CAMERA] and [r.name for r in device.rules] == ["visitor", "fear"]
            and (camera := console.fleet.camera(remote_prefix, CAMERA)).status == "live" and camera.faces >= 1),
            context)
        camera = console.fleet.camera(remote_prefix, CAMERA)
        assert camera.thresholds == {"fear": 0.6} and camera.armed is True

        # an alert raised on the site arrives at the centre
        def visits() -> list[str]:
            return [e.event.id for e in console.events
                    if e.prefix == remote_prefix and e.event.rule == "visitor" and e.event.type == "new"]

        console.until("a visitor alert", visits, context)

        # a threshold sent at the centre: applied, recorded with origin mqtt, echoed back to the centre
        console.client.set_threshold(remote_prefix, CAMERA, "fear", 0.65)
        console.until("the threshold's echo", lambda: camera.thresholds["fear"] == 0.65, context)
        assert audited("threshold") == [{"rule": "fear", "threshold": 0.65, "origin": "mqtt", "camera": CAMERA}]

        # the camera's arming, then the device's (every camera): each applied, recorded and echoed
        console.client.arm(remote_prefix, CAMERA, False)
        console.until("the camera's disarmed echo", lambda: camera.armed is False, context)
        console.client.arm(remote_prefix, None, True)
        console.until("the device's armed echo", lambda: camera.armed is True, context)
        console.until("a visitor alert again, once armed", lambda: len(visits()) >= 2, context)
        assert [(r["type"], r["data"]) for r in audit_records(alerts) if r["type"] in ("armed", "disarmed")] == [
            ("disarmed", {"origin": "mqtt", "camera": CAMERA}), ("armed", {"origin": "mqtt", "camera": None})]

        # a rule's switch, as a script at the centre sends it (the console has none): applied, recorded, echoed
        enabled = f"{remote_prefix}/{CAMERA}/alerts/fear/enabled"
        watcher.publish(f"{enabled}/set", "OFF")
        assert watcher.wait_for(lambda ms: [m.payload for m in ms if m.topic == f"{enabled}/state"][-1:] == [b"OFF"],
                                DEADLINE_S), context()
        assert audited("rule disabled") == [{"rule": "fear", "origin": "mqtt", "camera": CAMERA}]

        # every command crossed the bridge once and none came back out of it
        commands = [(m.topic.removeprefix(remote_prefix + "/"), m.payload) for m in watcher.messages
                    if m.topic.endswith("/set")]
        assert commands == [(f"{CAMERA}/alerts/fear/threshold/set", b"0.65"), (f"{CAMERA}/armed/set", b"OFF"),
                            ("armed/set", b"ON"), (f"{CAMERA}/alerts/fear/enabled/set", b"OFF")]

        # the link cut: the notification says so, the centre keeps the device's last retained values; the
        # alert's end (the camera disarmed on the site) and a rule switched on at the centre wait for the link
        console.until("an open visitor alert", lambda: "visitor" in camera.alerts_on, context)
        cut_at = time.time()
        link.cut()
        assert link_state(watcher, b"0"), context()
        cut_notice = len(watcher.messages)  # the site's messages after this one crossed the restored link
        late = Subscriber(central.port, [f"{remote_prefix}/available"])
        assert late.wait_for(lambda ms: [(m.payload, m.retain) for m in ms] == [(b"online", True)])
        late.close()
        watcher.publish(f"{enabled}/set", "ON")
        on_site = Subscriber(site.port, [NOTIFICATION])
        assert link_state(on_site, b"0")
        on_site.publish(f"{LOCAL_PREFIX}/{CAMERA}/armed/set", "OFF")
        on_site.close()
        end = run.read_until(lambda line: line.get("alert", {}).get("type") == "end"
                             and line["alert"]["timestamp"] >= cut_at, DEADLINE_S)["alert"]
        link.restore()
        assert watcher.wait_for(lambda ms: any(m.topic == f"{remote_prefix}/events" and json.loads(m.payload)[
            "after"] == end for m in ms[cut_notice:]), DEADLINE_S), context()
        assert watcher.wait_for(lambda ms: [m.payload for m in ms if m.topic == f"{enabled}/state"][-1:] == [b"ON"],
                                DEADLINE_S), context()
        assert audited("rule enabled") == [{"rule": "fear", "origin": "mqtt", "camera": CAMERA}]

        # killed: the site broker's last will crosses the bridge
        run.kill()
        console.until("the device offline", lambda: console.fleet.devices[remote_prefix].online is False, context)
        assert f"{remote_prefix}: offline" in console.notes
    finally:
        run.kill()
        console.client.stop()
        watcher.close()
