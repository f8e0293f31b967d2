"""Validate unified manifests: schema, modality/media rules, unique ids, files on disk, and decodability.

Every problem is one ``file:line: message``; all are counted, the first ``max_errors`` are kept for
printing. A manifest with any error is invalid (the CLI exits 1). ``check_media`` opens each media file
with PyAV and decodes the first frame of each stream its row's modality needs (not the whole file), a
few files at a time.
"""

from __future__ import annotations

import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from reap_omni.errors import InputError, format_location
from reap_omni.manifest.ids import IdIndex
from reap_omni.manifest.jsonl import read_jsonl_entries
from reap_omni.manifest.paths import absolute_media_path, is_url
from reap_omni.manifest.record import Record, decode_record
from reap_omni.parallel import ordered_map

#: which streams each modality needs from each media field
NEEDS: dict[str, dict[str, tuple[str, ...]]] = {
    "audio": {"audio": ("audio",)},
    "video": {"video": ("video",)},
    "mixed": {"video": ("video", "audio"), "audio": ("audio",)},
    "image": {"image": ("video",)},  # PyAV reads a still image as a one-frame video stream
    "text": {},
}


@dataclass
class FileStats:
    path: str
    rows: int = 0
    errors: int = 0
    modalities: Counter[str] = field(default_factory=Counter)


@dataclass
class ValidationReport:
    """Counts per file and the first ``max_errors`` messages; ``ok`` only when there is no error."""

    max_errors: int = 100
    files: list[FileStats] = field(default_factory=list)
    errors: int = 0
    messages: list[str] = field(default_factory=list)
    checked_media: bool = False

    @property
    def ok(self) -> bool:
        return self.errors == 0

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def add(self, error: InputError | str) -> None:
        """Count one error (the ``RowErrors`` interface, so readers can report into it)."""
        self.errors += 1
        if self.files:
            self.files[-1].errors += 1
        if len(self.messages) < self.max_errors:
            self.messages.append(str(error))

    def summary(self) -> str:
        lines = []
        for f in self.files:
            mods = ", ".join(f"{m} {n}" for m, n in sorted(f.modalities.items())) or "no valid rows"
            state = "OK" if f.errors == 0 else f"{f.errors} error(s)"
            lines.append(f"{f.path}: {f.rows} row(s) ({mods}): {state}")
        media = " (media decoded)" if self.checked_media else ""
        if self.ok:
            lines.append(f"valid: {self.rows} row(s) in {len(self.files)} file(s){media}")
        else:
            shown = f", first {len(self.messages)} shown" if self.errors > len(self.messages) else ""
            lines.append(f"INVALID: {self.errors} error(s) in {self.rows} row(s){shown}{media}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.ok,
            "rows": self.rows,
            "errors": self.errors,
            "checked_media": self.checked_media,
            "files": [
                {"path": f.path, "rows": f.rows, "errors": f.errors, "modalities": dict(f.modalities)}
                for f in self.files
            ],
            "messages": self.messages,
        }


def _is_cover_art(stream: Any) -> bool:
    return "attached_pic" in str(getattr(stream, "disposition", "")).lower()


def check_streams(path: str, kinds: tuple[str, ...]) -> str | None:
    """``None`` when ``path`` opens and each stream kind in ``kinds`` (``audio``/``video``) yields a decoded
    frame; otherwise what is wrong. Decoding one frame catches files whose header is fine but whose data is
    not, which a header probe misses; a cover picture does not count as a video stream."""
    import av  # PyAV loads only when media is checked

    try:
        with av.open(path) as container:
            wanted: dict[int, str] = {}
            for kind in kinds:
                candidates = container.streams.audio if kind == "audio" else container.streams.video
                stream = next((st for st in candidates if not _is_cover_art(st)), None)
                if stream is None:
                    return f"has no {kind} stream"
                wanted[stream.index] = kind
            if not wanted:
                return None
            pending = dict(wanted)
            streams = [st for st in container.streams if st.index in wanted]
            for n, packet in enumerate(container.demux(*streams)):
                if packet.stream.index in pending and packet.decode():
                    del pending[packet.stream.index]
                    if not pending:
                        return None
                if n > 2000:
                    break
            return f"no {' or '.join(sorted(set(pending.values())))} frame could be decoded"
    except (av.FFmpegError, ValueError, OSError, EOFError) as exc:
        return f"does not decode: {exc}"


class _CheckCache:
    """Small LRU of stream checks: clip manifests reference the same video from many rows."""

    def __init__(self, size: int = 1024):
        self.size = size
        self._items: OrderedDict[tuple[str, tuple[str, ...]], str | None] = OrderedDict()
        self._lock = threading.Lock()  # checks run in worker threads

    def get(self, path: str, kinds: tuple[str, ...]) -> str | None:
        key = (path, kinds)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        result = check_streams(path, kinds)
        with self._lock:
            self._items[key] = result
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        return result


def _media_problems(rec: Record, base: str, check_media: bool, cache: _CheckCache | None) -> list[str]:
    problems = []
    for fieldname, value in rec.media_paths():
        if is_url(value):
            problems.append(f"{fieldname} is a URL ({value}); a manifest needs local files")
            continue
        full = absolute_media_path(value, base)
        if not os.path.isfile(full):
            problems.append(f"{fieldname} file not found: {full}")
            continue
        if not check_media or cache is None:
            continue
        kinds = NEEDS[rec.modality].get(fieldname, ())
        problem = cache.get(full, kinds)
        if problem is None:
            continue
        if problem.startswith("has no "):
            problem += f", needed by modality {rec.modality!r}"
        problems.append(f"{fieldname} file {full}: {problem}")
    return problems


def validate_manifest(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    check_media: bool = False,
    max_errors: int = 100,
    jobs: int = 4,
) -> ValidationReport:
    """Check each manifest row by row; ids must be unique within a file. Never raises for row problems."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    report = ValidationReport(max_errors=max_errors, checked_media=check_media)
    for path in paths:
        path = os.fspath(path)
        stats = FileStats(path)
        report.files.append(stats)
        _validate_file(path, stats, report, check_media, jobs)
        if stats.rows == 0 and stats.errors == 0:
            report.add(InputError("manifest has no rows", path))
    return report


def _validate_file(path: str, stats: FileStats, report: ValidationReport, check_media: bool, jobs: int) -> None:
    base = os.path.abspath(os.path.dirname(path))
    ids = IdIndex()
    cache = _CheckCache() if check_media else None

    def rows() -> Iterator[tuple[int, Record]]:
        try:
            for lineno, _off, line in read_jsonl_entries(path, errors=report):
                stats.rows += 1
                try:
                    rec = decode_record(line, path, lineno)
                except InputError as exc:
                    report.add(exc)
                    continue
                first = ids.add(rec.id, 0, lineno)
                if first is not None:
                    report.add(InputError(f"duplicate id {rec.id!r} (first at line {first[1]})", path, lineno))
                    continue
                yield lineno, rec
        except InputError as exc:  # the file itself cannot be read
            report.add(exc)

    def check(item: tuple[int, Record]) -> list[str]:
        return _media_problems(item[1], base, check_media, cache)

    for (lineno, rec), problems in ordered_map(check, rows(), jobs if check_media else 1):
        if isinstance(problems, Exception):
            problems = [f"cannot check media: {problems}"]
        for p in problems:
            report.add(f"{format_location(path, lineno)}: {p}")
        if not problems:
            stats.modalities[rec.modality] += 1
