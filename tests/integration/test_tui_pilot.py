"""The console driven by Textual's Pilot, fed real video from ../shared/media."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import threading
import time
from pathlib import Path

import pytest
from textual.widgets import Static

from emotui.alerts.hub import AlertHub
from emotui.config import AlertRuleConfig, Config, load_config
from emotui.cameras import open_cameras
from emotui.tui.app import NARROW_SIDE_COLUMNS, PREVIEW_CPU_SHARE, PREVIEW_MIN_INTERVAL_S, create_app
from emotui.tui.events import SNAPSHOT_MARK
from emotui.tui.preview import Preview
from emotui.tui.screens import HelpScreen, ThresholdEditor, TooSmallScreen
from emotui.tui.widgets import ConsoleHeader, EmotionBars, RulesBar, StatusLine
from tests.cameras import MjpegCamera
from tests.helpers import audit_records
from tests.mosquitto import free_port

pytestmark = pytest.mark.usefixtures("model_store")


@pytest.fixture
def config(tmp_path):
    config = Config()
    config.snapshots.dir = str(tmp_path / "snaps")
    config.alerts.dir = str(tmp_path / "alerts")
    config.ui.bell = False
    return config


@pytest.fixture
def video(media_dir):
    return str(media_dir / "videos" / "faces" / "liveportrait_d6.mp4")


class SlowFactory:
    """open_cameras made slow, as a model pull or a DeepFace load makes it: the real factory after
    `delay` seconds. Keeps the cameras it built and their one camera (`pipeline`)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.called, self.built = threading.Event(), threading.Event()
        self.cameras = self.pipeline = None

    def __call__(self, *args, **kwargs):
        self.called.set()
        time.sleep(self.delay)
        self.cameras = open_cameras(*args, **kwargs)
        self.pipeline = self.cameras.cameras[0]
        self.built.set()
        return self.cameras


@pytest.fixture
async def slow_factory(monkeypatch):
    factory = SlowFactory(delay=1.0)
    monkeypatch.setattr("emotui.tui.app.open_cameras", factory)
    yield factory
    # A worker outliving its app would keep the event loop from closing: stop what it reads.
    if factory.called.is_set() and factory.built.wait(timeout=60):
        factory.cameras.stop()


async def wait_for(pilot, condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def log_text(app) -> str:
    return "\n".join(line.text for line in app.query_one("#log").lines)


def header_text(app) -> str:
    return str(app.query_one(ConsoleHeader).render())


def event_rows(app) -> list[list[str]]:
    table = app.events_list
    return [table.row_texts(index) for index in range(table.row_count)]


async def thread_workers_returned(timeout: float) -> bool:
    """Whether the work the app ran on threads has all returned within `timeout` seconds: what
    App.run (asyncio.run) waits for before the process can end."""
    shutdown = asyncio.ensure_future(asyncio.get_running_loop().shutdown_default_executor())
    done, _ = await asyncio.wait([shutdown], timeout=timeout)
    return bool(done)


async def started(pilot):
    app = pilot.app
    await wait_for(pilot, lambda: app.latest is not None and app.latest.faces)
    return app


async def test_shows_frames_bars_and_status_from_a_real_video(config, video):
    app = create_app(config, video)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await pilot.pause(0.5)
        bars = str(app.query_one(EmotionBars).render())
        assert "#1" in bars and all(e[:8] in bars for e in ("angry", "happy", "neutral"))
        status = str(app.query_one(StatusLine).render())
        assert status.startswith("cap/proc") and "fps" in status
        assert "liveportrait_d6.mp4 480x480" in status
        assert "blazeface-dual + mini-xception" in header_text(app)
        preview = app.query_one(Preview)
        assert any(seg.text.strip("▀ ") == "" and seg.style for seg in preview.picture.render_line(5))


@pytest.mark.parametrize("key", ["space", "p"])
async def test_pause_stops_analysis_but_drains_the_source(config, video, key):
    app = create_app(config, video)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await pilot.press(key)
        assert app.pipeline.paused
        await pilot.pause(0.2)
        frozen = app.latest.index
        read_before = app.pipeline.capture.frames_read
        await pilot.pause(0.6)
        assert app.latest.index == frozen  # nothing analysed while paused
        assert app.pipeline.capture.frames_read > read_before  # ...but the source keeps flowing
        assert app.pipeline.skipped_while_paused > 0
        assert "PAUSED" in header_text(app)
        await pilot.press(key)
        await wait_for(pilot, lambda: app.latest.index > frozen)
        assert "analysis resumed" in log_text(app)


async def test_snapshot_key_writes_png_and_sidecar_and_logs_the_path(config, video, tmp_path):
    app = create_app(config, video)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: "snapshot saved" in log_text(app))
        logged = log_text(app)
    pngs = list((tmp_path / "snaps").glob("*.png"))
    assert len(pngs) == 1 and str(pngs[0]) in logged.replace("\n", "")
    sidecar = json.loads(pngs[0].with_suffix(".json").read_text())
    assert sidecar["faces"] and sidecar["faces"][0]["track_id"] == 1


