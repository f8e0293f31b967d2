"""Video normalisation: a bounded window of any decodable video -> H.264/AAC MP4 (+ a 16 kHz mono track).

Calibration needs short clips that Qwen3-Omni's video readers (torchcodec, decord, torchvision) all
open: constant frame rate, yuv420p, even dimensions, ``moov`` at the front. Long sources are cut to a
window around the annotated segment and re-encoded, because stream-copy cuts snap to keyframes. One
demux pass drives video, the kept audio and the separate 16 kHz track together, so output is naturally
interleaved and memory stays bounded (one frame at a time). A source longer than ``max_duration`` (10
minutes by default) is refused from its header before decoding, or as soon as decoding passes the limit.
Outputs are written to temp files and renamed (``media.output``), so a killed run or a full disk leaves
nothing half-written, and a storage failure is a plain ``OSError`` naming the destination.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from fractions import Fraction

import av

from reap_omni.media.audio import WindowedResampler, encode_samples
from reap_omni.media.output import MediaOutputs
from reap_omni.media.probe import (
    DEFAULT_MAX_DURATION,
    MediaInput,
    MediaRejected,
    check_length,
    container_origin,
    open_input,
    source_name,
    stated_duration,
)

#: H.264 encoders in order of preference; ``mpeg4`` (MPEG-4 Part 2) is the last resort all readers decode
VIDEO_ENCODERS = ("libx264", "libopenh264", "mpeg4")
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
_EPS = 1e-6


@dataclass(frozen=True)
class VideoResult:
    """The written clip and where it sits in the source, for the manifest."""

    path: str
    duration: float
    width: int
    height: int
    fps: float
    has_audio: bool  # the written MP4 carries an audio stream
    clip_start: float  # window within the source, seconds
    clip_end: float
    video_codec: str  # encoder actually used (records a fallback when libx264 is missing)
    source_duration: float | None = None
    source_width: int | None = None
    source_height: int | None = None
    source_fps: float | None = None
    source_has_audio: bool = False
    audio_stripped: bool = False  # the source had audio and it was left out on purpose
    audio_path: str | None = None  # separate 16 kHz mono WAV (mixed rows)
    audio_duration: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def video_encoder() -> str:
    """The best H.264-compatible encoder this PyAV build ships."""
    for name in VIDEO_ENCODERS:
        if name in av.codecs_available:
            with contextlib.suppress(Exception):
                av.codec.Codec(name, "w")
                return name
    raise RuntimeError("this PyAV build has no usable video encoder (libx264, libopenh264, mpeg4)")


def choose_window(
    duration: float | None, max_seconds: float | None, segment: tuple[float, float] | None = None
) -> tuple[float, float | None]:
    """The [start, end) to keep: all of a short source, else ``max_seconds`` centred on the segment.

    Without a segment the window is centred on the source's midpoint; it is clamped inside the source.
    With an unknown duration the window starts at the segment centre minus half (or 0).
    """
    if max_seconds is None or max_seconds <= 0:
        return 0.0, duration
    if duration is not None and duration <= max_seconds + _EPS:
        return 0.0, duration
    if segment is not None:
        centre = (segment[0] + segment[1]) / 2
    elif duration is not None:
        centre = duration / 2
    else:
        return 0.0, max_seconds
    start = max(0.0, centre - max_seconds / 2)
    if duration is not None:
        start = max(0.0, min(start, duration - max_seconds))
    return start, start + max_seconds


def output_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """Scale so the longer side is at most ``max_side`` (aspect kept), rounded down to even numbers."""
    scale = 1.0
    if max_side is not None and max(width, height) > max_side:
        scale = max_side / max(width, height)

    def even(x: float) -> int:
        return max(2, int(x) // 2 * 2)

    return even(width * scale + 1e-9), even(height * scale + 1e-9)


def _source_fps(stream) -> Fraction | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return None


def normalize_video(
    src: MediaInput,
    dst: str | os.PathLike[str],
    *,
    name: str | None = None,
    max_seconds: float | None = 30.0,
    segment: tuple[float, float] | None = None,
    max_side: int | None = None,
    fps: float | None = None,
    keep_audio: bool = False,
    require_audio: bool = False,
    audio_out: str | os.PathLike[str] | None = None,
    audio_rate: int = 16000,
    max_duration: float | None = DEFAULT_MAX_DURATION,
) -> VideoResult:
    """Cut, scale and re-encode ``src`` to an H.264/AAC MP4 at ``dst``.

    ``keep_audio`` keeps the audio track in the MP4 (AAC); ``audio_out`` also writes the window's audio as
    a mono ``audio_rate`` WAV. Mixed rows pass ``require_audio`` (implied by ``audio_out``): a source
    without an audio stream is then rejected (``MediaRejected`` reason ``no_audio``). A source without a
    decodable video stream is rejected with reason ``no_video``.

    ``max_duration`` limits the *source* (as ``--max-duration`` does for video rows; ``max_seconds`` is the
    clip cut from it): a longer source is rejected with reason ``too_long``, from its stated duration before
    decoding, else when a decoded frame passes the limit (None: no limit; the window still bounds decoding).
    A storage failure (disk full, quota, read-only, permission) is a plain ``OSError`` with its errno and the
    destination as filename; existing files at ``dst``/``audio_out`` are kept.
    """
    label = source_name(src, name)
    require_audio = require_audio or audio_out is not None
    if segment is not None and (segment[0] < 0 or segment[1] < segment[0]):
        raise MediaRejected(f"bad segment {segment}: need 0 <= start <= end", label, "segment")
    with open_input(src, label) as container:
        vstream = next((s for s in container.streams.video if not _is_cover_art(s)), None)
        if vstream is None:
            raise MediaRejected("no video stream", label, "no_video")
        astream = container.streams.audio[0] if container.streams.audio else None
        if require_audio and astream is None:
            raise MediaRejected("no audio stream", label, "no_audio")
        check_length(stated_duration(container, vstream), max_duration, label, stated=True)
        try:
            return _transcode(
                container, vstream, astream, dst, label=label, max_seconds=max_seconds, segment=segment,
                max_side=max_side, fps=fps, keep_audio=keep_audio, audio_out=audio_out, audio_rate=audio_rate,
                max_duration=max_duration,
            )  # fmt: skip
        except av.FFmpegError as exc:
            raise MediaRejected(f"cannot decode video: {exc}", label, "undecodable") from None


def _is_cover_art(stream) -> bool:
    return bool(getattr(stream, "disposition", 0) and "attached_pic" in str(stream.disposition).lower())


def _transcode(
    container, vstream, astream, dst, *, label, max_seconds, segment, max_side, fps, keep_audio, audio_out, audio_rate,
    max_duration,
) -> VideoResult:  # fmt: skip
    origin = container_origin(container)
    src_duration = stated_duration(container, vstream)
    clip_start, clip_end = choose_window(src_duration, max_seconds, segment)
    src_fps = _source_fps(vstream)
    out_fps = Fraction(src_fps or 25).limit_denominator(1001)
    if fps is not None and fps > 0 and (src_fps is None or fps < float(src_fps)):
        out_fps = Fraction(fps).limit_denominator(1001)
    src_w, src_h = vstream.codec_context.width, vstream.codec_context.height
    if not src_w or not src_h:
        raise MediaRejected("video stream has no frame size", label, "no_video")
    width, height = output_size(src_w, src_h, max_side)
    mux_audio = keep_audio and astream is not None
    streams = [vstream] + ([astream] if astream is not None and (mux_audio or audio_out is not None) else [])
    for s in streams:
        s.thread_type = "AUTO"
    if clip_start > 0:
        container.seek(int((clip_start + origin) / vstream.time_base), stream=vstream, backward=True)

    encoder = video_encoder()
    with MediaOutputs(dst, audio_out) as paths:
        out = paths.container(dst, "mp4", {"movflags": "+faststart"})
        wav = paths.container(audio_out, "wav") if audio_out is not None else None
        try:
            video = _VideoSink(out, encoder, width, height, out_fps, clip_start, clip_end, origin)
            aac = _AudioSink(out, "aac", astream, clip_start, clip_end, origin) if mux_audio else None
            mono = _AudioSink(wav, "pcm_s16le", astream, clip_start, clip_end, origin, rate=audio_rate) if wav else None
            sinks = {vstream.index: [video]}
            if astream is not None:
                sinks[astream.index] = [s for s in (aac, mono) if s is not None]
            for packet in container.demux(*streams):
                for frame in packet.decode():
                    if max_duration is not None and frame.time is not None:
                        check_length(float(frame.time) - origin, max_duration, label, stated=False)
                    for sink in sinks[packet.stream.index]:
                        sink.feed(frame)
                if video.done and all(s.done for s in sinks.get(astream.index if astream else -1, [])):
                    break
            video.finish()
            for sink in (aac, mono):
                if sink is not None:
                    sink.finish()
        finally:
            try:
                out.close()
            finally:
                if wav is not None:
                    wav.close()
        if video.frames == 0:
            raise MediaRejected(
                f"no video frames decoded in window [{clip_start:.3f}, {clip_end})", label, "empty_window"
            )
        if mono is not None and mono.samples == 0:
            raise MediaRejected("no audio samples decoded in the clip window", label, "no_audio")

    duration = video.frames / float(out_fps)
    return VideoResult(
        path=os.fspath(dst),
        duration=duration,
        width=width,
        height=height,
        fps=float(out_fps),
        has_audio=aac is not None and aac.samples > 0,
        clip_start=clip_start,
        clip_end=clip_start + duration,
        video_codec=encoder,
        source_duration=src_duration,
        source_width=src_w,
        source_height=src_h,
        source_fps=float(src_fps) if src_fps else None,
        source_has_audio=astream is not None,
        audio_stripped=astream is not None and not keep_audio,
        audio_path=os.fspath(audio_out) if audio_out is not None else None,
        audio_duration=mono.samples / audio_rate if mono is not None else None,
    )


class _VideoSink:
    """Turns decoded frames (any rate, VFR included) into constant-rate frames of the window, encoded."""

    def __init__(self, out, encoder: str, width: int, height: int, fps: Fraction, start: float, end, origin: float):
        self.out, self.fps, self.start, self.end, self.origin = out, fps, start, end, origin
        self.stream = out.add_stream(encoder, rate=fps)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        if encoder == "libx264":
            self.stream.options = {"preset": "veryfast", "crf": "23"}
        elif encoder == "mpeg4":
            self.stream.bit_rate = max(200_000, width * height * 4)
        self.width, self.height = width, height
        self.prev = None  # last frame at or before the next output tick
        self.last_t = 0.0
        self.frames = 0
        self.done = False
        self._step: float | None = None

    def _tick(self) -> float:
        return self.frames / float(self.fps)

    def _emit_until(self, t: float) -> None:
        """Repeat ``prev`` for every output tick before source-relative time ``t``."""
        limit = t if self.end is None else min(t, self.end - self.start)
        while self.prev is not None and self._tick() < limit - _EPS:
            frame = self.prev.reformat(width=self.width, height=self.height, format="yuv420p")
            frame.pts = self.frames
            frame.time_base = Fraction(1) / self.fps
            for packet in self.stream.encode(frame):
                self.out.mux(packet)
            self.frames += 1

    def feed(self, frame) -> None:
        if self.done:
            return
        t = (float(frame.time) - self.origin if frame.time is not None else self.last_t) - self.start
        if self.prev is not None and t > self.last_t:
            self._step = t - self.last_t if self._step is None else min(self._step, t - self.last_t)
        if self.end is not None and t >= self.end - self.start - _EPS:
            self._emit_until(t)
            self.done = True
            return
        self._emit_until(t)
        self.prev, self.last_t = frame, t

    def finish(self) -> None:
        if not self.done and self.prev is not None:
            # the last frame lasts one source frame interval (or one output tick when unknown)
            self._emit_until(self.last_t + (self._step or 1 / float(self.fps)))
        for packet in self.stream.encode(None):
            self.out.mux(packet)


class _AudioSink:
    """Resamples the audio of the window and encodes it (AAC into the MP4, or PCM into the WAV)."""

    def __init__(self, out, encoder: str, astream, start: float, end, origin: float, rate: int | None = None):
        src_rate = astream.codec_context.sample_rate
        channels = astream.codec_context.channels or 1
        if rate is None:  # AAC in the MP4: keep the source's rate and stereo/mono
            rate = src_rate if src_rate in AAC_RATES else 48000
            self.layout = "stereo" if channels >= 2 else "mono"
            self.fmt = "fltp"
        else:
            self.layout, self.fmt = "mono", "s16"
        self.out, self.rate = out, rate
        self.stream = out.add_stream(encoder, rate=rate, layout=self.layout)
        self.window = WindowedResampler(
            rate=rate, layout=self.layout, sample_format=self.fmt, start=start, end=end, origin=origin
        )
        self.samples = 0

    @property
    def done(self) -> bool:
        return self.window.done

    def _write(self, chunks) -> None:
        for chunk in chunks:
            self.samples += encode_samples(
                self.out, self.stream, chunk, rate=self.rate, offset=self.samples, fmt=self.fmt, layout=self.layout
            )

    def feed(self, frame) -> None:
        self._write(self.window.feed(frame))

    def finish(self) -> None:
        self._write(self.window.feed(None))
        for packet in self.stream.encode(None):
            self.out.mux(packet)
