"""Pairing media members of archives with annotation rows, and mapping source columns to our fields.

Shared by the archive kinds (``hf_tar``, ``http_tar``, ``zip_range``, ``hf_files``) and the parquet reader,
following the column and option vocabulary of ``reap_omni.catalog.spec``: ``"a,b,c"`` gathers columns into
a list, ``"col[0]"`` takes one element; ``member_template`` / ``member_match`` (exact, suffix, stem) say
which member a row names; ``metadata_format`` says how to parse the annotation file (tsv, csv, psv, json,
jsonl, parquet, lhotse_cuts, kaldi, trans_txt); ``filter``, ``split_pattern`` and ``group_pattern`` narrow
rows and members and give the diversity group.
"""

from __future__ import annotations

import fnmatch
import gzip
import json
import logging
import posixpath
import re
import string
from collections.abc import Iterable, Mapping
from typing import Any

from reap_omni.catalog.spec import SourceSpec
from reap_omni.sources.base import SourceUnavailable
from reap_omni.sources.blobs import stem
from reap_omni.sources.tables import parse_table

try:
    from reap_omni.catalog.spec import OPTIONAL_COLUMN_KEYS
except ImportError:  # pragma: no cover - older catalog module
    OPTIONAL_COLUMN_KEYS = ("id", "group", "lang", "start", "end", "duration")

log = logging.getLogger(__name__)
MEDIA_FIELDS = ("audio", "video")
_INDEX_RE = re.compile(r"^(?P<col>.+)\[(?P<i>-?\d+)\]$")


def source_columns(value: str) -> list[str]:
    """The source columns a mapping value reads: ``"a,b"`` -> [a, b]; ``"c[0]"`` -> [c]."""
    cols = []
    for part in value.split(","):
        part = part.strip()
        m = _INDEX_RE.match(part)
        cols.append(m.group("col") if m else part)
    return cols


def column_value(row: Mapping[str, Any], value: str) -> Any:
    """The value a mapping names in ``row`` (None when a column is missing)."""
    if "," in value:
        return [column_value(row, p.strip()) for p in value.split(",")]
    m = _INDEX_RE.match(value)
    if m:
        seq = row.get(m.group("col"))
        try:
            return seq[int(m.group("i"))] if seq is not None else None
        except (IndexError, TypeError, KeyError):
            return None
    return row.get(value)


