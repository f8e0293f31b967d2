"""Safe file output: atomic writes, output-path checks and stale temp clean-up.

Outputs are written to a temp file in the destination folder and renamed into place, so an
interrupted or failed run never leaves a half-written file behind, and an input is never the output.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from reap_omni.errors import ReapOmniError
from reap_omni.interrupts import raise_if_interrupted

_TMP_RE = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]+$")
#: A replaced folder's previous version, renamed aside for the instant of the swap (``commit_folder``).
_OLD_RE = re.compile(r"^\.(?P<name>.+)\.old-(?P<pid>\d+)$")


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


def remove_stale_temps(folder: str | os.PathLike[str], log: Callable[[str], None] | None = None,
                       outputs: Iterable[str] = ()) -> int:
    """Clean up after writers that were killed (their pid is gone); returns how many entries were handled.

    A temp file or folder (``.<name>.tmp-<pid>-<hex>``) is deleted. For the folders named in ``outputs``, a
    previous version renamed aside by ``commit_folder`` (``.<name>.old-<pid>``) is put back when ``<name>``
    is missing (the writer died between its two renames: the old set comes back whole) and deleted otherwise
    (the new set is in place). ``log`` gets one line per entry.
    """
    handled = 0
    folder = Path(folder)
    outputs = set(outputs)
    try:
        entries = list(folder.iterdir())
    except OSError:  # absent, or removed meanwhile by another process finishing the same clean-up
        return 0
    for entry in entries:
        m = _TMP_RE.match(entry.name)
        if m is None and (old := _OLD_RE.match(entry.name)) and old.group("name") in outputs:
            m = old
        if m is None or _pid_alive(int(m.group("pid"))):
            continue
        try:
            if m.re is _OLD_RE and not os.path.lexists(folder / m.group("name")):
                os.rename(entry, folder / m.group("name"))
                note = f"restored {folder / m.group('name')} from {entry.name}, left aside by a killed run"
            else:
                _remove_tree(entry)
                note = f"removed {entry}, left by a killed run (pid {m.group('pid')})"
        except OSError:  # another process got there first, or no permission: not ours to force
            continue
        handled += 1
        if log is not None:
            log(note)
    return handled


def _remove_tree(path: Path) -> None:
    """Delete a file, a link (never what it points to) or a whole folder."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def commit_folder(tmp: Path, out: Path) -> None:
    """Swap the finished folder ``tmp`` in at ``out``, replacing what is there as a whole.

    Two renames on one file system: ``out`` aside to ``.<out>.old-<pid>``, then ``tmp`` to ``out``; then the
    old version is deleted. A reader sees the old set or the new one, never a mix; a kill between the two
    renames leaves the old set aside, and the next run's ``remove_stale_temps`` puts it back. The caller
    checks beforehand that ``out`` may be replaced (``reap_omni.output_guard``).
    """
    raise_if_interrupted()  # a stop signal whose first raise was swallowed must not commit the output
    old = out.with_name(f".{out.name}.old-{os.getpid()}") if os.path.lexists(out) else None
    try:
        if old is not None:
            os.rename(out, old)
        os.rename(tmp, out)
    except BaseException:  # a failure or a stop signal between the renames: the old set goes back at once
        if old is not None and os.path.lexists(old) and not os.path.lexists(out):
            with contextlib.suppress(OSError):
                os.rename(old, out)
        raise
    if old is not None:
        with contextlib.suppress(OSError):
            _remove_tree(old)


@contextlib.contextmanager
def staged_folder(out: Path, before_commit: Callable[[], None] | None = None) -> Iterator[Path]:
    """A temp folder beside ``out`` to build a set of files in: committed as a whole (``commit_folder``)
    when the block succeeds, deleted when it fails or is interrupted. ``before_commit`` may refuse."""
    tmp = temp_path_for(out)
    try:
        tmp.mkdir()
    except OSError as exc:
        raise storage_error(exc, out) or WriteFailed(out, exc.strerror or str(exc)) from None
    try:
        yield tmp
        if before_commit is not None:
            before_commit()
        with storage_errors(out):
            commit_folder(tmp, out)
    finally:
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


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
        raise_if_interrupted()  # a stop signal whose first raise was swallowed must not commit the output
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
