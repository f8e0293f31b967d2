"""What an output folder already holds, and the clean-up that makes a rerun safe.

A build never trusts anything but the manifests: a row counts as done when its line is complete and its
media files exist with the sha256 the row recorded. Before a rerun appends, this module cuts a torn last
line, drops rows whose media vanished or changed, deletes temp files of killed runs and media files no row
refers to (written just before a kill, or left by ``--overwrite``), so the folder again holds exactly the
rows its manifests list.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reap_omni.calibration_set.options import STRATA
from reap_omni.calibration_set.writer import repair_torn_tail
from reap_omni.fileio import remove_stale_temps
from reap_omni.manifest.jsonl import iter_json_objects, write_jsonl
from reap_omni.manifest.lock import file_sha256

MEDIA_FIELDS = ("audio", "video")
#: A dataset name that is safe as a folder name under the output (rows from elsewhere may say anything).
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def row_id(dataset: str, full_key: str) -> str:
    """Stable, unique row id ``<dataset>_<16 hex>`` from the candidate key; media files are named after it."""
    return f"{dataset}_{hashlib.sha256(full_key.encode()).hexdigest()[:16]}"


def _media_name_re(dataset: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(dataset)}_[0-9a-f]{{16}}(\.[A-Za-z0-9]+)+$")


@dataclass
class DatasetProgress:
    """Rows of one dataset already in the manifests: count, candidate keys and rows per unit."""

    rows: int = 0
    keys: set[str] = field(default_factory=set)
    by_unit: Counter = field(default_factory=Counter)
    hours: float = 0.0


@dataclass
class ResumeReport:
    """What ``prepare_output`` found and cleaned (printed when not quiet, counted in stats)."""

    datasets: dict[str, DatasetProgress] = field(default_factory=dict)
    torn_lines: int = 0
    dropped_rows: int = 0  # rows removed because their media are gone (or --overwrite)
    changed_rows: int = 0  # rows removed because a media file no longer has the sha256 the row recorded
    duplicate_rows: int = 0  # later copies of a row id (or dataset key) already listed: removed, first kept
    stale_temps: int = 0
    orphan_media: int = 0

    def progress(self, dataset: str) -> DatasetProgress:
        return self.datasets.setdefault(dataset, DatasetProgress())


def row_dataset(row: dict[str, Any]) -> str | None:
    src = row.get("source")
    return src.get("dataset") if isinstance(src, dict) else None


def prepare_output(
    output: Path, datasets: Iterable[str], *, overwrite: bool = False
) -> ResumeReport:
    """Make ``output`` consistent for a build of ``datasets`` and report what they already have.

    With ``overwrite`` the rows and media of these datasets are removed first (other datasets' rows stay).
    """
    names = set(datasets)
    report = ResumeReport()
    cal = output / "calibration"
    cal.mkdir(parents=True, exist_ok=True)
    report.stale_temps += remove_stale_temps(cal)
    for name in names:
        report.stale_temps += remove_stale_temps(output / name)
    referenced: set[str] = set()
    seen: set[Any] = set()  # row ids and (dataset, key) pairs of the rows kept so far, across the strata
    cleanup = set(names)  # dataset folders whose unreferenced media files go
    for stratum in STRATA:
        path = cal / f"{stratum}.jsonl"
        if not path.exists():
            continue
        if repair_torn_tail(path):
            report.torn_lines += 1
        keep: list[dict[str, Any]] = []
        changed = False
        for _, row in iter_json_objects(path):
            ds = row_dataset(row)
            if ds in names and (overwrite or not _media_present(row)):
                changed = True
                report.dropped_rows += 1
                continue
            if ds in names and not _media_intact(row):
                changed = True
                report.changed_rows += 1
                continue
            identity = _identity(row)
            if identity & seen:
                changed = True
                report.duplicate_rows += 1
                if isinstance(ds, str) and _PLAIN_NAME.fullmatch(ds):
                    cleanup.add(ds)
                continue
            seen |= identity
            keep.append(row)
            referenced.update(os.path.realpath(p) for _, p in _media(row))
            if ds in names:
                _count(report.progress(ds), row)
        if changed:
            write_jsonl(path, keep)
    for name in sorted(cleanup):
        report.orphan_media += _remove_orphans(output / name, name, referenced)
    return report


def _identity(row: dict[str, Any]) -> set[Any]:
    """What makes a row the same row: its id, and for build rows its dataset and candidate key."""
    out: set[Any] = set()
    if isinstance(row.get("id"), str):
        out.add(row["id"])
    src = row.get("source")
    if isinstance(src, dict) and src.get("key") and src.get("dataset"):
        out.add((src["dataset"], src["key"]))
    return out


def _media(row: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f, row[f]) for f in MEDIA_FIELDS if isinstance(row.get(f), str) and row[f]]


def _media_present(row: dict[str, Any]) -> bool:
    media = _media(row)
    if not media and row.get("modality") == "text":
        return True  # S0 rows carry no media
    return bool(media) and all(os.path.isfile(p) and os.path.getsize(p) > 0 for _, p in media)


def _media_intact(row: dict[str, Any]) -> bool:
    """Every media file still has the sha256 the build recorded in ``meta.sha256`` (rows without one pass):
    a file overwritten or corrupted after the run must not count as a done row."""
    recorded = (row.get("meta") or {}).get("sha256") if isinstance(row.get("meta"), dict) else None
    if not isinstance(recorded, dict):
        return True
    for name, path in _media(row):
        want = recorded.get(name)
        if isinstance(want, str) and want:
            try:
                if file_sha256(path) != want:
                    return False
            except OSError:
                return False
    return True


def _count(progress: DatasetProgress, row: dict[str, Any]) -> None:
    progress.rows += 1
    src = row.get("source") or {}
    if src.get("key"):
        progress.keys.add(src["key"])
    if src.get("unit"):
        progress.by_unit[src["unit"]] += 1
    duration = row.get("duration")
    if isinstance(duration, (int, float)):
        progress.hours += duration / 3600


def _remove_orphans(folder: Path, dataset: str, referenced: set[str]) -> int:
    """Delete our media files (``<dataset>_<hash>.<ext>``) in ``folder`` that no manifest row lists."""
    if not folder.is_dir():
        return 0
    pattern = _media_name_re(dataset)
    removed = 0
    for entry in folder.iterdir():
        if pattern.match(entry.name) and entry.is_file() and os.path.realpath(entry) not in referenced:
            with contextlib.suppress(OSError):
                entry.unlink()
                removed += 1
    with contextlib.suppress(OSError):
        folder.rmdir()  # only succeeds when empty: an --overwrite leaves no empty folder behind
    return removed
