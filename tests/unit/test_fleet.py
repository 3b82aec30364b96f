"""The fleet console's model of a broker's devices: the topic layout, discovery from retained
messages in any order, the bounds a hostile publisher meets, and bad payloads ignored with a note."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from emotui.alerts.topics import (
    Topic, device_prefix, parse_topic, pattern_matches, pattern_problem, rule_topic, subscription, topic_slug,
)
from emotui.fleet import (
    INBOX_MAX, MAX_CAMERAS, MAX_DEVICES, MAX_PENDING, MAX_PREVIEW_BYTES, NOTE_INTERVAL_S, PREVIEW_KEPT_SIZE, Changed,
    EventArrived, Fleet, Inbox, Note, decode_preview,
)
from tests.helpers import alert_event, run_cli


def jpeg(width: int = 320, height: int = 240, colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


def device_record(cameras=("door",), rules=None, armed=True) -> bytes:
    rules = rules if rules is not None else [
        {"name": "fear", "slug": "fear", "kind": "emotion", "emotions": ["fear"], "threshold": 0.6},
        {"name": "visitor", "slug": "visitor", "kind": "face", "emotions": ["fear"], "threshold": None},
    ]
    return json.dumps({"version": "0.1.0", "host": "pi", "cameras": list(cameras), "armed": armed,
                       "keepalive_s": 30, "rules": rules}).encode()


def event_payload(number: int, camera: str = "door") -> bytes:
    after = {**alert_event(number).to_dict(), "camera": camera}
    return json.dumps({"type": "new", "before": after, "after": after}).encode()


def notes(updates) -> list[str]:
    return [update.text for update in updates if isinstance(update, Note)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --- the topic layout --------------------------------------------------------------------------


@pytest.mark.parametrize(("topic", "expected"), [
    ("emotui/available", Topic("emotui", "available")),
    ("emotui/events", Topic("emotui", "events")),
    ("emotui/door/state", Topic("emotui", "state", "door")),
    ("emotui/door/armed/state", Topic("emotui", "armed/state", "door")),
    ("emotui/door/preview", Topic("emotui", "preview", "door")),
    ("emotui/door/alerts/fear/state", Topic("emotui", "state", "door", "fear")),
    ("emotui/door/alerts/fear/threshold/set", Topic("emotui", "threshold/set", "door", "fear")),
    ("emotui/door/alerts/fear/threshold/state", Topic("emotui", "threshold/state", "door", "fear")),
    # a device whose prefix lies under another's: the longest prefix that explains the topic wins
    ("emotui/site/available", Topic("emotui/site", "available")),
    ("emotui/site/hall/state", Topic("emotui/site", "state", "hall")),
    ("emotui/site/state", Topic("emotui", "state", "site")),
    # the device's arm-all command comes before camera topics; a camera named `armed` keeps its own
    ("emotui/armed/set", Topic("emotui", "armed/set")),
    ("emotui/site/armed/set", Topic("emotui/site", "armed/set")),
    ("emotui/armed/state", Topic("emotui", "state", "armed")),
    ("emotui/armed/armed/set", Topic("emotui", "armed/set", "armed")),
    ("emotui/armed/armed/state", Topic("emotui", "armed/state", "armed")),
    ("emotui/door/unknown", None),
    ("emotui/door/alerts/fear/other", None),
    ("other/door/state", None),
    ("emotui", None),
])
def test_topics_parse_under_the_known_prefixes(topic, expected):
    assert parse_topic(topic, {"emotui", "emotui/site"}) == expected


def test_topics_are_built_as_they_are_parsed():
    topic = rule_topic("emotui/site/", "hall", "fear of the dark", "threshold/set")
    assert topic == "emotui/site/hall/alerts/fear_of_the_dark/threshold/set"
    assert parse_topic(topic, {"emotui/site"}) == Topic("emotui/site", "threshold/set", "hall", "fear_of_the_dark")
    assert topic_slug("a/b#+") == "a_b" and topic_slug("///") == "_"
    assert device_prefix("emotui/site/device") == ("emotui/site", "device")
    assert device_prefix("emotui/site/state") is None and device_prefix("available") is None


@pytest.mark.parametrize(("pattern", "prefix", "matches"), [
    ("emotui/#", "emotui", True),
    ("emotui/#", "emotui/site/door", True),
    ("emotui/#", "emotuix", False),
    ("emotui", "emotui", True),
    ("emotui", "emotui/door", False),
    ("site/+", "site/a", True),
    ("site/+", "site/a/b", False),
    ("site/+", "site", False),
    ("+/emotui", "north/emotui", True),
    ("site/+/emotui/#", "site/north/emotui/door", True),  # every site behind a bridge (README)
    ("site/north/emotui/#", "site/north/emotui/door", True),  # one of them
    ("site/north/emotui/#", "site/south/emotui/door", False),
    ("#", "anything/at/all", True),
])
def test_prefix_patterns_match_as_mqtt_subscriptions_do(pattern, prefix, matches):
    assert pattern_matches(pattern, prefix) is matches


@pytest.mark.parametrize("pattern", ["", "a//b", "/a", "a/#/b", "a#", "a+/b", "$SYS/#"])
def test_bad_prefix_patterns_are_named(pattern):
    assert pattern_problem(pattern)


def test_good_prefix_patterns_and_their_subscription():
    for pattern in ("emotui/#", "emotui", "site/+/emotui", "#", "+"):
        assert pattern_problem(pattern) is None
    assert subscription("emotui/#") == "emotui/#"
    assert subscription("site/+") == "site/+/#"


# --- discovery ----------------------------------------------------------------------------------


def test_a_device_is_discovered_from_retained_messages_in_any_order():
    fleet = Fleet("emotui/#")
    # the broker may hand the camera's retained state before the device's availability
    assert fleet.handle("emotui/site/door/state", b'{"faces": 2, "dominant": "fear", "armed": false}') == []
    assert fleet.handle("emotui/site/door/alerts/fear/threshold/state", b"0.7") == []
    updates = fleet.handle("emotui/site/available", b"online")
    assert notes(updates) == ["emotui/site: online"]
    camera = fleet.camera("emotui/site", "door")
    assert (camera.faces, camera.dominant, camera.armed, camera.thresholds) == (2, "fear", False, {"fear": 0.7})
    fleet.handle("emotui/site/device", device_record(cameras=("door", "yard")))
    device = fleet.devices["emotui/site"]
    assert (device.online, device.host, device.cameras) == (True, "pi", ["door", "yard"])
    assert [(r.slug, r.threshold) for r in device.rules] == [("fear", 0.6), ("visitor", None)]
    assert camera.thresholds == {"fear": 0.7}  # the echoed state wins over the record's
    assert fleet.camera("emotui/site", "yard").thresholds == {"fear": 0.6}


def test_an_arm_all_command_of_another_console_is_no_camera():
    fleet = Fleet("emotui/#")
    fleet.handle("emotui/available", b"online")
    fleet.handle("emotui/device", device_record())
    assert fleet.handle("emotui/armed/set", b"OFF") == []
    assert list(fleet.cameras) == [("emotui", "door")] and fleet.camera("emotui", "door").armed is True


def test_devices_outside_the_pattern_are_not_discovered():
    fleet = Fleet("site/+")
    assert fleet.handle("emotui/available", b"online") == []
    assert fleet.handle("site/a/b/available", b"online") == []
    assert fleet.handle("site/a/available", b"online")
    assert list(fleet.devices) == ["site/a"]


def test_offline_events_and_alert_states_reach_the_tiles():
    fleet = Fleet("emotui/#")
    fleet.handle("emotui/available", b"online")
    fleet.handle("emotui/device", device_record())
    updates = fleet.handle("emotui/events", event_payload(1))
    assert [type(u) for u in updates] == [EventArrived, Changed]
    assert updates[0].event == alert_event(1) and fleet.camera("emotui", "door").last_alert == alert_event(1)
    fleet.handle("emotui/door/alerts/fear/state", b"ON")
    assert fleet.camera("emotui", "door").alerts_on == {"fear"}
    fleet.handle("emotui/door/alerts/fear/state", b"OFF")
    assert fleet.camera("emotui", "door").alerts_on == set()
    assert notes(fleet.handle("emotui/available", b"offline")) == ["emotui: offline"]
    assert fleet.devices["emotui"].online is False
    assert notes(fleet.handle("emotui/available", b"offline")) == []  # told once
    fleet.handle("emotui/door/preview", jpeg())
    assert fleet.camera("emotui", "door").preview.size == PREVIEW_KEPT_SIZE


def test_an_alert_opened_before_the_console_connected_shows_on_its_tile():
    from emotui.tui.fleet import CameraTile

    fleet = Fleet("emotui/#")
    fleet.handle("emotui/available", b"online")
    fleet.handle("emotui/device", device_record())
    tile = CameraTile(fleet.camera("emotui", "door"), 1)
    assert tile._last_alert() == "no alert"
    fleet.handle("emotui/door/alerts/visitor/state", b"ON")  # retained: its event was published before
    fleet.handle("emotui/door/alerts/fear/state", b"ON")
    assert tile._last_alert() == "open fear visitor"
    fleet.handle("emotui/events", event_payload(1))
    assert tile._last_alert().endswith(f"{alert_event(1).rule} {alert_event(1).type}")


def test_a_changed_threshold_is_noted_as_echoed():
    fleet = Fleet("emotui/#")
    fleet.handle("emotui/available", b"online")
    fleet.handle("emotui/door/alerts/fear/threshold/state", b"0.6")
    assert notes(fleet.handle("emotui/door/alerts/fear/threshold/state", b"0.65")) == [
        "emotui/door: fear ≥0.65 echoed"]


# --- bounds ------------------------------------------------------------------------------------


def test_devices_and_cameras_are_bounded_and_the_excess_noted_once():
    fleet = Fleet("#")
    told = []
    for number in range(MAX_DEVICES + 5):
        told += notes(fleet.handle(f"d{number}/available", b"online"))
    assert len(fleet.devices) == MAX_DEVICES
    assert told[-1] == f"more than {MAX_DEVICES} devices: d{MAX_DEVICES} and later ones ignored"
    assert sum("more than" in text for text in told) == 1
    told = []
    for number in range(MAX_CAMERAS + 5):
        told += notes(fleet.handle(f"d0/cam{number}/state", b'{"faces": 0}'))
    assert len(fleet.cameras) == MAX_CAMERAS
    assert sum("more than" in text for text in told) == 1


def test_messages_under_unknown_prefixes_are_bounded():
    fleet = Fleet("emotui/#")
    for number in range(MAX_PENDING * 3):
        fleet.handle(f"emotui/x{number}/door/state", b'{"faces": 1}')
    fleet.handle("emotui/y/door/preview", jpeg())  # pictures are never kept for later
    assert len(fleet._pending) == MAX_PENDING
    assert not any(topic.endswith("preview") for topic in fleet._pending)
    fleet.handle(f"emotui/x{MAX_PENDING * 3 - 1}/available", b"online")  # the newest are kept and replayed
    assert fleet.camera(f"emotui/x{MAX_PENDING * 3 - 1}", "door").faces == 1


def test_the_inbox_keeps_the_newest_preview_per_camera_and_bounds_the_rest():
    inbox = Inbox()
    assert inbox.put("emotui/door/preview", b"1") is True  # woken when it was empty
    assert inbox.put("emotui/door/preview", b"2") is False
    for number in range(INBOX_MAX + 3):
        inbox.put("emotui/door/state", str(number).encode())
    for number in range(MAX_CAMERAS + 2):
        inbox.put(f"emotui/c{number}/preview", b"x")
    taken = inbox.take()
    assert inbox.dropped == 3 + 3  # the oldest states, and previews of cameras beyond the bound
    assert taken[0] == ("emotui/door/state", b"3")
    assert ("emotui/door/preview", b"2") in taken and ("emotui/door/preview", b"1") not in taken
    assert len(taken) == INBOX_MAX + MAX_CAMERAS
    assert inbox.take() == []


# --- bad payloads ------------------------------------------------------------------------------


@pytest.mark.parametrize(("topic", "payload", "why"), [
    ("emotui/available", b"maybe", "neither online nor offline"),
    ("emotui/device", b"[1, 2]", "not a JSON object"),
    ("emotui/device", b'{"cameras": "door", "rules": []}', "must be lists"),
    ("emotui/door/state", b"\xff\xfe", "not JSON"),
    ("emotui/door/state", b'{"faces": -1}', "`faces` must be a count"),
    ("emotui/door/state", b'{"faces": true}', "`faces` must be a count"),
    ("emotui/door/state", b"[" * 100_000, "more than"),
    ("emotui/door/armed/state", b"yes", "neither ON nor OFF"),
    ("emotui/door/alerts/fear/threshold/state", b"1.5", "not a threshold"),
    ("emotui/door/alerts/fear/threshold/state", b"nan", "not a threshold"),
    ("emotui/events", b'{"after": {"id": "x"}}', "must be text"),
    ("emotui/events", json.dumps({"after": {**alert_event(1).to_dict(), "type": "boom"}}).encode(), "unknown"),
    ("emotui/events", json.dumps({"after": {**alert_event(1).to_dict(), "score": "high"}}).encode(), "number"),
    ("emotui/events", b"{}", "no `after` record"),
    ("emotui/door/preview", b"\xff\xd8\xff junk", "not a JPEG picture"),
    ("emotui/door/preview", b"GIF89a" + bytes(100), "not a JPEG picture"),
    ("emotui/door/preview", b"\xff\xd8" + bytes(MAX_PREVIEW_BYTES), "more than"),
    ("emotui/door/preview", jpeg(2000, 1100), "too large"),
])
def test_bad_payloads_are_ignored_with_a_note_naming_the_topic(topic, payload, why):
    fleet = Fleet("emotui/#")
    fleet.handle("emotui/available", b"online")
    fleet.handle("emotui/door/state", b'{"faces": 1, "dominant": "happy", "armed": true}')
    before = repr(fleet.cameras)
    told = notes(fleet.handle(topic, payload))
    assert len(told) == 1 and told[0].startswith(f"ignored {topic}: ") and why in told[0], told
    assert repr(fleet.cameras) == before  # nothing already known was lost
    assert fleet.devices["emotui"].online is True


def test_bad_input_is_noted_at_most_once_per_interval_per_device_and_topic():
    clock = FakeClock()
    fleet = Fleet("emotui/#", clock)
    fleet.handle("emotui/available", b"online")
    told = [notes(fleet.handle("emotui/door/state", b"junk")) for _ in range(100)]
    assert sum(map(len, told)) == 1
    assert notes(fleet.handle("emotui/door/preview", b"junk"))  # another topic: its own note
    clock.now += NOTE_INTERVAL_S
    assert notes(fleet.handle("emotui/door/state", b"junk"))


def test_a_preview_is_kept_small_whatever_its_size():
    image = decode_preview(jpeg(1280, 720))
    assert image.width <= PREVIEW_KEPT_SIZE[0] and image.height <= PREVIEW_KEPT_SIZE[1]
    assert image.getpixel((5, 5))[0] > 150  # the picture, not a blank


# --- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--mqtt", "broker.lan", "--prefix", "emotui/#/x"], "--prefix 'emotui/#/x': + must be a whole level"),
    ([], "name the broker: --mqtt HOST[:PORT], or mqtt.host in the config"),
    (["--mqtt", "broker.lan:99999"], "config error: --mqtt port: must be from 1 to 65535"),
    (["--mqtt", "http://broker.lan"], "config error: --mqtt: must be a host name or IP address"),
    (["--mqtt", "broker.lan", "--tls", "--ca-file", "/nonexistent/ca.pem"], "mqtt.ca_file: no such file"),
    (["--mqtt", "[::1]:1883"], "the fleet console needs a terminal"),  # all good: only the terminal is missing
])
def test_fleet_command_line_errors_name_what_to_fix(args, message):
    result = run_cli("fleet", *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
