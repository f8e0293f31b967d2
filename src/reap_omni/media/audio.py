"""Audio normalisation: any decodable audio (or a video's audio track) -> mono PCM at a fixed rate.

Qwen3-Omni's processors take 16 kHz mono waveforms, so calibration audio is stored that way and the
model sees exactly what was written. Decoding, resampling and encoding run frame by frame: an hour of
audio never sits decoded in memory. Output is written to a temp file and renamed, so a killed run
leaves no half-written file.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from reap_omni.errors import InputError
from reap_omni.fileio import atomic_output, atomic_write_bytes
from reap_omni.media.probe import MediaInput, open_input, probe, source_name

#: output format -> (muxer, encoder); "original" copies the input bytes unchanged
AUDIO_OUTPUTS: dict[str, tuple[str, str]] = {"wav": ("wav", "pcm_s16le"), "flac": ("flac", "flac")}


@dataclass(frozen=True)
class AudioResult:
    """What was written, for the manifest (duration in seconds of the written audio)."""

    path: str
    format: str
    sample_rate: int
    channels: int
    duration: float
    clip_start: float | None = None  # window within the source, seconds; None when the whole source was kept
    clip_end: float | None = None
    source_sample_rate: int | None = None
    source_channels: int | None = None
    source_codec: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _check_window(start: float | None, end: float | None, label: str) -> None:
    if start is not None and start < 0:
        raise InputError(f"clip start {start} is negative", label)
    if start is not None and end is not None and end <= start:
        raise InputError(f"clip end {end} is not after clip start {start}", label)


def iter_mono(
    src: MediaInput,
    *,
    name: str | None = None,
    sample_rate: int = 16000,
    start: float | None = None,
    end: float | None = None,
    sample_format: str = "s16",
) -> Iterator[np.ndarray]:
    """Yield 1-D mono chunks at ``sample_rate`` of the first audio stream, cut to [start, end) seconds.

    Times are measured from the stream's first sample (the source's own zero), so a window given for a
    video (e.g. an annotated segment) cuts the same instant in its audio track.
    """
    label = source_name(src, name)
    _check_window(start, end, label)
    with open_input(src, label) as container:
        if not container.streams.audio:
            raise InputError("no audio stream", label)
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        origin = _stream_origin(stream)
        if start:
            # land before ``start``; samples before it are dropped below, so the cut is exact
            container.seek(int((start + origin) / stream.time_base), stream=stream, backward=True)
        resampler = av.AudioResampler(format=sample_format, layout="mono", rate=sample_rate)
        pos: float | None = None  # time of the next resampled sample, seconds from the source's zero
        try:
            for frame in _decoded_then_flush(container, stream):
                if pos is None:
                    pos = (float(frame.time) - origin) if frame is not None and frame.time is not None else 0.0
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().reshape(-1)
                    chunk_start = pos
                    pos += len(samples) / sample_rate
                    lo = 0 if start is None else max(0, int(round((start - chunk_start) * sample_rate)))
                    hi = (
                        len(samples)
                        if end is None
                        else min(len(samples), int(round((end - chunk_start) * sample_rate)))
                    )
                    if hi > lo:
                        yield samples[lo:hi]
                    if end is not None and pos >= end:
                        return
        except av.FFmpegError as exc:
            raise InputError(f"cannot decode audio: {exc}", label) from None


def _decoded_then_flush(container, stream) -> Iterator[av.AudioFrame | None]:
    yield from container.decode(stream)
    yield None  # flushes the resampler's buffered tail


def _stream_origin(stream) -> float:
    """The stream's start time in seconds (MP4/AAC priming and MPEG-TS offsets make it non-zero)."""
    if stream.start_time is not None and stream.time_base is not None:
        return float(stream.start_time * stream.time_base)
    return 0.0


