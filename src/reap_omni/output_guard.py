"""One guard for every path a command writes: the user's model, manifests and media are never an output.

``prune``, ``eval``, surgery and ``heal`` call ``guard_outputs`` before anything heavy runs. Paths are
resolved first (``.``, ``..`` and symlinks, as the kernel would) and compared by file identity (``st_dev``,
``st_ino``), so a symlink, a bind mount or a hard link to an input counts as that input. Refused, one line each:

* an output that is, contains, or lies inside a model folder (``model_dirs``, or an ``inputs`` entry that is
  a folder);
* an output that is an input file (or a hard link to it), or a folder that contains one: a manifest, any
  media file it references (every row, not only those the run uses), so also their folders and the folders
  above them. An output may lie inside a data folder (it replaces nothing there), not inside a model folder;
* a folder written into or a file that lies inside (or is) a folder replaced as a whole;
* a folder replaced as a whole (``replaced_folder``) that is or holds the working folder (``.``: the shell
  would be left in a deleted folder), a file, a mount point (it cannot be swapped in one step), a previous
  reap-omni output without ``--overwrite``, or a non-empty folder that is not a previous reap-omni output
  (``--overwrite`` never empties a folder it did not write);
* an existing file where a file is written (``written_file``) that is not a previous reap-omni output, or a
  folder there; a file where a folder is written into (``written_folder``);
* an output whose folder cannot be written (read-only file system, no permission, a full disk, a folder no file
  can be created in, such as ``/proc``): a probe file is created and removed where the command will write, so
  the run fails here, not after calibrating or evaluating for hours.

Before checking a folder replaced as a whole or a file, temp folders and files of killed writers beside it
are cleaned up (``fileio.remove_stale_temps``: a previous set renamed aside is put back), one line each.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reap_omni.errors import ReapOmniError
from reap_omni.fileio import STORAGE_ERRNOS, remove_stale_temps, temp_path_for

Kind = Literal["replace", "into", "file"]
PathLike = str | os.PathLike[str]
_Id = tuple[int, int]


class OutputRefused(ReapOmniError):
    """An output path that would destroy or mix with the user's inputs; one line, exit 2."""


@dataclass(frozen=True)
class Output:
    """One path a command writes.

    ``kind``: ``replace``, a folder built aside and swapped in whole (prune's ``--output-path``, eval's
    ``--output``); ``into``, a folder the command adds its own files to (checkpoints, disk offload);
    ``file``, one file written atomically (``--scores-out`` and its siblings). ``previous`` recognises what an
    earlier run of the command wrote there (the only thing ever replaced); ``needs_overwrite``: replacing it
    takes ``overwrite=True``.
    """

    path: PathLike
    flag: str
    kind: Kind
    previous: Callable[[Path], bool] | None = None
    needs_overwrite: bool = False


def replaced_folder(path: PathLike, flag: str, previous: Callable[[Path], bool],
                    needs_overwrite: bool = True) -> Output:
    return Output(path, flag, "replace", previous, needs_overwrite)


def written_folder(path: PathLike, flag: str) -> Output:
    return Output(path, flag, "into")


def written_file(path: PathLike, flag: str, previous: Callable[[Path], bool] | None = None) -> Output:
    """``previous=None``: an existing file there is refused."""
    return Output(path, flag, "file", previous)


def resolve_path(path: PathLike, flag: str = "output") -> Path:
    """The absolute path with ``.``, ``..`` and symlinks resolved; one line for an empty path."""
    text = os.fspath(path)
    if not text.strip():
        raise OutputRefused(f"{flag} is empty; give a path")
    return Path(os.path.realpath(text))


def manifest_inputs(flag: str, manifest: PathLike | None) -> list[tuple[str, Path]]:
    """The manifest and every media file its rows reference (all rows: an output must not destroy the rows
    this run skips either), labelled for messages. Their folders are protected through them: an output that
    is or contains one holds an input. Unreadable rows are left to the command's own checks."""
    from reap_omni.manifest.record import RowErrors, iter_records

    if not manifest:
        return []
    path = Path(manifest)
    found = {path: f"the {flag} manifest"}
    if not path.is_file():  # a fifo or a device (/dev/zero) would block or never end; the command refuses it
        return [(found[path], path)]
    try:
        for _line, rec in iter_records(path, errors=RowErrors(skip_invalid=True)):
            for _field, media in rec.media_paths():
                p = Path(media)
                for c in [p] if p.is_absolute() else [p, path.parent / p]:  # as model.inputs resolves them
                    if os.path.lexists(c):
                        found.setdefault(c, f"a media file of {flag}")
    except (OSError, ReapOmniError):
        pass
    return [(what, p) for p, what in found.items()]