async def test_threshold_keys_select_rule_and_step(config, video):
    app = create_app(config, video)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("plus")
        assert app.rules[0].threshold == pytest.approx(0.65)
        await pilot.press("minus", "minus")
        assert app.rules[0].threshold == pytest.approx(0.55)
        await pilot.press("r", "plus")
        fear, anger = app.rules
        assert (fear.threshold, anger.threshold) == (pytest.approx(0.55), pytest.approx(0.65))
        await pilot.press("r")
        assert app.selected_rule == 0
        for _ in range(12):
            await pilot.press("plus")
        assert app.rules[0].threshold == 1.0  # clamped
        assert "rule fear: threshold 1.00" in log_text(app)
        assert [rule.threshold for rule in config.alerts.rules] == [0.6, 0.6]  # changed in the engine only



async def test_tab_moves_the_focus_between_the_events_list_and_the_log(config, video):
    app = create_app(config, video)
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.focused is app.events_list
        await pilot.press("tab")
        assert app.focused is app.log_view
        await pilot.press("r")  # the keys still act with the log focused
        assert app.selected_rule == 1
        await pilot.press("shift+tab")
        assert app.focused is app.events_list

async def test_threshold_editor_validates_and_applies_at_once(config, video):
    app = create_app(config, video)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("t")
        assert isinstance(app.screen, ThresholdEditor)
        field = app.screen.query_one("#rule-0")
        field.value = "1.5"
        await pilot.press("enter")
        assert isinstance(app.screen, ThresholdEditor)  # refused
        assert "from 0 to 1" in str(app.screen.query_one("#error").render())
        field.value = "0.42"
        app.screen.query_one("#rule-1").value = "0.9"
        await pilot.click("#save")
        assert not isinstance(app.screen, ThresholdEditor)
        assert [r.threshold for r in app.rules] == [0.42, 0.9]
        await pilot.press("t")
        await pilot.press("escape")
        assert not isinstance(app.screen, ThresholdEditor) and app.rules[0].threshold == 0.42


async def test_write_key_saves_thresholds_keeping_the_file_comments(tmp_path, video):
    path = tmp_path / "emotui.toml"
    path.write_text('# my camera\n[ui]\nbell = false  # quiet\n\n[[alerts.rules]]\nname = "fear"\n'
                    'emotions = ["fear"]\nthreshold = 0.6\n')
    config = load_config(path)
    app = create_app(config, video)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("plus", "w")
        await wait_for(pilot, lambda: "thresholds written" in log_text(app))
    text = path.read_text()
    assert "# my camera" in text and "bell = false  # quiet" in text
    assert load_config(path).alerts.rules[0].threshold == pytest.approx(0.65)


