"""A folder of media files to a unified manifest.

Text comes from a ``metadata.csv``/``metadata.jsonl`` with a ``file_name`` column (the Hugging Face
audiofolder/videofolder convention, in any sub-folder, paths relative to the metadata file), else from a
same-stem ``.txt``/``.lab`` transcript beside the media file. The modality comes from the files
themselves: each audio/video file is probed with PyAV, so a ``.mp4`` holding only sound is an audio row
and a video with a sound track is ``mixed`` (unless ``video_modality`` says otherwise).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reap_omni.convert.output import ConvertReport, prepare_output
from reap_omni.convert.tabular import VIDEO_MODALITIES, read_csv
from reap_omni.errors import InputError, ReapOmniError
from reap_omni.manifest.ids import IdIndex
from reap_omni.manifest.jsonl import JsonlWriter, iter_json_objects, max_line_bytes
from reap_omni.manifest.record import Record, RowErrors, record_problems
from reap_omni.media.probe import probe
from reap_omni.parallel import ordered_map

AUDIO_EXTS = frozenset({".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".wma", ".aif", ".aiff", ".amr"})
VIDEO_EXTS = frozenset({".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".ts", ".3gp"})
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
MEDIA_EXTS = AUDIO_EXTS | VIDEO_EXTS | IMAGE_EXTS
TRANSCRIPT_EXTS = (".txt", ".lab")
METADATA_FILES = ("metadata.csv", "metadata.jsonl")
#: metadata columns tried, in order, for the text when --text-key is not given
TEXT_KEYS = ("text", "transcription", "sentence", "caption", "transcript")
SPLIT_NAMES = frozenset({"train", "test", "validation", "valid", "val", "dev", "eval"})

@dataclass
class _Meta:
    file: str
    line: int
    row: dict[str, Any]


def _walk(root: Path) -> Iterator[tuple[Path, list[str]]]:
    """Folders under ``root`` in sorted order with their sorted file names; hidden entries are skipped."""
    def onerror(exc: OSError) -> None:
        raise InputError(f"cannot list folder: {exc.strerror}", exc.filename)

    for folder, dirs, files in os.walk(root, onerror=onerror):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        yield Path(folder), sorted(f for f in files if not f.startswith("."))


def _read_text(path: Path) -> str:
    limit = max_line_bytes()
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"transcript is longer than {limit // (1024 * 1024)} MiB", path)
    try:
        return data.decode("utf-8-sig").strip()
    except UnicodeDecodeError as exc:
        raise InputError(f"invalid UTF-8 at byte {exc.start}", path) from None


def _load_metadata(folder: Path, name: str, errors: RowErrors, text_key: str | None) -> Iterator[tuple[Path, _Meta]]:
    path = folder / name
    if name.endswith(".csv"):
        header, rows = read_csv(path)
        if "file_name" not in header:
            raise InputError(f"metadata has no 'file_name' column; the header has: {', '.join(header)}", path, 1)
        if text_key and text_key not in header:
            raise InputError(f"column {text_key!r} not found; the header has: {', '.join(header)}", path, 1)
        objects: Iterable[tuple[int, Any]] = (
            (line, v if isinstance(v, InputError) else dict(zip(header, v, strict=True))) for line, v in rows
        )
    else:
        objects = iter_json_objects(path, errors)
    for line, row in objects:
        if isinstance(row, InputError):
            errors.add(row)
            continue
        file_name = row.get("file_name")
        if not isinstance(file_name, str) or not file_name.strip():
            errors.add(InputError("row has no 'file_name'", path, line))
            continue
        target = Path(os.path.normpath(folder / file_name.strip()))
        if not target.is_file():
            errors.add(InputError(f"file_name {file_name!r} not found: {target}", path, line))
            continue
        yield target, _Meta(str(path), line, row)


class _Plan:
    """A first walk: metadata rows, stem counts (for unique ids) and ignored files. Media files are not
    listed here but found again by a second walk, so memory does not grow with the number of files."""

    def __init__(self, root: Path, errors: RowErrors, text_key: str | None):
        self.root = root
        self.meta: dict[Path, _Meta] = {}
        self.ignored = 0
        self.used_meta = 0
        stems: Counter[str] = Counter()
        for folder, files in _walk(root):
            names = set(files)
            for name in METADATA_FILES:
                if name in names:
                    for target, meta in _load_metadata(folder, name, errors, text_key):
                        if target in self.meta:
                            prev = self.meta[target]
                            errors.add(InputError(
                                f"{target} is also described at {prev.file}:{prev.line}", meta.file, meta.line
                            ))
                            continue
                        self.meta[target] = meta
            for name in files:
                ext = os.path.splitext(name)[1].lower()
                if ext in MEDIA_EXTS:
                    stems[os.path.splitext(name)[0]] += 1
                elif ext not in TRANSCRIPT_EXTS and name not in METADATA_FILES:
                    self.ignored += 1
        self.duplicate_stems = {s for s, n in stems.items() if n > 1}

    def media(self) -> Iterator[tuple[Path, frozenset[str]]]:
        """Each media file, in walk order, with the names of the files beside it (for transcripts)."""
        for folder, files in _walk(self.root):
            names = frozenset(files)
            for name in files:
                if os.path.splitext(name)[1].lower() in MEDIA_EXTS:
                    yield folder / name, names


def _key(root: Path, path: Path, duplicate_stems: set[str]) -> str:
    """The id suffix: the stem, or the relative path when another file has the same stem."""
    if path.stem not in duplicate_stems:
        return path.stem
    return "_".join(path.relative_to(root).with_suffix("").parts)


def convert_folder(
    root: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    name: str | None = None,
    video_modality: str = "auto",
    text_key: str | None = None,
    task: str | None = None,
    lang: str | None = None,
    keep_relative: bool = False,
    skip_invalid: bool = False,
    jobs: int = 4,
) -> ConvertReport:
    """Convert a folder of audio/video/image files (with transcripts or metadata) to a manifest."""
    root = Path(root)
    if not root.is_dir():
        raise InputError("not a folder" if root.exists() else "folder not found", root)
    if video_modality not in VIDEO_MODALITIES:
        raise ReapOmniError(f"--video-modality must be one of {', '.join(VIDEO_MODALITIES)}")
    root = root.resolve()
    out = prepare_output(output, [])
    if out.resolve().is_relative_to(root) and out.suffix.lower() in TRANSCRIPT_EXTS:
        raise ReapOmniError(f"output {out} would be read as a transcript; write it outside {root}")
    name = name or root.name
    errors = RowErrors(skip_invalid)
    plan = _Plan(root, errors, text_key)
    report = ConvertReport(output=os.fspath(output), errors=errors)
    ids = IdIndex()

    def facts(item: tuple[Path, frozenset[str]]) -> Any:
        path = item[0]
        return None if path.suffix.lower() in IMAGE_EXTS else probe(path)

    with JsonlWriter(output) as w:
        for (path, beside), info in ordered_map(facts, plan.media(), jobs):
            try:
                if isinstance(info, Exception):
                    raise info
                rec = _record(root, path, beside, info, plan, name, video_modality, text_key, task, lang,
                              keep_relative)
                if ids.add(rec.id, 0, 0) is not None:
                    raise InputError(f"id {rec.id!r} is not unique", path)
            except InputError as exc:
                errors.add(exc)
                continue
            w.write(rec)
        report.written = w.count
    if plan.ignored:
        report.notes.append(f"ignored {plan.ignored} file(s) that are not media, transcripts or metadata")
    unused = len(plan.meta) - plan.used_meta
    if unused:
        report.notes.append(f"{unused} metadata row(s) point to files that are not media and were not used")
    return report


def _record(
    root: Path, path: Path, beside: frozenset[str], info: Any, plan: _Plan, name: str, video_modality: str,
    text_key: str | None, task: str | None, lang: str | None, keep_relative: bool,
) -> Record:
    rel = path.relative_to(root)
    written = rel.as_posix() if keep_relative else str(path)
    meta_row = plan.meta.get(path)
    extra: dict[str, Any] | None = None
    if meta_row is not None:
        plan.used_meta += 1
        key = text_key or next((k for k in TEXT_KEYS if k in meta_row.row), None)
        value = meta_row.row.get(key, "") if key else ""
        if value is not None and not isinstance(value, str):
            raise InputError(f"field {key!r} must be a string", meta_row.file, meta_row.line)
        text = value or ""
        extra = {k: v for k, v in meta_row.row.items() if k not in ("file_name", key)} or None
    else:
        text = ""
        for ext in TRANSCRIPT_EXTS:
            if path.stem + ext in beside:
                text = _read_text(path.with_suffix(ext))
                break
    fields: dict[str, Any] = {}
    if info is None:
        modality = "image"
        fields["image"] = written
    elif info.has_video:
        if video_modality == "mixed" and not info.has_audio:
            raise InputError("video has no audio track, but --video-modality mixed needs one", path)
        modality = "mixed" if info.has_audio and video_modality != "video" else "video"
        fields.update(video=written, width=info.width, height=info.height, fps=info.fps, has_audio=info.has_audio)
    elif info.has_audio:
        modality = "audio"
        fields["audio"] = written
    else:
        raise InputError("file has neither an audio nor a video stream", path)
    if info is not None and info.duration is not None:
        fields["duration"] = round(info.duration, 3)
    source: dict[str, Any] = {"dataset": name, "original_id": rel.as_posix()}
    if len(rel.parts) > 1 and rel.parts[0].lower() in SPLIT_NAMES:
        source["split"] = rel.parts[0]
    rec = Record(
        id=f"{name}_{_key(root, path, plan.duplicate_stems)}", modality=modality, text=text, task=task,
        lang=lang, source=source, meta=extra, **fields,
    )
    problems = record_problems(rec)
    if problems:
        raise InputError("; ".join(problems), path)
    return rec
