"""Calibration inputs per stratum, built with the model's own processor and chat template.

* S1 (audio): the row's audio at 16 kHz -> ``input_features``; no vision input.
* S2 (video): the row's video frames -> ``pixel_values_videos``; the audio track is not used.
* S3 (mixed): the video frames plus the video's own audio track, interleaved by timestamp
  (``load_audio_from_video`` in transformers >= 5.24, ``use_audio_in_video`` before), so both encoders run.
* S0 (text): no media; the row's instruction as the user turn (``text_inputs``).

Every stratum renders the same conversation (media, instruction, and the row's text as the answer), so
the strata differ only in the modality tokens they feed. Text-only rows are refused by S1-S3 (they belong in
S0, ``--text-data``): scoring them there would measure text routing, not audio or video; so are rows of another
modality, except a 'mixed' row in S2 (its frames) or, with its extracted track, in S1 (a warning says so).

Media are decoded only as far as ``--max-seq-len`` (and ``--max-media-seconds``) can use them
(``media_window``), so memory does not grow with a file's length or resolution.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reap_omni.errors import InputError, ReapOmniError
from reap_omni.manifest.record import Record, iter_records
from reap_omni.model.distributed import env_rank
from reap_omni.model.media_load import SAMPLE_RATE, load_audio, load_video_frames
from reap_omni.model.media_window import MIN_SECONDS, VideoGeometry, audio_seconds_cap, window_seconds

_log = logging.getLogger(__name__)

STRATUM_NAMES = {"S1": "audio", "S2": "video", "S3": "mixed", "S0": "text"}
STRATUM_FLAGS = {"S1": "--audio-data", "S2": "--video-data", "S3": "--mixed-data", "S0": "--text-data"}
INSTRUCTIONS = {
    "S1": "Listen to the audio and respond.",
    "S2": "Watch the video and respond.",
    "S3": "Watch the video, listen to its sound, and respond.",
}


@dataclass(frozen=True)
class Sample:
    """One calibration row resolved to media files (an S0 row: to its instruction, no media)."""

    id: str
    text: str
    audio: Path | None
    video: Path | None
    where: str  # "manifest:line" for error messages
    question: str = ""  # S0: the instruction of the user turn (``text_inputs``)


def _resolve(media: str, manifest: Path) -> Path:
    p = Path(media)
    if not p.is_absolute() and not p.exists():
        p = manifest.parent / p
    return p


def load_samples(manifest: str | os.PathLike[str], stratum: str, limit: int) -> list[Sample]:
    """The first ``limit`` rows of a stratum's manifest, checked to carry that stratum's media.

    A row of another modality is refused (``_modality_check``), or, where the stratum can use it as it is,
    taken with one warning line per manifest naming the first such row and how many there are.
    """
    path = Path(manifest)
    flag = STRATUM_FLAGS[stratum]
    if not path.is_file():  # a folder, fifo or device is never read: it could block or never end
        raise InputError(f"{flag} manifest not found" if not path.exists() else
                         f"{flag} is not a regular file (a folder, fifo or device); give the JSONL manifest", path)
    samples: list[Sample] = []
    warned: dict[str, list[Any]] = {}  # message -> [first location, count]
    for line, rec in iter_records(path):
        note = _modality_check(rec, stratum, path, line)
        if note:
            warned.setdefault(note, [f"{path}:{line}: row {rec.id!r}", 0])[1] += 1
        samples.append(_sample(rec, stratum, path, line))
        if len(samples) >= limit:
            break
    if not samples:
        raise InputError(f"{flag} manifest has no rows; stratum {stratum} needs at least one", path)
    for note, (where, count) in warned.items():
        more = f" ({count} such rows)" if count > 1 else ""
        if env_rank() == 0:  # under torchrun every rank reads the manifest; one of them says it
            _log.warning("%s %s%s", where, note, more)
    return samples


#: Rows a stratum takes although they are of another modality: what it uses of them (said once, as a warning).
_USABLE = {
    ("S1", "mixed"): "is a 'mixed' row: stratum S1 (audio) uses only its 'audio' file, the extracted sound track",
    ("S2", "mixed"): "is a 'mixed' row: stratum S2 (video) uses only its frames, not its sound",
}
#: Where a row of another modality belongs, for the refusal.
_BELONGS = {"audio": "--audio-data (S1)", "video": "--video-data (S2)", "mixed": "--mixed-data (S3)",
            "text": "--text-data (S0)"}


def _modality_check(rec: Record, stratum: str, path: Path, line: int) -> str | None:
    """None for a row of the stratum's modality, the warning for a usable other one; raises otherwise."""
    want = STRATUM_NAMES[stratum]
    if stratum == "S0":
        if rec.modality == "text":
            return None
        raise InputError(f"row {rec.id!r} is a {rec.modality!r} row; --text-data (stratum S0) takes 'text' rows (an "
                         f"answer in 'text', the instruction in meta.question); it belongs in "
                         f"{_BELONGS.get(rec.modality, 'another stratum')}", path, line)
    if rec.modality == "text" or (rec.modality != "image" and not (rec.audio or rec.video)):
        raise InputError(
            f"row {rec.id!r} is text-only; stratum {stratum} ({want}) needs real {want} media, text-only rows "
            "would score text routing instead (text rows belong in --text-data, S0)", path, line,
        )
    if rec.modality == want:
        return None
    note = _USABLE.get((stratum, rec.modality))
    if note and (stratum != "S1" or rec.audio):
        return note
    where = f"; it belongs in {_BELONGS[rec.modality]}" if rec.modality in _BELONGS else ""
    raise InputError(
        f"row {rec.id!r} is a {rec.modality!r} row; {STRATUM_FLAGS[stratum]} (stratum {stratum}) takes "
        f"{want!r} rows{where}", path, line,
    )


