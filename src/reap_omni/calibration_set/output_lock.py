"""One writer per output folder: an OS file lock on ``<output>/calibration/.writer.lock``.

Two builds appending to the same manifests would each trust only what they read at their start and
write the same rows twice. The lock is ``flock``-based, so the kernel releases it when the holder exits,
``kill -9`` included: a stale lock file never blocks the next run. The file also says who holds it (pid,
host, start time, command) so the refusal can name the holder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import IO

from reap_omni.errors import ReapOmniError
from reap_omni.fileio import STORAGE_ERRNOS, WriteFailed

LOCK_FILE = ".writer.lock"


class OutputBusy(ReapOmniError):
    """Another run holds the output folder (exit code 2)."""


class OutputLock:
    """Exclusive lock on a calibration folder, held from ``acquire`` to ``release`` (or process exit)."""

    def __init__(self, folder: str | os.PathLike[str], *, wait: bool = False, err: IO[str] | None = None):
        self.path = Path(folder) / LOCK_FILE
        self.wait = wait
        self.err = err or sys.stderr
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise WriteFailed(self.path.parent, STORAGE_ERRNOS.get(exc.errno, exc.strerror or str(exc)),
                              exc.errno) from None  # fmt: skip
        try:
            if not self._try_lock(fd):
                holder = _holder(fd)
                if not self.wait:
                    raise OutputBusy(
                        f"{self.path.parent.parent} is being written by another reap-omni run ({holder}); "
                        "wait for it to finish, or pass --wait-lock to wait"
                    )
                print(f"reap-omni: waiting for the other run on {self.path.parent.parent} ({holder})", file=self.err)
                fcntl.flock(fd, fcntl.LOCK_EX)
            _write_holder(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _try_lock(self, fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                # a file system without locks (some network mounts): say so and go on unguarded
                print(f"reap-omni: warning: {self.path.parent} does not support file locks; "
                      "do not run two builds into it at once", file=self.err)  # fmt: skip
                return True
            raise
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)  # the holder line goes; the lock goes with the descriptor
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _write_holder(fd: int) -> None:
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(sys.argv)[:300]}  # fmt: skip
    with contextlib.suppress(OSError):  # informational only: a full disk must not stop us holding the lock
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode() + b"\n", 0)


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {info['pid']} on {info['host']}, started {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"