async def test_boxes_colour_bell_help_and_quit_keys(config, video):
    app = create_app(config, video)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        preview = app.query_one(Preview)
        await pilot.press("b")
        assert not app.boxes_on
        await pilot.press("b")
        assert app.boxes_on
        first = preview.active_mode
        await pilot.press("c")
        assert preview.active_mode != first and preview.colour_mode != "auto"
        await pilot.press("c", "c", "c")
        assert preview.active_mode == first  # four modes, back to the start
        await pilot.press("m")
        assert app.bell_on  # config had it off; m toggles
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("x")
        assert not isinstance(app.screen, HelpScreen)
        pipeline = app.pipeline
        await pilot.press("q")
    assert app.return_code == 0
    assert not pipeline.capture._thread.is_alive()  # source released


async def test_masks_show_in_the_preview_with_the_boxes_and_hide_faces_under_them(config, video):
    config.detector.masks = [[[0.0, 0.0], [1.0, 0.0], [1.0, 0.2], [0.0, 0.2]]]  # a strip along the top
    app = create_app(config, video)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        preview = app.query_one(Preview)
        await wait_for(pilot, lambda: preview.picture._image is not None)
        assert preview.picture._masks.polygons and len(preview.picture._masks.polygons) == 1
        await pilot.press("b")
        await wait_for(pilot, lambda: not preview.picture._masks)  # boxes off: masks off too
        assert app.latest.masks  # still applied to detection
        await pilot.press("q")


async def test_keys_are_rebindable_from_config(config, video):
    config.keys.snapshot = "x"
    config.keys.quit = "ctrl+q"
    app = create_app(config, video)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await pilot.press("s")  # no longer bound
        await pilot.press("x")
        await wait_for(pilot, lambda: "snapshot saved" in log_text(app))
        assert log_text(app).count("snapshot saved") == 1


async def test_command_palette_offers_every_action_once_with_its_keys(config, video):
    config.keys.snapshot = "x,f2"
    app = create_app(config, video)
    async with app.run_test(size=(100, 30)):
        commands = list(app.get_system_commands(app.screen))
        titles = [c.title for c in commands]
        for title in ("Pause / resume analysis", "Save an annotated snapshot (png + json)", "Quit"):
            assert title in titles
        assert len(titles) == len(set(titles)), titles  # Quit was there twice
        helps = {c.title: c.help for c in commands}
        assert "space, p" in helps["Pause / resume analysis"] and "x, f2" in helps["Save an annotated snapshot (png + json)"]
        assert "z" in helps["Zoom into the next face (after the last, the whole frame)"]


async def test_resize_adapts_the_layout(config, video):
    app = create_app(config, video)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        wide = app.query_one(Preview).size
        events, log = app.events_list.region, app.log_view.region
        assert events.y == log.y and events.right <= log.x  # side by side
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.3)
        small = app.query_one(Preview).size
        assert small.width < wide.width and small.height < wide.height
        assert app.query_one(StatusLine).size.width == 80
        events, log = app.events_list.region, app.log_view.region
        assert events.width == log.width == 80 and events.bottom <= log.y  # stacked
        await pilot.resize_terminal(200, 50)
        await pilot.pause(0.3)
        assert app.events_list.size.height > events.height  # grows on a tall terminal
        await pilot.resize_terminal(79, 30)
        await wait_for(pilot, lambda: isinstance(app.screen, TooSmallScreen))
        assert str(app.screen.query_one(Static).render()).startswith("terminal too small (79×30, need 80×24)")
        await pilot.resize_terminal(100, 23)
        await wait_for(pilot, lambda: "(100×23, need 80×24)" in str(app.screen.query_one(Static).render()))
        await pilot.press("question_mark")  # the keys work: the help opens over the notice
        assert isinstance(app.screen, HelpScreen)
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: not isinstance(app.screen, (HelpScreen, TooSmallScreen)))
        assert app.screen is app.screen_stack[0] and len(app.screen_stack) == 1


async def test_the_preview_takes_the_room_without_faces(config, video):
    app = create_app(config, video)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        await pilot.pause(0.3)
        with_face = app.query_one(Preview).size.width
        assert app.query_one("#side").display
        await pilot.press("p")  # paused: the worker's results no longer replace `latest`
        await pilot.pause(0.3)
        app.latest = dataclasses.replace(app.latest, faces=[])
        await pilot.pause(0.5)
        assert not app.query_one("#side").display and app.query_one(Preview).size.width == 120 > with_face


