"""`emotui fleet` end to end: three real `emotui run --headless` devices on different face videos,
each with its own prefix and audit log, a real mosquitto, and the fleet console in a real terminal
(tmux): the devices appear, the events of all three arrive, a device killed with SIGKILL is shown
offline (the broker's last will), and a threshold changed from the fleet console is applied by its
device, recorded in that device's audit log and echoed back onto the screen."""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import pytest

from emotui.config import MqttConfig
from emotui.fleet import FleetClient
from emotui.tui.fleet import FleetApp
from tests.e2e.test_terminal import Terminal, require, wait_for
from tests.helpers import HeadlessRun, audit_records, settle, unavailable, wait_until
from tests.mosquitto import Broker, Subscriber, mosquitto_binary

pytestmark = pytest.mark.usefixtures("model_store")

DEVICES = (("door", "liveportrait_d6.mp4"), ("hall", "liveportrait_d12.mp4"), ("yard", "liveportrait_d18.mp4"))
COLUMNS, ROWS = 160, 50
APPEAR_S = 60.0  # three devices loading their models while the console starts, on a loaded machine
EVENT_S = 60.0
ONLINE_TILE = re.compile(r"[┃│] online ")  # a tile's first line (the log says "emotui/door: online")


def device_config(folder: Path, name: str, port: int) -> Path:
    folder.mkdir()
    config = folder / "emotui.toml"
    config.write_text(
        f'[source]\nname = "{name}"\nloop = true\n\n'
        f'[alerts]\ndir = {json.dumps(str(folder / "alerts"))}\n\n'
        '[[alerts.rules]]\nname = "visitor"\nkind = "face"\nmin_duration_s = 0.5\n\n'
        '[[alerts.rules]]\nname = "fear"\nemotions = ["fear"]\nthreshold = 0.6\n\n'
        f'[snapshots]\ndir = {json.dumps(str(folder / "snaps"))}\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nprefix = "emotui/{name}"\nkeepalive_s = 5\n'
        "preview_fps = 1.0\n"
        "[models]\nauto_pull = false\n"
    )
    return config


def events_rows(screen: str) -> list[str]:
    """The events list's rows: below its title, left of the log."""
    lines = screen.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"^\W*events", line))
    return [line.split("│")[0] for line in lines[start + 2:-1] if line.strip()]


def log_text(screen: str) -> str:
    """The log's column (right of the events list), without spaces: its wrapped lines read as one."""
    return re.sub(r"\s+", "", "".join(line.split("│")[-1] for line in screen.splitlines() if "│" in line))


def tile_number(screen: str, camera: str) -> str:
    return re.search(rf"(\d) {camera} ", screen).group(1)


@pytest.fixture
def broker(tmp_path):
    if mosquitto_binary() is None:
        unavailable("mosquitto is not installed")
    broker = Broker(tmp_path / "broker").start()
    yield broker
    broker.stop()


def test_three_devices_in_the_fleet_console(tmp_path, broker, media_dir, model_store):
    require("tmux")
    devices = {}
    terminal = Terminal(tmp_path)
    command = (f"cd {shlex.quote(str(tmp_path))} && env TERM=xterm-256color LANG=C.UTF-8 "
               f"{shlex.quote(sys.executable)} -m emotui fleet --mqtt 127.0.0.1:{broker.port}")
    done = terminal.tmux("new-session", "-d", "-s", terminal.SESSION, "-x", str(COLUMNS), "-y", str(ROWS), command)
    assert done.returncode == 0, done.stderr
    try:
        # events are not retained: the console subscribes before the devices publish their first ones
        wait_for("the console connected", terminal.screen_when(
            lambda s: f"connected to 127.0.0.1:{broker.port}" in s), APPEAR_S, terminal.screen)
        for name, video in DEVICES:
            config = device_config(tmp_path / name, name, broker.port)
            devices[name] = HeadlessRun("run", "--headless", "--json", "--changes", "--realtime", "--config",
                                        str(config), "--source", str(media_dir / "videos" / "faces" / video))
        _drive(terminal, devices, tmp_path)
    finally:
        terminal.kill()
        for run in devices.values():
            run.kill()


