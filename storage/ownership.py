"""Who runs a run: one process at a time owns it, however many processes append to the log.

Ownership is an exclusive ``flock`` on a lock file named after the log file's identity (device and inode, so a
symlink or a hard link to the same log meets the same lock) and the run id. It is taken before a resume reads the
run's events, so two resumes of one run cannot both go on; the operating system releases it when the owner exits,
killed or not, so a crash never leaves a run locked. The owner's pid, host and start time are written into the
lock file, so a refused second owner is told who has it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from types import TracebackType

from storage.errors import UserError

LOCK_DIR = Path(tempfile.gettempdir()) / "genius-run-locks"


class RunOwned(UserError):
    """Another process owns the run (it is running or resuming it)."""


class RunOwnership:
    """Hold a run of the log at ``db`` for this process: ``with RunOwnership(db, run_id): ...``."""

    def __init__(self, db: str | Path, run_id: str) -> None:
        self.db = str(db)
        self.run_id = run_id
        self._fd: int | None = None

    def _lock_path(self) -> Path:
        st = os.stat(self.db)  # the file's identity, whatever path reached it
        digest = hashlib.sha256(self.run_id.encode()).hexdigest()[:24]
        return LOCK_DIR / f"{st.st_dev}-{st.st_ino}-{digest}.lock"

    def acquire(self) -> None:
        if self.db == ":memory:" or self._fd is not None:
            return
        path = self._lock_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RunOwned(f"run {self.run_id} in {self.db} is being run by {holder}; wait for it to end, or stop "
                           "that process (the run stays resumable)") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
                                 "run_id": self.run_id}).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None

    def __enter__(self) -> RunOwnership:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    since = time.strftime("%H:%M:%S", time.localtime(float(info.get("since", 0))))
    return f"process {info.get('pid')} on {info.get('host')} (since {since})"