async def test_on_a_narrow_tall_terminal_the_bars_go_under_the_preview(config, video):
    app = create_app(config, video)
    async with app.run_test(size=(80, 60)) as pilot:
        await started(pilot)
        # the picture is sized again at the frame after the layout changes: wait for both
        await wait_for(pilot, lambda: app.main.has_class("stacked") and app.side.display and app.side.region.height
                       and app.side.region.y >= app.preview.picture.region.bottom)
        picture, side = app.preview.picture.region, app.side.region
        assert side.y >= picture.bottom and side.width == 80 and picture.width > 80 - NARROW_SIDE_COLUMNS
        await pilot.resize_terminal(80, 24)  # short: beside it the picture is larger
        await wait_for(pilot, lambda: not app.main.has_class("stacked")
                       and app.side.region.x >= app.preview.picture.region.right)
        assert app.side.region.y == app.preview.region.y
        await pilot.resize_terminal(120, 60)  # wide: beside
        await pilot.pause(0.6)
        assert not app.main.has_class("stacked")


async def test_frames_slow_to_draw_are_spaced_to_keep_the_console_thread_within_its_cpu_share(config, video):
    config.ui.preview_fps = 20
    app = create_app(config, video)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        shown_at = []
        show_frame = app._show_frame

        def slow_show_frame(result):
            shown_at.append(time.monotonic())
            busy_until = time.thread_time() + 0.1  # 100 ms of the console thread's CPU: a slow CPU
            while time.thread_time() < busy_until:
                pass
            show_frame(result)

        app._show_frame = slow_show_frame
        await wait_for(pilot, lambda: len(shown_at) >= 12, timeout=60)
        # at 20 fps the 100 ms frames would take the whole thread; within its share (on average, the
        # console's other work only adding to it) they come about every 100 ms / share
        frames, elapsed = len(shown_at) - 4, shown_at[-1] - shown_at[3]
        assert elapsed >= frames * 0.1 / (PREVIEW_CPU_SHARE * 1.25)
        assert max(b - a for a, b in zip(shown_at, shown_at[1:])) < PREVIEW_MIN_INTERVAL_S + 0.5  # never starved


async def test_zoom_key_enlarges_each_face_in_turn_then_the_whole_frame(config, video):
    config.keys.zoom = "z,f5"
    app = create_app(config, video)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        preview = app.query_one(Preview)
        await pilot.press("p")  # paused: the same frame throughout
        await pilot.pause(0.3)
        frame = app.latest
        [face] = frame.faces
        await pilot.press("z")
        assert app.zoom_track == face.track_id and "zoom: face #1" in log_text(app)
        await wait_for(pilot, lambda: preview.picture._region is not None)
        left, top, right, bottom = preview.picture._region
        height, width = frame.image.shape[:2]
        assert 0 <= left < right <= width and 0 <= top < bottom <= height and bottom - top < height  # a part
        [box] = preview.picture._boxes
        assert box.box == tuple(float(v) for v in face.box)  # in the frame's pixels: the preview crops them too
        x1, y1, x2, y2 = box.box
        assert left < (x1 + x2) / 2 < right and top < (y1 + y2) / 2 < bottom  # the face, in the region
        await pilot.press("f5")  # one face: after it, the whole frame
        assert app.zoom_track is None
        await wait_for(pilot, lambda: preview.picture._region is None)
        assert "zoom off" in log_text(app)


async def test_header_shows_camera_clock_and_states(config, video):
    config.source.name = "front-door"
    app = create_app(config, video)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await pilot.pause(0.3)
        header = header_text(app)
        assert "front-door" in header and " ARMED " in header and "live" in header
        assert re.search(r"\b\d\d:\d\d:\d\d\b", header)
        assert "PAUSED" not in header and "MUTED" in header  # the bell is off in the config
        await pilot.press("m")
        assert "MUTED" not in header_text(app)
        await pilot.press("m", "space")
        await pilot.pause(0.3)
        assert "MUTED" in header_text(app) and "PAUSED" in header_text(app)


