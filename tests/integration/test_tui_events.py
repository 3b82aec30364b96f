"""The console's events list: one row per alert, filled in by its update and end, at most EVENTS_KEPT
(500) rows, keyboard scrolling with a "new events below" marker, and Enter opening an alert's
snapshot and JSON. Fed by the console's own alert hub or its AlertRaised messages, with no
analysis running (the source does not exist)."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest
from textual import events

from emotui.config import AlertRuleConfig, Config
from emotui.tui.app import create_app
from emotui.tui.events import EVENTS_KEPT, SNAPSHOT_MARK, EventsList
from emotui.tui.messages import AlertRaised
from emotui.tui.preview import Preview
from emotui.tui.screens import EventScreen
from tests.factories import frame_result
from tests.helpers import alert_event, settle

VISITS = 600  # an alert each, more than the list keeps


@pytest.fixture
def config(tmp_path):
    config = Config()
    config.alerts.dir, config.snapshots.on_alert, config.ui.bell = str(tmp_path / "alerts"), False, False
    config.alerts.rules = [AlertRuleConfig(name="fear", min_duration_s=0.0, inertia_frames=1, cooldown_s=0.0)]
    return config


async def idle_app(pilot):
    """The app once its analysis has failed on the missing source: what follows is the test's."""
    app = pilot.app
    await settle(pilot, lambda: any("source error" in line.text for line in app.log_view.lines))
    return app


def rows(app) -> list[list[str]]:
    table = app.events_list
    return [table.row_texts(index) for index in range(table.row_count)]


async def test_the_events_list_keeps_the_newest_500_alerts_one_row_each(config, tmp_path):
    app = create_app(config, str(tmp_path / "no-such-video.mp4"))
    async with app.run_test(size=(160, 30)) as pilot:
        await idle_app(pilot)
        for track in range(1, VISITS + 1):
            app.hub.observe(frame_result(track, {track: 0.9}))
            app.hub.observe(frame_result(track + 0.5, {}, ended=[track]))
        await settle(pilot, lambda: rows(app) and rows(app)[-1][3] == f"#{VISITS}" and rows(app)[-1][6] != "open")
        shown = rows(app)
        logged = [line.text for line in app.log_view.lines]
    assert len(shown) == EVENTS_KEPT == 500
    assert [row[3] for row in shown] == [f"#{track}" for track in range(VISITS - EVENTS_KEPT + 1, VISITS + 1)]
    assert {(row[2], row[4], row[5]) for row in shown} == {("fear", "fear", "90%")}
    assert all(row[6].endswith(" s") and row[6] != "open" for row in shown)  # each end filled in its duration
    assert not any("fear" in line for line in logged)  # alerts are not log lines


async def test_keys_scroll_the_list_and_new_events_below_are_marked(config, tmp_path):
    app = create_app(config, str(tmp_path / "no-such-video.mp4"))
    async with app.run_test(size=(120, 40)) as pilot:
        await idle_app(pilot)
        table = app.events_list
        assert app.focused is table
        for number in range(1, 41):
            app.post_message(AlertRaised(alert_event(number)))
        await settle(pilot, lambda: table.row_count == 40)
        await pilot.pause(0.3)
        assert table.cursor_row == 39 and table.is_vertical_scroll_end  # it followed the alerts
        await pilot.press("home")
        assert table.cursor_row == 0
        await pilot.press("down", "down", "pagedown")
        paged = table.cursor_row
        assert paged > 2
        await pilot.press("pageup", "up")
        assert table.cursor_row == 1
        for number in range(41, 44):
            app.post_message(AlertRaised(alert_event(number)))
        await settle(pilot, lambda: table.row_count == 43)
        await pilot.pause(0.5)  # a few panel refreshes: the marker stays while the view is up
        assert table.cursor_row == 1 and not table.is_vertical_scroll_end
        assert table.border_subtitle == "▼ 3 new below (End)"
        app.post_message(AlertRaised(alert_event(41, "end")))  # an update in place adds no row and no count
        await settle(pilot, lambda: rows(app)[40][6] == "5.0 s")
        assert table.row_count == 43 and table.border_subtitle == "▼ 3 new below (End)"
        await pilot.press("end")
        await settle(pilot, lambda: table.border_subtitle == "")
        assert table.cursor_row == 42
        app.post_message(AlertRaised(alert_event(44)))  # back at the end: it follows again
        await settle(pilot, lambda: table.cursor_row == 43)
        await pilot.pause(0.3)
        assert table.border_subtitle == "" and table.is_vertical_scroll_end


