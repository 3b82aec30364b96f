"""The `exec` hook: run a command (an argv list, never a shell) for alert events, one at a time
and in order on its own thread, so an alert storm never forks a crowd of processes.

At most EXEC_QUEUE_MAX runs wait; under a flood the newest are turned away: the runs kept are
for the flood's first events, in order, as they happened, and each turned-away run is counted in
a `dropped` audit record. What still waits at shutdown is recorded the same way."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable

from emotui.alerts.events import AlertEvent
from emotui.alerts.queues import BoundedQueue, dropped_record

STDERR_SHOWN = 200  # characters of a failing command's stderr quoted in the problem report
IDLE_POLL_S = 0.1  # how often an idle runner checks whether it should stop
EXEC_QUEUE_MAX = 100  # runs waiting for the one running; beyond, the newest are dropped and counted


class ExecHook:
    name = "exec"
    wants_snapshot_jpeg = False

    def __init__(self, argv: list[str], on: list[str], timeout_s: float, on_problem: Callable[[str], None],
                 on_dropped: Callable[[dict], None], max_queued: int = EXEC_QUEUE_MAX) -> None:
        """`on_dropped` gets the data of a `dropped` record for runs turned away or left at shutdown."""
        self.argv = argv
        self.on = on
        self.timeout_s = timeout_s
        self.runs = 0  # commands run (or attempted)
        self._on_problem = on_problem
        self._on_dropped = on_dropped
        self._commands: BoundedQueue[tuple[list[str], str]] = BoundedQueue("exec runs", max_queued)
        self._closing = threading.Event()  # run what is queued, then stop
        self._stopping = threading.Event()  # stop after the command running
        self._runner = threading.Thread(target=self._run_commands, name="emotui-exec", daemon=True)
        self._runner.start()

    def arguments(self, event: AlertEvent) -> list[str]:
        """The argv with {placeholders} filled from the event (missing values become empty)."""
        return [event.fill(part) for part in self.argv]

    def submit(self, event: AlertEvent, snapshot_jpeg: bytes | None = None) -> None:
        if event.type in self.on:
            self._commands.offer((self.arguments(event), event.id), event.type)

    def close(self, timeout: float = 5.0) -> None:
        """Let queued commands run for up to `timeout` seconds; the rest are recorded as dropped."""
        self._closing.set()
        self._runner.join(timeout)
        self._stopping.set()  # a runner still busy takes nothing more
        self._report_dropped(force=True)
        if pending := self._commands.take_pending():
            self._on_dropped(dropped_record(self._commands.what, pending, "shutting down"))

    def _run_commands(self) -> None:
        while not self._stopping.is_set():
            if (item := self._commands.get(timeout=IDLE_POLL_S)) is None:
                if self._closing.is_set():
                    return
                continue
            argv, alert_id = item
            self.runs += 1
            try:
                self._run(argv, alert_id)
            except Exception as error:  # never let the runner die
                self._on_problem(f"exec: {argv[0]} for alert {alert_id}: {type(error).__name__}: {error}")
            self._report_dropped()

    def _report_dropped(self, force: bool = False) -> None:
        if dropped := self._commands.drops.take(force):
            self._on_dropped(dropped)

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
