"""Probe a media file with PyAV: container, streams, duration, size, frame rate."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import av

from reap_omni.errors import InputError


@dataclass(frozen=True)
class MediaInfo:
    """What a file really contains, as recorded in the manifest."""

    path: str
    container: str
    duration: float | None
    has_audio: bool
    has_video: bool
    sample_rate: int | None = None
    channels: int | None = None
    audio_codec: str | None = None
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Open ``path`` and report its streams; raises ``InputError`` if it is missing or does not decode."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError("media file not found", path)
    try:
        with av.open(path) as container:
            audio = next(iter(container.streams.audio), None)
            video = next((s for s in container.streams.video if not _is_cover_art(s)), None)
            duration = _duration(container, audio, video)
            fps = None
            if video is not None and video.average_rate:
                fps = float(video.average_rate)
            return MediaInfo(
                path=path,
                container=container.format.name,
                duration=duration,
                has_audio=audio is not None,
                has_video=video is not None,
                sample_rate=audio.codec_context.sample_rate if audio is not None else None,
                channels=audio.codec_context.channels if audio is not None else None,
                audio_codec=audio.codec_context.name if audio is not None else None,
                video_codec=video.codec_context.name if video is not None else None,
                width=video.codec_context.width if video is not None else None,
                height=video.codec_context.height if video is not None else None,
                fps=fps,
            )
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise InputError(f"cannot decode media: {exc}", path) from None


def _is_cover_art(stream) -> bool:
    return bool(getattr(stream, "disposition", 0) and "attached_pic" in str(stream.disposition).lower())


def _duration(container, audio, video) -> float | None:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    for s in (audio, video):
        if s is not None and s.duration is not None and s.time_base is not None:
            return float(s.duration * s.time_base)
    return None
