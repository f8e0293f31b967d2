"""Candidate -> written media + manifest record: the build's one call into ``reap_omni.media``.

The stratum decides what a row must carry (REAP_OMNI.md section 5.3): S1 ``audio`` rows get a mono WAV/FLAC
at ``--sample-rate``; S2 ``video`` rows a bounded MP4 (audio stripped unless ``--keep-audio``); S3 ``mixed``
rows an MP4 that keeps its audio track plus the window's 16 kHz track in ``audio``, and a source without an
audio stream is rejected (reason ``no_audio``); a video-only stream with the audio in a separate cell (AVSpeech)
is combined first (``av_mux``). S0 ``text`` rows write no file: the answer is the row's text and the instruction
``meta.question``. File names derive from the row id, so a rerun writes the same paths and recognises finished rows.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reap_omni.calibration_set.av_mux import has_audio_stream, mux_audio
from reap_omni.calibration_set.options import BuildOptions
from reap_omni.catalog.spec import DatasetSpec
from reap_omni.errors import ReapOmniError
from reap_omni.manifest.lock import file_sha256
from reap_omni.manifest.record import Record
from reap_omni.media.audio import normalize_audio
from reap_omni.media.probe import DEFAULT_MAX_DURATION, MediaRejected
from reap_omni.media.video import normalize_video
from reap_omni.sources.base import Candidate, MediaBlob


class Rejected(ReapOmniError):
    """A candidate that cannot become a row; ``reason`` goes to the stats."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class RowOrigin:
    """Identity of a row: its id, the candidate and unit keys (prefixed by source id) and the source id."""

    row_id: str
    key: str
    unit: str
    source_id: str


def _window(fields: dict[str, Any]) -> tuple[float | None, float | None]:
    try:
        start = float(fields["start"]) if fields.get("start") is not None else None
        end = float(fields["end"]) if fields.get("end") is not None else None
    except (TypeError, ValueError):
        return None, None
    if start is not None and end is not None and end <= start:
        return None, None
    return start, end


def _ext(blob: MediaBlob, default: str) -> str:
    suffix = Path(blob.name).suffix.lower().lstrip(".")
    return suffix if suffix.isalnum() and 0 < len(suffix) <= 5 else default


def _blob(cand: Candidate, *names: str) -> MediaBlob:
    for n in names:
        if n in cand.media:
            return cand.media[n]
    raise Rejected(f"candidate {cand.key} has no {' or '.join(names)} media", "no_media")


def normalize_candidate(
    cand: Candidate, text: str, dataset: DatasetSpec, origin: RowOrigin, options: BuildOptions
) -> Record:
    """Write the candidate's media under ``<output>/<dataset>/`` and return its manifest record.

    Raises ``Rejected`` (with a stats reason) when the media cannot make a valid row for the stratum or fails
    the duration filters; files already written for the row are removed then.
    """
    if dataset.modality == "text":
        return _text_record(cand, text, dataset, origin)
    folder = options.media_dir(dataset.name)
    base = folder / origin.row_id
    written: list[Path] = []  # files this call creates, removed again if the row fails
    try:
        rec = _write(cand, text, dataset, origin, options, base, written)
        # video rows are clipped to --max-video-seconds, so the filters look at the source's length
        _check_duration((rec.meta or {}).get("source_duration", rec.duration), options)
    except MediaRejected as exc:
        _remove(written)
        raise Rejected(str(exc), exc.reason) from None
    except BaseException:
        _remove(written)
        raise
    rec.meta = {**(rec.meta or {}), "sha256": {name: file_sha256(path) for name, path in rec.media_paths()}}
    return rec


