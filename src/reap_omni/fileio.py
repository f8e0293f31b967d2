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
    if not folder.is_dir():
        return 0
    for entry in folder.iterdir():
        m = _TMP_RE.match(entry.name)
        if m and not _pid_alive(int(m.group("pid"))):
            with contextlib.suppress(OSError):
                entry.unlink()
                removed += 1
    return removed


def ensure_output_dir(path: str | os.PathLike[str]) -> Path:
    """Create the folder that will hold ``path`` and check it is writable; one-line error if not."""
    out = Path(path)
    parent = out.parent if out.parent != Path("") else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReapOmniError(f"cannot create output folder {parent}: {exc.strerror or exc}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ReapOmniError(f"output folder {parent} is not writable")
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
        raise ReapOmniError(f"cannot write {dest}: {exc.strerror or exc}") from None
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT):
            raise ReapOmniError(f"cannot write {dest}: {exc.strerror}") from None
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write a whole small file atomically."""
    with atomic_output(path, "wb") as f:
        f.write(data)
