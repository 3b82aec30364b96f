"""The console with several cameras, driven by Textual's Pilot: the grid and its keys (1-9, arrows,
Enter, Escape), the mouse, and pause, snapshot, thresholds and arming on the camera they should act on.
Cameras are generated images (each analysed once), so that the tests need models but no media."""

from __future__ import annotations

import json
import tomllib

import cv2
import numpy as np
import pytest

from emotui.capture import SourceState, SourceStatus
from emotui.config import CameraConfig, Config, load_config
from emotui.tui.app import create_app
from emotui.tui.messages import SourceChanged
from emotui.tui.screens import HelpScreen
from emotui.tui.tiles import CameraGrid
from tests.helpers import audit_records
from tests.integration.test_tui_pilot import header_text, log_text, wait_for

pytestmark = pytest.mark.usefixtures("model_store")

CAMERAS = ("door", "garage", "yard", "hall")


@pytest.fixture
def config(tmp_path):
    config = Config()
    for index, name in enumerate(CAMERAS):
        image = np.full((240, 320, 3), 40 + 50 * index, np.uint8)
        cv2.imwrite(str(tmp_path / f"{name}.png"), image)
        config.cameras.append(CameraConfig(name=name, uri=str(tmp_path / f"{name}.png")))
    config.snapshots.dir = str(tmp_path / "snaps")
    config.alerts.dir = str(tmp_path / "alerts")
    config.ui.bell = False
    return config


async def analysed(pilot):
    """The app once every camera has its frame."""
    app = pilot.app
    await wait_for(pilot, lambda: all(camera.latest is not None for camera in app.cameras), timeout=60)
    return app


def footer_keys(app) -> set[str]:
    return {binding.action for _, binding, enabled, _ in app.active_bindings.values() if binding.show and enabled}


async def test_the_grid_shows_every_camera_and_number_keys_focus_one_until_escape(config):
    app = create_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await analysed(pilot)
        await pilot.pause(0.6)  # a tile refresh
        grid = app.query_one(CameraGrid)
        assert app.in_grid and grid.display and not app.preview.display and app.focused is grid
        assert [tile.index for tile in grid.tiles[:4]] == [0, 1, 2, 3] and grid.side == 2
        assert [grid.states[index].name for index in range(4)] == list(CAMERAS)
        assert "4 cameras · selected door (1/4)" in header_text(app)
        assert "focus_camera(0)" in footer_keys(app) and "show_grid" not in footer_keys(app)
        await pilot.press("3")
        assert not app.in_grid and app.current == 2 and app.preview.display and not grid.display
        assert "yard (3/4)" in header_text(app) and "show_grid" in footer_keys(app)
        await wait_for(pilot, lambda: app.preview.picture._image is app.cameras[2].latest.image)
        await pilot.press("escape")
        assert app.in_grid and app.current == 2 and app.focused is grid and grid.selected == 2
        assert "selected yard (3/4)" in header_text(app)
        await pilot.press("9")  # no camera 9: nothing happens
        assert app.in_grid and app.current == 2


async def test_arrows_select_a_tile_and_enter_focuses_it(config):
    app = create_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await analysed(pilot)
        await pilot.press("right", "down")
        assert app.in_grid and app.current == 3 and "selected hall (4/4)" in header_text(app)
        await pilot.press("enter")
        assert not app.in_grid and app.current == 3 and app.focused is app.events_list


async def test_a_click_selects_a_tile_and_a_second_click_focuses_it(config):
    app = create_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await analysed(pilot)
        grid = app.query_one(CameraGrid)
        await pilot.click(grid.tiles[1], offset=(10, 5))
        assert app.in_grid and app.current == 1 and "selected garage (2/4)" in header_text(app)
        await pilot.click(grid.tiles[1], offset=(10, 5))
        assert not app.in_grid and app.current == 1


async def test_pause_snapshot_and_thresholds_act_on_the_selected_camera(config, tmp_path):
    app = create_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await analysed(pilot)
        await pilot.press("right")  # garage selected in the grid
        await pilot.press("space", "s", "plus")
        assert [camera.pipeline.paused for camera in app.cameras] == [False, True, False, False]
        assert "garage: analysis paused" in log_text(app)
        assert "PAUSED" in header_text(app)
        await wait_for(pilot, lambda: "garage: snapshot saved" in log_text(app))
        thresholds = [camera.engine.current_rules()[0].threshold for camera in app.cameras]
        assert thresholds == [0.6, pytest.approx(0.65), 0.6, 0.6]
        await pilot.press("4", "minus")  # hall focused
        assert app.cameras[3].engine.current_rules()[0].threshold == pytest.approx(0.55)
        assert "PAUSED" not in header_text(app)
    sidecars = list((tmp_path / "snaps").glob("*.json"))
    assert len(sidecars) == 1 and json.loads(sidecars[0].read_text())["source"].endswith("garage.png")
    changes = [(record["data"]["camera"], record["data"]["threshold"]) for record in audit_records(tmp_path / "alerts")
               if record["type"] == "threshold"]
    assert changes == [("garage", pytest.approx(0.65)), ("hall", pytest.approx(0.55))]