async def test_enter_on_an_event_shows_its_snapshot_and_json(config, tmp_path):
    image = np.zeros((120, 160, 3), np.uint8)
    image[:, 80:] = (0, 0, 255)  # red on the right half
    cv2.imwrite(str(tmp_path / "snap.png"), image)
    with_snapshot = dataclasses.replace(alert_event(1, "update"), snapshot=str(tmp_path / "snap.png"))
    app = create_app(config, str(tmp_path / "no-such-video.mp4"))
    async with app.run_test(size=(100, 30)) as pilot:
        await idle_app(pilot)
        app.post_message(AlertRaised(with_snapshot))
        app.post_message(AlertRaised(alert_event(2)))
        await settle(pilot, lambda: app.events_list.row_count == 2)
        assert rows(app)[0][7] == SNAPSHOT_MARK and rows(app)[1][7] == ""
        await pilot.press("up", "enter")
        assert isinstance(app.screen, EventScreen) and app.screen.event == with_snapshot
        preview = app.screen.query_one(Preview)
        assert preview.picture._image is not None and preview.picture._image.shape == (120, 160, 3)
        shown = str(app.screen.query_one("#json").render())
        assert json.loads(json.dumps(with_snapshot.to_dict()))["id"] in shown and "snap.png" in shown
        await pilot.press("escape")
        assert not isinstance(app.screen, EventScreen)
        await pilot.press("down", "enter")
        assert app.screen.event.id == "alert-2"
        assert app.screen.query_one(Preview).picture._image is None
        assert app.screen.query_one(Preview).picture._message == "no snapshot for this alert"
        await pilot.press("escape")
        assert app.focused is app.events_list


async def test_the_mouse_wheel_scrolls_the_list_and_a_click_opens_an_event(config, tmp_path):
    app = create_app(config, str(tmp_path / "no-such-video.mp4"))
    async with app.run_test(size=(120, 40)) as pilot:
        await idle_app(pilot)
        table = app.events_list
        for number in range(1, 41):
            app.post_message(AlertRaised(alert_event(number)))
        await settle(pilot, lambda: table.row_count == 40)
        await pilot.pause(0.3)
        bottom = table.scroll_y
        for _ in range(3):
            table.post_message(events.MouseScrollUp(table, 5, 5, 0, -1, 0, False, False, False))
        await settle(pilot, lambda: table.scroll_y < bottom)
        app.post_message(AlertRaised(alert_event(41)))
        await settle(pilot, lambda: table.row_count == 41)
        await pilot.pause(0.5)
        assert table.cursor_row == 39 and table.border_subtitle == "▼ 1 new below (End)"  # the view stayed up
        first_shown = round(table.scroll_y)  # the rows scrolled past, above the header
        await pilot.click(EventsList, offset=(3, 1 + 1 + 2))  # border, header, then the third row shown
        assert table.cursor_row == first_shown + 2 and not isinstance(app.screen, EventScreen)
        await pilot.click(EventsList, offset=(3, 1 + 1 + 2))  # a click on the selected row opens it
        assert isinstance(app.screen, EventScreen) and app.screen.event.id == f"alert-{first_shown + 3}"


async def test_a_new_alert_draws_its_own_row_only(config, tmp_path):
    """A busy console (the fleet's adds several alerts a second) must not draw every shown row again
    for each alert: rows are drawn once per change of their alert."""
    app = create_app(config, str(tmp_path / "no-such-video.mp4"))
    async with app.run_test(size=(120, 40)) as pilot:
        await idle_app(pilot)
        table = app.events_list
        drawn: list[str] = []
        row_strip = table._row_strip
        table._row_strip = lambda cells: drawn.append(cells[3].plain) or row_strip(cells)  # [3]: the face
        for number in range(1, 21):
            app.post_message(AlertRaised(alert_event(number)))
        await settle(pilot, lambda: table.row_count == 20)
        await pilot.pause(0.3)
        shown = table.scrollable_content_region.height - 1
        rows_drawn = [face for face in drawn if face != "face"]  # not the header
        assert len(rows_drawn) == len(set(rows_drawn))  # each row once, however often the list moved
        assert {f"#{n}" for n in range(21 - shown, 21)} <= set(rows_drawn)
        drawn.clear()
        app.post_message(AlertRaised(alert_event(21)))
        await settle(pilot, lambda: table.row_count == 21 and drawn)
        await pilot.pause(0.3)
        assert drawn == ["#21"]  # the rows above moved up a line, drawn as they were
        app.post_message(AlertRaised(alert_event(20, "end")))
        await settle(pilot, lambda: table.row_texts(19)[6] == "5.0 s")
        await pilot.pause(0.3)
        assert drawn == ["#21", "#20"]
