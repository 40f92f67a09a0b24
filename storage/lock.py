"""One running bot per database: an exclusive lock on a file beside it, held for the
process's life. Two bots on one database would both poll Telegram (each answered "Conflict"
half the time) and each pace its sends as if alone, breaking Telegram's rate limits."""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from storage.sqlite import StorageError


class InstanceLock:
    """``flock`` on ``<database>.lock``, which holds the holder's pid and host. The kernel
    drops the lock when the process ends, even by kill -9, so a stale file never blocks."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or StorageError naming the process that holds it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot create its lock file beside it ({exc.strerror})"
                               ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise StorageError(f"already in use by another running Qorgau ({holder}); "
                               "stop that one first, or give this one another "
                               "database") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None
