"""Live sources against real servers on loopback: an MJPEG camera that is killed and restarted,
stalls, corrupt frames, bad sources with their specific errors, looping files, and the headless
service stopped by SIGTERM or SIGINT. (The console's side of an outage is in test_tui_pilot.py.)"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from emotui.capture import Capture, SourceError, SourceStatus, parse_source
from emotui.config import Config, SourceConfig
from emotui.pipeline import create_pipeline
from tests.cameras import MjpegCamera, ServerProcess
from tests.helpers import HeadlessRun, audit_records, run_cli, wait_until
from tests.mosquitto import free_port

FACES = ("videos", "faces", "liveportrait_d6.mp4")


@pytest.fixture
def video(media_dir) -> Path:
    return media_dir.joinpath(*FACES)


@pytest.fixture
def camera(video):
    camera = MjpegCamera(free_port(), video)
    yield camera
    camera.kill()


class Watcher:
    """Runs a pipeline on a thread, keeping the results' source times and every status, with the
    number of results analysed when it came."""

    def __init__(self, config: Config, source: str) -> None:
        self.statuses: list[SourceStatus] = []
        self.results_at_status: list[int] = []
        self.times: list[float] = []  # of the results, on the source clock
        self.pipeline = create_pipeline(config, source, lambda text: None, on_status=self._status)
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _status(self, status: SourceStatus) -> None:
        self.results_at_status.append(len(self.times))
        self.statuses.append(status)

    def _run(self) -> None:
        try:
            for result in self.pipeline.results():
                self.times.append(result.time)
        except Exception as error:
            self.error = error

    def states(self) -> list[str]:
        return [s.state for s in self.statuses]

    def stop(self) -> None:
        self.pipeline.stop()
        self._thread.join(timeout=10)


def _config(**source) -> Config:
    config = Config()
    config.source = SourceConfig(**{"retry_min_s": 0.2, "retry_max_s": 1.0, "stall_s": 2.0, **source})
    return config


def outage_and_reconnect(camera: ServerProcess) -> Watcher:
    """Start the camera and analyse it; once analysis runs, kill the camera, start it again after
    four attempts to reopen it have failed (enough for the doubling backoff to reach its cap), and
    wait until analysis has resumed. Then: one outage; nothing analysed while the camera was down;
    back at the first attempt after it was (or the one under way then): with the capped backoff,
    analysis resumes within retry_max_s of the stream's return."""
    camera.start()
    watcher = Watcher(_config(), camera.url)
    assert wait_until(lambda: len(watcher.times) >= 15), watcher.statuses
    camera.kill()
    assert wait_until(lambda: watcher.states().count("retrying") >= 5), watcher.statuses  # the first has no attempt yet
    camera.start()
    restarted = len(watcher.statuses)
    assert wait_until(lambda: "live" in watcher.states()[restarted:]), watcher.statuses
    resumed_from = watcher.results_at_status[watcher.states().index("live", restarted)]
    assert wait_until(lambda: len(watcher.times) > resumed_from + 5), watcher.statuses
    watcher.stop()
    assert watcher.error is None
    states = watcher.states()
    lost, back = states.index("lost"), states.index("live", restarted)
    assert states.count("lost") == 1 and states[lost:].count("live") == 1
    first_failure = [i for i in range(lost, back) if states[i] == "retrying"][1]
    assert watcher.results_at_status[first_failure] == watcher.results_at_status[back]
    assert states[restarted:back].count("retrying") <= 1, states[restarted:]
    assert all(0 < s.retry_at - s.since <= 1.0 for s in watcher.statuses if s.state == "retrying")  # capped backoff
    assert (watcher.statuses[back].outages, watcher.statuses[back].reconnects) == (1, 1)
    assert watcher.times == sorted(watcher.times)  # the source clock never goes back across the reconnect
    return watcher


def test_mjpeg_camera_killed_and_restarted_is_reconnected(camera, model_store):
    watcher = outage_and_reconnect(camera)
    lost = next(s for s in watcher.statuses if s.state == "lost")
    assert lost.detail == f"{camera.url} stopped sending frames (closed, or stalled for 2 s)"
    retrying = [s.detail for s in watcher.statuses if s.state == "retrying"]
    assert retrying[0] == lost.detail and set(retrying[1:]) == {refused(camera.port, camera.url)}


def test_a_stalled_stream_counts_as_lost(video, model_store):
    camera = MjpegCamera(free_port(), video, mode="stall").start()
    try:
        watcher = Watcher(_config(stall_s=1.0), camera.url)
        assert wait_until(lambda: "lost" in watcher.states())
        watcher.stop()
    finally:
        camera.kill()
    lost = next(s for s in watcher.statuses if s.state == "lost")
    # frames read, not analysed: a busy analysis drops all but the newest frame of a live source
    assert lost.detail == f"no data from {camera.url} for 1 s (stalled)" and watcher.pipeline.capture.frames_read == 3


def test_corrupt_frames_are_skipped_and_counted(video, model_store):
    camera = MjpegCamera(free_port(), video, mode="corrupt", fps=30).start()
    try:
        watcher = Watcher(_config(), camera.url)
        assert wait_until(lambda: len(watcher.times) >= 20)
        corrupt = watcher.pipeline.capture.corrupt_frames
        watcher.stop()
    finally:
        camera.kill()
    assert corrupt >= 5 and watcher.error is None
    assert watcher.pipeline.capture.status.corrupt_frames >= corrupt


