"""Media path resolution: relative paths in an input are relative to that input's folder.

A manifest is read from wherever training runs, not from where it was converted, so paths are written
absolute by default (seed note 5: frameworks want absolute paths). ``keep_relative`` writes them as
given, still checking existence against the input's folder. URLs pass through untouched.
"""

from __future__ import annotations

import os
import re
from typing import Any

import msgspec

from reap_omni.errors import InputError
from reap_omni.manifest.record import MEDIA_FIELDS, Record

_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(value: str) -> bool:
    return bool(_URL_RE.match(value))


def absolute_media_path(value: str, base_dir: str | os.PathLike[str]) -> str:
    """``value`` made absolute against ``base_dir`` (``~`` expanded); absolute paths and URLs unchanged."""
    if "://" in value and is_url(value):
        return value
    if value.startswith("~"):
        value = os.path.expanduser(value)
    if os.path.isabs(value):
        return os.path.normpath(value)
    base = os.fspath(base_dir)
    if not os.path.isabs(base):
        base = os.path.abspath(base)
    return os.path.normpath(os.path.join(base, value))


class MediaResolver:
    """Resolves the media paths of one input file and tracks the files that do not exist.

    Missing media is an error (``InputError`` at the row) unless ``allow_missing``; then it is counted
    and a few examples are kept for the summary, so it is never silent.
    """

    def __init__(self, base_dir: str | os.PathLike[str], keep_relative: bool = False, allow_missing: bool = False):
        self.base_dir = os.path.abspath(base_dir)
        self.keep_relative = keep_relative
        self.allow_missing = allow_missing
        self.missing = 0
        self.missing_examples: list[str] = []

    def resolve(self, value: str, path: str | os.PathLike[str] | None = None, line: int | None = None) -> str:
        """The path to write for ``value``; raises ``InputError`` at ``path:line`` if the file is missing."""
        value = value.strip()
        if "://" in value and is_url(value):
            return value
        absolute = absolute_media_path(value, self.base_dir)
        if not os.path.isfile(absolute):
            what = "is a folder, not a media file" if os.path.isdir(absolute) else "media file not found"
            if not self.allow_missing:
                raise InputError(f"{what}: {absolute} (use --allow-missing-media to keep such rows)", path, line)
            self.missing += 1
            if len(self.missing_examples) < 10:
                loc = f"{os.fspath(path)}:{line}: " if path is not None and line is not None else ""
                self.missing_examples.append(f"{loc}{absolute}")
        return value if self.keep_relative else absolute

    def summary(self) -> str:
        if not self.missing:
            return ""
        more = f" (first {len(self.missing_examples)} shown)" if self.missing > len(self.missing_examples) else ""
        return f"{self.missing} media file(s) missing, rows kept{more}:\n  " + "\n  ".join(self.missing_examples)


def _is_relative(value: str) -> bool:
    """A local path that is not absolute (``~/x`` counts: it must be expanded before it is written)."""
    return not os.path.isabs(value) and not ("://" in value and is_url(value))


def absolutize_row(row: dict[str, Any], base_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Rewrite the media fields of ``row`` in place to absolute paths against ``base_dir``; returns it."""
    for field in MEDIA_FIELDS:
        value = row.get(field)
        if isinstance(value, str) and value:
            row[field] = absolute_media_path(value, base_dir)
        elif isinstance(value, list):
            row[field] = [absolute_media_path(v, base_dir) if isinstance(v, str) and v else v for v in value]
    return row


def manifest_line(line: bytes, rec: Record, base_dir: str | os.PathLike[str], keep_relative: bool) -> Any:
    """What to write for a manifest ``line`` moved to another file: the bytes verbatim (fast, keeps keys
    the record type does not know) unless a relative media path must be made absolute."""
    if keep_relative or not any(_is_relative(p) for _f, p in rec.media_paths()):
        return msgspec.Raw(line)
    return absolutize_row(msgspec.json.decode(line), base_dir)
