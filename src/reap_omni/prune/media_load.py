"""Decode calibration media with PyAV: 16 kHz mono audio, RGB frames sampled at a fixed rate.

The model's processor wants arrays, not paths: a float32 waveform at 16 kHz for the audio tower and a
[T, H, W, 3] uint8 frame stack for the vision tower. ``max_seconds`` bounds what is read, which is how
long clips are fitted into ``--max-seq-len``.
"""

from __future__ import annotations

import os

import av
import numpy as np

from reap_omni.errors import InputError

SAMPLE_RATE = 16000


def load_audio(path: str | os.PathLike[str], max_seconds: float | None = None) -> np.ndarray:
    """The first audio stream of ``path`` as float32 mono at 16 kHz."""
    try:
        with av.open(os.fspath(path)) as container:
            if not container.streams.audio:
                raise InputError("has no audio track", path)
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            chunks: list[np.ndarray] = []
            limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
            got = 0
            for frame in container.decode(stream):
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
    wave = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if limit is not None:
        wave = wave[:limit]
    if wave.size < SAMPLE_RATE // 10:
        raise InputError("audio track is shorter than 0.1 s", path)
    return wave


def load_video_frames(
    path: str | os.PathLike[str], fps: float, max_seconds: float | None = None, frame_multiple: int = 2
) -> np.ndarray:
    """RGB frames sampled every ``1/fps`` seconds; the count is padded to a multiple of ``frame_multiple``
    (the vision tower's temporal patch) by repeating the last frame, as qwen-omni-utils does."""
    frames: list[np.ndarray] = []
    next_t = 0.0
    try:
        with av.open(os.fspath(path)) as container:
            if not container.streams.video:
                raise InputError("has no video track", path)
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else len(frames) / fps
                if max_seconds is not None and t >= max_seconds:
                    break
                if t + 1e-6 >= next_t:
                    frames.append(frame.to_ndarray(format="rgb24"))
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
