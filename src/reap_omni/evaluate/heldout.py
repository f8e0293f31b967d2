"""Held-out discipline for ``reap-omni eval``: evaluation rows must not be calibration rows.

The calibration set is known from a ``manifest.lock.json`` (``--calibration-lock``: the lock, or the folder
holding it) and from the scores' own provenance where it names its rows (``meta.calibration_rows``: a list,
or per stratum lists, of ``{"id", "sha256": {media: digest}}``; ``meta.calibration_ids`` /
``meta.calibration_sha256``; ``meta.calibration_lock``: a lock path). A row is a calibration row when its id
or the sha256 of any of its media files is one of the calibration set's, so a renamed copy of a
calibration clip is caught too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reap_omni.errors import ReapOmniError
from reap_omni.manifest.lock import LOCK_NAME, file_sha256, read_lock


@dataclass
class CalibrationSet:
    ids: set[str] = field(default_factory=set)
    sha256: set[str] = field(default_factory=set)
    sources: list[str] = field(default_factory=list)  # where the ids came from, for messages and eval.json

    @property
    def known(self) -> bool:
        return bool(self.sources)

    def add(self, ids: Iterable[str], digests: Iterable[str], source: str) -> None:
        self.ids.update(str(i) for i in ids if i)
        self.sha256.update(str(d).lower() for d in digests if d)
        self.sources.append(source)


def lock_path(path: str | os.PathLike[str]) -> Path:
    """The lock file ``path`` names: the file itself, or ``<dir>/manifest.lock.json`` /
    ``<dir>/calibration/manifest.lock.json`` for a calibration or download output folder."""
    p = Path(path)
    if p.is_dir():
        for cand in (p / LOCK_NAME, p / "calibration" / LOCK_NAME):
            if cand.is_file():
                return cand
        raise ReapOmniError(f"--calibration-lock {p}: no {LOCK_NAME} in it or in its calibration/ folder")
    return p


def calibration_set(locks: Sequence[str], scores_meta: dict[str, Any] | None) -> CalibrationSet:
    """The calibration rows named by ``locks`` and by the scores' provenance (whichever are present)."""
    cal = CalibrationSet()
    meta = scores_meta or {}
    for path in [*locks, *([meta["calibration_lock"]] if isinstance(meta.get("calibration_lock"), str) else [])]:
        lp = lock_path(path)
        if not lp.is_file() and path not in locks:
            continue  # the scores name a lock that is not on this machine: nothing to read
        lock = read_lock(lp)
        digests = [m.sha256 for r in lock.rows for m in r.media.values() if m.sha256]
        cal.add((r.id for r in lock.rows), digests, str(lp))
    rows = meta.get("calibration_rows")
    if isinstance(rows, dict):
        rows = [r for part in rows.values() if isinstance(part, list) for r in part]
    if isinstance(rows, list):
        ids, digests = [], []
        for r in rows:
            if isinstance(r, str):
                ids.append(r)
            elif isinstance(r, dict):
                ids.append(r.get("id"))
                sha = r.get("sha256")
                digests.extend(sha.values() if isinstance(sha, dict) else [sha] if isinstance(sha, str) else [])
        cal.add(ids, digests, "the scores' provenance")
    elif isinstance(meta.get("calibration_ids"), list) or isinstance(meta.get("calibration_sha256"), list):
        cal.add(meta.get("calibration_ids") or [], meta.get("calibration_sha256") or [], "the scores' provenance")
    return cal


def media_digests(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    return [file_sha256(p) for p in paths]


@dataclass
class Overlap:
    row_id: str
    where: str
    why: str  # "id" or "media sha256"


def find_overlap(rows: Iterable[tuple[str, str, Sequence[str]]], cal: CalibrationSet) -> list[Overlap]:
    """``rows``: ``(id, where, media sha256s)``; the rows that belong to the calibration set."""
    out = []
    for row_id, where, digests in rows:
        if row_id in cal.ids:
            out.append(Overlap(row_id, where, "id"))
        elif any(d.lower() in cal.sha256 for d in digests):
            out.append(Overlap(row_id, where, "media sha256"))
    return out


def overlap_message(overlap: Sequence[Overlap], total: int, cal: CalibrationSet) -> str:
    shown = ", ".join(f"{o.row_id} ({o.why}, {o.where})" for o in overlap[:3])
    more = f" and {len(overlap) - 3} more" if len(overlap) > 3 else ""
    return (f"{len(overlap)} of {total} evaluation rows are calibration rows of {' and '.join(cal.sources)}: "
            f"{shown}{more}; evaluate on rows the pruning never saw (or pass --skip-calibration-rows to drop them)")