def guard_outputs(
    outputs: Sequence[Output],
    *,
    inputs: Iterable[tuple[str, PathLike | None]] = (),
    model_dirs: Iterable[tuple[str, PathLike | None]] = (),
    overwrite: bool = False,
    clean: bool = True,
    log: Callable[[str], None] | None = None,
) -> list[Path]:
    """Refuse, in one line, any output that would destroy or mix with an input; returns the resolved paths.

    ``inputs`` and ``model_dirs`` are ``(label, path)`` pairs, e.g. ``("--model-path", p)``; an input that is
    a folder is protected like a model folder (nothing may be written inside it). ``clean``: remove killed
    writers' temps beside replaced folders and files first (only the process that writes: rank 0).
    """
    ids = _Ids()
    protected = [_Protected.of(what, p, True, ids) for what, p in model_dirs if p]
    protected += [_Protected.of(what, p, None, ids) for what, p in inputs if p]
    unique: dict[tuple[_Id | None, bool], _Protected] = {}
    for p in protected:
        if p.ident is not None:  # what does not exist cannot be destroyed
            unique.setdefault((p.ident, p.tree), p)
    resolved = [resolve_path(o.path, o.flag) for o in outputs]
    if clean:  # first: a previous set a killed run left aside is back in place before it is looked at
        beside: dict[Path, list[str]] = {}
        for o, r in zip(outputs, resolved, strict=True):
            if o.kind != "into":
                beside.setdefault(r.parent, []).append(r.name)
        for folder, names in beside.items():
            remove_stale_temps(folder, log, outputs=names)
    for o, r in zip(outputs, resolved, strict=True):
        for p in unique.values():
            _check_input(o, r, p, ids)
    _check_between(outputs, resolved)
    try:
        here = ids.chain(os.getcwd())
    except OSError:  # the working folder was deleted: no output can hold it
        here = []
    for o, r in zip(outputs, resolved, strict=True):
        if o.kind == "replace" and ids.of(str(r)) in here:
            raise OutputRefused(f"{o.flag} {o.path} is or holds the working folder, which would be replaced under "
                                "your shell; give a new folder, e.g. ./pruned")
        check_state(o, r, overwrite)
    for o, r in zip(outputs, resolved, strict=True):
        check_writable(o, r)
    return resolved


def check_writable(o: Output, r: Path) -> None:
    """Create and remove a probe file where ``o`` will write (``r`` itself for a folder written into, else the
    folder beside it that takes the temp; the nearest existing one when they are still to be created)."""
    folder = r if o.kind == "into" else r.parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputRefused(f"{o.flag} {o.path}: {folder} is a file, not a folder; choose another path")
    probe = temp_path_for(folder / "write-probe")  # a killed run's probe is a stale temp, removed by the next
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as exc:
        reason = STORAGE_ERRNOS.get(exc.errno or 0) or (
            "no file can be created there" if exc.errno == errno.ENOENT else exc.strerror or str(exc))
        raise OutputRefused(f"{o.flag} {o.path} cannot be written: {folder}: {reason}; choose a writable "
                            "location") from None


def check_space(o: Output, needed: int) -> None:
    """Refuse ``o`` when the disk it goes to has less than ``needed`` bytes free (checked before the hours of
    calibration the output comes after; the temp copy is written before an older output is removed)."""
    folder = resolve_path(o.path, o.flag).parent
    while not os.path.exists(folder) and folder != folder.parent:
        folder = folder.parent
    try:
        st = os.statvfs(folder)
    except OSError:
        return
    free = st.f_bavail * st.f_frsize
    if free < needed:
        raise OutputRefused(f"{o.flag} {o.path} needs about {_size(needed)}, but {folder} has {_size(free)} free; "
                            "free some space or choose another disk")


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _mount_points() -> set[str]:
    """Every mount point of this process (``/proc/self/mountinfo``), bind mounts included: ``os.path.ismount``
    misses a bind mount of a folder of the same file system."""
    try:
        with open("/proc/self/mountinfo") as f:
            fields = [line.split(" ") for line in f]
    except OSError:
        return set()
    unescape = re.compile(r"\\([0-7]{3})")
    return {unescape.sub(lambda m: chr(int(m.group(1), 8)), f[4]) for f in fields if len(f) > 4}


def is_mount_point(path: Path) -> bool:
    return os.path.ismount(path) or os.path.realpath(path) in _mount_points()


