"""Read question/answer JSONL files (any key names) into framework-neutral samples.

Shared by ``qa-msswift`` and ``llamafactory --from qa``. Media values may be a path or a list of paths;
relative paths are resolved against the QA file's folder (or ``media_root``), because neither SWIFT nor
LLaMA-Factory resolves them against the JSONL file: SWIFT uses the current directory at training time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from reap_omni.convert.sample import RowProblem, Sample, check_tag_counts, literal_tags, with_tags
from reap_omni.errors import InputError
from reap_omni.manifest.jsonl import iter_json_objects
from reap_omni.manifest.record import RowErrors


@dataclass(frozen=True)
class QAKeys:
    """Which keys of a QA row hold what; a media key of ``None`` is not read."""

    question: str = "question"
    answer: str = "answer"
    image: str | None = "image"
    audio: str | None = "audio"
    video: str | None = "video"


def _is_remote(value: str) -> bool:
    return value.startswith(("http://", "https://", "data:"))


def _media_list(row: dict[str, Any], key: str | None, root: str) -> list[str]:
    if key is None:
        return []
    value = row.get(key)
    if value is None or value == "" or value == []:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(p, str) and p for p in items):
        raise RowProblem(f"field {key!r} must be a path or a list of non-empty paths")
    return [p if os.path.isabs(p) or _is_remote(p) else os.path.normpath(os.path.join(root, p)) for p in items]


def _text(row: dict[str, Any], key: str, required: bool) -> str:
    value = row.get(key)
    if value is None:
        if required:
            raise RowProblem(f"missing field {key!r}")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RowProblem(f"field {key!r} must be a string, got {type(value).__name__}")
    return str(value)


def qa_sample(row: dict[str, Any], keys: QAKeys, root: str, need_answer: bool) -> Sample:
    """One QA row as a sample: the question is the prompt (tags prepended unless it places them)."""
    question = _text(row, keys.question, required=True)
    if not question.strip():
        raise RowProblem(f"field {keys.question!r} is empty")
    answer = _text(row, keys.answer, required=need_answer)
    if need_answer and not answer.strip():
        raise RowProblem(f"field {keys.answer!r} is empty; a training row needs the answer")
    bad = literal_tags(answer)
    if bad:
        raise RowProblem(f"answer contains a literal {bad[0]}, which the trainer would read as a media slot")
    media = (_media_list(row, keys.image, root), _media_list(row, keys.video, root), _media_list(row, keys.audio, root))
    sample = Sample(with_tags(question, media), answer, *media)
    check_tag_counts(sample)
    return sample


def iter_qa_samples(path: str | os.PathLike[str], keys: QAKeys, need_answer: bool, media_root: str | None = None,
                    errors: RowErrors | None = None) -> Iterator[tuple[int, Sample]]:
    """Stream ``(line, Sample)`` from a QA JSONL file; bad rows raise (or go to ``errors``) as ``file:line``."""
    root = os.path.abspath(media_root if media_root is not None else os.path.dirname(os.path.abspath(path)))
    for lineno, row in iter_json_objects(path, errors):
        try:
            yield lineno, qa_sample(row, keys, root, need_answer)
        except RowProblem as exc:
            err = InputError(str(exc), path, lineno)
            if errors is None:
                raise err from None
            errors.add(err)