async def test_rules_with_thresholds_are_always_shown_the_selected_one_highlighted(config, video):
    app = create_app(config, video)
    async with app.run_test(size=(80, 24)) as pilot:
        bar = app.query_one(RulesBar)
        await wait_for(pilot, lambda: "fear ≥0.60" in str(bar.render()))
        assert "anger: angry ≥0.60" in str(bar.render())
        await pilot.press("r", "plus")
        await pilot.pause(0.3)
        content = bar.render()
        assert "anger: angry ≥0.65" in str(content)
        highlighted = [str(content)[span.start:span.end] for span in content.spans if span.style.reverse]
        assert highlighted == [" anger: angry ≥0.65 "]


async def test_missing_camera_is_shown_with_the_source_hint(config):
    app = create_app(config, "7")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "source unavailable" in log_text(app))
        assert "no camera at index 7; pass --source" in log_text(app)
        await pilot.pause(1.5)  # retries go on, logged once, shown in the status line
        assert log_text(app).count("source unavailable") == 1
        assert "retry in" in str(app.query_one(StatusLine).render()) or \
            "connecting" in str(app.query_one(StatusLine).render())
        assert app.is_running


async def test_the_empty_preview_says_why(config):
    """Not "starting…" forever: with no camera it says so and when it retries."""
    config.source.retry_min_s = config.source.retry_max_s = 3.0
    app = create_app(config, "7")
    async with app.run_test(size=(100, 30)) as pilot:
        preview = app.query_one(Preview)
        await wait_for(pilot, lambda: preview.picture._message.startswith("no camera 7 — retrying in "))
        assert preview.picture._message.endswith(" s") and preview.picture._image is None


async def test_an_alert_is_one_events_row_filled_in_by_its_update_and_end(config, media_dir, tmp_path):
    config.alerts.rules = [AlertRuleConfig(name="smile", emotions=["happy"], threshold=0.3, min_duration_s=0.2)]
    config.ui.realtime = False
    app = create_app(config, str(media_dir / "videos" / "faces" / "liveportrait_d0.mp4"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: [row[2:5] for row in event_rows(app)] == [["smile", "#1", "happy"]])
        await wait_for(pilot, lambda: event_rows(app)[0][7] == SNAPSHOT_MARK)  # its update brought the snapshot
        assert event_rows(app)[0][6] == "open"
        [shown] = app.events_list.events.values()
        assert "smile" not in log_text(app)  # alerts stay out of the log
        await wait_for(pilot, lambda: app.source_state == "ended")
        await pilot.press("q")
    records = audit_records(tmp_path / "alerts")
    events = [r for r in records if r["type"] in ("new", "update", "end")]
    assert events[0]["type"] == "new" and events[0]["data"]["rule"] == "smile"
    assert {r["data"]["id"] for r in events} == {shown.id}  # one alert, one row
    snapshot = next(r["data"]["snapshot"] for r in events if r["data"]["snapshot"])
    assert shown.snapshot == snapshot and Path(snapshot).is_file()
    assert events[-1]["type"] == "end" and records[-1]["type"] == "stop"  # quitting ends open alerts


async def test_arm_key_disarms_and_rearms_and_is_recorded(config, video, tmp_path):
    app = create_app(config, video)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: "alerts disarmed (console)" in log_text(app))
        assert not app.hub.engine.armed
        await pilot.pause(0.3)
        assert "DISARMED" in header_text(app)
        await pilot.press("a")
        await wait_for(pilot, lambda: "alerts armed (console)" in log_text(app))
        await pilot.pause(0.3)
        assert "ARMED" in header_text(app) and "DISARMED" not in header_text(app)
    records = audit_records(tmp_path / "alerts")
    assert [r["type"] for r in records if r["type"] in ("armed", "disarmed")] == ["disarmed", "armed"]


