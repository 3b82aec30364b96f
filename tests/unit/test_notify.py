"""Notifications without a server: what is held back (quiet hours, the rate limit) on an injected
clock, the `[notify]` settings and their errors, the URLs read from the environment, and the
placeholders shared with the exec hook."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from emotui.alerts import apprise_urls
from emotui.alerts.command import ExecHook
from emotui.alerts.notify import HoldBack, Notification, resolve_targets
from emotui.config import ConfigError, NotifyConfig, load_config
from tests.helpers import alert_event


class Clock:
    def __init__(self, when: datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now

    def at(self, hour: int, minute: int = 0) -> None:
        self.now = datetime.fromtimestamp(self.now).replace(hour=hour, minute=minute).timestamp()


def test_the_rate_limit_holds_back_per_rule_and_camera_and_the_next_notification_counts_them():
    clock = Clock(datetime(2026, 11, 24, 12, 0))
    hold_back = HoldBack(300.0, [], clock)
    first, again, other_camera = alert_event(1), alert_event(2), replace(alert_event(3), camera="garden")

    assert hold_back.reason(first) is None
    clock.now += 60
    assert hold_back.reason(again) == "rate limit"
    assert hold_back.reason(replace(again, rule="anger")) is None  # another rule
    assert hold_back.reason(other_camera) is None  # another camera
    assert hold_back.reason(replace(again, type="end")) is None  # another event type
    clock.now += 60
    assert hold_back.reason(again) == "rate limit"
    clock.now += 180  # 300 s after the first
    assert hold_back.reason(again) is None
    assert hold_back.held_note(again) == "\n(2 earlier fear new events on door not notified since 12:01: 2 rate limit)"
    assert hold_back.held_note(again) == ""  # told once


def test_no_rate_limit_with_a_zero_interval():
    hold_back = HoldBack(0.0, [], Clock(datetime(2026, 11, 24, 12, 0)))
    assert [hold_back.reason(alert_event(n)) for n in range(3)] == [None, None, None]


@pytest.mark.parametrize(("hour", "minute", "quiet"), [
    (21, 59, False), (22, 0, True), (23, 30, True), (0, 0, True), (6, 59, True), (7, 0, False), (12, 0, False),
])
def test_quiet_hours_cross_midnight_in_local_time(hour, minute, quiet):
    clock = Clock(datetime(2026, 11, 24, hour, minute))
    hold_back = HoldBack(0.0, ["22:00-07:00"], clock)
    assert hold_back.reason(alert_event(1)) == ("quiet hours" if quiet else None)


def test_what_quiet_hours_held_back_is_counted_in_the_first_notification_after_them():
    clock = Clock(datetime(2026, 11, 24, 23, 0))
    hold_back = HoldBack(300.0, ["22:00-07:00"], clock)
    assert hold_back.reason(alert_event(1)) == "quiet hours"
    clock.now += 3600
    assert hold_back.reason(alert_event(2)) == "quiet hours"
    clock.at(7, 30)
    assert hold_back.reason(alert_event(3)) is None
    assert "2 earlier fear new events on door not notified since 23:00: 2 quiet hours" in hold_back.held_note(
        alert_event(3))


def test_templates_fill_the_same_placeholders_as_the_exec_hook():
    event = replace(alert_event(7), snapshot="/snaps/a.png")
    template = ("{type} {id} {camera} {rule} {kind} {track_id} {emotion} {score} {peak_score} {faces} {snapshot} "
                "{sequence}")
    hook = ExecHook(["echo", template], ["new"], 1.0, print, print)
    try:
        assert event.fill(template) == hook.arguments(event)[1] == \
            "new alert-7 door fear emotion 7 fear 0.750 0.800 1 /snaps/a.png 0"
    finally:
        hook.close(0)


def test_the_sequence_placeholder_the_readme_lists_is_allowed_in_exec_and_the_templates(tmp_path):
    config = _load(tmp_path, '[alerts]\nexec = ["echo", "{id}", "{sequence}"]\n[notify]\nbody = "{id} #{sequence}"\n')
    assert config.alerts.exec[2] == "{sequence}" and config.notify.body == "{id} #{sequence}"


def test_a_notification_keeps_its_picture_through_the_outbox_encoding():
    notification = Notification("alert-1", "new", "title", "body ü", ["phone", "mail"], b"\xff\xd8jpeg\x00")
    assert Notification.decode(notification.encode()) == notification


def test_urls_from_the_environment_are_named_never_quoted_when_wrong():
    config = NotifyConfig(urls={"lan": "json://127.0.0.1:8080/hook"},
                          urls_env={"phone": "EMOTUI_NOTIFY_PHONE", "mail": "EMOTUI_NOTIFY_MAIL",
                                    "sms": "EMOTUI_NOTIFY_SMS"})
    environ = {"EMOTUI_NOTIFY_PHONE": "ntfy://tk_secret1234@ntfy.sh/door", "EMOTUI_NOTIFY_SMS": "nosuch://tk_secret99"}
    targets, problems = resolve_targets(config, environ)
    assert [(target.name, target.url) for target in targets] == [
        ("lan", "json://127.0.0.1:8080/hook"), ("phone", "ntfy://tk_secret1234@ntfy.sh/door")]
    assert problems == [
        "notify.urls_env.mail: environment variable EMOTUI_NOTIFY_MAIL is not set",
        "notify.urls_env.sms: $EMOTUI_NOTIFY_SMS is not a URL Apprise can use (unknown service or a part missing; "
        "see https://github.com/caronc/apprise/wiki)",
    ]


def _load(tmp_path: Path, text: str):
    path = tmp_path / "emotui.toml"
    path.write_text(text)
    return load_config(path)


def _errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, text)
    return [f"{issue.key}: {issue.message}" for issue in error.value.issues]


def test_a_valid_notify_section_loads(tmp_path):
    config = _load(tmp_path, '[notify]\nrules = ["fear"]\nevents = ["new", "end"]\nquiet_hours = ["22:00-07:00"]\n'
                             'min_interval_s = 60\n[notify.urls]\nlan = "ntfy://192.168.1.5:8080/door"\n'
                             'mail = "mailto://127.0.0.1:25?from=emotui@example.com&to=me@example.com"\n'
                             '[notify.urls_env]\nphone = "EMOTUI_NOTIFY_PHONE"\n[notify.routes]\nfear = "phone, lan"\n')
    assert config.notify.routes == {"fear": "phone, lan"} and config.notify.min_interval_s == 60.0


@pytest.mark.parametrize("url", [
    "ntfy://tk_abcdef123456@ntfy.sh/door",  # an access token
    "ntfy://ntfy.sh/door?token=tk_abcdef123456",
    "json://user:hunter2@127.0.0.1:8080/hook",  # a password
    "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/12345",  # a bot token
    "pover://ukeyabcdefghijklmnopqrstuvwxyz@tokenabcdefghijklmnopqrstuvwx",
    "twilio://AC0123456789abcdef0123456789abcdef:authtoken0123456789abcdef012345@15551234567/15557654321",
    "mailtos://smtp.example.com?user=me&pass=hunter2&to=me@example.com",
    "json://127.0.0.1:8080/hook?+Authorization=Bearer%20abc",  # a secret header
])
def test_a_url_in_the_file_with_a_secret_is_refused_saying_how_to_move_it(tmp_path, url):
    errors = _errors(tmp_path, f'[notify.urls]\nphone = "{url}"\n')
    assert len(errors) == 1
    assert errors[0].startswith("notify.urls: phone: the URL carries a password, token or key")
    assert 'urls_env = {phone = "EMOTUI_NOTIFY_PHONE"}' in errors[0]
    assert "hunter2" not in errors[0] and "abcdef" not in errors[0] and "AAHdq" not in errors[0]


@pytest.mark.parametrize(("text", "error"), [
    ('[notify.urls]\nx = "nosuch://host/path"\n', "notify.urls: x: not a URL Apprise can use"),
    ('[notify.urls]\n"my phone" = "ntfy://192.168.1.5/door"\n', "notify.urls: name 'my phone' must be 1-64 letters"),
    ('[notify.urls_env]\nphone = "tgram://123:abc/1"\n',
     "notify.urls_env: phone: the value is the name of an environment variable holding the URL"),
    ('[notify.urls]\nlan = "ntfy://192.168.1.5/door"\n[notify.routes]\nfear = "lan,phone"\n',
     "notify.routes: fear: no URL named 'phone' in notify.urls or notify.urls_env"),
    ('[notify.urls]\nlan = "ntfy://192.168.1.5/door"\n[notify.urls_env]\nlan = "EMOTUI_LAN"\n',
     "notify.urls_env: lan: also in notify.urls"),
    ('[notify]\ntitle = "{rule} at {time}"\n', "notify.title: unknown placeholder {time}; allowed: type, id"),
    ('[notify]\nbody = "{score:.2f}"\n', "notify.body: placeholders take no format or conversion (write {score})"),
    ('[notify]\nbody = "score {"\n', "notify.body: 'score {': Single '{' encountered"),
    ('[notify]\nbody = " "\n', "notify.body: must not be empty"),
    ('[notify]\nquiet_hours = ["22:00-22:00"]\n', "notify.quiet_hours: each window must be HH:MM-HH:MM"),
    ('[notify]\nevents = ["start"]\n', "notify.events: must be a list drawn from new, update, end"),
    ('[notify]\nmin_interval_s = -1\n', "notify.min_interval_s: must be from 0.0 to 86400.0"),
    ('[notify]\nqueue_max = 0\n', "notify.queue_max: must be from 1 to 10000"),
])
def test_notify_config_errors_name_the_key_and_the_fix(tmp_path, text, error):
    errors = _errors(tmp_path, text)
    assert len(errors) == 1 and errors[0].startswith(error), errors


def test_a_failure_that_quotes_a_request_url_shows_no_token():
    url = "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/12345"
    text = ("Failed to send Telegram notification: HTTPSConnectionPool(host='api.telegram.org', port=443): Max "
            "retries exceeded with url: /bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage")
    redacted = apprise_urls.redact(text, apprise_urls.load(url))
    assert redacted == ("Failed to send Telegram notification: HTTPSConnectionPool(host='api.telegram.org', port=443): "
                        "Max retries exceeded with url: /bot***:***/sendMessage")
