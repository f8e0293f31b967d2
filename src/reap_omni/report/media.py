"""Media facts of a manifest row for ``reap-omni report``: from the row when it has them, else probed once.

A row written by the calibration-set engine carries most facts (``duration``, ``width``/``height``/``fps``,
``meta.sample_rate``); a row assembled by hand may carry none. Whatever a row lacks is probed with PyAV
(``reap_omni.media.probe``), once per file: the ``ProbeCache`` keeps each file's facts keyed by its size and
modification time, in memory and, when given a path, in a small JSON file beside the report, so a rerun
probes only what changed.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from reap_omni.fileio import atomic_write_bytes
from reap_omni.manifest.paths import absolute_media_path
from reap_omni.manifest.record import Record

#: bump when the cached facts change meaning; an older cache file is then ignored
CACHE_VERSION = 1
FACTS = ("duration", "sample_rate", "channels", "width", "height", "fps")


def fps_label(fps: float) -> str:
    """Frame rates as the report groups them: rounded to 3 decimals (29.97002997 -> ``29.97``)."""
    return f"{round(float(fps), 3):g}"


def media_format(path: str) -> str:
    """The file's extension, lower case without the dot (``wav``, ``mp4``); ``none`` without one."""
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    return ext or "none"


class ProbeCache:
    """Probed facts per media file (probed at most once per size and modification time)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, enabled: bool = True):
        self.path = Path(path) if path is not None else None
        self.enabled = enabled
        self.probed = 0  # files probed in this run
        self.reused = 0  # files whose facts came from the cache file of an earlier run
        self._entries: dict[str, dict[str, Any]] = {}
        self._fresh: set[str] = set()
        self._dirty = False
        self._lock = threading.Lock()
        if self.path is not None and enabled:
            self._load()

    def _load(self) -> None:
        try:
            data = msgspec.json.decode(self.path.read_bytes())
        except (OSError, msgspec.DecodeError, UnicodeDecodeError):
            return  # no cache yet, or a damaged one: probe again
        if isinstance(data, dict) and data.get("version") == CACHE_VERSION and isinstance(data.get("files"), dict):
            self._entries = {k: v for k, v in data["files"].items() if isinstance(v, dict)}

    def known(self, media: str) -> tuple[dict[str, Any] | None, list[int] | None]:
        """``(facts, None)`` when known without probing (cached, or an error), else ``(None, stamp)``."""
        if not self.enabled:
            return {"error": "not_probed"}, None
        if "://" in media:
            return {"error": "remote"}, None
        try:
            st = os.stat(media)
        except OSError:
            return {"error": "not_found"}, None
        stamp = [st.st_size, st.st_mtime_ns]
        with self._lock:
            entry = self._entries.get(media)
            if entry is not None and entry.get("stamp") == stamp and isinstance(entry.get("facts"), dict):
                if media not in self._fresh:
                    self._fresh.add(media)
                    self.reused += 1
                return entry["facts"], None
        return None, stamp

    def facts(self, media: str) -> dict[str, Any]:
        """The file's facts (``FACTS`` keys, None when the file lacks one), or ``{"error": reason}``.

        Reasons: ``not_found``, ``empty``, ``undecodable``, ``remote`` (a URL is not fetched), ``not_probed``.
        Thread-safe: ``report`` probes the files a block of rows needs on a few threads.
        """
        got, stamp = self.known(media)
        if got is not None:
            return got
        from reap_omni.media.probe import MediaRejected, probe

        try:
            info = probe(media)
            facts: dict[str, Any] = {k: getattr(info, k) for k in FACTS}
        except MediaRejected as exc:
            facts = {"error": exc.reason}
        with self._lock:
            if media not in self._fresh:
                self._fresh.add(media)
                self.probed += 1
            self._entries[media] = {"stamp": stamp, "facts": facts}
            self._dirty = True
        return facts

    def save(self) -> None:
        """Write the cache file (atomically) when this run probed anything; a failure to write is ignored."""
        if self.path is None or not self._dirty:
            return
        data = {"version": CACHE_VERSION, "files": {k: self._entries[k] for k in sorted(self._fresh)}}
        with contextlib.suppress(Exception):  # a cache is an optimisation: never fail the report over it
            atomic_write_bytes(self.path, msgspec.json.encode(data))


@dataclass
class RowFacts:
    """What the report needs from one row's media, and where each fact came from."""

    duration: float | None = None
    duration_from: str = "unknown"  # manifest, probed, unknown
    #: fact -> value label (``sample_rate`` "16000", ``channels`` "1", ``resolution`` "64x48", ``fps`` "10")
    values: dict[str, str] = field(default_factory=dict)
    #: fact -> manifest / probed / unknown
    origin: dict[str, str] = field(default_factory=dict)
    formats: list[str] = field(default_factory=list)  # ``audio:wav``, ``video:mp4``
    problems: list[tuple[str, str]] = field(default_factory=list)  # (reason, path) of media that did not probe


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