async def test_unusable_alerts_folder_is_shown_and_analysis_goes_on(config, video, tmp_path):
    (tmp_path / "not-a-folder").write_text("x")
    config.alerts.dir = str(tmp_path / "not-a-folder")
    app = create_app(config, video)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        assert "alerts off:" in log_text(app) and "not-a-folder" in log_text(app)
        await pilot.pause(0.3)
        assert "ALERTS OFF" in header_text(app)
        await pilot.press("plus")  # thresholds can still be tuned and written back
        assert app.rules[0].threshold == pytest.approx(0.65) and "rule fear: threshold 0.65" in log_text(app)


async def test_sigterm_quits_like_q_and_closes_the_audit_log(config, video, tmp_path):
    import os
    import signal

    app = create_app(config, video)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.3)
    assert not app.is_running and app.return_code == 0
    records = audit_records(tmp_path / "alerts")
    assert records[-1]["type"] == "stop"


async def test_a_camera_outage_is_logged_once_and_its_return_once(config, media_dir):
    camera = MjpegCamera(free_port(), media_dir / "videos" / "faces" / "liveportrait_d6.mp4").start()
    config.source.retry_min_s, config.source.retry_max_s = 0.2, 1.0
    app = create_app(config, camera.url)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await started(pilot)
            camera.kill()
            await wait_for(pilot, lambda: "source lost" in log_text(app))
            await pilot.pause(1.0)
            assert "retry" in str(app.query_one(StatusLine).render())  # retrying, retry in N s
            await pilot.pause(1.0)
            camera.start()
            await wait_for(pilot, lambda: "source back" in log_text(app))
            text = log_text(app)
    finally:
        camera.kill()
    assert text.count("source lost") == 1 and text.count("source back") == 1


@pytest.mark.parametrize("quit_while", ["building", "running"])
async def test_q_at_any_moment_exits_promptly_and_the_analysis_ends(config, video, slow_factory, quit_while):
    config.source.loop = True  # an endless source
    app = create_app(config, video)
    async with app.run_test(size=(100, 30)) as pilot:
        if quit_while == "building":
            await wait_for(pilot, slow_factory.called.is_set)
        else:
            await started(pilot)
        await pilot.press("q")
        pressed = time.monotonic()
    assert time.monotonic() - pressed < 2.0 and app.return_code == 0
    processed_at_exit = slow_factory.pipeline.processed_frames if slow_factory.pipeline else 0
    # nothing the process must wait for is left running, not even a build still in progress
    assert await thread_workers_returned(timeout=30)
    assert slow_factory.built.wait(timeout=30)
    pipeline = slow_factory.pipeline
    assert pipeline.processed_frames <= processed_at_exit + 1  # at most the frame in hand when q came
    if quit_while == "building":
        assert pipeline.capture.frames_read == 0  # the source was never started
    assert not pipeline.capture._thread.is_alive()  # source released


async def test_no_result_or_source_status_reaches_a_closed_alert_hub(config, media_dir, slow_factory, monkeypatch):
    camera = MjpegCamera(free_port(), media_dir / "videos" / "faces" / "liveportrait_d6.mp4").start()  # endless
    config.alerts.rules = [AlertRuleConfig(name="anyone", kind="face", min_duration_s=0)]  # an event per new face
    late_calls: set[str] = set()

    def spy(method):
        def called(hub, *args):
            if hub.closed:
                late_calls.add(method.__name__)
            return method(hub, *args)
        return called

    def close(hub, timeout=5.0):
        hub.closed = True
        real_close(hub, timeout)

    real_close = AlertHub.close
    monkeypatch.setattr(AlertHub, "closed", False, raising=False)
    monkeypatch.setattr(AlertHub, "close", close)
    monkeypatch.setattr(AlertHub, "observe", spy(AlertHub.observe))
    monkeypatch.setattr(AlertHub, "source_status", spy(AlertHub.source_status))
    app = create_app(config, camera.url)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, slow_factory.called.is_set)
            await pilot.press("q")
        assert app.hub.closed
        await thread_workers_returned(timeout=30)
        # the build went on after q; all it reports while building comes from its own thread, before this
        assert slow_factory.built.wait(timeout=30)
    finally:
        camera.kill()
    assert slow_factory.pipeline is not None and late_calls == set()