def _sample(rec: Record, stratum: str, path: Path, line: int) -> Sample:
    audio = video = None
    if stratum == "S0":
        from reap_omni.model.text_inputs import question_of

        return Sample(rec.id, rec.text, None, None, f"{path}:{line}", question=question_of(rec))
    if stratum == "S1":
        if not rec.audio:
            raise InputError(f"row {rec.id!r} has no 'audio' file; stratum S1 needs audio-only rows", path, line)
        audio = _resolve(rec.audio, path)
    else:
        if not rec.video:
            raise InputError(f"row {rec.id!r} has no 'video' file; stratum {stratum} needs video rows", path, line)
        video = _resolve(rec.video, path)
        if stratum == "S3" and rec.has_audio is False:
            raise InputError(f"row {rec.id!r}: stratum S3 needs a video with an audio track", path, line)
    for media in (audio, video):
        if media is not None and not media.is_file():
            what = "media file not found" if not media.exists() else "not a media file (a folder, fifo or device)"
            raise InputError(f"{what}: {media}", path, line)
    return Sample(rec.id, rec.text or "", audio, video, f"{path}:{line}")


#: Default cap on the seconds of media read per row (``--max-media-seconds``); at the default
#: ``--max-seq-len`` 4096 the token window is shorter anyway (~310 s of audio, seconds of video).
DEFAULT_MAX_MEDIA_SECONDS = 300.0


@dataclass(frozen=True)
class InputOptions:
    video_fps: float = 2.0
    #: processor size limits for video frames (pixels), e.g. {"shortest_edge": ..., "longest_edge": ...}
    video_size: dict[str, int] | None = None
    max_seq_len: int = 4096
    #: per-row cap on the seconds of media decoded (None: only ``max_seq_len`` bounds it)
    max_media_seconds: float | None = DEFAULT_MAX_MEDIA_SECONDS


def uses_load_audio_from_video(processor) -> bool:
    """transformers >= 5.24 names the interleaving switch ``load_audio_from_video``."""
    return hasattr(processor, "_resolve_audio_from_video")


def conversation(sample: Sample, stratum: str) -> list[dict[str, Any]]:
    if stratum == "S0":
        from reap_omni.model import text_inputs

        return text_inputs.conversation(sample)
    media = {"type": "audio", "audio": str(sample.audio)} if stratum == "S1" else {
        "type": "video", "video": str(sample.video)}
    msgs: list[dict[str, Any]] = [
        {"role": "user", "content": [media, {"type": "text", "text": INSTRUCTIONS[stratum]}]}
    ]
    if sample.text:
        msgs.append({"role": "assistant", "content": [{"type": "text", "text": sample.text}]})
    return msgs


