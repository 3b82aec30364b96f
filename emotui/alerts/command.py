"""The `exec` hook: run a command (an argv list, never a shell) for alert events."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable

from emotui.alerts.events import AlertEvent

STDERR_SHOWN = 200  # characters of a failing command's stderr quoted in the problem report


class ExecHook:
    def __init__(self, argv: list[str], on: list[str], timeout_s: float, on_problem: Callable[[str], None]) -> None:
        self.argv = argv
        self.on = on
        self.timeout_s = timeout_s
        self._on_problem = on_problem
        self._running: set[threading.Thread] = set()

    def arguments(self, event: AlertEvent) -> list[str]:
        """The argv with {placeholders} filled from the event (missing values become empty)."""
        values = {**event.to_dict(), "snapshot": event.snapshot or "", "track_id": event.track_id or "",
                  "emotion": event.emotion or "", "score": f"{event.score:.3f}", "peak_score": f"{event.peak_score:.3f}"}
        return [part.format_map(values) for part in self.argv]

    def submit(self, event: AlertEvent, snapshot_jpeg: bytes | None = None) -> None:
        """Start the command for a matching event; waiting and reporting happen on a thread."""
        if event.type not in self.on:
            return
        argv = self.arguments(event)
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE)
        except OSError as error:
            self._on_problem(f"exec: cannot run {argv[0]}: {error.strerror or error}")
            return
        thread = threading.Thread(target=self._wait, args=(process, argv[0], event.id), daemon=True)
        self._running.add(thread)
        thread.start()

    def _wait(self, process: subprocess.Popen, program: str, alert_id: str) -> None:
        try:
            _, stderr = process.communicate(timeout=self.timeout_s)
            if process.returncode != 0:
                detail = stderr.decode("utf-8", "replace").strip()[:STDERR_SHOWN]
                self._on_problem(f"exec: {program} exited with {process.returncode} for alert {alert_id}"
                                 + (f": {detail}" if detail else ""))
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            self._on_problem(f"exec: {program} still running after {self.timeout_s:g} s for alert {alert_id}; killed")
        finally:
            self._running.discard(threading.current_thread())

    def close(self, timeout: float = 5.0) -> None:
        for thread in list(self._running):
            thread.join(timeout)