def missing_required(columns: Mapping[str, str], names: Iterable[str], *, media_are_columns: bool,
                     optional: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(field, column) pairs whose columns are absent and that are not optional."""
    have, skip = set(names), set(OPTIONAL_COLUMN_KEYS) | set(optional)
    out = []
    for fld, value in columns.items():
        if fld in skip or (fld in MEDIA_FIELDS and not media_are_columns):
            continue
        for col in source_columns(value):
            if col not in have:
                out.append((fld, col))
    return out


def layout_error(who: str, where: str, fld: str, col: str, names: Iterable[str]) -> SourceUnavailable:
    return SourceUnavailable(
        f"{who}: column {col!r} (mapped to {fld!r}) is not in {where}; its columns are {sorted(names)}; change "
        f"`columns.{fld}` of this source in the catalog entry (--source-option columns.{fld}=...)",
        reason="layout",
    )


def map_fields(row: Mapping[str, Any], columns: Mapping[str, str], *, skip: Iterable[str] = MEDIA_FIELDS) -> dict:
    """Our fields from a source row (missing optional columns are left out)."""
    skipped = set(skip)
    out = {}
    for fld, value in columns.items():
        if fld in skipped:
            continue
        v = column_value(row, value)
        if v is not None:
            out[fld] = v
    return out


# -- metadata files -------------------------------------------------------------------------------------------
def _id_text_lines(text: str) -> list[dict[str, Any]]:
    rows = []
    for line in text.splitlines():
        parts = line.strip().split(maxsplit=1)
        if parts and not parts[0].startswith((";", "#")):
            rows.append({"id": stem(parts[0]) if "." in parts[0] else parts[0],
                         "text": parts[1] if len(parts) > 1 else ""})
    return rows


def _lhotse_cuts(text: str) -> list[dict[str, Any]]:
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        cut = json.loads(line)
        sup = (cut.get("supervisions") or [{}])[0]
        rec = cut.get("recording") or {}
        rows.append({"id": cut.get("id"), "text": sup.get("text"), "speaker": sup.get("speaker"),
                     "language": sup.get("language"), "start": cut.get("start"), "duration": cut.get("duration"),
                     "recording_id": rec.get("id") or sup.get("recording_id")})
    return rows


def parse_metadata(name: str, data: bytes, spec: SourceSpec) -> list[dict[str, Any]]:
    """Rows of an annotation file, in the spec's ``metadata_format`` (else guessed from the name)."""
    opts = spec.options
    fmt = opts.get("metadata_format")
    if name.lower().endswith(".gz") or data[:2] == b"\x1f\x8b":
        data, name = gzip.decompress(data), name[:-3] if name.lower().endswith(".gz") else name
    if fmt in ("kaldi", "trans_txt"):
        rows = _id_text_lines(data.decode("utf-8-sig", errors="replace"))
    elif fmt == "lhotse_cuts":
        rows = _lhotse_cuts(data.decode("utf-8"))
    elif fmt == "json" and opts.get("json_items"):
        obj = json.loads(data)
        rows = obj[opts["json_items"]] if isinstance(obj, dict) else obj
    elif opts.get("csv_header"):
        import csv
        import io

        reader = csv.reader(io.StringIO(data.decode("utf-8-sig")))
        rows = [dict(zip(opts["csv_header"], r, strict=False)) for r in reader]
    else:
        ext = {"tsv": ".tsv", "csv": ".csv", "psv": ".csv", "json": ".json", "jsonl": ".jsonl",
               "parquet": ".parquet"}.get(fmt or "", "")
        delim = "|" if fmt == "psv" else ("\t" if fmt == "tsv" else ("," if fmt == "csv" else None))
        rows = parse_table(name + ext if ext and not name.lower().endswith(ext) else name, data, delimiter=delim)
    wanted = opts.get("filter") or {}
    if wanted:
        rows = [r for r in rows if all(str(r.get(k)) == str(v) for k, v in wanted.items())]
    return rows


def is_transcript_member(name: str, spec: SourceSpec) -> bool:
    """Members holding ``ID TEXT`` lines inside an archive (LibriSpeech ``.trans.txt``, AISHELL transcripts)."""
    pattern = spec.metadata if spec.metadata and "://" not in spec.metadata else None
    if pattern:
        return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(posixpath.basename(name), pattern)
    return spec.options.get("metadata_format") == "trans_txt" and name.endswith(".trans.txt")


# -- member keys ----------------------------------------------------------------------------------------------
def _coerce(v: Any) -> Any:
    if isinstance(v, str):
        s = v.strip()
        if re.fullmatch(r"-?\d+", s):
            return int(s)
        if re.fullmatch(r"-?\d+\.\d*", s):
            f = float(s)
            return int(f) if f.is_integer() else f
    return v


def format_template(template: str, row: Mapping[str, Any]) -> str | None:
    """``template`` formatted with the row; numeric strings become numbers where a spec needs them."""
    names = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    if any(row.get(n) is None for n in names):
        return None
    try:
        return template.format(**row)
    except (ValueError, TypeError):
        return template.format(**{k: _coerce(v) for k, v in row.items()})


def row_member_key(row: Mapping[str, Any], spec: SourceSpec) -> str | None:
    """The member a metadata row names: ``member_template``, else the media column's value, else ``id``."""
    template = spec.options.get("member_template")
    if template:
        return format_template(template, row)
    for fld in (*MEDIA_FIELDS, "id"):
        col = spec.columns.get(fld)
        if col and row.get(col) is not None:
            return str(row[col])
    return str(row["id"]) if row.get("id") is not None else None


class MemberIndex:
    """Metadata rows indexed so that an archive member's path finds the rows naming it."""

    def __init__(self, spec: SourceSpec, rows: Iterable[dict[str, Any]] = ()):
        self.spec = spec
        self.mode = spec.options.get("member_match", "stem")
        self._by: dict[str, list[tuple[str, int, dict[str, Any]]]] = {}
        self.count = 0
        self.add(rows)

    def _bucket(self, path: str) -> str:
        return stem(path) if self.mode == "stem" else posixpath.basename(path)

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            key = row_member_key(row, self.spec)
            if key is None:
                continue
            key = key.strip().lstrip("./")
            self._by.setdefault(self._bucket(key), []).append((key, self.count, row))
            self.count += 1

    def match(self, member: str) -> list[tuple[int, dict[str, Any]]]:
        member = member.lstrip("./")
        out = []
        for key, i, row in self._by.get(self._bucket(member), ()):
            if (self.mode == "stem" or (self.mode == "exact" and member == key)
                    or (self.mode == "suffix" and (member == key or member.endswith("/" + key)))):
                out.append((i, row))
        return out

    def examples(self, n: int = 3) -> list[str]:
        return [k for rows in list(self._by.values())[:n] for k, _, _ in rows[:1]]


def member_group(member: str, spec: SourceSpec) -> str:
    """The diversity group of a member without a group column: ``group_pattern``'s first group, else its folder."""
    pattern = spec.options.get("group_pattern")
    if pattern:
        m = re.search(pattern, member)
        if m:
            return m.group(1) if m.groups() else m.group(0)
    return posixpath.dirname(member) or member


def member_wanted(member: str, spec: SourceSpec, media_glob: str | None = None) -> bool:
    """Whether a media member passes ``split_pattern`` and ``member_glob``."""
    split = spec.options.get("split_pattern")
    if split and not re.search(split, member):
        return False
    glob = media_glob or spec.options.get("member_glob")
    return not glob or fnmatch.fnmatchcase(posixpath.basename(member), glob) or fnmatch.fnmatchcase(member, glob)
