"""CSV and JSON tables to unified manifest rows.

Both formats are read as a stream of rows (a CSV record, a JSON array element, a JSONL line) that are
mapped to ``Record`` by the same ``RowMapper``: the column/key names come from flags, relative media
paths are resolved against the input's folder, the modality is fixed or inferred from the filled media
fields, and every row is schema-checked before it is written. Errors name the file and the line where
the row starts.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from reap_omni.convert.json_stream import LAYOUTS, detect_layout, get_path, iter_elements
from reap_omni.convert.output import ConvertReport, prepare_output
from reap_omni.errors import InputError, ReapOmniError
from reap_omni.manifest.ids import IdIndex
from reap_omni.manifest.jsonl import (
    BOM,
    JSON_ERRORS,
    JsonlWriter,
    json_error_message,
    max_line_bytes,
    read_jsonl_entries,
)
from reap_omni.manifest.paths import MediaResolver
from reap_omni.manifest.record import MODALITIES, Record, RowErrors, record_problems

VIDEO_MODALITIES = ("auto", "video", "mixed")
#: column/key names used when the matching flag is not given (only if the input has them)
DEFAULT_KEYS = {"id": "id", "text": "text", "audio": "audio", "video": "video", "image": "image"}

_Missing = object()


@dataclass
class FieldMap:
    """Which input columns/keys feed which record fields, plus fixed values for every row."""

    id: str | None = None
    text: str | None = None
    audio: str | None = None
    video: str | None = None
    image: str | None = None
    modality: str | None = None
    #: modality of rows that only carry a video: ``video``, ``mixed``, or ``auto`` (probe the file)
    video_modality: str = "video"
    name: str | None = None
    task: str | None = None
    lang: str | None = None
    split: str | None = None
    meta: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.modality is not None and self.modality not in MODALITIES:
            raise ReapOmniError(f"--modality must be one of {', '.join(MODALITIES)}, got {self.modality!r}")
        if self.video_modality not in VIDEO_MODALITIES:
            raise ReapOmniError(f"--video-modality must be one of {', '.join(VIDEO_MODALITIES)}")

    def explicit(self) -> dict[str, str]:
        """Record field -> key for the keys the user named: each must exist in the input."""
        named = {f: getattr(self, f) for f in DEFAULT_KEYS if getattr(self, f)}
        named.update({f"meta:{k}": k for k in self.meta})
        return named


def _as_text(value: Any, key: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"field {key!r} must be a string, got {_type_name(value)}")
    return str(value)


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", bool: "boolean", type(None): "null"}.get(type(value), type(value).__name__)


def infer_modality(has_audio: bool, has_video: bool, has_image: bool) -> str:
    """The modality a row's filled media fields imply (audio + video is a video with its audio track)."""
    if has_video:
        return "mixed" if has_audio else "video"
    if has_audio:
        return "audio"
    if has_image:
        return "image"
    return "text"


