"""Writing media files: temp files beside each destination, renamed into place together only on success.

Media are muxed by FFmpeg's own file I/O into a temp path, never through a Python file object: PyAV can only
report an exception raised inside its I/O callbacks as a ``PyAVCallbackError`` or print it as "dropped",
whereas FFmpeg's file protocol hands the real errno back. Whatever class carries it (PyAV's exception
classes differ across versions, so they are told apart by behaviour: an ``OSError`` with an ``errno``), a
storage failure reaches the caller as a plain builtin ``OSError(errno, strerror, destination)`` (ENOSPC,
EDQUOT, EROFS, EACCES, ...; ``OSError`` itself picks ``PermissionError`` for EACCES). The temp files are
removed, and an existing file at a destination is never touched by a failed write.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import IO, Any

import av

from reap_omni.fileio import STORAGE_ERRNOS, temp_path_for
from reap_omni.interrupts import received


def _open_file(path: Path) -> IO[bytes]:
    return open(path, "xb")  # noqa: SIM115 - the caller closes it


def open_container(path: str, fmt: str, options: dict[str, str] | None = None) -> Any:
    """An output container writing to ``path`` with FFmpeg's file I/O (the seam tests use to inject faults)."""
    return av.open(path, "w", format=fmt, options=options or {})


class MediaOutputs:
    """``with MediaOutputs(dst, other) as outs:`` write to ``outs.temp(dst)``; all are renamed on success."""

    def __init__(self, *dests: str | os.PathLike[str] | None):
        self.dests = [Path(d) for d in dests if d is not None]
        self.temps: dict[Path, Path] = {}

    def temp(self, dest: str | os.PathLike[str]) -> str:
        return os.fspath(self.temps[Path(dest)])

    def container(self, dest: str | os.PathLike[str], fmt: str, options: dict[str, str] | None = None) -> Any:
        """An output container muxing ``fmt`` into the temp path of ``dest``."""
        return open_container(self.temp(dest), fmt, options)

    def open(self, dest: str | os.PathLike[str]) -> IO[bytes]:
        """A new binary file at the temp path of ``dest`` (for plain copies)."""
        return _open_file(self.temps[Path(dest)])

    def __enter__(self) -> MediaOutputs:
        for dest in self.dests:
            try:
                if dest.is_dir():
                    raise IsADirectoryError(errno.EISDIR, "output path is a folder, expected a file path")
                dest.parent.mkdir(parents=True, exist_ok=True)
            except FileExistsError:  # a parent is a file
                raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), os.fspath(dest)) from None
            except OSError as exc:
                raise self._plain(exc, dest) from None
            self.temps[dest] = temp_path_for(dest)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None and received() is not None:  # a stop signal whose first raise was swallowed
            self._cleanup()
            raise KeyboardInterrupt
        if exc is None:
            try:
                for dest in self.dests:
                    tmp = self.temps[dest]
                    fd = os.open(tmp, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                for dest in self.dests:
                    os.replace(self.temps[dest], dest)
                    del self.temps[dest]
            except OSError as failed:
                self._cleanup()
                raise self.output_error(failed) or failed from None
            return
        self._cleanup()
        mapped = self.output_error(exc)
        if mapped is not None:
            raise mapped from None

    def _cleanup(self) -> None:
        for tmp in self.temps.values():
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _dest_for(self, filename: Any) -> Path:
        if filename:
            name = os.fspath(filename)
            for dest, tmp in self.temps.items():
                if name in (os.fspath(tmp), os.fspath(dest)):
                    return dest
        return self.dests[0]

    def _plain(self, exc: OSError, dest: Path) -> OSError:
        code = exc.errno
        return OSError(code, os.strerror(code) if code else str(exc), os.fspath(dest))

    def output_error(self, exc: BaseException | None) -> OSError | None:
        """A plain ``OSError`` naming the destination when ``exc`` (or what it chains) is a write failure.

        A write failure is an ``OSError`` (PyAV's errno errors are ``OSError`` subclasses) that names one of
        our temp files or destinations, or names no file and carries a storage errno. Decoding errors and
        errors naming another file (an unreadable input) are left alone.
        """
        names = {os.fspath(p) for p in (*self.temps.values(), *self.dests)}
        found = None  # the first failure raised (the end of the chain): closing after it fails again
        seen = 0
        while exc is not None and seen < 8:
            code = getattr(exc, "errno", None)
            if isinstance(exc, OSError) and isinstance(code, int) and code > 0:
                filename = getattr(exc, "filename", None)
                # a named file is ours or not (an unreadable input is the row's problem); else the errno tells
                if isinstance(filename, str | os.PathLike):
                    ours = os.fspath(filename) in names
                else:
                    ours = code in STORAGE_ERRNOS
                if ours:
                    found = self._plain(exc, self._dest_for(filename))
            exc = exc.__cause__ or exc.__context__
            seen += 1
        return found
