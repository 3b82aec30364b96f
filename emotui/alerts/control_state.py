"""What a user changed at run time and what this device announced, kept across restarts in
`state.json` in the alerts folder: each camera's arming, each rule's enable switch, and the Home
Assistant discovery topics last published (so that those of removed rules and cameras are cleared
at the next start). Bounded, written atomically; a missing file gives the defaults, an unreadable
or corrupt one the defaults and a warning, never a crash."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

from emotui.files import write_atomically

STATE_FILE = "state.json"
MAX_STATE_BYTES = 1_000_000  # a bigger file is not read (it was not written by us)
MAX_CAMERAS = 256
MAX_RULES = 256  # per camera
MAX_DISCOVERY_TOPICS = 20_000


class ControlState:
    """The state file's content; `save` writes it after every change (thread-safe)."""

    def __init__(self, path: Path, on_problem: Callable[[str], None]) -> None:
        self.path = path
        self._on_problem = on_problem
        self._lock = threading.Lock()
        self.armed: dict[str, bool] = {}  # camera -> armed
        self.enabled: dict[str, dict[str, bool]] = {}  # camera -> rule -> enabled
        self.discovery: set[str] = set()  # discovery config topics last published
        try:
            self._load()
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError, AttributeError, KeyError) as error:
            self.armed, self.enabled, self.discovery = {}, {}, set()
            self._on_problem(f"ignored the run-time state {path} ({type(error).__name__}: {error}); arming and rule "
                             "switches start as the config says, and stale Home Assistant entities are not cleared "
                             "this time")

    def _load(self) -> None:
        with open(self.path, "rb") as handle:
            data = handle.read(MAX_STATE_BYTES + 1)
        if len(data) > MAX_STATE_BYTES:
            raise ValueError(f"larger than {MAX_STATE_BYTES} bytes")
        record = json.loads(data)
        cameras, topics = record["cameras"], record["discovery"]
        if not isinstance(cameras, dict) or not isinstance(topics, list):
            raise ValueError("`cameras` must be a table and `discovery` a list")
        for name, camera in list(cameras.items())[:MAX_CAMERAS]:
            if isinstance(camera.get("armed"), bool):
                self.armed[name] = camera["armed"]
            rules = camera.get("enabled", {})
            self.enabled[name] = {rule: on for rule, on in list(rules.items())[:MAX_RULES] if isinstance(on, bool)}
        self.discovery = {topic for topic in topics[:MAX_DISCOVERY_TOPICS] if isinstance(topic, str)}

    def set_armed(self, camera: str, armed: bool) -> None:
        with self._lock:
            self.armed[camera] = armed
            self._save()

    def set_enabled(self, camera: str, rule: str, enabled: bool) -> None:
        with self._lock:
            self.enabled.setdefault(camera, {})[rule] = enabled
            self._save()

    def set_discovery(self, topics: set[str]) -> None:
        with self._lock:
            self.discovery = set(topics)
            self._save()

    def keep_only(self, cameras: dict[str, list[str]]) -> None:
        """Forget cameras and rules that are no longer configured (keeps the file bounded)."""
        with self._lock:
            self.armed = {name: armed for name, armed in self.armed.items() if name in cameras}
            self.enabled = {name: {rule: on for rule, on in rules.items() if rule in cameras[name]}
                            for name, rules in self.enabled.items() if name in cameras}

    def _save(self) -> None:
        record = {
            "cameras": {name: {"armed": self.armed.get(name), "enabled": self.enabled.get(name, {})}
                        for name in sorted(set(self.armed) | set(self.enabled))[:MAX_CAMERAS]},
            "discovery": sorted(self.discovery)[:MAX_DISCOVERY_TOPICS],
        }
        try:
            write_atomically(self.path, json.dumps(record, indent=1).encode())
        except OSError as error:
            self._on_problem(f"cannot save the run-time state {self.path}: {error}")