class RowMapper:
    """Turns one input row (any mapping accessed through ``get``) into a checked ``Record``."""

    def __init__(self, fields: FieldMap, resolver: MediaResolver, source_name: str, keys: dict[str, str]):
        self.fields = fields
        self.resolver = resolver
        self.dataset = fields.name or source_name
        self.keys = keys  # record field -> input key, explicit and defaults that exist
        self.explicit = fields.explicit()
        self.index = 0

    def record(self, get: Callable[[str], Any], path: str, line: int) -> Record:
        """Map one row; ``get(key)`` returns the value or ``_Missing``. Raises ``InputError`` at ``path:line``."""
        self.index += 1
        try:
            return self._record(get, path, line)
        except ValueError as exc:
            raise InputError(str(exc), path, line) from None

    def _value(self, get: Callable[[str], Any], fieldname: str) -> Any:
        key = self.keys.get(fieldname)
        if key is None:
            return None
        value = get(key)
        if value is _Missing:
            if fieldname in self.explicit:
                raise ValueError(f"missing key {key!r}")
            return None
        return value

    def _media(self, get: Callable[[str], Any], fieldname: str, path: str, line: int) -> str | list[str] | None:
        value = self._value(get, fieldname)
        key = self.keys.get(fieldname)
        if value is None or value == "":
            return None
        if isinstance(value, list) and fieldname == "image":
            if not all(isinstance(v, str) and v.strip() for v in value):
                raise ValueError(f"field {key!r} must be a list of non-empty paths")
            return [self.resolver.resolve(v, path, line) for v in value] or None
        if not isinstance(value, str):
            raise ValueError(f"field {key!r} must be a path (string), got {_type_name(value)}")
        if not value.strip():
            return None
        return self.resolver.resolve(value, path, line)

    def _record(self, get: Callable[[str], Any], path: str, line: int) -> Record:
        f = self.fields
        raw_id = self._value(get, "id")
        original_id = _as_text(raw_id, self.keys.get("id", "id")).strip() if raw_id is not None else ""
        text = _as_text(self._value(get, "text"), self.keys.get("text", "text"))
        audio = self._media(get, "audio", path, line)
        video = self._media(get, "video", path, line)
        image = self._media(get, "image", path, line)
        if isinstance(audio, list) or isinstance(video, list):
            raise ValueError("audio and video fields take one path each")
        modality = f.modality
        if modality is None:
            modality = infer_modality(bool(audio), bool(video), bool(image))
            if modality == "video" and f.video_modality != "video":
                modality = self._video_modality(video)
            if modality == "text" and not text.strip():
                raise ValueError("row has no text and no media")
        if original_id:
            row_id = f"{f.name}_{original_id}" if f.name else original_id
        else:
            row_id = f"{self.dataset}_{self.index:06d}"
        source: dict[str, Any] = {"dataset": self.dataset}
        if f.split:
            source["split"] = f.split
        if original_id:
            source["original_id"] = original_id
        meta = None
        if f.meta:
            meta = {}
            for key in f.meta:
                value = get(key)
                if value is _Missing:
                    raise ValueError(f"missing key {key!r}")
                meta[key] = value
        rec = Record(
            id=row_id, modality=modality, text=text, audio=audio, video=video, image=image,
            task=f.task, source=source, lang=f.lang, meta=meta,
        )
        problems = record_problems(rec)
        if problems:
            raise ValueError("; ".join(problems))
        return rec

    def _video_modality(self, video: str | None) -> str:
        if self.fields.video_modality == "mixed":
            return "mixed"
        from reap_omni.media.probe import probe  # auto: the file decides

        if video is None:
            return "video"
        full = video if os.path.isabs(video) else os.path.join(self.resolver.base_dir, video)
        if not os.path.isfile(full):
            return "video"
        try:
            return "mixed" if probe(full).has_audio else "video"
        except InputError as exc:  # re-raised by ``record`` at this row's line
            raise ValueError(f"{full}: {exc.message}") from None


def _write_rows(
    rows: Iterator[tuple[int, Callable[[str], Any] | InputError]],
    mapper: RowMapper,
    input_path: str,
    output: str | os.PathLike[str],
    errors: RowErrors,
) -> ConvertReport:
    """Map and write rows, checking ids are unique; row errors go to ``errors`` (raise unless skipping)."""
    report = ConvertReport(output=os.fspath(output), errors=errors)
    ids = IdIndex()
    with JsonlWriter(output) as w:
        for line, get in rows:
            try:
                if isinstance(get, InputError):
                    raise get
                rec = mapper.record(get, input_path, line)
                first = ids.add(rec.id, 0, line)
                if first is not None:
                    raise InputError(f"duplicate id {rec.id!r} (first at line {first[1]})", input_path, line)
            except InputError as exc:
                errors.add(exc)
                continue
            w.write(rec)
        report.written = w.count
    report.missing_media = mapper.resolver.missing
    if mapper.resolver.missing:
        report.notes.append(mapper.resolver.summary())
    return report


# --- CSV -------------------------------------------------------------------------------------------