def _specific_error(source: str) -> str:
    with pytest.raises(SourceError) as raised:
        Capture(parse_source(source), settings=SourceConfig(stall_s=2.0))
    return str(raised.value)


def refused(port: int, shown_url: str) -> str:
    return f"cannot connect to 127.0.0.1:{port} for {shown_url}: connection refused (nothing listens there)"


def test_bad_live_sources_give_specific_errors(video):
    closed = free_port()
    assert _specific_error(f"http://127.0.0.1:{closed}/stream") == refused(closed, f"http://127.0.0.1:{closed}/stream")
    assert _specific_error(f"rtsp://user:secret@127.0.0.1:{closed}/live") == refused(
        closed, f"rtsp://user:***@127.0.0.1:{closed}/live")  # credentials hidden
    assert _specific_error("http://no-such-camera.invalid/stream") == (
        "cannot resolve the host of http://no-such-camera.invalid/stream (no-such-camera.invalid)")
    for mode, expected in (("missing", "the server answered 404 Not Found"),
                           ("octet", ("the server sends application/octet-stream, which is neither MJPEG nor a "
                                      "stream FFmpeg can read"))):
        camera = MjpegCamera(free_port(), video, mode=mode).start()
        try:
            assert _specific_error(camera.url) == f"{camera.url}: {expected}"
        finally:
            camera.kill()



def test_a_redirected_stream_is_followed_and_a_redirect_loop_named(video):
    moved = MjpegCamera(free_port(), video, mode="redirect").start()
    try:
        capture = Capture(parse_source(moved.url), settings=SourceConfig(stall_s=5.0)).start()
        frames = [frame for frame, _ in zip(capture.frames(), range(3))]
        capture.stop()
    finally:
        moved.kill()
    assert [frame.index for frame in frames] == [0, 1, 2]
    looping = MjpegCamera(free_port(), video, mode="redirect-loop").start()
    try:
        assert _specific_error(looping.url) == f"{looping.url}: more than 5 redirects"
    finally:
        looping.kill()

def test_truncated_and_empty_files_give_specific_errors(tmp_path, video):
    data = video.read_bytes()
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "head.mp4").write_bytes(data[: len(data) // 3])  # the index (moov) is at the end: unreadable
    assert _specific_error(str(tmp_path / "empty.mp4")) == f"{tmp_path / 'empty.mp4'} is empty (0 bytes)"
    assert _specific_error(str(tmp_path / "head.mp4")) == (
        f"cannot decode {tmp_path / 'head.mp4'} as video (not a video, truncated, or a format OpenCV cannot read)")
    assert _specific_error(str(tmp_path / "nope.mp4")) == (
        f"source '{tmp_path / 'nope.mp4'}' is not a camera index, a URL, or an existing file or folder")


def test_headless_run_on_an_unreachable_camera_exits_3_naming_it():
    closed = free_port()
    result = run_cli("run", "--headless", "--source", f"http://127.0.0.1:{closed}/video")
    assert result.returncode == 3
    assert result.stderr.splitlines() == [f"emotui: source error: {refused(closed, f'http://127.0.0.1:{closed}/video')}"]


def test_a_looping_file_goes_on_with_a_running_clock(video):
    capture = Capture(parse_source(str(video)), settings=SourceConfig(loop=True)).start()
    times = []
    for frame in capture.frames():
        times.append(frame.time)
        if len(times) == 200:  # the clip has 78 frames: more than two passes
            break
    capture.stop()
    assert times == sorted(times) and len(set(times)) == 200
    assert capture.status.state != "ended"


@pytest.mark.parametrize(("stop", "exit_code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_headless_service_stops_cleanly_on_sigterm_or_sigint(tmp_path, camera, model_store, stop, exit_code):
    camera.start()
    config = tmp_path / "emotui.toml"
    config.write_text(f'[alerts]\ndir = "{tmp_path / "alerts"}"\n')
    with HeadlessRun("--config", str(config), "run", "--headless", "--json", "--source", camera.url) as run:
        run.read_until(lambda line: "frame" in line)  # running
        run.process.send_signal(stop)
        assert run.finish() == exit_code, run.stderr
    summary = run.lines[-1]["summary"]  # printed after SIGINT too
    assert summary["stopped_by"] == stop.name and summary["frames_processed"] > 0
    assert f"emotui: {stop.name}: stopping" in run.stderr
    records = audit_records(tmp_path / "alerts")
    assert records[-1]["type"] == "stop"  # alerts flushed and the audit log closed


@pytest.fixture
def rtsp_camera(tmp_path, video):
    import os

    import cv2

    from tests.cameras import RtspCamera, rtsp_unavailable

    reason = rtsp_unavailable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the RTSP server cannot run: {reason} (.ci/run installs gst-rtsp-server)")
        pytest.skip(f"the RTSP server cannot run: {reason}")
    frames = tmp_path / "rtsp-frames"
    frames.mkdir()
    capture = cv2.VideoCapture(str(video))
    for index in range(60):
        ok, image = capture.read()
        assert ok
        cv2.imwrite(str(frames / f"{index:05d}.jpg"), cv2.resize(image, (320, 320)))
    capture.release()
    camera = RtspCamera(free_port(), frames)
    yield camera
    camera.kill()


def test_rtsp_camera_killed_and_restarted_is_reconnected(rtsp_camera, model_store):
    outage_and_reconnect(rtsp_camera)
