"""The unified manifest record and its rules.

One JSON object per line::

    {"id": "librispeech_00001", "text": "...", "audio": "/abs/a.wav", "modality": "audio"}

``modality`` decides which media a row must carry:

* ``audio``  — an ``audio`` file and no ``video`` (S1)
* ``video``  — a ``video`` file (S2); its audio track, if any, is not used
* ``mixed``  — a ``video`` whose audio track is used (S3), optionally the extracted ``audio`` file too
* ``image``  — one or more ``image`` files
* ``text``   — no media; the answer in ``text``, the instruction in ``meta.question`` or a chat in ``meta.messages``

Media fields hold a path (or, for ``image``, a path or a list of paths).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import msgspec

from reap_omni.errors import InputError
from reap_omni.manifest.jsonl import JSON_ERRORS, decode_json_line, read_jsonl_entries

MODALITIES = ("audio", "video", "mixed", "image", "text")
MEDIA_FIELDS = ("audio", "video", "image")
#: Common task names; others are allowed (a warning is not an error) so new tasks need no code change.
KNOWN_TASKS = ("asr", "caption", "qa", "translation", "classification", "speaker", "emotion", "chat")


class Record(msgspec.Struct, omit_defaults=True, kw_only=True):
    """A unified manifest row. Unknown keys are kept in ``extra`` by ``iter_records`` callers that care."""

    id: str
    modality: str
    text: str = ""
    audio: str | None = None
    video: str | None = None
    image: str | list[str] | None = None
    task: str | None = None
    #: provenance: {"dataset": ..., "split": ..., "original_id": ..., "repo": ..., "revision": ...}
    source: dict[str, Any] | None = None
    lang: str | None = None
    duration: float | None = None
    # Video facts (issue: video normalisation); absent for audio rows.
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    has_audio: bool | None = None
    clip_start: float | None = None
    clip_end: float | None = None
    meta: dict[str, Any] | None = None

    def media_paths(self) -> list[tuple[str, str]]:
        """``[(field, path), ...]`` for every media file the row references."""
        out: list[tuple[str, str]] = []
        if self.audio:
            out.append(("audio", self.audio))
        if self.video:
            out.append(("video", self.video))
        if isinstance(self.image, str):
            if self.image:
                out.append(("image", self.image))
        elif self.image:
            out.extend(("image", p) for p in self.image)
        return out

    def to_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)


_record_decoder = msgspec.json.Decoder(Record)


def record_problems(rec: Record) -> list[str]:
    """Schema-level problems of one record (no file-system access): empty list when it is fine."""
    problems: list[str] = []
    if not rec.id.strip():
        problems.append("field 'id' is empty")
    if rec.modality not in MODALITIES:
        problems.append(f"unknown modality {rec.modality!r} (expected one of {', '.join(MODALITIES)})")
        return problems
    has_audio, has_video, has_image = bool(rec.audio), bool(rec.video), bool(rec.image)
    if isinstance(rec.image, list) and any(not isinstance(p, str) or not p for p in rec.image):
        problems.append("field 'image' must be a path or a list of non-empty paths")
    if rec.modality == "audio":
        if not has_audio:
            problems.append("modality 'audio' needs an 'audio' path")
        if has_video:
            problems.append("modality 'audio' must not carry a 'video' (use modality 'mixed')")
    elif rec.modality == "video":
        if not has_video:
            problems.append("modality 'video' needs a 'video' path")
        if has_audio:
            problems.append("modality 'video' must not carry an 'audio' file (use modality 'mixed')")
    elif rec.modality == "mixed":
        if not has_video:
            problems.append("modality 'mixed' needs a 'video' path whose audio track is used")
        if rec.has_audio is False:
            problems.append("modality 'mixed' but has_audio is false: the video has no audio track")
    elif rec.modality == "image":
        if not has_image:
            problems.append("modality 'image' needs an 'image' path")
    elif rec.modality == "text":
        if has_audio or has_video or has_image:
            problems.append("modality 'text' must not reference media files")
        if not rec.text.strip():
            problems.append("modality 'text' needs the answer in 'text' (the instruction goes to meta.question)")
    if rec.duration is not None and rec.duration < 0:
        problems.append("field 'duration' is negative")
    return problems


def decode_record(line: bytes, path: str | os.PathLike[str], lineno: int) -> Record:
    """Decode and schema-check one line; raises ``InputError`` naming the file, line and problem."""
    try:
        rec = _record_decoder.decode(line)
    except msgspec.ValidationError as exc:
        raise InputError(_friendly_validation(str(exc)), path, lineno) from None
    except JSON_ERRORS:
        decode_json_line(line, path, lineno)  # raises the precise JSON or UTF-8 error
        raise
    problems = record_problems(rec)
    if problems:
        raise InputError("; ".join(problems), path, lineno)
    return rec


def _friendly_validation(msg: str) -> str:
    """Turn msgspec's ``Expected `str`, got `int` - at `$.id``` into ``field 'id': expected str, got int``."""
    if " - at `$." in msg:
        what, _, where = msg.partition(" - at `$.")
        field = where.rstrip("`")
        return f"field {field!r}: {what.replace('`', '').replace('Expected', 'expected')}"
    if msg.startswith("Object missing required field"):
        return "missing required field " + msg.rsplit(" ", 1)[-1].replace("`", "'")
    if msg.startswith("Expected `object`"):
        return "expected a JSON object" + msg[len("Expected `object`"):].replace("`", "")
    return msg.replace("`", "'")


class RowErrors:
    """Collects row errors. Without ``skip_invalid`` the first error is raised; with it, errors are
    counted and reported in the summary, so nothing is ever dropped silently."""

    def __init__(self, skip_invalid: bool = False, keep: int = 50):
        self.skip_invalid = skip_invalid
        self.count = 0
        self.messages: list[str] = []
        self._keep = keep

    def add(self, error: InputError | str) -> None:
        if not self.skip_invalid:
            if isinstance(error, InputError):
                raise error
            raise InputError(str(error))
        self.count += 1
        if len(self.messages) < self._keep:
            self.messages.append(str(error))

    def summary(self) -> str:
        if not self.count:
            return ""
        more = f" (first {len(self.messages)} shown)" if self.count > len(self.messages) else ""
        return f"skipped {self.count} invalid row(s){more}:\n  " + "\n  ".join(self.messages)


def iter_records(
    path: str | os.PathLike[str], errors: RowErrors | None = None
) -> Iterator[tuple[int, Record]]:
    """Stream ``(line_number, Record)`` from a unified JSONL manifest, schema-checked row by row."""
    for lineno, _offset, line in read_jsonl_entries(path, errors=errors):
        try:
            rec = decode_record(line, path, lineno)
        except InputError as exc:
            if errors is None:
                raise
            errors.add(exc)
            continue
        yield lineno, rec
