"""End to end in a real terminal: the installed `emotui` console in a detached tmux session of fixed
size, driven with send-keys and read back with capture-pane, locally and over a real SSH session to
a private sshd on 127.0.0.1 (its own host key, config and authorized_keys, all made here); and
`make run` as a newcomer types it, on the demo.

Needs tmux, make, and sshd/ssh/ssh-keygen for the SSH cases (`.ci/run` installs them): missing, they
fail the run in CI (CI set) and are skipped elsewhere."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from emotui.config import TrackerConfig
from tests.helpers import audit_records, unavailable
from tests.media import REPO

pytestmark = pytest.mark.usefixtures("model_store")

VIDEO = "liveportrait_d6.mp4"  # 1008 frames, ~33 s at 30 fps in realtime mode: outlives every test
COLUMNS, ROWS = 100, 30
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FACE_HEADER = re.compile(r"#(\d+) +\d+\.\ds (" + "|".join(EMOTIONS) + ")")
BAR_LINE = {emotion: re.compile(rf" {emotion} +[ ▏▎▍▌▋▊▉█│┃]* +(\d+)%") for emotion in EMOTIONS}
STATUS_RATES = re.compile(r"^cap/proc (?P<capture>\d+\.\d)/(?P<processed>\d+\.\d) fps .* (?P<width>\d+)x(?P<height>\d+)$")
START_S = 40.0  # app start-up to a face on the bars; normally 2-3 s, generous for slow CI machines
STEP_S = 10.0  # any single key's visible effect
GONE_S = 30.0  # the process must leave by itself after its terminal goes away (it allows itself 2 s)
FROZEN_S = 1.5  # paused, the bars must hold still this long
SSHD = "/usr/sbin/sshd"


def require(tool: str) -> str:
    """The tool's path; missing, it fails the run in CI and skips the test elsewhere."""
    path = shutil.which(tool) or (SSHD if tool == "sshd" and os.access(SSHD, os.X_OK) else None)
    if path is None:
        unavailable(f"{tool} is not installed (`.ci/run` installs tmux, openssh-server and openssh-client)")
    return path


