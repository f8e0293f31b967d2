"""Probe a media file with PyAV: container, streams, duration, size, frame rate."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import av

from reap_omni.errors import InputError

#: media given either as bytes already in memory or as a file path
MediaInput = bytes | str | os.PathLike[str]


class MediaRejected(InputError):
    """A media input that cannot become a row; ``reason`` is a short category recorded in the stats.

    Reasons: ``not_found``, ``empty``, ``undecodable``, ``no_audio``, ``no_video``, ``empty_window``,
    ``too_long`` (over the row's ``max_duration``).
    """

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None, reason: str = "undecodable"):
        super().__init__(message, path)
        self.reason = reason


#: the longest media a row is made from unless the caller says otherwise (10 minutes), seconds
DEFAULT_MAX_DURATION = 600.0


def header_slack(max_duration: float) -> float:
    """How far a container's stated duration may exceed the limit before it is refused without decoding.

    Stated durations are estimates (encoder priming, bitrate guesses for headerless MP3); within this margin
    decoding decides, exactly and at the cost of at most ``max_duration`` seconds decoded.
    """
    return 0.5 + 0.01 * max_duration


def check_length(seconds: float | None, max_duration: float | None, label: str, *, stated: bool) -> None:
    """``MediaRejected`` (reason ``too_long``) when ``seconds`` is over ``max_duration``.

    ``stated``: ``seconds`` comes from a header (allowed ``header_slack``), else from decoded samples (exact).
    """
    if seconds is None or max_duration is None:
        return
    if seconds > max_duration + (header_slack(max_duration) if stated else 0.0):
        where = "the container says " if stated else "decoding passed "
        raise MediaRejected(f"{where}{seconds:.2f}s, over the {max_duration:g}s limit (--max-duration)", label,
                            "too_long")


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


def source_name(src: MediaInput, name: str | None = None) -> str:
    """The name errors use for ``src``: the caller's name, else the path, else ``<bytes>``."""
    if name:
        return name
    return "<bytes>" if isinstance(src, bytes | bytearray) else os.fspath(src)


@contextlib.contextmanager
def open_input(src: MediaInput, name: str | None = None) -> Iterator[av.container.InputContainer]:
    """Open bytes or a path for demuxing; a missing, empty or unreadable input is an ``InputError``."""
    label = source_name(src, name)
    if isinstance(src, bytes | bytearray):
        if not src:
            raise MediaRejected("empty media (0 bytes)", label, "empty")
        target = io.BytesIO(src)
    else:
        target = os.fspath(src)
        if not os.path.exists(target):
            raise MediaRejected("media file not found", label, "not_found")
        if os.path.getsize(target) == 0:
            raise MediaRejected("empty media file (0 bytes)", label, "empty")
    try:
        container = av.open(target)
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise MediaRejected(f"cannot open media: {exc}", label, "undecodable") from None
    with container:
        yield container


def probe(path: MediaInput, name: str | None = None) -> MediaInfo:
    """Report the streams of a file (or of bytes); ``InputError`` if it is missing or does not decode."""
    label = source_name(path, name)
    try:
        with open_input(path, label) as container:
            audio = next(iter(container.streams.audio), None)
            video = next((s for s in container.streams.video if not _is_cover_art(s)), None)
            duration = stated_duration(container, audio, video)
            fps = None
            if video is not None and video.average_rate:
                fps = float(video.average_rate)
            return MediaInfo(
                path=label,
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
        raise MediaRejected(f"cannot decode media: {exc}", label, "undecodable") from None


def _is_cover_art(stream) -> bool:
    return bool(getattr(stream, "disposition", 0) and "attached_pic" in str(stream.disposition).lower())


def container_origin(container) -> float:
    """Seconds at which the source's timeline starts; annotated times (segments) are relative to it."""
    start = getattr(container, "start_time", None)
    return start / av.time_base if start is not None else 0.0


def stated_duration(container, *streams) -> float | None:
    """Seconds the container (else the first of ``streams`` that knows) says it lasts; None when unknown."""
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    for s in streams:
        if s is not None and s.duration is not None and s.time_base is not None:
            return float(s.duration * s.time_base)
    return None
