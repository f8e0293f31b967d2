"""The rows healing trains on, in the trainer's format, through the existing exporters and validators.

Each stratum's first rows are copied as a unified manifest (``rows/<name>.jsonl``, media paths made
absolute), with the answer replaced by the teacher's when there is one, then exported:

* ms-swift (``data/<name>.jsonl``, messages format): the user turn is the stratum's media tag plus the very
  instruction ``eval`` asks with (``model.inputs.INSTRUCTIONS``), because recovery follows the instruction
  wording (measured: 16% vs 53% of the S1 KL gap recovered with the exporter's task prompt vs eval's). The
  assistant turn is the answer: GKD's off-policy sequences, the SFT target of the LoRA-free fallback.
* LLaMA-Factory (``data/heal_<name>.jsonl`` + ``data/dataset_info.json``): sharegpt rows, same prompts.

Every file is checked with the project's validator for that trainer before anything is trained.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from reap_omni.errors import InputError, ReapOmniError
from reap_omni.manifest.jsonl import JsonlWriter
from reap_omni.manifest.record import Record, iter_records
from reap_omni.model.inputs import INSTRUCTIONS, STRATUM_FLAGS, STRATUM_NAMES, load_samples

TEXT = "text"
#: stratum -> (file name, flag); the text stratum (rows with ``meta.question``) is trained, never evaluated
NAMES = {**STRATUM_NAMES, TEXT: "text"}
FLAGS = {**STRATUM_FLAGS, TEXT: "--text-data"}


@dataclass(frozen=True)
class Rows:
    """One stratum's rows for healing: the copied manifest and its row count."""

    stratum: str
    path: Path
    count: int

    @property
    def name(self) -> str:
        return NAMES[self.stratum]


def _absolute(media: str | None, manifest: Path) -> str | None:
    """A media path as the pipeline resolves it (as given when it exists, else beside the manifest)."""
    if not media:
        return media
    p = Path(media)
    if not p.is_absolute() and not p.exists():
        p = manifest.parent / p
    return str(p.resolve())


def read_rows(manifest: str | os.PathLike[str], stratum: str, limit: int | None) -> list[Record]:
    """The first ``limit`` rows (all when None), checked as calibration checks them: each carries the stratum's
    media (text rows: a question), every file exists."""
    path = Path(manifest)
    if not path.is_file():
        raise InputError(f"{FLAGS[stratum]} manifest not found", path)
    records = []
    for _line, rec in iter_records(path):
        records.append(rec)
        if limit is not None and len(records) >= limit:
            break
    if not records:
        raise InputError(f"{FLAGS[stratum]} manifest has no rows", path)
    if stratum == TEXT:
        bad = next((r for r in records if not (r.meta or {}).get("question") or r.audio or r.video), None)
        if bad is not None:
            raise InputError(f"row {bad.id!r}: --text-data rows are text-only with a meta.question prompt", path)
    else:
        load_samples(path, stratum, len(records))  # media present and of the stratum's kind, one line if not
    image = next((r for r in records if r.image), None)
    if image is not None:
        raise InputError(f"row {image.id!r} has an image; healing trains on audio, video and mixed rows", path)
    return [msgspec.structs.replace(r, audio=_absolute(r.audio, path), video=_absolute(r.video, path))
            for r in records]


def write_rows(records: list[Record], out: Path, answers: dict[str, str] | None = None) -> int:
    """Write ``records`` as a unified manifest, the text replaced by ``answers[id]`` when given. Rows without
    an answer are left out: off-policy distillation and SFT train on the answer tokens only. Returns the rows
    written."""
    n = 0
    with JsonlWriter(out) as w:
        for rec in records:
            if answers is not None:
                rec = msgspec.structs.replace(rec, text=answers.get(rec.id) or "")
            if not rec.text.strip():
                continue
            w.write(rec)
            n += 1
    return n


def user_template(stratum: str) -> str | None:
    """The media tag then eval's instruction; text rows keep their own question."""
    return None if stratum == TEXT else "{modality_tag}" + INSTRUCTIONS[stratum]


def export_msswift(rows: list[Rows], data_dir: Path, warn: Callable[[str], None]) -> list[Path]:
    """ms-swift SFT-shaped rows (they end with the answer) per stratum, validated; returns the files."""
    from reap_omni.convert.msswift import convert_unified_to_msswift
    from reap_omni.convert.validate_msswift import validate_msswift

    out = []
    for r in rows:
        path = data_dir / f"{r.name}.jsonl"
        res = convert_unified_to_msswift(r.path, path, "sft", user_template=user_template(r.stratum), warn=warn)
        _check(res["rows"], r, path)
        report = validate_msswift(path, task="sft")
        if not report.ok:
            raise ReapOmniError(f"{path} failed the MS-SWIFT validator: {report.summary()}")
        out.append(path)
    return out


def export_llamafactory(rows: list[Rows], data_dir: Path) -> tuple[Path, list[str]]:
    """LLaMA-Factory sharegpt rows per stratum, registered as ``heal_<name>`` in ``data/dataset_info.json``
    and validated; returns the dataset_info path and the dataset names."""
    from reap_omni.convert.llamafactory import convert_unified_to_llamafactory
    from reap_omni.convert.validate_llamafactory import validate_llamafactory

    info = data_dir / "dataset_info.json"
    names = []
    for r in rows:
        name = f"heal_{r.name}"
        path = data_dir / f"{name}.jsonl"
        res = convert_unified_to_llamafactory(r.path, path, user_template=user_template(r.stratum),
                                              dataset_info=info, dataset_name=name)
        _check(res["rows"], r, path)
        report = validate_llamafactory(path, dataset_info=info, dataset_name=name, audio_in_video=True)
        if not report.ok:
            raise ReapOmniError(f"{path} failed the LLaMA-Factory validator: {report.summary()}")
        names.append(name)
    return info, names


def _check(written: int, rows: Rows, path: Path) -> None:
    if written != rows.count:
        raise ReapOmniError(f"{path}: exported {written} of {rows.count} rows of {rows.path}")
