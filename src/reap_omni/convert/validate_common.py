"""What the MS-SWIFT and LLaMA-Factory validators share (TRAINING_FORMATS.md, Part C).

Neither framework checks what matters before training starts: SWIFT pads missing media tags silently,
leaves surplus ones as text, opens media only at encode time and may decode a missing path as base64;
Arrow rejects a file whose columns change type between rows. ``RowValidator`` applies the shared rules row
by row, streaming (memory is O(columns) plus a bounded path cache), and reports every problem as
``file:line: message``; ``validate_msswift`` and ``validate_llamafactory`` add each format's own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from reap_omni.convert.media_refs import MediaChecker
from reap_omni.convert.sample import AUDIO_TAG, IMAGE_TAG, VIDEO_TAG
from reap_omni.errors import format_location
from reap_omni.manifest.jsonl import JSON_ERRORS, gc_paused, json_error_message, read_jsonl_blocks, split_block

#: media column -> (SWIFT alias, kind, tag)
MEDIA_COLUMNS = (("images", "image", "image", IMAGE_TAG), ("videos", "video", "video", VIDEO_TAG),
                 ("audios", "audio", "audio", AUDIO_TAG))
JSON_TYPE = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean",
              type(None): "null"}
_decoder = msgspec.json.Decoder()

class NeedsSlowPath(Exception):
    """A block holds something the fast path does not vouch for; check it line by line."""



@dataclass
class ValidationReport:
    """Counts and the first problems of one validation run. ``valid`` counts rows without errors."""

    path: str
    total: int = 0
    invalid: int = 0
    sft_samples: int = 0
    grpo_samples: int = 0
    error_count: int = 0
    warning_count: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def valid(self) -> int:
        return self.total - self.invalid

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "total": self.total, "valid": self.valid, "invalid": self.invalid,
                "sft_samples": self.sft_samples, "grpo_samples": self.grpo_samples,
                "error_count": self.error_count, "warning_count": self.warning_count,
                "errors": list(self.errors), "warnings": list(self.warnings), "ok": self.ok}

    def summary(self) -> str:
        verdict = "OK" if self.ok else f"FAILED ({self.error_count} error(s))"
        return (f"{self.path}: {verdict}: {self.total} row(s), {self.valid} valid, {self.invalid} invalid, "
                f"{self.sft_samples} SFT, {self.grpo_samples} GRPO, {self.warning_count} warning(s)")


class RowValidator:
    """Shared machinery: reporting, the Arrow type-stability rule and media checks."""

    target = ""

    def __init__(self, path: str | os.PathLike[str], *, check_media: bool = False, audio_in_video: bool = False,
                 allow_base64: bool = False, media_dir: str | None = None,
                 on_error: Callable[[str], None] | None = None, on_warning: Callable[[str], None] | None = None,
                 keep: int = 100):
        self.path = os.fspath(path)
        self.report = ValidationReport(self.path)
        self.audio_in_video = audio_in_video
        self._on_error = on_error
        self._on_warning = on_warning
        self._keep = keep
        self._first_type: dict[str, tuple[str, int]] = {}
        self.media = MediaChecker(self.target, media_dir=media_dir, decode=check_media,
                                  audio_in_video=audio_in_video, allow_base64=allow_base64, warn=self.warning)
        self._row_errors: list[str] = []

    # -- reporting ---------------------------------------------------------------------------------
    def warning(self, msg: str, line: int | None = None) -> None:
        text = f"{format_location(self.path, line)}: warning: {msg}"
        self.report.warning_count += 1
        if len(self.report.warnings) < self._keep:
            self.report.warnings.append(text)
        if self._on_warning:
            self._on_warning(text)

    def _flush(self, lineno: int) -> None:
        rep = self.report
        rep.invalid += 1
        for msg in self._row_errors:
            text = f"{self.path}:{lineno}: {msg}"
            rep.error_count += 1
            if len(rep.errors) < self._keep:
                rep.errors.append(text)
            if self._on_error:
                self._on_error(text)
        self._row_errors.clear()

    def file_error(self, msg: str) -> None:
        """An error about the whole file or its registration, not one row."""
        text = f"{self.path}: {msg}"
        self.report.error_count += 1
        if len(self.report.errors) < self._keep:
            self.report.errors.append(text)
        if self._on_error:
            self._on_error(text)

    # -- the run -----------------------------------------------------------------------------------
    def run(self) -> ValidationReport:
        rep = self.report
        with gc_paused():
            for first, block in read_jsonl_blocks(self.path):
                try:
                    self.fast_block(block)
                    continue
                except (*JSON_ERRORS, NeedsSlowPath):
                    pass
                for lineno, line in split_block(first, block):
                    self.check_line(lineno, line)
        if rep.total == 0:
            self.file_error("no rows")
        self.finish()
        return rep

    def fast_block(self, block: bytes) -> None:
        """Validate a whole block at C speed when every row is plainly fine; raise ``NeedsSlowPath`` (or a
        msgspec error) otherwise, *before* changing any state, so the block is redone line by line."""
        raise NeedsSlowPath

    def check_line(self, lineno: int, line: bytes) -> None:
        errs = self._row_errors
        rep = self.report
        rep.total += 1
        try:
            row = _decoder.decode(line)
        except JSON_ERRORS as exc:
            errs.append(json_error_message(exc, line))
        else:
            if type(row) is dict:
                self.check_types(row, lineno)
                kind = self.check_row(row, lineno)
                if not errs:
                    if kind == "sft":
                        rep.sft_samples += 1
                    elif kind == "grpo":
                        rep.grpo_samples += 1
            else:
                errs.append(f"expected a JSON object, got {JSON_TYPE.get(type(row), type(row).__name__)}")
        if errs:
            self._flush(lineno)

    def check_row(self, row: dict[str, Any], lineno: int) -> str | None:
        """Append the row's problems to ``self._row_errors``; return its kind (``sft``/``grpo``) if known."""
        raise NotImplementedError

    def finish(self) -> None:
        """Whole-file checks after the last row."""

    # -- shared row rules --------------------------------------------------------------------------
    def check_types(self, row: dict[str, Any], lineno: int) -> None:
        """Arrow needs one type per column in every row; remember each key's first type (O(keys) memory)."""
        first = self._first_type
        for key, value in row.items():
            t = JSON_TYPE.get(type(value), "object")
            if t == "null":
                continue
            seen = first.get(key)
            if seen is None:
                first[key] = (t, lineno)
            elif seen[0] != t:
                self._row_errors.append(f"column {key!r} is {_a(t)} here but {_a(seen[0])} at line {seen[1]}; "
                                        "Arrow needs the same type in every row")

    def check_media_list(self, value: Any, col: str, kind: str) -> int | None:
        """A media field must be a list of non-empty strings whose files exist; returns its length, or
        ``None`` when it is not a list (then tag counts are not compared: one error is enough)."""
        errs = self._row_errors
        if type(value) is not list:
            errs.append(f"{col!r} must be a list of paths, got {JSON_TYPE.get(type(value), 'object')}"
                        + (" (wrap it in [...])" if type(value) is str else ""))
            return None
        check = self.media.check
        for i, item in enumerate(value):
            if type(item) is not str or not item:
                errs.append(f"{col}[{i}] must be a non-empty string path")
                continue
            problem = check(item, kind)
            if problem:
                errs.append(f"{col}[{i}]: {problem}")
        return len(value)


def _a(t: str) -> str:
    return ("an " if t[0] in "aeiou" else "a ") + t


def count_tags(text: str, counts: list[int]) -> None:
    if "<" in text:
        counts[0] += text.count(IMAGE_TAG)
        counts[1] += text.count(VIDEO_TAG)
        counts[2] += text.count(AUDIO_TAG)


def tags_in(text: str) -> list[str]:
    return [t for t in (IMAGE_TAG, VIDEO_TAG, AUDIO_TAG) if t in text] if "<" in text else []