def wait_for(what: str, check, timeout: float, context=lambda: ""):
    """Poll `check` until it returns something truthy; fail naming `what` and showing `context`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{context()}")
        time.sleep(0.1)


# --- processes, found through /proc by an exact argument (the test's own config path) -----------


def _proc(pid: int) -> tuple[list[str], int, str] | None:
    """(argv, parent pid, state) of a process, None if gone."""
    try:
        argv = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return argv, int(fields[1]), fields[0]


def processes():
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (info := _proc(int(entry.name))) is not None:
            yield int(entry.name), *info


def emotui_pids(config: Path) -> list[int]:
    """Live emotui processes started with this --config (not the shells or tmux that mention it)."""
    return [pid for pid, argv, _, state in processes()
            if state != "Z" and str(config) in argv and any(Path(a).name == "emotui" for a in argv)]


def ancestors(pid: int) -> list[int]:
    """Parent, grandparent, ... up to init."""
    chain = []
    while pid > 1 and (info := _proc(pid)) is not None:
        pid = info[1]
        chain.append(pid)
    return chain


def children(pid: int) -> list[tuple[int, list[str]]]:
    return [(child, argv) for child, argv, parent, _ in processes() if parent == pid]


# --- the terminal -------------------------------------------------------------------------------


class Terminal:
    """A detached tmux session of fixed size on a private tmux server (no user tmux.conf)."""

    SESSION = "emotui-e2e"

    def __init__(self, folder: Path) -> None:
        self.private = Path(tempfile.mkdtemp(prefix="emotui-e2e-"))  # short: sockets have a length limit
        self.socket = self.private / "tmux.sock"
        self.exit_file = folder / "exit-status"
        self.env = {key: value for key, value in os.environ.items() if key != "TMUX"} | {"LANG": "C.UTF-8"}

    def tmux(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-u", "-f", "/dev/null", "-S", str(self.socket), *args],
                              capture_output=True, text=True, timeout=10, env=self.env)

    def start(self, command: str) -> None:
        """Run `command` in the pane; its exit status lands in exit_file, then the pane closes."""
        done = self.tmux("new-session", "-d", "-s", self.SESSION, "-x", str(COLUMNS), "-y", str(ROWS),
                         f"{command}; echo EXIT=$? > {shlex.quote(str(self.exit_file))}")
        assert done.returncode == 0, f"tmux new-session failed: {done.stderr}"

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.SESSION).stdout

    def screen_when(self, condition):
        """A check for wait_for: the screen once `condition(screen)` holds."""
        def check() -> str | None:
            screen = self.screen()
            return screen if condition(screen) else None

        return check

    def keys(self, *keys: str) -> None:
        done = self.tmux("send-keys", "-t", self.SESSION, *keys)
        assert done.returncode == 0, f"tmux send-keys {keys} failed: {done.stderr}"

    def alive(self) -> bool:
        return self.tmux("has-session", "-t", self.SESSION).returncode == 0

    def pane_pid(self) -> int:
        return int(self.tmux("display-message", "-p", "-t", self.SESSION, "#{pane_pid}").stdout)

    def exit_status(self) -> str | None:
        try:
            return self.exit_file.read_text().strip() or None
        except FileNotFoundError:
            return None

    def kill(self) -> None:
        self.tmux("kill-server")
        shutil.rmtree(self.private, ignore_errors=True)


# --- the screen ----------------------------------------------------------------------------------


def face_bars(screen: str) -> dict | None:
    """The first face block of the emotion bars: track id, dominant emotion, the seven percentages."""
    header = FACE_HEADER.search(screen)
    if header is None:
        return None
    scores = {}
    for emotion, pattern in BAR_LINE.items():
        match = pattern.search(screen, header.end())
        if match is None:
            return None
        scores[emotion] = int(match.group(1))
    return {"track": int(header.group(1)), "dominant": header.group(2), "scores": scores}


def header(screen: str) -> str:
    return screen.splitlines()[0] if screen else ""


def status_line(screen: str) -> str:
    """The line above the footer (the key hints)."""
    lines = [line for line in screen.splitlines() if line.strip()]
    return lines[-2].strip() if len(lines) > 1 else ""


def preview_panel(screen: str) -> str:
    """The preview: left of its border with the side panel."""
    return "\n".join(line.split("│", 1)[0] for line in screen.splitlines() if "│" in line)


def bars_panel(screen: str) -> str:
    """The side panel (right of the preview's border) of the main area."""
    return "\n".join(line.split("│", 1)[1] for line in screen.splitlines() if "│" in line)


def _titled_border(lines: list[str], title: str) -> int:
    """The index of the top border titled `title` (the events list's, the log's), or -1."""
    return next((i for i, line in enumerate(lines) if line.startswith(f"─{title}─")), -1)


def log_text(screen: str) -> str:
    """The log (stacked below the events list at 100 columns), wrapped lines joined back together."""
    lines = [line for line in screen.splitlines() if line.strip()]
    return "".join(line.rstrip() for line in lines[_titled_border(lines, "log") + 1:-2])


def events_text(screen: str) -> str:
    """The events list's rows, between its border and the log's."""
    lines = screen.splitlines()
    return "\n".join(lines[_titled_border(lines, "events") + 1:_titled_border(lines, "log")])


# --- fixtures ------------------------------------------------------------------------------------


def python_path() -> str:
    """`PYTHONPATH=… ` when this run sets it (a checkout tested without installing it), so the
    console started over SSH, which does not forward the environment, runs the same code."""
    return f"PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])} " if "PYTHONPATH" in os.environ else ""


class Console:
    """What one test needs to start the console on a real face video and to check on it."""

    def __init__(self, folder: Path, video: Path, models_dir: Path) -> None:
        self.folder = folder
        self.snapshots = folder / "snaps"
        self.config = folder / "emotui.toml"
        self.config.write_text(
            "[snapshots]\n"
            f"dir = {json.dumps(str(self.snapshots))}\n\n"
            "[alerts]\n"
            f"dir = {json.dumps(str(folder / 'alerts'))}\n\n"
            "[ui]\n"
            "bell = false\n\n"
            "[models]\n"
            "auto_pull = false\n"
        )
        (folder / VIDEO).symlink_to(video)  # a short name, so the status line shows it whole
        emotui = Path(sys.executable).parent / "emotui"
        assert emotui.is_file(), f"{emotui} not found: install emotui in this venv (`make test` does)"
        self.command = (
            f"cd {shlex.quote(str(folder))} && env -u EMOTUI_CONFIG TERM=xterm-256color LANG=C.UTF-8 "
            f"{python_path()}EMOTUI_MODELS_DIR={shlex.quote(str(models_dir))} "
            f"XDG_CONFIG_HOME={shlex.quote(str(folder / 'xdg-config'))} "
            f"{shlex.quote(str(emotui))} --config {shlex.quote(str(self.config))} --source {VIDEO}"
        )

    def pids(self) -> list[int]:
        return emotui_pids(self.config)


@pytest.fixture
def console(tmp_path, media_dir, model_store):
    video = media_dir / "videos" / "faces" / VIDEO
    assert video.is_file(), f"{video} is missing from the research media"
    console = Console(tmp_path, video, model_store.directory)
    yield console
    for pid in console.pids():  # a failed test leaves nothing running
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def terminal(tmp_path):
    require("tmux")
    terminal = Terminal(tmp_path)
    yield terminal
    terminal.kill()


class Sshd:
    def __init__(self, program: str, folder: Path) -> None:
        self.program = program  # an absolute path: sshd re-executes itself
        self.folder = folder
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.key = folder / "client_key"
        self.log = folder / "sshd.log"
        self.process: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> None:
        for name in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "emotui-e2e",
                            "-f", str(self.folder / name)], check=True, capture_output=True, timeout=30)
        shutil.copy(self.folder / "client_key.pub", self.folder / "authorized_keys")
        config = self.folder / "sshd_config"
        config.write_text("\n".join([
            "ListenAddress 127.0.0.1",
            f"HostKey {self.folder / 'host_key'}",
            f"PidFile {self.folder / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.folder / 'authorized_keys'}",
            f"AllowUsers {self.user}",
            "StrictModes no", "UsePAM no", "PubkeyAuthentication yes", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
            "PrintMotd no", "PrintLastLog no", "X11Forwarding no", "LogLevel VERBOSE", "",
        ]))
        if os.getuid() == 0:  # privilege separation needs its (empty) chroot folder
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        with self.log.open("w") as log:
            self.process = subprocess.Popen([self.program, "-f", str(config), "-D", "-e", "-p", str(self.port)],
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        wait_for("sshd to listen", self._listening, 10, self.diagnosis)
        probe = subprocess.run([*self.ssh_command(), "true"], capture_output=True, text=True, timeout=30)
        if probe.returncode != 0:
            unavailable(f"cannot log in over SSH to the test sshd: {probe.stderr.strip()}\n{self.diagnosis()}")

    def _listening(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"sshd exited with {self.process.returncode}\n{self.diagnosis()}")
        with socket.socket() as client:
            return client.connect_ex(("127.0.0.1", self.port)) == 0

    def ssh_command(self, tty: bool = False) -> list[str]:
        return ["ssh", *(["-tt"] if tty else []), "-F", "/dev/null", "-i", str(self.key), "-p", str(self.port),
                "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
                f"{self.user}@127.0.0.1"]

    def diagnosis(self) -> str:
        return "sshd log:\n" + (self.log.read_text() if self.log.exists() else "(none)")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """A private sshd on a free loopback port; the system's sshd config and ~/.ssh are untouched."""
    for tool in ("ssh", "ssh-keygen"):
        require(tool)
    server = Sshd(require("sshd"), tmp_path_factory.mktemp("sshd"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


def launch(command: str, terminal: Terminal, request, via: str) -> Sshd | None:
    """Run the shell command in the terminal, directly or through `ssh -tt` to the private sshd."""
    if via == "local":
        terminal.start(command)
        return None
    server = request.getfixturevalue("sshd")
    ssh = " ".join(shlex.quote(part) for part in server.ssh_command(tty=True))
    terminal.start(f"env TERM=xterm-256color {ssh} {shlex.quote(command)}")
    return server


def wait_until_still(terminal: Terminal, part, seconds: float, timeout: float) -> str:
    """`part` of the screen once it has not changed for `seconds`."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while True:
        now, current = time.monotonic(), part(terminal.screen())
        if current != last:
            last, since = current, now
        elif now - since >= seconds:
            return current
        if now > deadline:
            raise AssertionError(f"still changing after {timeout:.0f} s:\n{current}")
        time.sleep(0.1)


def wait_until_running(console: Console, terminal: Terminal) -> dict:
    """Until a face is on the bars and the status line names the source with non-zero rates."""

    def ready():
        screen = terminal.screen()
        bars = face_bars(screen)
        rates = STATUS_RATES.search(status_line(screen))
        if bars and rates and VIDEO in status_line(screen) and float(rates["processed"]) > 0:
            return bars | {"screen": screen, "rates": rates}
        if terminal.exit_status():
            raise AssertionError(f"the console ended early ({terminal.exit_status()}):\n{screen}")
        return None

    return wait_for("a face on the bars and the status line", ready, START_S, terminal.screen)


# --- tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["local", "ssh"])
def test_console_smoke_in_a_real_terminal(console, terminal, request, via):
    server = launch(console.command, terminal, request, via)
    running = wait_until_running(console, terminal)

    # bars: a tracked face, seven emotions with percentages that add up (smoothed probabilities)
    assert running["dominant"] in EMOTIONS
    assert 95 <= sum(running["scores"].values()) <= 105, running["screen"]
    # the dominant emotion is held until another leads it by tracker.label_margin (+1 for the rounding)
    lead = max(running["scores"].values()) - running["scores"][running["dominant"]]
    assert lead <= TrackerConfig().label_margin * 100 + 1, running["screen"]
    # preview: half-block pixels and the face box's track label; status: source, size, fps, models
    screen = running["screen"]
    assert "▀" in preview_panel(screen) and f"#{running['track']}" in preview_panel(screen), screen
    status = status_line(screen)
    assert status.startswith("cap/proc") and f"{VIDEO} 480x480" in status, status  # the rates first
    assert float(running["rates"]["capture"]) > 0 and "blazeface" in header(screen), screen
    assert "PAUSED" not in header(screen) and " ARMED " in header(screen)

    # the app runs on a pty: tmux's, or over SSH the one our sshd allocated
    [pid] = console.pids()
    assert os.readlink(f"/proc/{pid}/fd/0").startswith("/dev/pts/")
    if server is not None:
        assert server.process.pid in ancestors(pid), "emotui is not running under the test sshd"

    # s: snapshot, logged with its path; PNG + JSON sidecar in snapshots.dir
    terminal.keys("s")
    wait_for("the snapshot log line", lambda: "snapshot saved:" in log_text(terminal.screen()), STEP_S,
             terminal.screen)
    images, sidecars = (sorted(console.snapshots.glob(f"*.{ext}")) for ext in ("png", "json"))
    assert len(images) == 1 and [p.stem for p in sidecars] == [images[0].stem], list(console.snapshots.iterdir())
    assert str(images[0]) in log_text(terminal.screen())
    assert images[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sidecar = json.loads(sidecars[0].read_text())
    assert sidecar["source"] == VIDEO and sidecar["faces"], sidecar
    assert set(sidecar["faces"][0]["probabilities"]) == set(EMOTIONS)

    # space: PAUSED in the header, bars frozen; space again: resumed, bars move again
    terminal.keys("Space")
    wait_for("PAUSED", terminal.screen_when(
        lambda s: "PAUSED" in header(s) and "analysis paused" in log_text(s)),
        STEP_S, terminal.screen)
    # running, the bars change at every panel refresh (4 per second); paused they must hold still (the
    # frame being analysed when the key came may still land, hence "stop moving" rather than "same as")
    frozen = wait_until_still(terminal, bars_panel, FROZEN_S, STEP_S)
    terminal.keys("Space")
    wait_for("resume", terminal.screen_when(
        lambda s: "PAUSED" not in header(s) and "analysis resumed" in log_text(s) and bars_panel(s) != frozen),
        STEP_S, terminal.screen)

    # q: exit 0 (through ssh: the remote status), the pane closes, nothing left running
    terminal.keys("q")
    assert wait_for("the exit status", terminal.exit_status, STEP_S, terminal.screen) == "EXIT=0"
    wait_for("the tmux pane to close", lambda: not terminal.alive(), STEP_S, terminal.screen)
    assert console.pids() == []


@pytest.mark.parametrize("via", ["local", "ssh"])
def test_console_leaves_when_its_terminal_goes_away(console, terminal, request, via):
    """Locally the tmux session is killed (SIGHUP); over SSH the client is killed -9 (the connection
    drops and sshd hangs up the pty). Either way emotui must exit, not spin on a dead terminal, and
    exit cleanly: the audit log ends with its `stop` record."""
    server = launch(console.command, terminal, request, via)
    wait_until_running(console, terminal)
    [pid] = console.pids()
    if via == "local":
        assert terminal.tmux("kill-session", "-t", terminal.SESSION).returncode == 0
    else:
        [ssh] = [child for child, argv in children(terminal.pane_pid()) if argv and argv[0] == "ssh"]
        assert server.process.pid in ancestors(pid) and ssh not in ancestors(pid)  # the remote side
        os.kill(ssh, signal.SIGKILL)
    wait_for(f"emotui (pid {pid}) to exit after the hang-up", lambda: console.pids() == [], GONE_S,
             lambda: "still running: " + " ".join(map(str, console.pids())))
    # it left cleanly, not killed by the hang-up: the alerts were flushed and the audit log closed
    assert audit_records(console.folder / "alerts")[-1]["type"] == "stop"
    if via == "ssh":
        assert wait_for("the client's status", terminal.exit_status, STEP_S) == f"EXIT={128 + signal.SIGKILL}"


@pytest.mark.parametrize("via", ["local", "ssh"])
def test_make_run_without_a_source_opens_the_console_on_the_demo(terminal, model_store, tmp_path, request, via):
    """The README's first command on a machine with no camera and no media: the console on the demo,
    a face on the bars and the presence alert in the events list and on the bell within seconds."""
    require("make")
    venv = tmp_path / "venv"  # links to this venv, marked installed: make uses it as it is, never reinstalls
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (venv / "bin" / "emotui").symlink_to(Path(sys.executable).parent / "emotui")
    (venv / ".installed").touch()
    config = tmp_path / "emotui.toml"
    config.write_text(f"[snapshots]\ndir = {json.dumps(str(tmp_path / 'snaps'))}\n\n"
                      f"[alerts]\ndir = {json.dumps(str(tmp_path / 'alerts'))}\n")
    launch(f"cd {shlex.quote(str(REPO))} && env -u EMOTUI_CONFIG TERM=xterm-256color LANG=C.UTF-8 {python_path()}"
           f"EMOTUI_MODELS_DIR={shlex.quote(str(model_store.directory))} "
           f"XDG_CONFIG_HOME={shlex.quote(str(tmp_path / 'xdg-config'))} "
           f"XDG_DATA_HOME={shlex.quote(str(tmp_path / 'xdg-data'))} "
           f"make run VENV={shlex.quote(str(venv))} ARGS={shlex.quote(f'--config {config}')}", terminal, request, via)
    try:
        def running(screen: str) -> bool:
            rates = STATUS_RATES.search(status_line(screen))
            return bool(face_bars(screen) and rates and float(rates["processed"]) > 0
                        and "demo 640x480" in status_line(screen))

        wait_for("the demo on the status line and a face on the bars", terminal.screen_when(running), START_S,
                 terminal.screen)
        wait_for("the presence alert in the events list",
                 lambda: re.search(r"presence +#1 ", events_text(terminal.screen())),
                 STEP_S, terminal.screen)
        bell = terminal.tmux("display-message", "-p", "-t", terminal.SESSION, "#{window_bell_flag}")
        assert bell.stdout.strip() == "1", "the alert did not ring the bell"
        terminal.keys("q")
        assert wait_for("the exit status", terminal.exit_status, STEP_S, terminal.screen) == "EXIT=0"
    finally:
        for pid in emotui_pids(config):  # a failed test leaves nothing running
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("via", ["local", "ssh"])
def test_a_forced_truecolor_preview_is_written_in_24_bits_under_a_256_colour_term(console, terminal, request, via):
    """ui.colour = "truecolor" with TERM=xterm-256color and no COLORTERM (SSH does not forward it):
    the preview arrives in 24-bit codes while the rest of the console stays in 256 colours; `c`
    cycles the preview to 256 colours."""
    console.config.write_text(console.config.read_text().replace("[ui]\n", '[ui]\ncolour = "truecolor"\n'))
    code = f"PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])} " if "PYTHONPATH" in os.environ else ""  # over SSH too
    launch(console.command.replace("env -u EMOTUI_CONFIG ", f"env -u EMOTUI_CONFIG -u COLORTERM {code}"),
           terminal, request, via)
    wait_until_running(console, terminal)

    def coloured_screen() -> list[str]:
        return terminal.tmux("capture-pane", "-p", "-e", "-t", terminal.SESSION).stdout.splitlines()

    def truecolor(line: str) -> bool:
        return "38;2;" in line or "48;2;" in line

    def preview_in(condition):
        def check():
            lines = coloured_screen()
            preview = [line.split("│", 1)[0] for line in lines if "│" in line]
            return lines if sum(map(condition, preview)) >= 10 else None
        return check

    lines = wait_for("24-bit codes in the preview", preview_in(truecolor), STEP_S, terminal.screen)
    status = [line for line in lines if VIDEO in line]
    assert status and not any(map(truecolor, status)), status  # the rest of the UI: the terminal's 256 colours
    terminal.keys("c")
    wait_for("the preview in 256 colours", preview_in(lambda line: "48;5;" in line and not truecolor(line)), STEP_S,
             terminal.screen)
    assert "colours: 256" in log_text(terminal.screen())
    terminal.keys("q")
    assert wait_for("the exit status", terminal.exit_status, STEP_S, terminal.screen) == "EXIT=0"
