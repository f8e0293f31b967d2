"""Kind ``hf_parquet``: row groups of parquet files in a Hub repo, read column chunk by column chunk.

Units are ``(file, row group)`` pairs from the footers; their cost is the compressed size of the needed
columns' chunks, so the sampler can trade spread for bytes. Reading a unit transfers the footer once per
file (kept for later units) plus those column chunks, through ``RangeFile`` (no readahead). Media comes
out as raw bytes from HF ``Audio``/``Video`` columns (``struct{bytes, path}``), never decoded by ``datasets``.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from reap_omni.catalog.spec import SourceSpec
from reap_omni.sources.base import Candidate, MediaBlob, Provenance, SourceUnavailable, Unit
from reap_omni.sources.blobs import media_name
from reap_omni.sources.http import HttpClient
from reap_omni.sources.hub import ResolvedRepo, resolve_repo
from reap_omni.sources.join import MEDIA_FIELDS, column_value, layout_error, missing_required, source_columns
from reap_omni.sources.range_file import RangeFile

FOOTER_THREADS = 8


def default_patterns(spec: SourceSpec) -> tuple[str, ...]:
    """Where parquet files of a config/split usually live (main branch or the viewer's conversion)."""
    if spec.files:
        return spec.files
    c, s = spec.config, spec.split
    if c and s:
        return (f"{c}/{s}/*.parquet", f"{c}/partial-{s}/*.parquet", f"{c}/{s}-*.parquet", f"{c}/*-{s}-*.parquet",
                f"{c}/data/{s}-*.parquet", f"data/{c}/{s}-*.parquet")
    if s:
        return (f"data/{s}-*.parquet", f"{s}/*.parquet", f"**/{s}-*.parquet", f"**/{s}/*.parquet")
    return ("**/*.parquet",)


@dataclass
class _FileInfo:
    path: str
    size: int
    metadata: pq.FileMetaData
    class_labels: dict[str, list[str]]


def _class_labels(schema: pa.Schema) -> dict[str, list[str]]:
    """ClassLabel names per column, from the ``huggingface`` schema metadata that ``datasets`` writes."""
    raw = (schema.metadata or {}).get(b"huggingface")
    if not raw:
        return {}
    try:
        features = json.loads(raw).get("info", {}).get("features", {})
    except (ValueError, AttributeError):
        return {}
    return {k: v["names"] for k, v in features.items()
            if isinstance(v, dict) and v.get("_type") == "ClassLabel" and v.get("names")}


class HubParquetSource:
    """Parquet row groups from a Hub repo (``spec.repo`` at ``spec.revision``, files ``spec.files``)."""

    kind = "hf_parquet"

    def __init__(self, spec: SourceSpec, *, client: HttpClient | None = None, dataset: str | None = None):
        self.spec, self.dataset = spec, dataset
        self.client = client or HttpClient()
        self.repo: ResolvedRepo | None = None
        self._files: dict[str, _FileInfo] = {}
        self.optional = set(spec.options.get("optional_columns", ()))

    @property
    def bytes_read(self) -> int:
        return self.client.bytes_read

    # -- units -------------------------------------------------------------------------------------
    def units(self) -> list[Unit]:
        self.repo = repo = resolve_repo(self.client, self.spec, default_patterns(self.spec), dataset=self.dataset)
        with ThreadPoolExecutor(min(FOOTER_THREADS, len(repo.files))) as pool:
            infos = list(pool.map(self._footer, repo.files))
        units: list[Unit] = []
        for info in infos:
            self._files[info.path] = info
            needed = self._needed_columns(info)
            first = 0
            for i in range(info.metadata.num_row_groups):
                rg = info.metadata.row_group(i)
                cost = sum(
                    rg.column(j).total_compressed_size
                    for j in range(rg.num_columns)
                    if rg.column(j).path_in_schema.split(".")[0] in needed
                )
                units.append(Unit(key=f"{info.path}#rg{i}", shard=info.path, index=i, rows=rg.num_rows,
                                  cost_bytes=cost, info={"file": info.path, "row_group": i, "first_row": first}))
                first += rg.num_rows
        return units

    def _footer(self, f: Any) -> _FileInfo:
        assert self.repo is not None
        with RangeFile(self.client, self.repo.url(self.client, f.path), f.size, ctx=self.repo.ctx(self.dataset,
                       f.path), min_fetch=0) as rf:
            try:
                pf = pq.ParquetFile(rf)
            except (pa.ArrowInvalid, OSError) as exc:
                raise SourceUnavailable(
                    f"{self._who()}: {self.repo.repo}@{self.repo.revision}/{f.path} is not a readable parquet file "
                    f"({exc}); change the source's `files` in the catalog entry", reason="layout") from None
            info = _FileInfo(f.path, f.size, pf.metadata, _class_labels(pf.schema_arrow))
            self._check_columns(info, pf.schema_arrow.names)
        return info

    def _who(self) -> str:
        return f"dataset {self.dataset!r}" if self.dataset else (self.spec.repo or "hf_parquet source")

    def _check_columns(self, info: _FileInfo, names: list[str]) -> None:
        assert self.repo is not None
        missing = missing_required(self.spec.columns, names, media_are_columns=True, optional=self.optional)
        if missing:
            fld, col = missing[0]
            raise layout_error(self._who(), f"{self.repo.repo}@{self.repo.revision}/{info.path}", fld, col, names)

    def _needed_columns(self, info: _FileInfo) -> list[str]:
        names = set(info.metadata.schema.to_arrow_schema().names)
        return sorted({c for v in self.spec.columns.values() for c in source_columns(v) if c in names})

    # -- reading -----------------------------------------------------------------------------------
    def read(self, unit: Unit) -> Iterator[Candidate]:
        if self.repo is None:
            self.units()
        repo = self.repo
        assert repo is not None
        info = self._files[unit.info["file"]]
        rg, first = unit.info["row_group"], unit.info["first_row"]
        columns = self._needed_columns(info)
        url = repo.url(self.client, info.path)
        with RangeFile(self.client, url, info.size, ctx=repo.ctx(self.dataset, info.path), min_fetch=0) as rf:
            # pre_buffer coalesces the column chunks into one range request (pyarrow 15 and 16 do not by default)
            table = pq.ParquetFile(rf, metadata=info.metadata, pre_buffer=True).read_row_group(rg, columns=columns)
        data = {c: table.column(c).to_pylist() for c in columns}
        for i in range(table.num_rows):
            yield self._candidate(info, first + i, {c: v[i] for c, v in data.items()})

    def _candidate(self, info: _FileInfo, row: int, values: dict[str, Any]) -> Candidate:
        assert self.repo is not None
        key = f"{info.path}#{row}"
        fields: dict[str, Any] = {}
        media: dict[str, MediaBlob] = {}
        for field, column in self.spec.columns.items():
            value = column_value(values, column)
            if value is None:
                continue
            if field in MEDIA_FIELDS:
                blob = self._blob(value, f"{posixpath.basename(info.path).split('.')[0]}-{row}")
                if blob is not None:
                    media[field] = blob
                continue
            labels = info.class_labels.get(column)
            if labels and isinstance(value, int) and 0 <= value < len(labels):
                value = labels[value]
            fields[field] = value
        group = fields.get("group")
        return Candidate(
            key=key, fields=fields, media=media,
            provenance=Provenance(kind=self.kind, repo=self.repo.repo, revision=self.repo.sha, file=info.path,
                                  row=row),
            group=str(group) if group is not None else info.path,
        )

    def _blob(self, value: Any, fallback: str) -> MediaBlob | None:
        if value is None:
            return None
        if isinstance(value, (bytes, bytearray)):
            return MediaBlob(name=media_name(None, bytes(value), fallback), data=bytes(value))
        if not isinstance(value, dict):
            return None
        data, path = value.get("bytes"), value.get("path")
        if data is not None:
            return MediaBlob(name=media_name(path, data, fallback), data=bytes(data))
        if not path:
            return None
        assert self.repo is not None
        url = path if "://" in path else self.repo.url(self.client, path)
        ctx = self.repo.ctx(self.dataset, path)
        return MediaBlob(name=media_name(path, None, fallback), opener=lambda: self.client.open_stream(url, ctx=ctx))
