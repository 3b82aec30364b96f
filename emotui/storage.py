"""What emotui keeps on disk holds faces and events: folders it creates are 0700 and its files
0600, whatever the umask. Folders a user made are left as they are, with a warning when other
users can read them."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600


def private_folder(path: Path) -> str | None:
    """Creates `path` and its missing parents, each 0700. A folder that already exists is not
    changed: returns a warning when group or others can read it, else None. Raises OSError."""
    path = Path(path)
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another thread or process
            os.mkdir(folder, PRIVATE_FOLDER)
            os.chmod(folder, PRIVATE_FOLDER)  # the umask may have taken bits away, never added any
    if missing:
        return None
    if not path.is_dir():
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
    mode = path.stat().st_mode & 0o777
    if mode & 0o044:
        return (f"{path} can be read by other users (mode {mode:o}); `chmod 700 {path}` keeps the faces and "
                "events in it private")
    return None


def private_file(path: Path) -> None:
    """Creates `path` empty if it does not exist, and makes it 0600. Raises OSError."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE))
    os.chmod(path, PRIVATE_FILE)