class _LineFeed:
    """Feeds decoded physical lines to ``csv.reader`` while counting them and noting invalid UTF-8."""

    def __init__(self, f: BinaryIO, path: str):
        self.f = f
        self.path = path
        self.limit = max_line_bytes()
        self.count = 0
        self.bad: dict[int, str] = {}

    def __iter__(self) -> Iterator[str]:
        while True:
            raw = self.f.readline(self.limit + 1)
            if not raw:
                return
            self.count += 1
            if len(raw) > self.limit and not raw.endswith(b"\n"):
                raise InputError(
                    f"line is longer than {self.limit // (1024 * 1024)} MiB (set REAP_OMNI_MAX_LINE_BYTES to allow it)",
                    self.path,
                    self.count,
                )
            if self.count == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.bad[self.count] = f"invalid UTF-8 at byte {exc.start} of line {self.count}"
                yield raw.decode("utf-8", "replace")


def read_csv(
    path: str | os.PathLike[str], delimiter: str = ","
) -> tuple[list[str], Iterator[tuple[int, list[str] | InputError]]]:
    """The header and a stream of ``(start_line, fields)``; a row with bad bytes or a wrong field count
    comes as an ``InputError`` instead of fields, so callers can skip it and go on."""
    path = os.fspath(path)
    if len(delimiter) != 1:
        raise ReapOmniError(f"--delimiter must be one character, got {delimiter!r} (use $'\\t' for a tab)")
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the row generator
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except IsADirectoryError:
        raise InputError("is a folder, expected a CSV file", path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path) from None
    feed = _LineFeed(f, path)
    csv.field_size_limit(max(csv.field_size_limit(), feed.limit))
    reader = csv.reader(iter(feed), delimiter=delimiter, strict=True)
    state = {"end": 0}

    def next_record() -> tuple[int, list[str]] | None:
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                raise InputError(f"malformed CSV: {exc}", path, state["end"] + 1) from None
            start, state["end"] = state["end"] + 1, feed.count
            if fields:
                bad = [feed.bad[n] for n in range(start, state["end"] + 1) if n in feed.bad]
                if bad and start == 1:
                    raise InputError(bad[0], path, start)
                return start, (InputError(bad[0], path, start) if bad else fields)

    try:
        first = next_record()
    except BaseException:
        f.close()
        raise
    if first is None:
        f.close()
        raise InputError("file is empty, expected a CSV header", path)
    header = [h.strip() for h in first[1]]

    def rows() -> Iterator[tuple[int, list[str] | InputError]]:
        with f:
            while (item := next_record()) is not None:
                line, fields = item
                if not isinstance(fields, InputError) and len(fields) != len(header):
                    fields = InputError(f"row has {len(fields)} field(s), the header has {len(header)}", path, line)
                yield line, fields

    return header, rows()


def _resolve_keys(fields: FieldMap, available: list[str] | None, path: str, kind: str) -> dict[str, str]:
    """Record field -> input key. Named keys must exist when the header is known (``available``)."""
    keys: dict[str, str] = {}
    if available is not None:
        missing = [k for k in fields.explicit().values() if k not in available]
        if missing:
            hint = ""
            if len(available) == 1 and any(c in available[0] for c in ";\t|,"):
                hint = " (only one column: is --delimiter right?)"
            raise InputError(
                f"{kind} {', '.join(repr(m) for m in missing)} not found; the header has: "
                f"{', '.join(available)}{hint}",
                path,
                1,
            )
    for fieldname, default in DEFAULT_KEYS.items():
        named = getattr(fields, fieldname)
        if named:
            keys[fieldname] = named
        elif available is None or default in available:
            keys[fieldname] = default
    if available is not None and not any(k in keys for k in ("text", "audio", "video", "image")):
        raise InputError(
            f"no text or media column: name them with --text-col/--audio-col/--video-col/--image-col; "
            f"the header has: {', '.join(available)}",
            path,
            1,
        )
    return keys