#: how a row's media facts are looked up: path -> facts (``ProbeCache.facts``, or a lookup that only records)
FactsOf = Callable[[str], dict[str, Any]]


class _Prober:
    """Look a path of one row up at most once, remembering problems."""

    def __init__(self, facts_of: FactsOf, facts: RowFacts):
        self.facts_of, self.row, self.seen = facts_of, facts, {}

    def __call__(self, path: str | None) -> dict[str, Any]:
        if not path:
            return {}
        if path not in self.seen:
            got = self.facts_of(path)
            if "error" in got and got["error"] not in ("not_probed", "pending"):
                self.row.problems.append((got["error"], path))
            self.seen[path] = got
        return self.seen[path]


def row_facts(rec: Record, base_dir: str, facts_of: FactsOf) -> RowFacts:
    """The duration and media formats of one row: the manifest's facts first, probing only what is missing.

    Audio facts (sample rate, channels) come from ``meta.sample_rate``/``meta.channels``, else the row's
    ``audio`` file (for ``mixed`` rows without one, the video's audio track). Video facts (resolution, fps)
    come from ``width``/``height``/``fps``, else the ``video`` file. Relative media paths resolve against
    the manifest's folder, as ``validate`` resolves them.
    """
    out = RowFacts()
    probe = _Prober(facts_of, out)
    audio = absolute_media_path(rec.audio, base_dir) if rec.audio else None
    video = absolute_media_path(rec.video, base_dir) if rec.video else None
    if audio:
        out.formats.append(f"audio:{media_format(audio)}")
    if video:
        out.formats.append(f"video:{media_format(video)}")
    main = audio if rec.modality == "audio" else video
    if rec.duration is not None:
        out.duration, out.duration_from = float(rec.duration), "manifest"
    elif main:
        d = probe(main).get("duration")
        if _positive(d):
            out.duration, out.duration_from = float(d), "probed"
    meta = rec.meta or {}
    if rec.modality in ("audio", "mixed"):
        track = audio or video
        for fact, key in (("sample_rate", "sample_rate"), ("channels", "channels")):
            value, origin = meta.get(key), "manifest"
            if not _positive(value):
                value, origin = probe(track).get(fact), "probed"
            if _positive(value):
                out.values[fact], out.origin[fact] = str(int(value)), origin
            else:
                out.values[fact], out.origin[fact] = "unknown", "unknown"
    if rec.modality in ("video", "mixed"):
        w, h, origin = rec.width, rec.height, "manifest"
        if not (_positive(w) and _positive(h)):
            got = probe(video)
            w, h, origin = got.get("width"), got.get("height"), "probed"
        if _positive(w) and _positive(h):
            out.values["resolution"], out.origin["resolution"] = f"{int(w)}x{int(h)}", origin
        else:
            out.values["resolution"], out.origin["resolution"] = "unknown", "unknown"
        fps, origin = rec.fps, "manifest"
        if not _positive(fps):
            fps, origin = probe(video).get("fps"), "probed"
        if _positive(fps):
            out.values["fps"], out.origin["fps"] = fps_label(fps), origin
        else:
            out.values["fps"], out.origin["fps"] = "unknown", "unknown"
    return out
