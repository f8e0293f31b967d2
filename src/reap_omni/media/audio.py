"""Audio normalisation: any decodable audio (or a video's audio track) -> mono PCM at a fixed rate.

Qwen3-Omni's processors take 16 kHz mono waveforms, so calibration audio is stored that way and the
model sees exactly what was written. Decoding, resampling and encoding run frame by frame: an hour of
audio never sits decoded in memory. A row is at most ``max_duration`` seconds (10 minutes by default): a
container that says it is longer is refused before anything is decoded, and one whose header lies or is
silent is refused as soon as decoding passes the limit, so a 6-hour silent FLAC costs a header read. Output
is written to a temp file and renamed (``media.output``), so a killed run or a full disk leaves no
half-written file, and a storage failure is a plain ``OSError`` naming the destination.
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
from reap_omni.media.output import MediaOutputs
from reap_omni.media.probe import (
    DEFAULT_MAX_DURATION,
    MediaInput,
    MediaRejected,
    check_length,
    container_origin,
    open_input,
    probe,
    source_name,
    stated_duration,
)

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
    if end is not None and end <= (start or 0.0):
        raise InputError(f"clip end {end} is not after clip start {start or 0.0}", label)


class WindowedResampler:
    """Resample decoded frames to (format, layout, rate) and keep only the samples inside [start, end).

    Times are seconds on the source's timeline (``origin`` = its start), so a window given for a video
    (an annotated segment) cuts the same instant in its audio track. Feed frames in order, then ``None``
    to flush; ``done`` turns true once ``end`` has been passed.
    """

    def __init__(
        self,
        *,
        rate: int,
        layout: str = "mono",
        sample_format: str = "s16",
        start: float | None = None,
        end: float | None = None,
        origin: float = 0.0,
    ):
        self.rate, self.start, self.end, self.origin = rate, start, end, origin
        self._resampler = av.AudioResampler(format=sample_format, layout=layout, rate=rate)
        self._pos: float | None = None  # source time of the next resampled sample
        self.done = False

    def feed(self, frame: av.AudioFrame | None) -> list[np.ndarray]:
        """Chunks shaped (channels, n) (planar) or (1, n) (mono) that fall inside the window."""
        if self.done:
            return []
        if self._pos is None:
            if frame is None:
                return []
            self._pos = float(frame.time) - self.origin if frame.time is not None else 0.0
        chunks = []
        for out in self._resampler.resample(frame):
            samples = out.to_ndarray()
            n = samples.shape[-1]
            chunk_start = self._pos
            self._pos += n / self.rate
            lo = 0 if self.start is None else max(0, round((self.start - chunk_start) * self.rate))
            hi = n if self.end is None else min(n, round((self.end - chunk_start) * self.rate))
            if hi > lo:
                chunks.append(samples[..., lo:hi])
            if self.end is not None and self._pos >= self.end:
                self.done = True
                break
        return chunks


def iter_mono(
    src: MediaInput,
    *,
    name: str | None = None,
    sample_rate: int = 16000,
    start: float | None = None,
    end: float | None = None,
    sample_format: str = "s16",
    max_duration: float | None = None,
) -> Iterator[np.ndarray]:
    """Yield 1-D mono chunks at ``sample_rate`` of the first audio stream, cut to [start, end) seconds.

    With ``max_duration``, more than that many seconds of output is ``MediaRejected`` (reason ``too_long``):
    from the container's stated duration before decoding, else before the chunk that passes it is yielded.
    """
    label = source_name(src, name)
    _check_window(start, end, label)
    with open_input(src, label) as container:
        if not container.streams.audio:
            raise MediaRejected("no audio stream", label, "no_audio")
        stream = container.streams.audio[0]
        check_length(window_length(stated_duration(container, stream), start, end), max_duration, label,
                     stated=True)
        stream.thread_type = "AUTO"
        origin = container_origin(container)
        if start:
            # land before ``start``; samples before it are dropped by the window, so the cut is exact
            container.seek(int((start + origin) / stream.time_base), stream=stream, backward=True)
        window = WindowedResampler(rate=sample_rate, sample_format=sample_format, start=start, end=end, origin=origin)
        total = 0
        try:
            for frame in _decoded_then_flush(container, stream):
                for chunk in window.feed(frame):
                    total += chunk.shape[-1]
                    check_length(round(total / sample_rate, 6), max_duration, label, stated=False)
                    yield chunk.reshape(-1)
                if window.done:
                    return
        except av.FFmpegError as exc:
            raise MediaRejected(f"cannot decode audio: {exc}", label, "undecodable") from None


def window_length(duration: float | None, start: float | None, end: float | None) -> float | None:
    """Seconds of [start, end) inside a source of ``duration`` seconds (None when the duration is unknown)."""
    if duration is None:
        return None
    stop = duration if end is None else min(end, duration)
    return max(0.0, stop - (start or 0.0))


def _decoded_then_flush(container, stream) -> Iterator[av.AudioFrame | None]:
    yield from container.decode(stream)
    yield None  # flushes the resampler's buffered tail


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
        raise MediaRejected("no audio samples decoded" + _window_note(start, end), label, "empty_window")
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
    max_duration: float | None = DEFAULT_MAX_DURATION,
) -> AudioResult:
    """Write ``src`` (bytes or path; audio or video) to ``dst`` as 16-bit mono ``fmt`` at ``sample_rate``.

    ``fmt="original"`` copies the input bytes unchanged after checking they decode (no clip window then).
    Raises ``InputError`` naming ``name`` when the input is empty, has no audio stream or does not decode,
    and ``MediaRejected`` reason ``too_long`` when the row (the window, else the whole source) is longer than
    ``max_duration`` seconds (None: no limit): known from the header, nothing is decoded; otherwise decoding
    stops right after the limit. Nothing is written then. A storage failure (disk full, quota, read-only,
    permission) is a plain ``OSError`` with its errno and ``dst`` as filename; an existing ``dst`` is kept.
    """
    label = source_name(src, name)
    info = probe(src, label)
    if not info.has_audio:
        raise MediaRejected("no audio stream", label, "no_audio")
    check_length(window_length(info.duration, start, end), max_duration, label, stated=True)
    if fmt == "original":
        if start is not None or end is not None:
            raise InputError("a clip window needs re-encoding; use fmt='wav' or 'flac', not 'original'", label)
        duration = _demuxed_length(src, label, info.duration, max_duration)
        _copy_original(src, dst)
        return AudioResult(
            path=os.fspath(dst),
            format=Path(os.fspath(dst)).suffix.lstrip(".") or info.container,
            sample_rate=info.sample_rate or 0,
            channels=info.channels or 0,
            duration=duration,
            source_sample_rate=info.sample_rate,
            source_channels=info.channels,
            source_codec=info.audio_codec,
        )
    if fmt not in AUDIO_OUTPUTS:
        raise ValueError(f"unknown audio output format {fmt!r}; choose one of {sorted(AUDIO_OUTPUTS)} or 'original'")
    muxer, encoder = AUDIO_OUTPUTS[fmt]
    written = 0
    with MediaOutputs(dst) as outs, outs.container(dst, muxer) as out:
        stream = out.add_stream(encoder, rate=sample_rate, layout="mono")
        for chunk in iter_mono(src, name=label, sample_rate=sample_rate, start=start, end=end,
                               max_duration=max_duration):
            written += encode_samples(out, stream, chunk, rate=sample_rate, offset=written)
        if written == 0:
            raise MediaRejected("no audio samples decoded" + _window_note(start, end), label, "empty_window")
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


def encode_samples(
    out, stream, chunk: np.ndarray, *, rate: int, offset: int, fmt: str = "s16", layout: str = "mono"
) -> int:
    """Encode one chunk ((channels, n) planar or (1, n) mono) at sample ``offset``; returns samples written."""
    dtype = np.int16 if fmt == "s16" else np.float32
    data = np.ascontiguousarray(chunk, dtype=dtype)
    if data.ndim == 1:
        data = data[None, :]
    frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
    frame.sample_rate = rate
    frame.pts = offset
    for packet in stream.encode(frame):
        out.mux(packet)
    return data.shape[-1]


def _demuxed_length(src: MediaInput, label: str, stated: float | None, max_duration: float | None) -> float:
    """The length of a copied original: its packets' span (no decoding), read only up to the limit.

    Confirms a stated duration against the packets, or measures a missing one, so a lying header cannot
    slip a 6-hour recording in as a short row; packet times carry codec padding, so the header slack applies.
    """
    if max_duration is None and stated is not None:
        return stated
    first = last = None
    try:
        with open_input(src, label) as container:
            stream = container.streams.audio[0]
            tb = stream.time_base
            for packet in container.demux(stream):
                if packet.pts is None or tb is None:
                    continue
                t0 = float(packet.pts * tb)
                t1 = float((packet.pts + (packet.duration or 0)) * tb)
                first = t0 if first is None else min(first, t0)
                last = t1 if last is None else max(last, t1)
                check_length(last - first, max_duration, label, stated=True)
    except av.FFmpegError as exc:
        raise MediaRejected(f"cannot read audio packets: {exc}", label, "undecodable") from None
    if stated is not None:
        return stated
    return last - first if first is not None and last is not None else 0.0


def _copy_original(src: MediaInput, dst: str | os.PathLike[str]) -> None:
    if isinstance(src, bytes | bytearray):
        with MediaOutputs(dst) as outs, outs.open(dst) as fout:
            fout.write(src)
        return
    with open(src, "rb") as fin, MediaOutputs(dst) as outs, outs.open(dst) as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
