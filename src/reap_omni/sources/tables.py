"""Annotation files (csv, tsv, json, jsonl, parquet, txt) parsed into rows, and joined to media by a key.

Archive and zip sources pair media members with rows of a metadata file (VoxPopuli ``asr_test.tsv``,
Kinetics ``val.csv``, lmms-eval annotation parquet); this module is the one place those files are parsed.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
import re
import zlib
from typing import Any

import pyarrow.parquet as pq

from reap_omni.sources.blobs import stem


def parse_table(name: str, data: bytes, *, delimiter: str | None = None) -> list[dict[str, Any]]:
    """Rows of an annotation file, chosen by extension; gz-compressed files are expanded first."""
    lower = name.lower()
    if lower.endswith(".gz"):
        import gzip

        data, lower = gzip.decompress(data), lower[:-3]
    if lower.endswith(".parquet"):
        return pq.read_table(io.BytesIO(data)).to_pylist()
    text = data.decode("utf-8-sig", errors="replace")
    if lower.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if lower.endswith(".json"):
        obj = json.loads(text)
        if isinstance(obj, dict) and isinstance(obj.get("data"), list):
            return obj["data"]
        if isinstance(obj, dict):  # {key: {...}} as in HowTo100M caption.json
            return [{"_key": k, **(v if isinstance(v, dict) else {"value": v})} for k, v in obj.items()]
        return list(obj)
    if lower.endswith((".csv", ".tsv", ".txt")):
        if delimiter is None:
            first = text.split("\n", 1)[0]
            delimiter = "\t" if lower.endswith(".tsv") or "\t" in first else ("|" if "|" in first else ",")
        return list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
    raise ValueError(f"unsupported annotation file type: {name}")


_JSON_KEY = re.compile(r'"((?:[^"\\\n]|\\.){1,200})"\s*:')


def head_text(name: str, head: bytes) -> str:
    """The first bytes of an annotation file as text; a gzip prefix is inflated as far as it goes."""
    if name.lower().endswith(".gz") or head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head)
        except zlib.error:
            return ""
    return head.decode("utf-8-sig", errors="replace")


def peek_columns(name: str, text: str, *, delimiter: str | None = None) -> list[str]:
    """Column names at the start of an annotation file, without parsing it all.

    csv/tsv/psv/txt: the header line (AudioSet's is the last of its leading ``#`` comment lines); json/jsonl:
    the object keys in order of appearance. ``text`` may be cut anywhere (a prefix of the file).
    """
    lower = name.lower().removesuffix(".gz")
    if lower.endswith((".json", ".jsonl")):
        return list(dict.fromkeys(m.group(1) for m in _JSON_KEY.finditer(text)))
    lines = text.splitlines()
    comments = 0
    while comments < len(lines) and lines[comments].startswith("#"):
        comments += 1
    header = lines[comments - 1].lstrip("#") if comments else (lines[0] if lines else "")
    if delimiter is None:
        delimiter = "\t" if lower.endswith(".tsv") or "\t" in header else ("|" if "|" in header else ",")
    row = next(csv.reader([header], delimiter=delimiter), [])
    return [c.strip() for c in row if c.strip()]


def member_key(name: str, how: str = "stem") -> str:
    """The join key of a media member: its ``stem`` (default), base ``name`` or full ``path``."""
    if how == "name":
        return posixpath.basename(name)
    if how == "path":
        return name
    return stem(name)


def normalise_key(value: Any, how: str = "stem") -> str:
    """A metadata key value in the same form as ``member_key`` (``clips/a.mp3`` -> ``a`` for stems)."""
    text = str(value).strip()
    return member_key(text, how) if how != "path" else text.lstrip("./")


def index_rows(rows: list[dict[str, Any]], column: str, how: str = "stem") -> dict[str, list[dict[str, Any]]]:
    """Rows grouped by the normalised value of ``column``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get(column) is not None:
            out.setdefault(normalise_key(row[column], how), []).append(row)
    return out
