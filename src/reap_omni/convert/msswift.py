"""Export to MS-SWIFT's ``messages`` format, plus the seed's Python API.

SFT rows end with the assistant answer. GRPO rows end with the user turn (SWIFT strips a final assistant
turn anyway) and keep the reference answer in a top-level ``solution`` column, which SWIFT passes to reward
functions. Media go in top-level ``images``/``videos``/``audios`` lists whose lengths always equal the
tag counts, because SWIFT silently prepends missing tags or leaves surplus ones as text.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from reap_omni.convert.audio_track import AudioTrackExtractor
from reap_omni.convert.qa import QAKeys, iter_qa_samples
from reap_omni.convert.sample import (
    RowProblem,
    Sample,
    UnifiedSampler,
    check_system_prompt,
    check_tag_counts,
    literal_tags,
    warn_stderr,
    with_tags,
)
from reap_omni.errors import InputError, ReapOmniError
from reap_omni.fileio import check_not_input
from reap_omni.manifest.jsonl import (
    JSON_ERRORS,
    JsonlWriter,
    decode_json_line,
    gc_paused,
    read_jsonl_blocks,
    split_block,
)
from reap_omni.manifest.record import Record, RowErrors, decode_record, record_problems

TASKS = ("sft", "grpo")
_record_decoder = msgspec.json.Decoder(Record)


class Message(msgspec.Struct, gc=False):
    role: str
    content: str


class SwiftRow(msgspec.Struct, omit_defaults=True, gc=False):
    """One output row; empty media lists and an unset ``solution`` are left out of the JSON."""

    messages: list[Message]
    images: list[str] = []
    videos: list[str] = []
    audios: list[str] = []
    solution: str | msgspec.UnsetType = msgspec.UNSET


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ReapOmniError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")


def swift_row(sample: Sample, task: str, system: str | None = None) -> SwiftRow:
    """Format a sample for SWIFT: ``sft`` keeps the answer as the last turn, ``grpo`` moves it to ``solution``."""
    if task == "sft":
        answer = sample.answer
        if not answer or answer.isspace():
            raise RowProblem("empty answer: an SFT row needs the target text as the assistant turn")
        messages = [Message("user", sample.prompt), Message("assistant", answer)]
        solution: str | msgspec.UnsetType = msgspec.UNSET
    else:
        messages = [Message("user", sample.prompt)]
        solution = sample.answer
    if system:
        messages.insert(0, Message("system", system))
    return SwiftRow(messages, sample.images, sample.videos, sample.audios, solution)


class SwiftDirect:
    """Formats the common unified row straight into a ``SwiftRow``, without the ``Sample`` step.

    It takes only rows whose output is fixed by their shape (modality, task, media count), the media paths
    and the text: audio, video, mixed rows with their track, image rows, text rows with ``meta.question``;
    no template, no ``<`` in the answer or question. A shape's prompt is the one ``UnifiedSampler`` builds for
    its first row, so the output is the same byte for byte. Any other row gets ``None`` and takes the
    general, fully checked route.
    """

    def __init__(self, sampler: UnifiedSampler, task: str, system: str | None):
        self.sampler, self.sft, self.system = sampler, task == "sft", system
        self.enabled = sampler.template is None
        self.prompts: dict[tuple[Any, ...], str] = {}

    def __call__(self, rec: Record) -> SwiftRow | None:
        text, m, meta = rec.text, rec.modality, rec.meta
        if (not self.enabled or "<" in text or not rec.id or rec.id.isspace()
                or (rec.duration is not None and rec.duration < 0)):
            return None
        if self.sft and (not text or text.isspace()):
            return None
        question = meta.get("question") if meta else None
        images: list[str] = []
        videos: list[str] = []
        audios: list[str] = []
        if question is not None:
            if m != "text" or type(question) is not str or "<" in question or rec.audio or rec.video or rec.image:
                return None
            prompt = question
        else:
            if m == "audio" and rec.audio and not rec.video and rec.image is None:
                audios = [rec.audio]
            elif (m == "video" and rec.video and not rec.audio and rec.image is None
                  and not (self.sampler.audio_in_video and rec.has_audio is False)):
                videos = [rec.video]
            elif (m == "mixed" and rec.video and rec.audio and rec.image is None and rec.has_audio is not False
                  and not self.sampler.audio_in_video):
                videos, audios = [rec.video], [rec.audio]
            elif m == "image" and not rec.audio and not rec.video and rec.image:
                image = rec.image
                images = [image] if type(image) is str else list(image)
                if not all(type(p) is str and p for p in images):
                    return None
            else:
                return None
            key = (m, rec.task, len(images))
            prompt = self.prompts.get(key)
            if prompt is None:
                try:
                    prompt = self.prompts[key] = self.sampler.sample(rec).prompt
                except RowProblem:
                    return None
        if self.sft:
            messages = [Message("user", prompt), Message("assistant", text)]
            solution: str | msgspec.UnsetType = msgspec.UNSET
        else:
            messages = [Message("user", prompt)]
            solution = text
        if self.system:
            messages.insert(0, Message("system", self.system))
        return SwiftRow(messages, images, videos, audios, solution)


class UnifiedReader:
    """Streams samples from a unified manifest a block at a time.

    The fast path decodes a whole block with msgspec ``decode_lines``; any problem in the block (bad JSON,
    a schema problem, a row that cannot become a sample) sends that block through the line-by-line path,
    which reports the exact ``file:line``. Valid files never pay the per-line cost.
    """

    def __init__(self, path: str | os.PathLike[str], sampler: UnifiedSampler, errors: RowErrors | None = None):
        self.path = path
        self.sampler = sampler
        self.errors = errors

    def fast(self, block: bytes, fmt: Callable[[Sample], Any],
             direct: Callable[[Record], Any] | None = None) -> list[Any]:
        """All formatted rows of a block, or ``RowProblem``/``msgspec.DecodeError`` if any row needs a closer
        look. ``direct`` formats the common row straight from its record and returns ``None`` for any other,
        which then takes the general route (schema check, ``Sample``, ``fmt``)."""
        if self.sampler.needs_raw:
            raise RowProblem("template needs raw rows")
        sample = self.sampler.sample
        out = []
        for rec in _record_decoder.decode_lines(block):
            row = direct(rec) if direct is not None else None
            if row is None:
                if record_problems(rec):
                    raise RowProblem("schema")
                row = fmt(sample(rec))
            out.append(row)
        return out

    def slow(self, first_line: int, block: bytes) -> Iterator[tuple[int, Sample]]:
        """Line by line, with exact locations; bad rows raise or go to ``errors``."""
        path, sampler = self.path, self.sampler
        for lineno, line in split_block(first_line, block):
            try:
                rec = decode_record(line, path, lineno)
                raw = decode_json_line(line, path, lineno) if sampler.needs_raw else None
                yield lineno, sampler.sample(rec, raw)
            except (InputError, RowProblem) as exc:
                _report(exc, path, lineno, self.errors)

    def write(self, out: str | os.PathLike[str], fmt: Callable[[Sample], Any],
              direct: Callable[[Record], Any] | None = None) -> int:
        """Format every sample and write them atomically; returns the number of rows written."""
        check_not_input(out, [self.path])
        with JsonlWriter(out) as w, gc_paused():
            for first, block in read_jsonl_blocks(self.path):
                try:
                    w.write_many(self.fast(block, fmt, direct))
                    continue
                except (*JSON_ERRORS, RowProblem):
                    pass
                for lineno, sample in self.slow(first, block):
                    try:
                        w.write(fmt(sample))
                    except RowProblem as exc:
                        _report(exc, self.path, lineno, self.errors)
        return w.count


def _report(exc: Exception, path: str | os.PathLike[str], lineno: int, errors: RowErrors | None) -> None:
    err = exc if isinstance(exc, InputError) else InputError(str(exc), path, lineno)
    if errors is None:
        raise err from None
    errors.add(err)


def write_rows(inp: str | os.PathLike[str], out: str | os.PathLike[str], samples: Iterator[tuple[int, Sample]],
               fmt: Callable[[Sample], Any], errors: RowErrors | None) -> int:
    """Drive a line-by-line conversion (QA files): format each sample, write atomically."""
    check_not_input(out, [inp])
    with JsonlWriter(out) as w:
        for lineno, sample in samples:
            try:
                w.write(fmt(sample))
            except RowProblem as exc:
                _report(exc, inp, lineno, errors)
    return w.count


def convert_unified_to_msswift(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    task_type: str = "sft",
    system_prompt: str | None = None,
    user_template: str | None = None,
    audio_in_video: bool = False,
    skip_invalid: bool = False,
    warn: Callable[[str], None] | None = warn_stderr,
) -> dict[str, Any]:
    """Convert a unified manifest to SWIFT rows; returns ``{"rows", "skipped", "errors"}``.

    Without ``skip_invalid`` the first bad row raises ``InputError`` and nothing is written.
    """
    _check_task(task_type)
    check_system_prompt(system_prompt)
    tracks = None if audio_in_video else AudioTrackExtractor(output_path)
    sampler = UnifiedSampler(user_template, audio_in_video=audio_in_video, warn=warn, extract_audio=tracks)
    errors = RowErrors(skip_invalid)
    rows = UnifiedReader(input_path, sampler, errors).write(
        output_path, lambda s: swift_row(s, task_type, system_prompt), SwiftDirect(sampler, task_type, system_prompt)
    )
    return {"rows": rows, "skipped": errors.count, "errors": errors.messages, "summary": errors.summary(),
            "audio_tracks": tracks.summary() if tracks is not None else None}


def convert_qa_to_msswift(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    question_key: str = "question",
    answer_key: str = "answer",
    image_key: str | None = "image",
    audio_key: str | None = "audio",
    video_key: str | None = "video",
    task_type: str = "sft",
    system_prompt: str | None = None,
    media_root: str | None = None,
    skip_invalid: bool = False,
) -> dict[str, Any]:
    """Convert a QA JSONL file (any key names) to SWIFT rows; relative media resolve against the QA file."""
    _check_task(task_type)
    check_system_prompt(system_prompt)
    keys = QAKeys(question_key, answer_key, image_key, audio_key, video_key)
    errors = RowErrors(skip_invalid)
    samples = iter_qa_samples(input_path, keys, need_answer=task_type == "sft", media_root=media_root, errors=errors)
    rows = write_rows(input_path, output_path, samples, lambda s: swift_row(s, task_type, system_prompt), errors)
    return {"rows": rows, "skipped": errors.count, "errors": errors.messages, "summary": errors.summary()}


def create_msswift_sample(
    user_content: str,
    assistant_content: str | None = None,
    system_prompt: str | None = None,
    images: list[str] | None = None,
    videos: list[str] | None = None,
    audios: list[str] | None = None,
    solution: str | None = None,
) -> dict[str, Any]:
    """One SWIFT row as a dict. Without ``assistant_content`` it is a GRPO prompt row.

    Tags are prepended when ``user_content`` has none; a mismatch between tags and media raises.
    """
    check_system_prompt(system_prompt)
    media = (list(images or []), list(videos or []), list(audios or []))
    for col, items in zip(("images", "videos", "audios"), media, strict=True):
        if not all(isinstance(p, str) and p for p in items):
            raise ReapOmniError(f"{col} must be a list of non-empty paths")
    sample = Sample(with_tags(user_content, media), assistant_content or "", *media)
    try:
        check_tag_counts(sample)
        if assistant_content is not None and literal_tags(assistant_content):
            raise RowProblem("assistant_content contains a literal media tag")
    except RowProblem as exc:
        raise ReapOmniError(str(exc)) from None
    if assistant_content is not None:
        row = swift_row(sample, "sft", system_prompt)
    else:
        row = swift_row(sample, "grpo", system_prompt)
        row.solution = solution if solution is not None else msgspec.UNSET
    return msgspec.to_builtins(row)


def validate_msswift_format(path: str | os.PathLike[str], **options: Any) -> dict[str, Any]:
    """Seed API: validate a SWIFT file; returns counts (``total``, ``valid``, ``invalid``, ``sft_samples``,
    ``grpo_samples``), ``errors`` (the first ones, ``file:line: message``), ``warnings`` and ``ok``."""
    from reap_omni.convert.validate_msswift import validate_msswift

    return validate_msswift(path, **options).as_dict()
