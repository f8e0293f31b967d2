"""Decode calibration media with PyAV: 16 kHz mono audio, RGB frames sampled at a fixed rate.

The model's processor wants arrays, not paths: a float32 waveform at 16 kHz for the audio tower and a
[T, H, W, 3] uint8 frame stack for the vision tower. ``max_seconds`` is where decoding stops (the window
``media_window`` derives from ``--max-seq-len``), so a 3-hour file costs what its first minutes cost;
``shrink`` scales each kept frame down as it is decoded, so a 4K file costs what the processor keeps.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import av
import numpy as np

from reap_omni.errors import InputError

SAMPLE_RATE = 16000


def _decoded(container, stream) -> Iterator:
    """The stream's frames in presentation order (one seam, so tests can count what was decoded)."""
    yield from container.decode(stream)


def load_audio(path: str | os.PathLike[str], max_seconds: float | None = None) -> np.ndarray:
    """The first audio stream of ``path`` as float32 mono at 16 kHz, at most ``max_seconds`` of it.

    Decoding stops at the first frame that completes the window; the resampler is drained only when the
    stream ends inside the window (its buffered tail is then real audio; past the window it is cut anyway).
    """
    limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
    try:
        with av.open(os.fspath(path)) as container:
            if not container.streams.audio:
                raise InputError("has no audio track", path)
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            chunks: list[np.ndarray] = []
            got = 0
            for frame in _decoded(container, stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    got += chunks[-1].size
                if limit is not None and got >= limit:
                    break
            else:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray().reshape(-1))
    except InputError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InputError(f"cannot decode audio: {exc}", path) from None
    wave = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    if limit is not None:
        wave = wave[:limit]
    if wave.size < SAMPLE_RATE // 10:
        raise InputError("audio track is shorter than 0.1 s", path)
    return wave


def video_dimensions(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(height, width) of the first video stream from the container header (nothing is decoded); None if
    the header does not say."""
    try:
        with av.open(os.fspath(path)) as container:
            if not container.streams.video:
                raise InputError("has no video track", path)
            ctx = container.streams.video[0].codec_context
            return (int(ctx.height), int(ctx.width)) if ctx.height and ctx.width else None
    except InputError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InputError(f"cannot decode video: {exc}", path) from None


def load_video_frames(
    path: str | os.PathLike[str], fps: float, max_seconds: float | None = None, frame_multiple: int = 2,
    shrink: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """RGB frames sampled every ``1/fps`` seconds from the first frame on, those of the first ``max_seconds``.

    Only sampled frames are converted to RGB, each passed through ``shrink`` (if given) right away. Frames
    whose size differs from the first kept one are brought to its size, so a stream that changes resolution
    still stacks. The count is padded to a multiple of ``frame_multiple`` (the vision tower's temporal
    patch) by repeating the last frame, as qwen-omni-utils does.
    """
    frames: list[np.ndarray] = []
    start = next_t = None
    try:
        with av.open(os.fspath(path)) as container:
            if not container.streams.video:
                raise InputError("has no video track", path)
            stream = container.streams.video[0]
            for frame in _decoded(container, stream):
                t = float(frame.time) if frame.time is not None else len(frames) / fps
                if start is None:  # a stream that starts late is sampled from its first frame
                    start = next_t = 0.0 if t < 1.0 / fps else t
                if max_seconds is not None and t - start >= max_seconds:
                    break
                if t + 1e-6 >= next_t:
                    frames.append(_kept(frame, shrink, frames[0].shape if frames else None))
                    next_t += 1.0 / fps
    except InputError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InputError(f"cannot decode video: {exc}", path) from None
    if not frames:
        raise InputError("video has no decodable frames", path)
    while len(frames) % frame_multiple:
        frames.append(frames[-1])
    return np.stack(frames)


def _kept(frame, shrink: Callable[[np.ndarray], np.ndarray] | None, shape: tuple[int, ...] | None) -> np.ndarray:
    rgb = frame.to_ndarray(format="rgb24")
    if shrink is not None:
        rgb = shrink(rgb)
    if shape is not None and rgb.shape != shape:
        rgb = frame.to_ndarray(format="rgb24", width=shape[1], height=shape[0])
    return rgb