def build_inputs(processor, samples: list[Sample], stratum: str, opts: InputOptions,
                 max_seconds: float | None = None) -> dict[str, Any]:
    """Processor outputs (torch tensors) for a batch, plus ``use_audio_in_video`` for the model.

    Each sample's media are decoded up to ``max_seconds``, or, when None, up to its own window: what
    ``opts.max_seq_len`` can hold and ``opts.max_media_seconds`` allows (``media_window``), so no file is
    decoded past what could be used. Video frames are brought to the processor's size as they are decoded.
    """
    texts = [
        processor.apply_chat_template(conversation(s, stratum), tokenize=False, add_generation_prompt=not s.text)
        for s in samples
    ]
    geometry = None if stratum == "S1" else VideoGeometry.of(processor, opts.video_size)
    limits = [max_seconds if max_seconds is not None else media_window(processor, s, stratum, text, opts, geometry)
              for s, text in zip(samples, texts, strict=True)]
    kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
    kept = audio_seconds_cap(processor) if stratum != "S2" else None  # sound past it the processor drops
    sound = [limit if kept is None else min(limit, kept) for limit in limits]
    if stratum == "S1":
        kwargs["audio"] = [load_audio(s.audio, limit) for s, limit in zip(samples, sound, strict=True)]
    else:
        assert geometry is not None
        frames = [load_video_frames(s.video, opts.video_fps, limit, geometry.temporal, geometry.shrink)
                  for s, limit in zip(samples, limits, strict=True)]
        kwargs["videos"] = frames
        videos_kwargs: dict[str, Any] = {"fps": opts.video_fps, "do_sample_frames": False}
        if opts.video_size:
            videos_kwargs["size"] = dict(opts.video_size)
        kwargs["videos_kwargs"] = videos_kwargs
        if stratum == "S3":
            kwargs["audio"] = [load_audio(s.video, limit) for s, limit in zip(samples, sound, strict=True)]
            if uses_load_audio_from_video(processor):
                kwargs["load_audio_from_video"] = True
                kwargs["audio_from_video_indices"] = list(range(len(samples)))
            else:  # transformers < 5.24 reads it from videos_kwargs (a top-level one is lost beside them)
                videos_kwargs["use_audio_in_video"] = True
    if "audio" in kwargs:
        kwargs["audio_kwargs"] = {"sampling_rate": SAMPLE_RATE}
    try:
        out = dict(processor(**kwargs))
    except (ValueError, TypeError, RuntimeError) as exc:
        where = ", ".join(s.where for s in samples)
        raise ReapOmniError(f"the model's processor rejected {where}: {exc}") from None
    out.pop("num_audio_tokens", None)
    if stratum == "S3":
        out["use_audio_in_video"] = True
    return out


def media_window(processor, sample: Sample, stratum: str, text: str, opts: InputOptions,
                 geometry: VideoGeometry | None = None) -> float:
    """Seconds of ``sample``'s media that ``opts`` can use, from its rendered prompt ``text``."""
    if geometry is None and stratum != "S1":
        geometry = VideoGeometry.of(processor, opts.video_size)
    return window_seconds(processor, stratum, text, sample.video, opts.video_fps, opts.max_seq_len,
                          opts.max_media_seconds, geometry)


def iter_batches(processor, samples: list[Sample], stratum: str, batch_size: int,
                 opts: InputOptions) -> Iterator[tuple[dict[str, Any], list[Sample]]]:
    """Batches of model inputs whose statistics do not depend on the batch.

    Each sample goes through the processor on its own (fitted under ``max_seq_len`` by shortening its own
    media), then the samples are collated. Processing a batch at once would not do: the Whisper feature
    extractor pads every waveform to the longest before its STFT and log-mel normalisation, so a clip's
    last frames, and its S1/S3 scores, would depend on which clips share its batch; and shortening a whole
    batch to fit its longest sample would shorten the others too.
    """
    for i in range(0, len(samples), batch_size):
        chunk = samples[i:i + batch_size]
        if stratum == "S0":  # text rows: an answer too long is cut, and the batch names the samples as fed
            from reap_omni.model import text_inputs

            fitted = [text_inputs.fit(processor, sample, opts) for sample in chunk]
            yield collate([f[0] for f in fitted], processor), [f[1] for f in fitted]
            continue
        parts = [fit_sample(processor, sample, stratum, opts) for sample in chunk]
        yield collate(parts, processor), chunk