def load_audio(
    src: MediaInput,
    *,
    name: str | None = None,
    sample_rate: int = 16000,
    start: float | None = None,
    end: float | None = None,
) -> np.ndarray:
    """Decode to a float32 mono waveform in [-1, 1] (for short clips: calibration, tests, checks)."""
    chunks = list(iter_mono(src, name=name, sample_rate=sample_rate, start=start, end=end, sample_format="flt"))
    label = source_name(src, name)
    if not chunks:
        raise InputError("no audio samples decoded" + _window_note(start, end), label)
    return np.concatenate(chunks).astype(np.float32, copy=False)


def _window_note(start: float | None, end: float | None) -> str:
    return f" in window [{start}, {end})" if start is not None or end is not None else ""


def normalize_audio(
    src: MediaInput,
    dst: str | os.PathLike[str],
    *,
    name: str | None = None,
    sample_rate: int = 16000,
    fmt: str = "wav",
    start: float | None = None,
    end: float | None = None,
) -> AudioResult:
    """Write ``src`` (bytes or path; audio or video) to ``dst`` as 16-bit mono ``fmt`` at ``sample_rate``.

    ``fmt="original"`` copies the input bytes unchanged after checking they decode (no clip window then).
    Raises ``InputError`` naming ``name`` when the input is empty, has no audio stream or does not decode.
    """
    label = source_name(src, name)
    info = probe(src, label)
    if not info.has_audio:
        raise InputError("no audio stream", label)
    if fmt == "original":
        if start is not None or end is not None:
            raise InputError("a clip window needs re-encoding; use fmt='wav' or 'flac', not 'original'", label)
        _copy_original(src, dst)
        return AudioResult(
            path=os.fspath(dst),
            format=Path(os.fspath(dst)).suffix.lstrip(".") or info.container,
            sample_rate=info.sample_rate or 0,
            channels=info.channels or 0,
            duration=info.duration or 0.0,
            source_sample_rate=info.sample_rate,
            source_channels=info.channels,
            source_codec=info.audio_codec,
        )
    if fmt not in AUDIO_OUTPUTS:
        raise ValueError(f"unknown audio output format {fmt!r}; choose one of {sorted(AUDIO_OUTPUTS)} or 'original'")
    muxer, encoder = AUDIO_OUTPUTS[fmt]
    written = 0
    with atomic_output(dst, "wb") as f, av.open(f, "w", format=muxer) as out:
        stream = out.add_stream(encoder, rate=sample_rate, layout="mono")
        for chunk in iter_mono(src, name=label, sample_rate=sample_rate, start=start, end=end):
            written += _encode_chunk(out, stream, chunk, sample_rate, written)
        if written == 0:
            raise InputError("no audio samples decoded" + _window_note(start, end), label)
        for packet in stream.encode(None):
            out.mux(packet)
    clip_end = None
    if start is not None or end is not None:
        clip_end = (start or 0.0) + written / sample_rate
    return AudioResult(
        path=os.fspath(dst),
        format=fmt,
        sample_rate=sample_rate,
        channels=1,
        duration=written / sample_rate,
        clip_start=(start or 0.0) if clip_end is not None else None,
        clip_end=clip_end,
        source_sample_rate=info.sample_rate,
        source_channels=info.channels,
        source_codec=info.audio_codec,
    )


def encode_mono_chunk(out, stream, chunk: np.ndarray, sample_rate: int, offset: int) -> int:
    """Encode one s16 mono chunk at sample ``offset`` into ``stream``; returns samples written."""
    return _encode_chunk(out, stream, chunk, sample_rate, offset)


def _encode_chunk(out, stream, chunk: np.ndarray, sample_rate: int, offset: int) -> int:
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(chunk, dtype=np.int16)[None, :], format="s16", layout="mono"
    )
    frame.sample_rate = sample_rate
    frame.pts = offset
    for packet in stream.encode(frame):
        out.mux(packet)
    return len(chunk)


def _copy_original(src: MediaInput, dst: str | os.PathLike[str]) -> None:
    if isinstance(src, bytes | bytearray):
        atomic_write_bytes(dst, bytes(src))
        return
    with open(src, "rb") as fin, atomic_output(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
