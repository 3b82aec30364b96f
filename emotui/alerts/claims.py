"""Two emotui processes on one machine must not silently lose alerts: while it runs, a process
holds a lock on each camera it watches and on its alerts folder (audit log and delivery queue).
A second process that would watch one of those cameras, or write into that folder, is refused
with an error naming the process that holds it and the setting to change. The locks are
advisory file locks (flock) kept for the process's life: the system releases them when it ends,
however it ends, so a crash leaves nothing to clean up."""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path

from emotui.alerts.events import AlertSetupError
from emotui.storage import private_folder

LOCK_SUFFIX = ".lock"
FOLDER_LOCK = "emotui.lock"
MAX_OWNER_BYTES = 4096  # what is read of a lock file's description of its holder


class Claims:
    """The locks of one process: its cameras (files in `cameras_folder`) and its alerts folder."""

    def __init__(self, cameras_folder: Path, cameras: list[str], alerts_folder: Path) -> None:
        """Takes every lock, or none: raises AlertSetupError naming the holder of the first one taken."""
        self._descriptors: list[int] = []
        owner = json.dumps({"pid": os.getpid(), "command": " ".join(["emotui", *sys.argv[1:]])[:512],
                            "cameras": cameras, "alerts_dir": str(alerts_folder),
                            "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode()
        try:
            for camera in cameras:
                self._take(cameras_folder / f"{camera}{LOCK_SUFFIX}", owner,
                           f"camera {camera!r} is already watched by",
                           "give this camera another name ([[cameras]] name, or source.name) or stop that process")
            self._take(alerts_folder / FOLDER_LOCK, owner, f"the alerts folder {alerts_folder} is in use by",
                       "give each process its own alerts.dir")
        except BaseException:
            self.release()
            raise

    def _take(self, path: Path, owner: bytes, conflict: str, remedy: str) -> None:
        try:
            private_folder(path.parent)
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise AlertSetupError(f"cannot create {path}: {error.strerror or error}") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe_holder(descriptor)
            os.close(descriptor)
            raise AlertSetupError(f"{conflict} another emotui process ({holder}): {remedy}") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, owner, 0)
        self._descriptors.append(descriptor)

    def release(self) -> None:
        """Releases every lock (the files stay: removing them could race with another process)."""
        for descriptor in self._descriptors:
            os.close(descriptor)
        self._descriptors.clear()


def _describe_holder(descriptor: int) -> str:
    """`pid 1234: emotui run --headless …, cameras door, garden, since …` from the holder's lock file."""
    try:
        owner = json.loads(os.pread(descriptor, MAX_OWNER_BYTES, 0))
        return (f"pid {owner['pid']}: {owner['command']}, cameras {', '.join(owner['cameras'])}, "
                f"alerts.dir {owner['alerts_dir']}, since {owner['since']}")
    except (OSError, ValueError, KeyError, TypeError):
        return "its description is unreadable"
