"""What every local-corpus importer shares: the ``Layout`` contract, the folder-of-units layout and
small readers for the file formats corpora use (Kaldi maps, LRS headers)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reap_omni.sources.base import Unit

VIDEO_EXT = frozenset({".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v"})
AUDIO_EXT = frozenset({".wav", ".flac", ".mp3", ".opus", ".ogg", ".m4a", ".aac", ".sph"})
MEDIA_KEYS = ("audio", "video")


@dataclass
class Row:
    """One utterance/clip found on disk, before column mapping."""

    key: str  # stable id relative to the corpus root
    raw: dict[str, Any]  # the corpus's own fields
    media: Path  # the local media file
    group: str | None = None


def media_kind(path: Path) -> str:
    return "video" if path.suffix.lower() in VIDEO_EXT else "audio"


def rel_path(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def subdirs(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def glob_dirs(root: Path, pattern: str) -> list[Path]:
    return sorted(p for p in root.glob(pattern) if p.is_dir())


def split_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def in_part(rel: str, part: str) -> bool:
    """``rel`` lies in part/split ``part``: a path prefix (``test-clean``) or a leading component (AISHELL ``dev``)."""
    part = part.strip("/")
    return rel == part or rel.startswith(part + "/") or part in rel.split("/")[:2]


def kaldi_map(path: Path) -> dict[str, str]:
    """``<key> <value...>`` lines (Kaldi text/wav.scp/utt2spk, LibriSpeech .trans.txt, AISHELL transcript)."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.strip().split(maxsplit=1)
            if parts:
                out[parts[0]] = parts[1] if len(parts) > 1 else ""
    return out


def colon_fields(path: Path) -> dict[str, str]:
    """LRS ``.txt``: ``Text:  WORDS`` / ``Conf:  4`` header lines, up to the first blank line."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                break
            key, sep, value = line.partition(":")
            if sep:
                out[key.strip()] = value.strip()
    return out


class Layout:
    """A corpus layout: how to list units under a root and read a unit's rows."""

    name = ""
    title = ""
    expected = ""  # the files we look for, for the layout error
    columns: dict[str, str] = {}  # default our-field -> raw key

    def __init__(self) -> None:
        self._cache: dict[Any, Any] = {}

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def units(self, root: Path, options: dict[str, Any]) -> list[Unit]:
        raise NotImplementedError

    def rows(self, root: Path, unit: Unit, options: dict[str, Any]) -> Iterator[Row]:
        raise NotImplementedError


@dataclass
class FolderLayout(Layout):
    """Media files in unit folders, each described by a sidecar or a corpus-wide transcript.

    ``unit_globs`` are directory globs relative to the root (one unit each; the first path component is
    the part/split); ``media_globs`` are file globs inside a unit; ``describe(layout, root, file)`` returns
    the raw fields of a file or ``None`` to skip it (no transcript).
    """

    name: str = ""
    title: str = ""
    expected: str = ""
    unit_globs: tuple[str, ...] = ()
    media_globs: tuple[str, ...] = ()
    describe: Callable[[Layout, Path, Path], dict[str, Any] | None] = lambda layout, root, f: {}
    columns: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        Layout.__init__(self)

    def units(self, root: Path, options: dict[str, Any]) -> list[Unit]:
        parts = split_list(options.get("parts") or options.get("split"))
        found = []
        for pattern in self.unit_globs:
            for d in glob_dirs(root, pattern):
                rel = rel_path(root, d)
                if parts and not any(in_part(rel, p) for p in parts):
                    continue
                if not any(next(d.glob(g), None) for g in self.media_globs):
                    continue  # a folder at the right depth without media: a wrapper, not a unit
                found.append(Unit(key=rel, shard=rel, info={"dir": rel}))
        return found

    def rows(self, root: Path, unit: Unit, options: dict[str, Any]) -> Iterator[Row]:
        folder = root / unit.info["dir"]
        files = sorted({f for g in self.media_globs for f in folder.glob(g) if f.is_file()})
        for f in files:
            raw = self.describe(self, root, f)
            if raw is None:
                continue
            yield Row(key=rel_path(root, f.with_suffix("")), raw=raw, media=f, group=raw.get("group"))


def unit_parts(options: dict[str, Any]) -> list[str]:
    return split_list(options.get("parts") or options.get("split"))


def video_index(root: Path) -> dict[str, Path]:
    """Video files anywhere under ``root`` by stem (``<video_id>.mp4``), for id-joined layouts."""
    out: dict[str, Path] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in sorted(files):
            p = Path(dirpath) / name
            if p.suffix.lower() in VIDEO_EXT:
                out.setdefault(p.stem, p)
    return out
