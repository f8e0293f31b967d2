"""One training example, independent of the target framework, built from a unified record or a QA row.

Both MS-SWIFT and LLaMA-Factory want the same thing underneath: a prompt whose ``<image>/<video>/<audio>``
tags match the media lists one to one, and a target answer kept *out* of the prompt. Building that once
here keeps the two exporters to a few lines of formatting each.
"""

from __future__ import annotations

import string
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reap_omni.convert.prompts import default_instruction
from reap_omni.errors import ReapOmniError
from reap_omni.manifest.record import Record

IMAGE_TAG, VIDEO_TAG, AUDIO_TAG = "<image>", "<video>", "<audio>"
MEDIA_TAGS = (IMAGE_TAG, VIDEO_TAG, AUDIO_TAG)
#: media list column -> its tag, in the order tags are placed in a prompt
TAG_OF = {"images": IMAGE_TAG, "videos": VIDEO_TAG, "audios": AUDIO_TAG}

#: Template fields that are computed, not read from the row.
COMPUTED_FIELDS = ("modality_tag", "instruction", "question")
_RECORD_FIELDS = frozenset(Record.__struct_fields__)


class RowProblem(ValueError):
    """A row cannot become a valid training example; the caller adds file and line."""


@dataclass(slots=True)
class Sample:
    """A single-turn example: ``prompt`` carries the media tags, ``answer`` is the target ("" if none)."""

    prompt: str
    answer: str
    images: list[str] = field(default_factory=list)
    videos: list[str] = field(default_factory=list)
    audios: list[str] = field(default_factory=list)


def literal_tags(text: str) -> list[str]:
    """The media tags that appear literally in ``text`` (cheap when there is no ``<`` at all)."""
    if "<" not in text:
        return []
    return [t for t in MEDIA_TAGS if t in text]


def tags_for(images: list[str], videos: list[str], audios: list[str]) -> str:
    """Tags for the media lists, images then videos then audios: ``<video><audio>`` pairs a clip with its
    track, the order LLaMA-Factory's audio-in-video mode requires."""
    return IMAGE_TAG * len(images) + VIDEO_TAG * len(videos) + AUDIO_TAG * len(audios)


def check_tag_counts(sample: Sample) -> None:
    """Tag count equals media count per modality, always: SWIFT would silently shift media otherwise."""
    text = sample.prompt
    if "<" not in text and not (sample.images or sample.videos or sample.audios):
        return  # no tags, no media: the common text-row case, checked without the loop
    for items, tag, col in ((sample.images, IMAGE_TAG, "images"), (sample.videos, VIDEO_TAG, "videos"),
                            (sample.audios, AUDIO_TAG, "audios")):
        n = text.count(tag) if "<" in text else 0
        if n != len(items):
            raise RowProblem(f"prompt has {n} {tag} tag(s) but the row has {len(items)} {col}")


def with_tags(prompt: str, sample_media: tuple[list[str], list[str], list[str]]) -> str:
    """Prepend the media tags unless the prompt already places them itself."""
    if literal_tags(prompt):
        return prompt
    return tags_for(*sample_media) + prompt


def check_system_prompt(system: str | None) -> None:
    """Media tags in a system prompt shift SWIFT's media slots and LLaMA-Factory ignores them: refuse."""
    if system is not None and literal_tags(system):
        raise ReapOmniError(f"--system contains {literal_tags(system)[0]}; media tags belong in the user turn")


def warn_stderr(msg: str) -> None:
    """Default warning sink of the converters: one line on stderr."""
    print(f"warning: {msg}", file=sys.stderr)