def convert_csv(
    input_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    fields: FieldMap | None = None,
    *,
    delimiter: str = ",",
    keep_relative: bool = False,
    allow_missing_media: bool = False,
    skip_invalid: bool = False,
) -> ConvertReport:
    """Convert a CSV file (quoted fields, embedded newlines, BOM) to a unified JSONL manifest."""
    fields = fields or FieldMap()
    input_path = os.fspath(input_path)
    prepare_output(output, [input_path])
    header, rows = read_csv(input_path, delimiter)
    dup = sorted({h for h in header if header.count(h) > 1} & set(fields.explicit().values()))
    if dup:
        raise InputError(f"column {dup[0]!r} appears more than once in the header", input_path, 1)
    keys = _resolve_keys(fields, header, input_path, "column(s)")
    index = {name: i for i, name in reversed(list(enumerate(header)))}
    resolver = MediaResolver(Path(input_path).parent, keep_relative, allow_missing_media)
    mapper = RowMapper(fields, resolver, Path(input_path).stem, keys)

    def getters() -> Iterator[tuple[int, Callable[[str], Any] | InputError]]:
        for line, values in rows:
            if isinstance(values, InputError):
                yield line, values
                continue
            yield line, (lambda key, v=values: v[index[key]] if key in index else _Missing)

    return _write_rows(getters(), mapper, input_path, output, RowErrors(skip_invalid))


# --- JSON ------------------------------------------------------------------------------------------

_json = msgspec.json.Decoder()


def iter_json_rows(
    path: str | os.PathLike[str], layout: str = "auto", list_key: str | None = None, errors: RowErrors | None = None
) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    """``(start_line, object)`` for each row of a JSON array, object-with-list or JSON Lines file.

    A row that is not a valid JSON object comes as an ``InputError``; structural damage to the file
    (an unclosed array) raises, as nothing after it can be trusted.
    """
    path = os.fspath(path)
    if layout == "auto":
        layout = detect_layout(path, list_key)
    if layout not in LAYOUTS:
        raise ReapOmniError(f"--format must be auto or one of {', '.join(LAYOUTS)}, got {layout!r}")
    if layout == "jsonl":
        items: Iterator[tuple[int, bytes]] = ((n, b) for n, _o, b in read_jsonl_entries(path, errors=errors))
    else:
        items = iter_elements(path, layout, list_key)
    for line, raw in items:
        try:
            obj = _json.decode(raw)
        except JSON_ERRORS as exc:
            yield line, InputError(json_error_message(exc, raw), path, line)
            continue
        if not isinstance(obj, dict):
            yield line, InputError(f"expected a JSON object, got {_type_name(obj)}", path, line)
            continue
        yield line, obj


def _json_get(obj: dict[str, Any]) -> Callable[[str], Any]:
    def get(key: str) -> Any:
        value = obj.get(key, _Missing)
        if value is not _Missing or "." not in key:
            return value
        try:
            return get_path(obj, key)
        except KeyError:
            return _Missing

    return get


def convert_json(
    input_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    fields: FieldMap | None = None,
    *,
    layout: str = "auto",
    list_key: str | None = None,
    keep_relative: bool = False,
    allow_missing_media: bool = False,
    skip_invalid: bool = False,
) -> ConvertReport:
    """Convert a JSON array, an object holding a list, or JSON Lines to a unified JSONL manifest.

    Keys may be dotted (``meta.caption``) to reach nested fields. The file is streamed.
    """
    fields = fields or FieldMap()
    input_path = os.fspath(input_path)
    prepare_output(output, [input_path])
    errors = RowErrors(skip_invalid)
    keys = _resolve_keys(fields, None, input_path, "key(s)")
    resolver = MediaResolver(Path(input_path).parent, keep_relative, allow_missing_media)
    mapper = RowMapper(fields, resolver, Path(input_path).stem, keys)

    def getters() -> Iterator[tuple[int, Callable[[str], Any] | InputError]]:
        for line, obj in iter_json_rows(input_path, layout, list_key, errors):
            yield line, (obj if isinstance(obj, InputError) else _json_get(obj))

    return _write_rows(getters(), mapper, input_path, output, errors)