async def test_w_writes_the_current_camera_s_thresholds_to_its_own_table(tmp_path):
    lines = [f'[alerts]\ndir = "{tmp_path / "alerts"}"\n[ui]\nbell = false\n']
    for index, name in enumerate(CAMERAS[:2]):
        cv2.imwrite(str(tmp_path / f"{name}.png"), np.full((240, 320, 3), 40 + 50 * index, np.uint8))
        lines.append(f'[[cameras]]\nname = "{name}"\nuri = "{tmp_path / f"{name}.png"}"  # kept\n')
    path = tmp_path / "emotui.toml"
    path.write_text("\n".join(lines))
    app = create_app(load_config(path))
    async with app.run_test(size=(120, 40)) as pilot:
        await analysed(pilot)
        await pilot.press("2", "plus", "w")  # garage focused, its first rule raised and written
        await wait_for(pilot, lambda: "thresholds of garage written to" in log_text(app))
    [door, garage] = tomllib.loads(path.read_text())["cameras"]
    assert "thresholds" not in door and garage["thresholds"] == {"fear": pytest.approx(0.65), "anger": 0.6}
    assert path.read_text().count("# kept") == 2


async def test_the_selected_rule_stays_one_of_the_current_camera_s_rules(config):
    config.cameras[1].rules = ["fear"]  # garage runs one rule of the two
    app = create_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await analysed(pilot)
        await pilot.press("r")  # door: the second rule (anger)
        assert app.rules[app.selected_rule].name == "anger"
        await pilot.press("2", "plus")
        assert app.selected_rule == 0 and app.cameras[1].engine.current_rules()[0].threshold == pytest.approx(0.65)


async def test_a_arms_the_current_camera_and_shift_a_every_camera(config, tmp_path):
    app = create_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await analysed(pilot)
        armed = lambda: [camera.engine.armed for camera in app.cameras]  # noqa: E731
        await pilot.press("2", "a")
        await wait_for(pilot, lambda: "garage: alerts disarmed (console)" in log_text(app))
        assert armed() == [True, False, True, True] and "DISARMED" in header_text(app)
        await pilot.press("A")  # not all armed: arm them all
        await wait_for(pilot, lambda: "every camera: alerts armed (console)" in log_text(app))
        assert armed() == [True] * 4
        await pilot.press("A")
        await wait_for(pilot, lambda: "every camera: alerts disarmed (console)" in log_text(app))
        assert armed() == [False] * 4
    arming = [(record["type"], record["data"]["camera"]) for record in audit_records(tmp_path / "alerts")
              if record["type"] in ("armed", "disarmed")]
    assert arming == [("disarmed", "garage"), ("armed", None), ("disarmed", None)]


async def test_a_camera_whose_source_ends_says_so_while_the_others_go_on(config):
    app = create_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "hall: source ended: " in log_text(app), timeout=60)  # every source ended
        for camera in app.cameras:  # as if every camera were live again
            camera.source_state = ""
        app.post_message(SourceChanged("garage", SourceStatus(SourceState.ENDED, "after 1 frame")))
        await wait_for(pilot, lambda: app.cameras[1].source_state)
        await pilot.pause(0.6)  # a tile refresh
        assert [state.state for state in app.grid.states] == ["live", "ended", "live", "live"]
        assert "garage: source ended after 1 frame" in log_text(app)


async def test_help_and_palette_list_the_camera_keys_once(config):
    app = create_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert len(titles) == len(set(titles))
        assert "Arm / disarm every camera's alerts" in titles and "Back to the camera grid" in titles
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        shown = dict(app.screen._keys)
        assert shown["A"] == "arm / disarm every camera's alerts" and shown["1-9"] == "focus camera 1-9 full size"


async def test_one_camera_has_no_grid_and_no_camera_keys(tmp_path):
    cv2.imwrite(str(tmp_path / "door.png"), np.full((240, 320, 3), 90, np.uint8))
    config = Config()
    config.alerts.dir = str(tmp_path / "alerts")
    app = create_app(config, str(tmp_path / "door.png"))
    async with app.run_test(size=(120, 40)) as pilot:
        await analysed(pilot)
        assert not app.in_grid and not app.query(CameraGrid)
        assert not {"focus_camera(0)", "show_grid", "toggle_armed_all"} & footer_keys(app)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Arm / disarm every camera's alerts" not in titles
        await pilot.press("1", "escape", "A")
        assert not app.in_grid and app.engine.armed
