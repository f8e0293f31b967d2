"""Source kind ``youtube``: clips named by (YouTube id, start, end) in an annotation file, fetched with yt-dlp.

Kinetics, AudioSet, AudioCaps, MusicCaps, HowTo100M and VATEX publish only ids and time windows. With
ffmpeg on the PATH, yt-dlp downloads just the window (``download_ranges``, keyframes forced at the
cuts); without it, the whole (small-format) video is fetched and the window travels in the candidate's
``start``/``end`` so the media step cuts it exactly with PyAV. Dead or unreachable videos are recorded
and skipped; if every attempt fails the source gives up with one clear message. The URL is a template
(``options.url_template``) so tests can serve a video on 127.0.0.1. yt-dlp is an optional extra.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from reap_omni.catalog.spec import SourceSpec
from reap_omni.sources.base import Candidate, MediaBlob, Provenance, SourceUnavailable, Unit
from reap_omni.sources.local_corpora.howto100m import caption_window

DEFAULT_URL_TEMPLATE = "https://www.youtube.com/watch?v={id}"
#: default single-file formats: merging separate audio/video streams would need ffmpeg
DEFAULT_FORMAT = "best[height<=480][ext=mp4]/best[height<=480]/best[ext=mp4]/best"
#: the first N attempts all failing means YouTube (or the URL base) is unreachable, not a few dead ids
GIVE_UP_AFTER = 10

_ID_KEYS = ("youtube_id", "YTID", "ytid", "videoID", "video_id", "id")
_START_KEYS = ("time_start", "start_seconds", "start_s", "start_time", "start")
_END_KEYS = ("time_end", "end_seconds", "end_s", "end_time", "end")
_VATEX_ID = re.compile(r"^(?P<id>[\w-]{11})_(?P<start>\d+)_(?P<end>\d+)$")


def require_yt_dlp():
    """Import yt-dlp or explain how to install the extra."""
    try:
        import yt_dlp  # noqa: PLC0415 - optional extra
    except ImportError:
        from reap_omni.install_hint import install_command

        raise SourceUnavailable(f"YouTube sources need yt-dlp: {install_command('youtube')}",
                                reason="missing_extra") from None
    return yt_dlp


def parse_annotations(text: str, fmt: str | None = None, *, window_s: float = 30.0) -> list[dict[str, Any]]:
    """Rows (source vocabulary) of a Kinetics/AudioSet/MusicCaps CSV, a JSON(L) list (VATEX) or caption.json.

    AudioSet's header lives in a ``#`` comment line; HowTo100M's ``caption.json`` becomes one row per video
    with a ``window_s`` window (see ``caption_window``).
    """
    stripped = text.lstrip()
    if fmt == "howto100m_captions" or (fmt in (None, "json") and stripped.startswith("{")):
        data = json.loads(text)
        return [{"video_id": vid, **caption_window(cap, window_s)} for vid, cap in data.items() if cap.get("text")]
    if fmt == "json" or (fmt is None and stripped.startswith("[")):
        return list(json.loads(text))
    if fmt == "jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    lines = text.splitlines()
    header: list[str] | None = None
    body = []
    for line in lines:
        if line.startswith("#"):
            cols = [c.strip() for c in line.lstrip("#").split(",")]
            if len(cols) >= 3 and any(c in _ID_KEYS for c in cols):
                header = cols  # AudioSet: "# YTID, start_seconds, end_seconds, positive_labels"
            continue
        if line.strip():
            body.append(line)
    reader = csv.reader(io.StringIO("\n".join(body)), skipinitialspace=True)
    if header is None:
        header = [c.strip() for c in next(reader, [])]
    return [dict(zip(header, rec, strict=False)) for rec in reader if rec]


def _first(raw: dict[str, Any], keys: Iterable[str]) -> Any:
    return next((raw[k] for k in keys if raw.get(k) not in (None, "")), None)


def clip_of(raw: dict[str, Any], columns: dict[str, str]) -> tuple[str, float | None, float | None]:
    """(youtube id, start, end) of a row: mapped columns first, then the usual names, then VATEX ids."""
    vid = raw.get(columns["id"]) if "id" in columns else _first(raw, _ID_KEYS)
    start = raw.get(columns["start"]) if "start" in columns else _first(raw, _START_KEYS)
    end = raw.get(columns["end"]) if "end" in columns else _first(raw, _END_KEYS)
    if vid is None:
        raise ValueError(f"no YouTube id column in row {sorted(raw)}")
    m = _VATEX_ID.match(str(vid))
    if m and start is None:
        vid, start, end = m.group("id"), m.group("start"), m.group("end")
    return str(vid), float(start) if start not in (None, "") else None, float(end) if end not in (None, "") else None


def ffmpeg_available() -> bool:
    try:
        from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor  # noqa: PLC0415 - optional extra
    except ImportError:
        return False
    return bool(FFmpegPostProcessor().available)


class _Logger:
    """Keeps yt-dlp quiet; the last error is kept for the failure record."""

    def __init__(self) -> None:
        self.last_error = ""

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        pass

    def error(self, msg: str) -> None:
        self.last_error = msg


def _failure_reason(message: str) -> str:
    lowered = message.lower()
    dead = ("unavailable", "private video", "404", "not found", "removed", "terminated", "copyright", "sign in")
    return "dead" if any(k in lowered for k in dead) else "network"


class YouTubeSource:
    """One unit per annotated clip; ``read`` downloads it (or records why it could not)."""

    def __init__(self, spec: SourceSpec, *, rows: Iterable[dict[str, Any]] | None = None):
        self.spec = spec
        self.options = dict(spec.options)
        self.url_template = self.options.get("url_template", DEFAULT_URL_TEMPLATE)
        self._rows = list(rows) if rows is not None else None
        self.failures: list[dict[str, str]] = []  # {"id", "reason", "message"}
        self.successes = 0
        self._bytes = 0

    @property
    def bytes_read(self) -> int:
        return self._bytes

    def _annotation_rows(self) -> list[dict[str, Any]]:
        if self._rows is not None:
            return self._rows
        location = self.options.get("metadata") or self.spec.metadata or self.spec.url
        if not location:
            raise SourceUnavailable("YouTube source has no annotation file: set metadata or url", reason="layout")
        fmt = self.options.get("metadata_format")
        rows = parse_annotations(self._read_text(str(location)), fmt, window_s=float(self.options.get("window_s", 30)))
        names_at, label_col = self.options.get("label_names_url"), self.spec.columns.get("label")
        if names_at and label_col:  # AudioSet: positive_labels holds "/m/068hy,/m/07q6cd_" ids; show their names
            table = csv.DictReader(io.StringIO(self._read_text(str(names_at))))
            names = {r["mid"]: r["display_name"] for r in table if r.get("mid") and r.get("display_name")}
            for r in rows:
                if r.get(label_col):
                    mids = [m.strip() for m in str(r[label_col]).split(",") if m.strip()]
                    r[label_col] = ", ".join(names.get(m, m) for m in mids)
        self._rows = rows
        return self._rows

    def _read_text(self, location: str) -> str:
        """An annotation file from an http(s) URL or a local path."""
        if re.match(r"^https?://", location):
            from reap_omni.sources.http import HttpClient  # noqa: PLC0415 - only when the annotation is remote

            client = HttpClient()
            text = client.get_bytes(location).decode("utf-8", errors="replace")
            self._bytes += client.bytes_read
            return text
        path = Path(os.path.expanduser(location))
        if not path.is_file():
            raise SourceUnavailable(f"{path}: annotation file not found", reason="not_found")
        return path.read_text(encoding="utf-8", errors="replace")

    def units(self) -> list[Unit]:
        require_yt_dlp()
        units = []
        for i, raw in enumerate(self._annotation_rows()):
            try:
                vid, start, end = clip_of(raw, self.spec.columns)
            except ValueError as exc:
                raise SourceUnavailable(f"annotation row {i + 1}: {exc}", reason="layout") from None
            key = f"{vid}_{start:g}_{end:g}" if start is not None and end is not None else vid
            units.append(Unit(key=key, shard=vid, index=i, rows=1, info={"row": i}))
        return units

    def _record_failure(self, vid: str, message: str) -> None:
        self.failures.append({"id": vid, "reason": _failure_reason(message), "message": message})
        if self.successes == 0 and len(self.failures) >= int(self.options.get("give_up_after", GIVE_UP_AFTER)):
            last = self.failures[-1]["message"]
            raise SourceUnavailable(
                f"YouTube downloads failing: all {len(self.failures)} attempts failed (last: {last}); "
                f"check the network or options.url_template ({self.url_template})",
                reason="network",
            )

    def read(self, unit: Unit) -> Iterator[Candidate]:
        yt_dlp = require_yt_dlp()
        raw = self._annotation_rows()[unit.info["row"]]
        vid, start, end = clip_of(raw, self.spec.columns)
        url = self.url_template.format(id=vid)
        cut_mode = self.options.get("cut", "auto")
        cut = (
            start is not None
            and end is not None
            and (cut_mode == "ytdlp" or (cut_mode == "auto" and ffmpeg_available()))
        )
        logger = _Logger()
        with tempfile.TemporaryDirectory(prefix="reap-omni-yt-") as tmp:
            opts: dict[str, Any] = {
                "outtmpl": os.path.join(tmp, "clip.%(ext)s"),
                "format": self.options.get("format", DEFAULT_FORMAT),
                "quiet": True,
                "no_warnings": True,
                "noprogress": True,
                "noplaylist": True,
                "cachedir": False,
                "logger": logger,
                "socket_timeout": float(self.options.get("socket_timeout", 30)),
                "retries": int(self.options.get("retries", 2)),
            }
            if cut:
                opts["download_ranges"] = yt_dlp.utils.download_range_func(None, [(start, end)])
                opts["force_keyframes_at_cuts"] = True
            try:
                with yt_dlp.YoutubeDL(opts) as ydl:
                    info = ydl.extract_info(url, download=True)
                files = sorted(p for p in Path(tmp).iterdir() if p.is_file() and not p.name.endswith(".part"))
                if not files:
                    raise yt_dlp.utils.DownloadError("no file was written")
            except yt_dlp.utils.YoutubeDLError as exc:
                self._record_failure(vid, logger.last_error or str(exc))
                return
            data = files[0].read_bytes()
            ext = files[0].suffix or "." + str((info or {}).get("ext", "mp4"))
        self._bytes += len(data)
        self.successes += 1
        fields = {ours: raw[theirs] for ours, theirs in self.spec.columns.items() if theirs in raw}
        fields.setdefault("id", vid)
        fields.setdefault("group", vid)
        for k in ("text", "label", "caption"):
            if k not in fields and k in raw:
                fields[k] = raw[k]
        fields["source_start"], fields["source_end"] = start, end
        if cut:  # the bytes are the window already
            fields["start"], fields["end"] = None, None
        else:  # whole video: the media step cuts [start, end)
            fields["start"], fields["end"] = start, end
        yield Candidate(
            key=f"youtube:{unit.key}",
            fields=fields,
            media={"video": MediaBlob(name=f"{vid}{ext}", data=data)},
            provenance=Provenance(kind="youtube", url=url, row=unit.info["row"]),
            group=vid,
        )


def open_source(spec: SourceSpec, *, token: str | None = None, dataset: str | None = None, **_: Any) -> YouTubeSource:
    """``sources.factory`` entry point (the source needs no token; yt-dlp is checked when units are listed)."""
    return YouTubeSource(spec)