class UnifiedSampler:
    """Turns unified records into samples, following a user template or the task-aware default prompt.

    ``{text}`` in a template is the row's answer. Copying it into the prompt would teach the model to
    read the answer off the question, so it renders empty and ``warn`` is called once to say so.
    """

    def __init__(self, template: str | None = None, audio_in_video: bool = False,
                 warn: Callable[[str], None] | None = None, for_llamafactory: bool = False,
                 extract_audio: Callable[[str], str] | None = None):
        self.template = template
        self.audio_in_video = audio_in_video
        self.for_llamafactory = for_llamafactory
        #: gives a mixed row without an ``audio`` file its video's track (``convert.audio_track``)
        self.extract_audio = extract_audio
        self.fields: tuple[str, ...] = ()
        self._prompts: dict[tuple[Any, ...], str] = {}
        self.needs_raw = False
        if template is not None:
            self.fields = _template_fields(template)
            bad = literal_tags(template)
            if bad:
                raise ReapOmniError(f"--user-template contains a literal {bad[0]}; use {{modality_tag}} so the "
                                    "tags always match the row's media")
            if "text" in self.fields and warn is not None:
                warn("--user-template uses {text}, but a unified row's text is the answer (transcript, caption, "
                     "label); it is left empty in the prompt so the answer is never copied into it. Use "
                     "{instruction} for the task's default instruction.")
            self.needs_raw = any(f not in _RECORD_FIELDS and f not in COMPUTED_FIELDS for f in self.fields)

    def media(self, rec: Record) -> tuple[list[str], list[str], list[str]]:
        """(images, videos, audios) for a record, applying the mixed-row mode."""
        m = rec.modality
        if m == "audio":
            return [], [], [rec.audio]
        if m == "video":
            if self.audio_in_video and rec.has_audio is False and not self.for_llamafactory:
                raise RowProblem("video has no audio track (has_audio is false), but --audio-in-video makes "
                                 "SWIFT load a track from every video")
            return [], [rec.video], []
        if m == "mixed":
            if self.audio_in_video and not self.for_llamafactory:
                return [], [rec.video], []
            if not rec.audio and self.extract_audio is not None:
                return [], [rec.video], [self.extract_audio(rec.video)]
            if not rec.audio:
                hint = ("LLaMA-Factory needs the extracted track listed in 'audios'" if self.for_llamafactory
                        else "pass --audio-in-video (SWIFT USE_AUDIO_IN_VIDEO=1) or extract the track")
                raise RowProblem(f"mixed row has no extracted 'audio' file; {hint}")
            return [], [rec.video], [rec.audio]
        if m == "image":
            return (list(rec.image) if isinstance(rec.image, list) else [rec.image]), [], []
        return [], [], []

    def sample(self, rec: Record, raw: Mapping[str, Any] | None = None) -> Sample:
        """Build the sample for one record; ``raw`` (the row as a dict) serves template fields beyond Record."""
        images, videos, audios = media = self.media(rec)
        answer = rec.text
        if "<" in answer and literal_tags(answer):
            raise RowProblem(f"text contains a literal {literal_tags(answer)[0]}, which the trainer would read as "
                             "a media slot")
        question = rec.meta.get("question") if rec.meta else None
        if type(question) is not str:
            question = None
        if self.template is None and question is None:
            # The common case: the prompt depends only on (modality, task, media counts); build and check it once.
            key = (rec.modality, rec.task, len(images), len(videos), len(audios))
            prompt = self._prompts.get(key)
            if prompt is None:
                instruction = default_instruction(rec.modality, rec.task)
                if instruction is None:
                    raise RowProblem(f"no prompt for a {rec.modality!r} row with task {rec.task!r}: add "
                                     "meta.question or pass --user-template")
                prompt = with_tags(instruction, media)
                check_tag_counts(Sample(prompt, answer, images, videos, audios))
                self._prompts[key] = prompt
            return Sample(prompt, answer, images, videos, audios)
        tags = tags_for(images, videos, audios)
        if self.template is None:
            instruction = question or default_instruction(rec.modality, rec.task)
            if instruction is None:
                raise RowProblem(f"no prompt for a {rec.modality!r} row with task {rec.task!r}: add meta.question "
                                 "or pass --user-template")
            prompt = with_tags(instruction, media)
        else:
            prompt = self._render(rec, raw, tags, question)
            if not literal_tags(prompt):
                prompt = tags + prompt
        sample = Sample(prompt, answer, images, videos, audios)
        check_tag_counts(sample)
        return sample

    def _render(self, rec: Record, raw: Mapping[str, Any] | None, tags: str, question: str | None) -> str:
        values: dict[str, Any] = {}
        for name in self.fields:
            if name == "modality_tag":
                values[name] = tags
            elif name == "instruction":
                values[name] = default_instruction(rec.modality, rec.task) or ""
            elif name == "question":
                values[name] = question or ""
            elif name == "text":
                values[name] = ""
            elif name in _RECORD_FIELDS:
                v = getattr(rec, name)
                values[name] = "" if v is None else v
            elif raw is not None and name in raw:
                values[name] = raw[name]
            elif rec.meta and name in rec.meta:
                values[name] = rec.meta[name]
            else:
                raise RowProblem(f"--user-template field {{{name}}} is not in this row")
        try:
            return self.template.format_map(values).rstrip()
        except (KeyError, IndexError, AttributeError, ValueError, TypeError) as exc:
            raise RowProblem(f"--user-template cannot be filled for this row: {exc}") from None


def _template_fields(template: str) -> tuple[str, ...]:
    """Top-level field names a ``str.format`` template uses (``{meta[question]}`` -> ``meta``)."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ReapOmniError(f"--user-template is not a valid template: {exc}") from None
    for _, name, _, _ in parsed:
        if name is None:
            continue
        if name == "" or name.isdigit():
            raise ReapOmniError("--user-template fields must be named, e.g. {modality_tag} or {text}")
        base = name.split(".", 1)[0].split("[", 1)[0]
        if base not in names:
            names.append(base)
    return tuple(names)