def _drive(terminal: Terminal, devices: dict[str, HeadlessRun], folder: Path) -> None:
    def context() -> str:
        return terminal.screen() + "\n".join(line for run in devices.values() for line in run.stderr[-5:])

    # the devices appear, each camera a tile, online, with its rules' thresholds from the device record
    screen = wait_for("three online tiles with thresholds", terminal.screen_when(
        lambda s: all(re.search(rf"\d {name} ", s) for name in devices) and len(ONLINE_TILE.findall(s)) == 3
        and s.count("fear≥0.60") == 3), APPEAR_S, context)

    # the events of all three arrive in the one list
    wait_for("an event from each device", terminal.screen_when(
        lambda s: {row.split()[1] for row in events_rows(s) if len(row.split()) > 2} >= set(devices)), EVENT_S, context)

    # a threshold changed from the console: applied by the device, in its audit log, echoed on screen
    terminal.keys(tile_number(screen, "door"))
    terminal.keys("+")
    wait_for("the echoed threshold", terminal.screen_when(
        lambda s: "fear≥0.65" in s and "emotui/door/door:fear≥0.65echoed" in log_text(s)),
        EVENT_S, context)
    assert wait_until(lambda: any(r["type"] == "threshold" for r in audit_records(folder / "door" / "alerts")))
    (record,) = [r["data"] for r in audit_records(folder / "door" / "alerts") if r["type"] == "threshold"]
    assert record == {"rule": "fear", "threshold": 0.65, "origin": "mqtt", "camera": "door"}
    assert not any(r["type"] == "threshold" for name in ("hall", "yard")
                   for r in audit_records(folder / name / "alerts"))

    # a device killed with SIGKILL: the broker's last will marks it offline, the others stay online
    devices["hall"].kill()
    screen = wait_for("hall offline", terminal.screen_when(lambda s: "OFFLINE" in s), EVENT_S, context)
    assert screen.count("OFFLINE") == 1 and len(ONLINE_TILE.findall(screen)) == 2
    assert "emotui/hall: offline" in screen
    for name in ("door", "yard"):
        assert devices[name].process.poll() is None, context()


async def test_arm_all_commands_every_camera_of_the_selected_tiles_device(broker):
    """`A` under Textual's pilot, with the real FleetClient: one `<prefix>/armed/set` for the selected
    tile's device, ON unless all its cameras are known armed, then OFF; the other device gets nothing."""
    devices = Subscriber(broker.port)  # stands in for the devices: their retained topics, and hears the commands
    for prefix, cameras in (("emotui/home", ["door", "porch"]), ("emotui/shop", ["till"])):
        devices.publish(f"{prefix}/available", "online", retain=True)
        devices.publish(f"{prefix}/device", json.dumps({"cameras": cameras, "rules": []}), retain=True)
        for camera in cameras:
            devices.publish(f"{prefix}/{camera}/armed/state", "OFF" if camera == "porch" else "ON", retain=True)
    app = FleetApp(lambda on_wake, on_note: FleetClient(MqttConfig(host="127.0.0.1", port=broker.port), "emotui/#",
                                                         on_wake, on_note, environ={}), "emotui/#")

    def commands() -> list[tuple[str, bytes]]:
        return [(m.topic, m.payload) for m in devices.messages if m.topic.endswith("/set")]

    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: len(app.tiles) == 3 and app.fleet.camera("emotui/home", "porch").armed is False)
        app.select(("emotui/home", "door"))
        await pilot.press("A")  # porch is disarmed: arm all
        await settle(pilot, lambda: commands() == [("emotui/home/armed/set", b"ON")])
        devices.publish("emotui/home/porch/armed/state", "ON", retain=True)  # the device's echo
        await settle(pilot, lambda: app.fleet.camera("emotui/home", "porch").armed is True)
        await pilot.press("A")  # all known armed: disarm all
        await settle(pilot, lambda: commands()[1:] == [("emotui/home/armed/set", b"OFF")])
        assert any("emotui/home: disarming all 2 cameras sent" in line.text for line in app.log_view.lines)
    devices.close()
