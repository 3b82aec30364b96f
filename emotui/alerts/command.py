"""The `exec` hook: run a command (an argv list, never a shell) for alert events, one at a time
and in order on its own thread, so an alert storm never forks a crowd of processes."""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections.abc import Callable

from emotui.alerts.events import AlertEvent

STDERR_SHOWN = 200  # characters of a failing command's stderr quoted in the problem report


class ExecHook:
    name = "exec"
    wants_snapshot_jpeg = False

    def __init__(self, argv: list[str], on: list[str], timeout_s: float, on_problem: Callable[[str], None]) -> None:
        self.argv = argv
        self.on = on
        self.timeout_s = timeout_s
        self._on_problem = on_problem
        self._commands: queue.Queue[tuple[list[str], str] | None] = queue.Queue()
        self._runner = threading.Thread(target=self._run_commands, name="emotui-exec", daemon=True)
        self._runner.start()

    def arguments(self, event: AlertEvent) -> list[str]:
        """The argv with {placeholders} filled from the event (missing values become empty)."""
        values = {**event.to_dict(), "snapshot": event.snapshot or "", "track_id": event.track_id or "",
                  "emotion": event.emotion or "", "score": f"{event.score:.3f}", "peak_score": f"{event.peak_score:.3f}"}
        return [part.format_map(values) for part in self.argv]

    def submit(self, event: AlertEvent, snapshot_jpeg: bytes | None = None) -> None:
        if event.type in self.on:
            self._commands.put((self.arguments(event), event.id))

    def close(self, timeout: float = 5.0) -> None:
        """Let queued commands run for up to `timeout` seconds; the rest are dropped."""
        self._commands.put(None)
        self._runner.join(timeout)

    def _run_commands(self) -> None:
        while (item := self._commands.get()) is not None:
            argv, alert_id = item
            try:
                self._run(argv, alert_id)
            except Exception as error:  # never let the runner die
                self._on_problem(f"exec: {argv[0]} for alert {alert_id}: {type(error).__name__}: {error}")

    def _run(self, argv: list[str], alert_id: str) -> None:
        started = time.monotonic()
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  timeout=self.timeout_s)
        except OSError as error:
            self._on_problem(f"exec: cannot run {argv[0]}: {error.strerror or error}")
        except subprocess.TimeoutExpired:  # subprocess.run has killed it
            self._on_problem(f"exec: {argv[0]} still running after {time.monotonic() - started:.1f} s "
                             f"(limit {self.timeout_s:g} s) for alert {alert_id}; killed")
        else:
            if done.returncode != 0:
                detail = done.stderr.decode("utf-8", "replace").strip()[:STDERR_SHOWN]
                self._on_problem(f"exec: {argv[0]} exited with {done.returncode} for alert {alert_id}"
                                 + (f": {detail}" if detail else ""))
