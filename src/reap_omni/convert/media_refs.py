"""Check the media paths of training rows the way the trainer will resolve them, once per distinct path.

Both frameworks open media lazily, at encode time, so a missing file surfaces mid-training (SWIFT even
decodes some missing paths as base64 first). This module resolves each path exactly like the target does,
checks that it exists and, on request, that it decodes. Calibration sets reuse few files, so results are
memoised in a bounded cache: memory stays flat and the file system is touched once per path.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable

#: Longest string SWIFT treats as a path; longer ones are always decoded as base64 (vision_utils._check_path).
SWIFT_BASE64_MIN = 2000
#: ms-swift before 4.2.0 silently cut Qwen3-Omni audio to 30 s (issue #9113).
LONG_AUDIO_S = 30.0
_CACHE_LIMIT = 200_000


def _b64_decodes(value: str) -> bool:
    """Whether SWIFT's ``base64.b64decode(path)`` would succeed: the trap that hides missing files."""
    try:
        base64.b64decode(value)
    except (binascii.Error, ValueError):
        return False
    return True


class MediaChecker:
    """Resolve, check existence of and optionally decode media paths for ``target`` ("swift" or
    "llamafactory"). ``check`` returns an error message or ``None``; warnings go to ``warn`` once each."""

    def __init__(self, target: str, *, media_dir: str | None = None, decode: bool = False,
                 audio_in_video: bool = False, allow_base64: bool = False,
                 warn: Callable[[str], None] | None = None):
        self.target = target
        self.media_dir = media_dir
        self.decode = decode
        self.audio_in_video = audio_in_video
        self.allow_base64 = allow_base64
        self.root_dir = os.environ.get("ROOT_IMAGE_DIR") if target == "swift" else None
        self._warn = warn or (lambda msg: None)
        self._warned: set[str] = set()
        self._cache: dict[tuple[str, str], str | None] = {}

    def warn_once(self, key: str, msg: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self._warn(msg)

    def check(self, value: str, kind: str) -> str | None:
        """``kind`` is ``image``, ``video`` or ``audio``; the result for (value, kind) is cached."""
        key = (value, kind)
        cache = self._cache
        if key in cache:
            return cache[key]
        result = self._check(value, kind)
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[key] = result
        return result

    def _resolve(self, value: str) -> str | None:
        if os.path.isabs(value):
            return value if os.path.exists(value) else None
        if self.target == "llamafactory" and self.media_dir:
            joined = os.path.join(self.media_dir, value)
            if os.path.isfile(joined):
                return joined
        if os.path.exists(value):
            self.warn_once("relative", f"relative media path {value!r} resolves against the current directory "
                                       f"({os.getcwd()}) only; train from the same directory or write absolute paths")
            return os.path.abspath(value)
        if self.root_dir:
            joined = os.path.join(self.root_dir, value)
            if os.path.exists(joined):
                return joined
        return None

    def _check(self, value: str, kind: str) -> str | None:
        if value.startswith(("http://", "https://")):
            if self.target == "llamafactory":
                return f"URL {value[:80]!r}: LLaMA-Factory opens media as local files; download it first"
            self.warn_once("url", "URLs are fetched by SWIFT at training time and are not checked here")
            return None
        if value.startswith("data:") or len(value) > SWIFT_BASE64_MIN:
            if self.target == "swift" and self.allow_base64:
                return None
            return (f"inline media ({len(value)} characters, starts {value[:16]!r}): write files and list their paths"
                    + ("" if self.target != "swift" else " (or pass --allow-base64)"))
        path = self._resolve(value)
        if path is None:
            where = "" if os.path.isabs(value) else " (relative paths resolve against the current directory" + (
                ", then media_dir" if self.target == "llamafactory" else ", then ROOT_IMAGE_DIR") + ")"
            trap = (" SWIFT would decode this path as base64 and fail later with a confusing error."
                    if self.target == "swift" and _b64_decodes(value) else "")
            return f"{kind} file not found: {value}{where}.{trap}"
        if os.path.isdir(path):
            return f"{kind} path is a folder: {value}"
        if self.decode:
            return self._decode(path, kind)
        return None

    def _decode(self, path: str, kind: str) -> str | None:
        """Open with PyAV and decode one frame of the stream the trainer will read."""
        import av  # only with --check-media: keeps the plain validator light

        try:
            with av.open(path) as container:
                want = container.streams.audio if kind == "audio" else container.streams.video
                stream = next(iter(want), None)
                if stream is None:
                    return f"{kind} file has no {'audio' if kind == 'audio' else 'video'} stream: {path}"
                if kind == "video" and self.audio_in_video and not container.streams.audio:
                    return (f"video has no audio stream but audio-in-video is on (SWIFT raises 'No audio stream "
                            f"found.'): {path}")
                if next(container.decode(stream), None) is None:
                    return f"{kind} file decodes to no frames: {path}"
                if kind == "audio":
                    seconds = _seconds(container, stream)
                    if seconds is not None and seconds > LONG_AUDIO_S:
                        self.warn_once("long-audio", f"audio longer than {LONG_AUDIO_S:.0f} s (e.g. {path}, "
                                                     f"{seconds:.1f} s): ms-swift < 4.2.0 truncates it for Qwen3-Omni")
        except (av.FFmpegError, ValueError, OSError) as exc:
            return f"{kind} file does not decode: {path}: {exc}"
        return None


def _seconds(container, stream) -> float | None:
    if container.duration:
        return container.duration / 1_000_000  # AV_TIME_BASE
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return None