def check_state(o: Output, r: Path, overwrite: bool) -> None:
    """What is at ``r`` now may take the output ``o``; also the last check before a folder is swapped in."""
    if not os.path.lexists(r):
        return
    if o.kind == "file":
        if r.is_dir():
            raise OutputRefused(f"{o.flag} {o.path} is a folder; give a file path")
        if o.previous is None or not o.previous(r):
            raise OutputRefused(f"{o.flag} {o.path} already exists and was not written by reap-omni; choose another "
                                "path (only a previous reap-omni output is replaced)")
        return
    if not r.is_dir():
        raise OutputRefused(f"{o.flag} {o.path} is a file; give a folder")
    if o.kind == "into":
        return
    if is_mount_point(r):
        raise OutputRefused(f"{o.flag} {o.path} is a mount point, which cannot be replaced in one step; give a "
                            "folder inside it")
    entries = sorted(e.name for e in r.iterdir())
    if not entries:
        return
    if o.previous is not None and o.previous(r):
        if o.needs_overwrite and not overwrite:
            raise OutputRefused(f"{o.flag} {o.path} already exists (a previous reap-omni output); choose another "
                                "or pass --overwrite to replace it")
        return
    shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
    raise OutputRefused(f"{o.flag} {o.path} already exists and holds files reap-omni did not write ({shown}); "
                        "choose a new or empty folder (--overwrite replaces only a previous reap-omni output)")


class _Ids:
    """``(st_dev, st_ino)`` and resolved paths of folders, cached (media files share their folders)."""

    def __init__(self) -> None:
        self._cache: dict[str, _Id | None] = {}
        self._real: dict[str, str] = {}
        self._above: dict[str, frozenset[_Id]] = {}

    def of(self, path: str) -> _Id | None:
        if path not in self._cache:
            try:
                st = os.stat(path)
                self._cache[path] = (st.st_dev, st.st_ino)
            except OSError:
                self._cache[path] = None
        return self._cache[path]

    def chain(self, path: str) -> list[_Id]:
        """The identities of ``path`` (if it exists) and of every existing ancestor."""
        out = []
        while True:
            ident = self.of(path)
            if ident is not None:
                out.append(ident)
            parent = os.path.dirname(path)
            if parent == path:
                return out
            path = parent

    def above(self, folder: str) -> frozenset[_Id]:
        """``chain(folder)`` as a set, cached: every input's folder is asked once per output."""
        if folder not in self._above:
            self._above[folder] = frozenset(self.chain(folder))
        return self._above[folder]

    def realdir(self, folder: str) -> str:
        if folder not in self._real:
            self._real[folder] = os.path.realpath(folder)
        return self._real[folder]


@dataclass(frozen=True)
class _Protected:
    what: str
    given: str
    holders: tuple[str, ...]  # the resolved folder holding it; also its target's, when it is a symlink
    tree: bool
    ident: _Id | None

    @classmethod
    def of(cls, what: str, path: PathLike, tree: bool | None, ids: _Ids) -> _Protected:
        given = os.fspath(path)
        folder, name = os.path.split(os.path.join(os.getcwd(), given))
        if name in ("", ".", ".."):
            real = os.path.realpath(given)
            holders = (os.path.dirname(real),)
        else:
            real = os.path.join(ids.realdir(folder), name)  # one realpath per folder, not per media file
            holders = (os.path.dirname(real),)
            if os.path.islink(real):  # destroying the link or its target destroys the input
                real = os.path.realpath(real)
                holders += (os.path.dirname(real),)
        return cls(what, given, holders, os.path.isdir(real) if tree is None else tree, ids.of(real))


def _check_input(o: Output, r: Path, p: _Protected, ids: _Ids) -> None:
    here = ids.chain(str(r))  # r first when it exists, then its existing ancestors
    exists = ids.of(str(r)) is not None
    name = f"{o.flag} {o.path}"
    if exists and here[0] == p.ident:
        raise OutputRefused(f"{name} is {p.what} {p.given}: an output never replaces an input; choose another path")
    if p.tree and p.ident in here:
        raise OutputRefused(f"{name} lies inside {p.what} {p.given}: outputs never go into an input folder; "
                            "choose a path outside it")
    if exists and any(here[0] in ids.above(h) for h in p.holders):
        raise OutputRefused(f"{name} contains {p.what} {p.given}: writing there could replace it; choose a "
                            "path that holds no input")


def _check_between(outputs: Sequence[Output], resolved: Sequence[Path]) -> None:
    for i, (a, ra) in enumerate(zip(outputs, resolved, strict=True)):
        for b, rb in zip(outputs[i + 1:], resolved[i + 1:], strict=True):
            if ra == rb:
                raise OutputRefused(f"{a.flag} {a.path} and {b.flag} {b.path} are the same path; give each its own")
            for outer, ro, inner, ri in ((a, ra, b, rb), (b, rb, a, ra)):
                if outer.kind == "replace" and ro in ri.parents:
                    raise OutputRefused(f"{inner.flag} {inner.path} lies inside {outer.flag} {outer.path}, which is "
                                        "replaced as a whole; choose a path outside it")