def _write(
    cand: Candidate, text: str, dataset: DatasetSpec, origin: RowOrigin, options: BuildOptions,
    base: Path, written: list[Path],
) -> Record:  # fmt: skip
    m = options.media
    start, end = _window(cand.fields)
    rec = Record(id=origin.row_id, modality=dataset.modality, text=text, task=dataset.task)
    lang = cand.fields.get("lang") or cand.fields.get("language")
    if lang:
        rec.lang = str(lang)
    if dataset.modality == "audio":
        blob = _blob(cand, "audio", "video")
        fmt = m.audio_format
        if fmt == "original" and (start is not None or end is not None):
            fmt = "wav"  # a clip window needs re-encoding; the original bytes would hold the whole recording
        ext = _ext(blob, "bin") if fmt == "original" else fmt
        dst = base.with_suffix(f".{ext}")
        _created(written, dst)
        limit = options.max_duration if options.max_duration is not None else DEFAULT_MAX_DURATION
        res = normalize_audio(  # the limit is enforced while decoding: a 6-hour file costs no more than 10 min
            blob.read(), dst, name=blob.name, sample_rate=m.sample_rate, fmt=fmt, start=start, end=end,
            max_duration=limit,
        )
        rec.audio = os.fspath(dst)
        rec.duration = round(res.duration, 6)
        if res.clip_start is not None:
            rec.clip_start, rec.clip_end = res.clip_start, res.clip_end
        rec.meta = {"sample_rate": res.sample_rate, "format": res.format}
        return rec
    blob = _blob(cand, "video")
    mixed = dataset.modality == "mixed"
    data = blob.read()
    if mixed and "audio" in cand.media and not has_audio_stream(data, blob.name):
        data = mux_audio(data, cand.media["audio"].read(), blob.name)  # AVSpeech: video and audio kept apart
    segment = (start or 0.0, end) if end is not None else None
    dst = base.with_suffix(".mp4")
    audio_dst = base.with_suffix(".wav") if mixed else None
    _created(written, dst)
    if audio_dst is not None:
        _created(written, audio_dst)
    res = normalize_video(
        data, dst, name=blob.name, max_seconds=m.max_video_seconds, segment=segment, max_side=m.max_side,
        fps=m.fps, keep_audio=mixed or not m.strip_audio, require_audio=mixed, audio_out=audio_dst,
        audio_rate=m.sample_rate, max_duration=options.max_duration,  # None: long videos are windowed, not refused
    )  # fmt: skip
    if mixed and not res.has_audio:
        raise Rejected(f"{blob.name}: the written video has no audio track", "no_audio")
    rec.video = os.fspath(dst)
    if mixed and res.audio_path:
        rec.audio = res.audio_path
    rec.duration = round(res.duration, 6)
    rec.width, rec.height, rec.fps, rec.has_audio = res.width, res.height, round(res.fps, 6), res.has_audio
    rec.clip_start, rec.clip_end = round(res.clip_start, 6), round(res.clip_end, 6)
    rec.meta = {"video_codec": res.video_codec, "audio_stripped": res.audio_stripped}
    if res.source_duration is not None:
        rec.meta["source_duration"] = round(res.source_duration, 6)
    return rec


def _text_record(cand: Candidate, answer: str, dataset: DatasetSpec, origin: RowOrigin) -> Record:
    """An S0 row: no media; the answer in ``text``, the instruction in ``meta.question`` (``catalog.text.text_row``)."""
    from reap_omni.catalog.text import text_row

    question, _ = text_row(cand.fields)
    if not answer:
        raise Rejected(f"candidate {cand.key} has no answer", "empty_text")
    rec = Record(id=origin.row_id, modality="text", text=answer, task=dataset.task)
    lang = cand.fields.get("lang") or cand.fields.get("language")
    if lang:
        rec.lang = str(lang)
    if question:
        rec.meta = {"question": question}
    return rec


def _check_duration(duration: float | None, options: BuildOptions) -> None:
    if duration is None:
        return
    if options.min_duration is not None and duration < options.min_duration:
        raise Rejected(f"duration {duration:.2f}s is below --min-duration {options.min_duration}", "too_short")
    if options.max_duration is not None and duration > options.max_duration:
        raise Rejected(f"duration {duration:.2f}s is above --max-duration {options.max_duration}", "too_long")


def _created(written: list[Path], dst: Path) -> None:
    """Note ``dst`` for clean-up on failure, unless it was there before: a file this row did not create (a
    finished row's) is never deleted by this row's failure."""
    if not dst.exists():
        written.append(dst)


def _remove(paths: list[Path]) -> None:
    for p in paths:
        with contextlib.suppress(OSError):
            p.unlink()
