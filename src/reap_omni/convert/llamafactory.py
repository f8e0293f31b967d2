"""Export to LLaMA-Factory's sharegpt format and register it in ``dataset_info.json``.

Rows are ``{"conversations": [{"from": "human", "value": "<audio>..."}, {"from": "gpt", "value": "..."}],
"audios": [...]}``. LLaMA-Factory needs a ``dataset_info.json`` entry, and once an entry has ``columns`` or
``tags`` every key it does not list becomes None, so the entry lists every column and tag the file uses
(including ``system_tag`` when rows carry a system turn). The entry is merged into an existing file
atomically; other entries are kept as they are.

Mixed rows always list the video and its extracted track (``<video><audio>``): that is what LLaMA-Factory's
``use_audio_in_video`` pairing requires, and without the flag the two are read as separate inputs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from reap_omni.convert.audio_track import AudioTrackExtractor
from reap_omni.convert.llamafactory_info import MEDIA_COLUMNS, dataset_entry, register_dataset
from reap_omni.convert.msswift import UnifiedReader, write_rows
from reap_omni.convert.qa import QAKeys, iter_qa_samples
from reap_omni.convert.sample import RowProblem, Sample, UnifiedSampler, check_system_prompt, warn_stderr
from reap_omni.errors import ReapOmniError
from reap_omni.manifest.record import RowErrors


class Turn(msgspec.Struct, gc=False):
    role: str = msgspec.field(name="from")
    value: str = ""


class SharegptRow(msgspec.Struct, omit_defaults=True, gc=False):
    conversations: list[Turn]
    images: list[str] = []
    videos: list[str] = []
    audios: list[str] = []


class _Formatter:
    """Formats samples and remembers which media columns were written, for the ``dataset_info`` entry."""

    def __init__(self, system: str | None):
        self.system = system
        self.used: set[str] = set()

    def __call__(self, sample: Sample) -> SharegptRow:
        if not sample.answer.strip():
            raise RowProblem("empty answer: a LLaMA-Factory SFT row needs the target text as the gpt turn")
        turns = [Turn("system", self.system)] if self.system else []
        turns += [Turn("human", sample.prompt), Turn("gpt", sample.answer)]
        for col in MEDIA_COLUMNS:
            if getattr(sample, col):
                self.used.add(col)
        return SharegptRow(turns, sample.images, sample.videos, sample.audios)


def _file_name_for(output: str | os.PathLike[str], info_path: Path) -> str:
    """``file_name`` relative to the dataset folder when the file lies inside it, else absolute."""
    out = Path(output).resolve()
    try:
        return out.relative_to(info_path.parent.resolve()).as_posix()
    except ValueError:
        return str(out)


def _finish(output: str | os.PathLike[str], fmt: _Formatter, rows: int, errors: RowErrors,
            dataset_info: str | os.PathLike[str] | None, dataset_name: str | None) -> dict[str, Any]:
    info_path = Path(dataset_info) if dataset_info else Path(output).parent / "dataset_info.json"
    name = dataset_name or Path(output).stem
    register_dataset(info_path, name, dataset_entry(_file_name_for(output, info_path), fmt.used, bool(fmt.system)))
    return {"rows": rows, "skipped": errors.count, "errors": errors.messages, "summary": errors.summary(),
            "dataset_info": str(info_path), "dataset_name": name}


def _check_paths(output: str | os.PathLike[str], dataset_info: str | os.PathLike[str] | None) -> None:
    if dataset_info and os.path.realpath(dataset_info) == os.path.realpath(output):
        raise ReapOmniError("--dataset-info must differ from the output file")


def convert_unified_to_llamafactory(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    system_prompt: str | None = None,
    user_template: str | None = None,
    dataset_info: str | os.PathLike[str] | None = None,
    dataset_name: str | None = None,
    skip_invalid: bool = False,
) -> dict[str, Any]:
    """Unified manifest -> sharegpt JSONL plus its ``dataset_info.json`` entry (beside the output by default)."""
    check_system_prompt(system_prompt)
    _check_paths(output_path, dataset_info)
    tracks = AudioTrackExtractor(output_path)
    sampler = UnifiedSampler(user_template, warn=warn_stderr, for_llamafactory=True, extract_audio=tracks)
    errors = RowErrors(skip_invalid)
    fmt = _Formatter(system_prompt)
    rows = UnifiedReader(input_path, sampler, errors).write(output_path, fmt)
    return {**_finish(output_path, fmt, rows, errors, dataset_info, dataset_name), "audio_tracks": tracks.summary()}


def convert_qa_to_llamafactory(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    question_key: str = "question",
    answer_key: str = "answer",
    image_key: str | None = "image",
    audio_key: str | None = "audio",
    video_key: str | None = "video",
    system_prompt: str | None = None,
    media_root: str | None = None,
    dataset_info: str | os.PathLike[str] | None = None,
    dataset_name: str | None = None,
    skip_invalid: bool = False,
) -> dict[str, Any]:
    """QA JSONL -> sharegpt JSONL plus its ``dataset_info.json`` entry."""
    check_system_prompt(system_prompt)
    _check_paths(output_path, dataset_info)
    keys = QAKeys(question_key, answer_key, image_key, audio_key, video_key)
    errors = RowErrors(skip_invalid)
    fmt = _Formatter(system_prompt)
    samples = iter_qa_samples(input_path, keys, need_answer=True, media_root=media_root, errors=errors)
    rows = write_rows(input_path, output_path, samples, fmt, errors)
    return _finish(output_path, fmt, rows, errors, dataset_info, dataset_name)