def fit_sample(processor, sample: Sample, stratum: str, opts: InputOptions) -> dict[str, Any]:
    """One sample's processor outputs (batch of 1), its media shortened until it fits ``max_seq_len``.

    The first attempt decodes the sample's window (``media_window``: computed to fit), so it normally
    fits; the loop stays for exactness should a processor count differently.
    """
    text = processor.apply_chat_template(conversation(sample, stratum), tokenize=False,
                                         add_generation_prompt=not sample.text)
    max_seconds = media_window(processor, sample, stratum, text, opts)
    for _attempt in range(6):
        inputs = build_inputs(processor, [sample], stratum, opts, max_seconds)
        length = int(inputs["input_ids"].shape[1])
        if length <= opts.max_seq_len:
            return inputs
        seconds = min(max_seconds, _media_seconds(inputs, stratum))
        shorter = max(MIN_SECONDS, seconds * 0.9 * opts.max_seq_len / length)
        if shorter >= max_seconds:
            break
        max_seconds = shorter
    raise ReapOmniError(
        f"{sample.where}: cannot fit the sample into --max-seq-len {opts.max_seq_len} "
        f"({length} tokens even with the media shortened); raise --max-seq-len"
    )


#: Per-sample tensors stacked along the batch (padded), and per-item tensors concatenated (patches, grids).
_TEXT_KEYS = ("input_ids", "attention_mask")
_FRAME_KEYS = {"input_features": -1, "feature_attention_mask": -1}  # padded on the right along this dim
_CONCAT_KEYS = ("pixel_values_videos", "pixel_values", "video_grid_thw", "image_grid_thw", "video_second_per_grid")


def collate(parts: list[dict[str, Any]], processor) -> dict[str, Any]:
    """Samples processed one by one -> one batch, padded the way the processor pads a batch.

    Text is padded on the tokenizer's side with its pad id (mask 0). Audio features are padded on the
    right with zeros and ``feature_attention_mask`` 0: the audio tower keeps only the masked-in frames, so
    the padding values never reach the model. Video patches and grids are concatenated in sample order.
    """
    import torch
    import torch.nn.functional as F

    if len(parts) == 1:
        return parts[0]
    tok = getattr(processor, "tokenizer", None)
    left = getattr(tok, "padding_side", "left") == "left"
    pad_id = getattr(tok, "pad_token_id", None)
    pad_id = 0 if pad_id is None else int(pad_id)
    out: dict[str, Any] = {}
    for key, first in parts[0].items():
        values = [p[key] for p in parts]
        if not isinstance(first, torch.Tensor):
            out[key] = first  # flags such as use_audio_in_video: the same for every sample of a stratum
        elif key in _TEXT_KEYS:
            n = max(v.shape[-1] for v in values)
            fill = pad_id if key == "input_ids" else 0
            out[key] = torch.cat([F.pad(v, (n - v.shape[-1], 0) if left else (0, n - v.shape[-1]), value=fill)
                                  for v in values])
        elif key in _FRAME_KEYS:
            n = max(v.shape[-1] for v in values)
            out[key] = torch.cat([F.pad(v, (0, n - v.shape[-1]), value=0) for v in values])
        elif key in _CONCAT_KEYS:
            out[key] = torch.cat(values)
        else:
            raise ReapOmniError(f"cannot batch the processor output {key!r}; use --batch-size 1")
    return out


def _media_seconds(inputs: dict[str, Any], stratum: str) -> float:
    if "feature_attention_mask" in inputs:
        return float(inputs["feature_attention_mask"].sum(-1).max()) / 100.0
    grid = inputs["video_grid_thw"]
    return float(grid[:, 0].max() * inputs["video_second_per_grid"].max())


def media_seconds(inputs: dict[str, Any]) -> float:
    """Seconds of media in a batch (video time when there is video, else audio time): for progress rates."""
    if "video_grid_thw" in inputs and "video_second_per_grid" in inputs:
        grid, per = inputs["video_grid_thw"], inputs["video_second_per_grid"]
        return float((grid[:, 0].double() * per.double()).sum())
    if "feature_attention_mask" in inputs:
        return float(inputs["feature_attention_mask"].sum()) / 100.0
    return 0.0


def media_token_mask(input_ids, attention_mask, media_ids: list[int]):
    """1 where a (non-padding) token lies in a modality span: a media placeholder or a span marker.

    In Qwen3-Omni's expanded prompt every token of an audio span (``<|audio_start|>``, the audio
    placeholders, ``<|audio_end|>``) and of a video span (``<|vision_start|>``, video placeholders and, in
    S3, the interleaved audio span, ``<|vision_end|>``) is one of these ids, so membership is the span.
    """
    import torch

    ids = torch.tensor(media_ids, dtype=input_ids.dtype, device=input_ids.device)
    mask = torch.isin(input_ids, ids)
    if attention_mask is not None:
        mask &= attention_mask.bool()
    return mask.to(attention_mask.dtype if attention_mask is not None else torch.int64)
