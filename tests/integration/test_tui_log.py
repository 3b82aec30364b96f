"""The console's alert log keeps at most ALERT_LOG_LINES (500) lines in memory: the newest, at the
bottom. Fed by the console's own alert hub, as a long-running console is."""

from __future__ import annotations

from emotui.config import AlertRuleConfig, Config
from emotui.tui.app import ALERT_LOG_LINES, create_app
from tests.factories import frame_result
from tests.helpers import settle

VISITS = 300  # a new and an end line each: 600 lines, more than the log keeps


async def test_the_alert_log_keeps_the_newest_500_lines(tmp_path):
    config = Config()
    config.alerts.dir, config.snapshots.on_alert, config.ui.bell = str(tmp_path / "alerts"), False, False
    config.alerts.rules = [AlertRuleConfig(name="fear", min_duration_s=0.0, inertia_frames=1, cooldown_s=0.0)]
    app = create_app(config, str(tmp_path / "no-such-video.mp4"))  # no analysis: the test feeds the hub
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot, lambda: any("source error" in line.text for line in app.alert_log.lines))
        for track in range(1, VISITS + 1):
            app.hub.observe(frame_result(track, {track: 0.9}))
            app.hub.observe(frame_result(track + 0.5, {}, ended=[track]))
        await settle(pilot, lambda: f"face #{VISITS} (peak" in app.alert_log.lines[-1].text)
        logged = [line.text for line in app.alert_log.lines]
    assert len(logged) == ALERT_LOG_LINES == 500
    kept = range(VISITS - ALERT_LOG_LINES // 2 + 1, VISITS + 1)  # the last 250 visits; all before them dropped
    assert [line.split(" ", 1)[1].split(" (peak")[0] for line in logged] == [  # without the time and the peak
        text for track in kept for text in (f"ALERT fear: face #{track} fear 90%", f"end fear ended: face #{track}")]
