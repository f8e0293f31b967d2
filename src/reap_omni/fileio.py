"""Safe file output: atomic writes, output-path checks and stale temp clean-up.

Outputs are written to a temp file in the destination folder and renamed into place, so an
interrupted or failed run never leaves a half-written file behind, and an input is never the output.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from reap_omni.errors import ReapOmniError

_TMP_RE = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]+$")


def temp_path_for(path: Path) -> Path:
    """A unique temp name beside ``path``; it carries our pid so stale temps can be recognised."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike[str]) -> int:
    """Delete temp files left by killed runs (their pid is gone). Returns how many were removed."""
    removed = 0
    folder = Path(folder)
    try:
        entries = list(folder.iterdir())
    except OSError:  # absent, or removed meanwhile by another process finishing the same clean-up
        return 0
    for entry in entries:
        m = _TMP_RE.match(entry.name)
        if m and not _pid_alive(int(m.group("pid"))):
            with contextlib.suppress(OSError):
                entry.unlink()
                removed += 1
    return removed


#: errno -> what it means for an output. These stop a run (skipping the row would fail the same way for every
#: other row); anything else is about the one row or file at hand.
STORAGE_ERRNOS: dict[int, str] = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EFBIG: "file too large for the file system",
}


class WriteFailed(ReapOmniError):
    """An output cannot be written: disk full, read-only, no permission, a file in the way.

    One line, ``cannot write <path>: <reason>``; ``errno`` tells callers (the build stops at once on it).
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, errno_: int | None = None):
        self.path, self.reason, self.errno = os.fspath(path), reason, errno_
        super().__init__(f"cannot write {self.path}: {reason}")


def storage_error(exc: BaseException, path: str | os.PathLike[str] | None = None) -> WriteFailed | None:
    """``WriteFailed`` when ``exc`` (or what it wraps) is a storage error, else ``None``.

    Looks through ``__cause__``/``__context__`` because media libraries re-raise the writer's ``OSError``
    inside their own exception types.
    """
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, WriteFailed):
            return exc
        if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
            where = path if path is not None else (exc.filename or "output")
            return WriteFailed(where, STORAGE_ERRNOS[exc.errno], exc.errno)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return None


@contextlib.contextmanager
def storage_errors(path: str | os.PathLike[str] | None = None) -> Iterator[None]:
    """Turn a storage ``OSError`` raised inside the block into a one-line ``WriteFailed``."""
    try:
        yield
    except OSError as exc:
        failed = storage_error(exc, path)
        if failed is None:
            raise
        raise failed from None


def ensure_folder(path: str | os.PathLike[str]) -> Path:
    """Create folder ``path`` (and its parents) and prove it writable with a temp file; one line if not.

    Catches what a later write would hit mid-run: the path is a file, a parent is a file, the file system is
    read-only, no permission (also as root on a read-only mount, where ``os.access`` says yes).
    """
    folder = Path(path)
    if not os.fspath(path).strip():
        raise WriteFailed("''", "the path is empty; give a folder")
    if folder.exists() and not folder.is_dir():
        raise WriteFailed(folder, "it exists and is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a parent is a file (mkdir of the parent chain met it)
        raise WriteFailed(folder, STORAGE_ERRNOS[errno.ENOTDIR], errno.ENOTDIR) from None
    except OSError as exc:
        raise storage_error(exc, folder) or WriteFailed(folder, exc.strerror or str(exc)) from None
    probe = temp_path_for(folder / "write-probe")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise storage_error(exc, folder) or WriteFailed(folder, exc.strerror or str(exc)) from None
    return folder


def ensure_output_dir(path: str | os.PathLike[str]) -> Path:
    """Create the folder that will hold ``path`` and check it is writable; one-line error if not."""
    out = Path(path)
    parent = out.parent if out.parent != Path("") else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise WriteFailed(out, STORAGE_ERRNOS[errno.ENOTDIR], errno.ENOTDIR) from None
    except OSError as exc:
        raise storage_error(exc, out) or WriteFailed(out, exc.strerror or str(exc)) from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise WriteFailed(out, f"folder {parent} is not writable", errno.EACCES)
    if out.is_dir():
        raise ReapOmniError(f"output path {out} is a folder, expected a file path")
    return out


def check_not_input(output: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]]) -> None:
    """Refuse to overwrite an input: the output must be a different file from every input."""
    out = Path(output)
    out_real = os.path.realpath(out)
    for inp in inputs:
        same = os.path.realpath(inp) == out_real
        if not same and out.exists() and Path(inp).exists():
            with contextlib.suppress(OSError):
                same = os.path.samefile(inp, out)
        if same:
            raise ReapOmniError(f"output path {output} is the same file as input {inp}; choose another output")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO]:
    """Open a temp file beside ``path``; on success fsync and rename it over ``path``, else delete it."""
    dest = ensure_output_dir(path)
    tmp = temp_path_for(dest)
    try:
        f = open(tmp, mode)  # noqa: SIM115 - closed below before the rename
    except OSError as exc:
        raise storage_error(exc, dest) or WriteFailed(dest, exc.strerror or str(exc)) from None
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        failed = storage_error(exc, dest) if isinstance(exc, OSError) else None
        if failed is not None:
            raise failed from None
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write a whole small file atomically."""
    with atomic_output(path, "wb") as f:
        f.write(data)
