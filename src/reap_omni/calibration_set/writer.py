"""Append-only manifest writing that survives ``kill -9`` at any instant.

A row is appended only after its media file is complete on disk (media are written to a temp file and
renamed). Each append is a single ``write`` of one full line on an ``O_APPEND`` descriptor followed by
``fsync``, so after a crash the manifest holds complete rows plus, at worst, one torn last line without
its newline. ``repair_torn_tail`` cuts that line away before a rerun reads or appends.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

import msgspec

from reap_omni.fileio import WriteFailed, storage_error


def repair_torn_tail(path: str | os.PathLike[str]) -> bool:
    """Truncate a last line that lacks its newline (an append cut short). Returns True if it cut anything."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    if size == 0:
        return False
    with open(path, "rb+") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return False
        # Walk back to the previous newline in blocks; rows are small but media paths can be long.
        pos = size
        keep = 0
        while pos > 0:
            step = min(1 << 16, pos)
            pos -= step
            f.seek(pos)
            block = f.read(step)
            nl = block.rfind(b"\n")
            if nl >= 0:
                keep = pos + nl + 1
                break
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return True


class ManifestAppender:
    """Thread-safe appender for one stratum manifest (``calibration/audio.jsonl`` ...)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._encoder = msgspec.json.Encoder()
        self.appended = 0

    def _open(self) -> int:
        if self._fd is None:
            created = not self.path.exists()
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                repair_torn_tail(self.path)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError as exc:
                raise storage_error(exc, self.path) or WriteFailed(self.path, exc.strerror or str(exc)) from None
            if created:
                _fsync_dir(self.path.parent)  # make the new file's name durable too
        return self._fd

    def append(self, row: Any) -> None:
        """Append one row (a dict or msgspec Struct) as a full JSON line, durably."""
        line = self._encoder.encode(row) + b"\n"
        with self._lock:
            fd = self._open()
            start = os.lseek(fd, 0, os.SEEK_END)
            view = memoryview(line)
            try:
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                os.fsync(fd)
            except OSError as exc:
                # a part-written line would glue the next append onto it: cut back to the last whole row
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                raise storage_error(exc, self.path) or WriteFailed(self.path, exc.strerror or str(exc)) from None
            self.appended += 1

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class ManifestSet:
    """The three stratum appenders of one output folder, opened lazily (a stratum with no rows gets no file)."""

    def __init__(self, calibration_dir: str | os.PathLike[str]):
        self.dir = Path(calibration_dir)
        self._appenders: dict[str, ManifestAppender] = {}
        self._lock = threading.Lock()

    def append(self, stratum: str, row: Any) -> None:
        with self._lock:
            app = self._appenders.get(stratum)
            if app is None:
                app = self._appenders[stratum] = ManifestAppender(self.dir / f"{stratum}.jsonl")
        app.append(row)

    def close(self) -> None:
        for app in self._appenders.values():
            app.close()

    def __enter__(self) -> ManifestSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
