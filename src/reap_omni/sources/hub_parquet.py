"""Kind ``hf_parquet``: row groups of parquet files in a Hub repo, read column chunk by column chunk.

Units are ``(file, row group)`` pairs from the footers; their cost is the compressed size of the needed
columns' chunks, so the sampler can trade spread for bytes. Reading a unit transfers the footer once per
file (kept for later units) plus those column chunks, through ``RangeFile`` (no readahead). Media comes
out as raw bytes from HF ``Audio``/``Video`` columns (``struct{bytes, path}``), never decoded by ``datasets``.

When the source's ``files`` (or the usual layout of its config/split) match nothing, the files are found the
way ``datasets`` finds them (``discover``): the card's ``configs:`` data_files, the usual layout at the same
revision, then the viewer's ``refs/convert/parquet`` export in both converter layouts
(``<config>/<split>/NNNN.parquet`` or ``<config>/partial-<split>/``, and the older
``<config>/<name>-<split>[-NNNNN-of-NNNNN].parquet``). What was read is what the rows' provenance names
(repo, commit of the branch read, file), so ``--from-lock`` reads the same bytes. A config, split or mapped
column that is not there is a ``SourceMismatch`` naming what is there and the closest name.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import posixpath
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from reap_omni.catalog.spec import SourceSpec
from reap_omni.sources.base import (
    Candidate,
    MediaBlob,
    Provenance,
    SourceMismatch,
    SourceUnavailable,
    Unit,
    closest,
    mismatch,
    source_index,
)
from reap_omni.sources.blobs import media_name
from reap_omni.sources.http import ErrorContext, HttpClient
from reap_omni.sources.hub import (
    RepoFile,
    ResolvedRepo,
    card_configs,
    card_data_files,
    default_config,
    match_any,
    read_card,
    resolve_repo,
)
from reap_omni.sources.join import MEDIA_FIELDS, column_value, missing_required, source_columns
from reap_omni.sources.range_file import RangeFile

log = logging.getLogger(__name__)

FOOTER_THREADS = 8
FOOTER_TAIL = 64 * 1024  # bytes read from a file's end for its footer (pyarrow's default footer read size)
CONVERT_BRANCH = "refs/convert/parquet"
_SHARD_SUFFIX = re.compile(r"-\d{5}-of-\d{5}$")


def layout_patterns(config: str | None, split: str | None) -> tuple[str, ...]:
    """Where parquet files of a config/split usually live: main, or either layout of the viewer's conversion
    (``<c>/<s>/NNNN.parquet``, ``<c>/partial-<s>/``, the older ``<c>/<name>-<s>[-NNNNN-of-NNNNN].parquet``)."""
    c, s = config, split
    if c and s:
        return (f"{c}/{s}/*.parquet", f"{c}/partial-{s}/*.parquet", f"{c}/{s}-*.parquet", f"{c}/*-{s}-*.parquet",
                f"{c}/data/{s}-*.parquet", f"data/{c}/{s}-*.parquet", f"{c}/*-{s}.parquet")
    if s:
        return (f"data/{s}-*.parquet", f"{s}/*.parquet", f"**/{s}-*.parquet", f"**/{s}/*.parquet")
    return ("**/*.parquet",)


def default_patterns(spec: SourceSpec) -> tuple[str, ...]:
    """The source's ``files``, else the usual places of its config/split (``layout_patterns``)."""
    return spec.files or layout_patterns(spec.config, spec.split)


def convert_splits(paths: list[str], config: str, repo: str) -> dict[str, list[str]]:
    """Split -> parquet files of ``config`` on a ``refs/convert/parquet`` branch, in either converter layout."""
    name = repo.rsplit("/", 1)[-1] + "-"
    out: dict[str, list[str]] = {}
    for path in paths:
        if not path.startswith(config + "/") or not path.endswith(".parquet"):
            continue
        parts = path[len(config) + 1 :].split("/")
        if len(parts) == 2:  # <config>/<split>/NNNN.parquet or <config>/partial-<split>/NNNN.parquet
            split = parts[0].removeprefix("partial-")
        elif len(parts) == 1:  # <config>/<name>-<split>.parquet or <config>/<name>-<split>-NNNNN-of-NNNNN.parquet
            stem = _SHARD_SUFFIX.sub("", parts[0][: -len(".parquet")])
            split = stem[len(name):] if stem.startswith(name) else stem.rsplit("-", 1)[-1]
        else:
            continue
        out.setdefault(split, []).append(path)
    return out


def read_footer(client: HttpClient, url: str, size: int | None, *, ctx: ErrorContext | None = None, name: str = "",
                tail: int = FOOTER_TAIL) -> pq.ParquetFile:
    """A parquet file's metadata from its last bytes only: one Range request of ``tail`` bytes (pyarrow's own
    footer read size), plus one for the rest of a longer footer. ``tail=8`` reads exactly the footer."""
    size = size if size is not None else client.head_size(url, ctx=ctx)
    where = name or url

    def bad(why: str) -> SourceUnavailable:
        return SourceUnavailable(f"{where} is not a readable parquet file ({why}); change the source's `files` in "
                                 "the catalog entry", reason="layout")

    if not size or size < 12:
        raise bad(f"{size or 0} bytes")
    start = max(0, size - max(8, tail))
    data = client.get_bytes(url, start, size, ctx=ctx)
    if len(data) < 8 or data[-4:] != b"PAR1":
        raise bad("no PAR1 footer")
    length = int.from_bytes(data[-8:-4], "little")
    if length + 12 > size:
        raise bad(f"footer of {length} bytes in a {size}-byte file")
    if length + 8 > len(data):
        data = client.get_bytes(url, size - 8 - length, start, ctx=ctx) + data
    try:
        return pq.ParquetFile(pa.BufferReader(b"PAR1" + data[-8 - length:]))
    except (pa.ArrowInvalid, OSError) as exc:
        raise bad(str(exc)) from None


class _Discovery:
    """The steps of ``discover`` for one source, with what each found (for the final message)."""

    def __init__(self, client: HttpClient, spec: SourceSpec, dataset: str | None, index: int | None):
        self.client, self.spec, self.dataset, self.index = client, spec, dataset, index
        self.tried: list[str] = []
        self.mismatches: list[SourceMismatch] = []

    def _mismatch(self, key: str, assumed: Any, found: list[str], where: str, suggestion: str | None) -> None:
        self.mismatches.append(mismatch(self.dataset, self.spec, key, assumed, found, index=self.index,
                                        suggestion=suggestion, where=where))
        self.tried.append(f"{where}: no {key} {assumed!r} (has {found[:10]})")

    def card(self, base: ResolvedRepo) -> ResolvedRepo | None:
        spec = self.spec
        where = f"{base.repo}@{base.revision} README.md `configs:`"
        configs = card_configs(read_card(self.client, base, dataset=self.dataset))
        if not configs:
            self.tried.append(f"{base.repo}@{base.revision}: no card `configs:`")
            return None
        names = [c["config_name"] for c in configs]
        chosen = (next((c for c in configs if c["config_name"] == spec.config), None) if spec.config
                  else default_config(configs))
        if chosen is None:
            self._mismatch("config", spec.config, names, where, closest(spec.config, names) or names[0])
            return None
        splits = card_data_files(chosen, spec.split)
        if spec.split and spec.split not in splits:
            self._mismatch("split", spec.split, list(splits), f"{where} config {chosen['config_name']!r}",
                           closest(spec.split, splits))
            return None
        patterns = tuple(splits[spec.split] if spec.split else [p for v in splits.values() for p in v])
        matched = [f for f in base.files if match_any(f.path, patterns)]
        files = tuple(f for f in matched if f.path.endswith(".parquet"))
        if not files:
            other = f" (only {[f.path for f in matched[:3]]}, not parquet)" if matched else ""
            self.tried.append(f"{where}: data_files {list(patterns)} match no parquet file{other}")
            return None
        return dataclasses.replace(
            base, files=files, pins=(f"files={json.dumps(list(patterns))}",),
            note=f"read the card's `configs:` data_files {list(patterns)} (config {chosen['config_name']!r})")

    def layout(self, base: ResolvedRepo) -> ResolvedRepo | None:
        if not self.spec.files:
            return None  # already tried: they were the patterns
        patterns = layout_patterns(self.spec.config, self.spec.split)
        files = tuple(f for f in base.files if match_any(f.path, patterns))
        if not files:
            self.tried.append(f"{base.repo}@{base.revision}: no file in the usual places {list(patterns[:3])}")
            return None
        return dataclasses.replace(base, files=files, pins=("files=",),
                                       note=f"read the usual layout {list(patterns[:3])} (`files` matched nothing)")

    def convert(self, repo_id: str) -> ResolvedRepo | None:
        spec = self.spec
        if (spec.revision or "main") == CONVERT_BRANCH:
            return None
        branch = msgspec.structs.replace(spec, repo=repo_id, fallback_repos=(), revision=CONVERT_BRANCH)
        try:
            conv = resolve_repo(self.client, branch, ("**",), dataset=self.dataset, required=False)
        except SourceUnavailable as exc:
            if exc.reason != "not_found":
                raise
            self.tried.append(f"{repo_id} has no {CONVERT_BRANCH} branch")
            return None
        where = f"{repo_id}@{CONVERT_BRANCH}"
        paths = [f.path for f in conv.files if f.path.endswith(".parquet")]
        configs = sorted({p.split("/", 1)[0] for p in paths if "/" in p})
        config = spec.config or ("default" if "default" in configs else configs[0] if len(configs) == 1 else None)
        if config not in configs:
            self._mismatch("config", spec.config, configs, where, closest(spec.config, configs)
                           or (configs[0] if configs else None))
            return None
        splits = convert_splits(paths, config, repo_id)
        wanted = splits.get(spec.split) if spec.split else [p for v in splits.values() for p in v]
        if not wanted:
            self._mismatch("split", spec.split, sorted(splits), f"{where} config {config!r}",
                           closest(spec.split, splits))
            return None
        keep = set(wanted)
        pins = [f"revision={CONVERT_BRANCH}"] + ([] if spec.config else [f"config={config}"]) + \
            (["files="] if spec.files else [])
        return dataclasses.replace(
            conv, files=tuple(f for f in conv.files if f.path in keep), pins=tuple(pins),
            note=f"read {CONVERT_BRANCH} {config}/{spec.split or '*'} ({len(keep)} file(s), e.g. {sorted(keep)[0]})")


def discover(client: HttpClient, spec: SourceSpec, error: SourceUnavailable, *, dataset: str | None = None,
             index: int | None = None) -> ResolvedRepo:
    """The parquet files of ``spec``'s config/split when its ``files`` match nothing, found as ``datasets`` does.

    Per repo (then each fallback): the card's ``configs:`` data_files at the revision, the usual layout
    there, then ``refs/convert/parquet``. ``error`` (the no-match error) is raised, with what each step
    found, when none works; a config or split that is not there raises its ``SourceMismatch`` instead.
    """
    steps = _Discovery(client, spec, dataset, index)
    for repo_id in (spec.repo, *spec.fallback_repos):
        one = msgspec.structs.replace(spec, repo=repo_id, fallback_repos=())
        try:
            base = resolve_repo(client, one, ("**",), dataset=dataset, required=False)
        except SourceUnavailable as exc:
            if exc.reason not in ("not_found", "gated"):
                raise
            continue
        found = steps.card(base) or steps.layout(base) or steps.convert(repo_id)
        if found is not None:
            return found
    looked = "; ".join(steps.tried)
    if steps.mismatches:
        best = steps.mismatches[0]
        raise SourceMismatch(f"{best} (also looked: {looked})" if len(steps.tried) > 1 else str(best),
                             key=best.key, assumed=best.assumed, found=best.found, fixes=best.fixes)
    raise SourceUnavailable(f"{error}; looked like `datasets` does: {looked}" if looked else str(error),
                            reason="layout")


@dataclass
class _FileInfo:
    path: str
    size: int
    metadata: pq.FileMetaData
    class_labels: dict[str, list[str]]


def _is_media_type(typ: pa.DataType) -> bool:
    """An HF ``Audio``/``Video`` column (``struct{bytes, path}``) or raw bytes."""
    if pa.types.is_struct(typ):
        return any(typ.field(i).name == "bytes" for i in range(typ.num_fields))
    return pa.types.is_binary(typ) or pa.types.is_large_binary(typ)


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
        self.source_index: int | None = None  # index in the dataset's entry, for fixes (set by the probe)

    @property
    def bytes_read(self) -> int:
        return self.client.bytes_read

    # -- units -------------------------------------------------------------------------------------
    def resolve(self) -> ResolvedRepo:
        """The repo, commit and parquet files to read: the source's own, else found by ``discover``."""
        try:
            repo = resolve_repo(self.client, self.spec, default_patterns(self.spec), dataset=self.dataset)
        except SourceMismatch:
            raise
        except SourceUnavailable as exc:
            if exc.reason != "layout":
                raise
            repo = discover(self.client, self.spec, exc, dataset=self.dataset, index=self.source_index)
            name, i = self.dataset or self.spec.repo, source_index(self.dataset, self.spec, self.source_index)
            pins = " ".join(f"--source-option {name}:{i}:{pin}" for pin in repo.pins)
            log.warning("%s: %s@%s matches nothing for %s; %s (to make the catalog say so: %s)", self._who(),
                        self.spec.repo, self.spec.revision or "main", list(default_patterns(self.spec)), repo.note,
                        pins)
        self.repo = repo
        return repo

    def units(self) -> list[Unit]:
        repo = self.resolve()
        with ThreadPoolExecutor(min(FOOTER_THREADS, len(repo.files))) as pool:
            infos = list(pool.map(self.footer, repo.files))
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

    def footer(self, f: RepoFile, *, tail: int = FOOTER_TAIL) -> _FileInfo:
        """The footer of one file (``read_footer``: no row data), checked for every mapped column."""
        assert self.repo is not None
        url, ctx = self.repo.url(self.client, f.path), self.repo.ctx(self.dataset, f.path)
        pf = read_footer(self.client, url, f.size, ctx=ctx, tail=tail,
                         name=f"{self._who()}: {self.repo.repo}@{self.repo.revision}/{f.path}")
        info = _FileInfo(f.path, f.size, pf.metadata, _class_labels(pf.schema_arrow))
        self._check_columns(info, pf.schema_arrow)
        return info

    def _who(self) -> str:
        return f"dataset {self.dataset!r}" if self.dataset else (self.spec.repo or "hf_parquet source")

    def _check_columns(self, info: _FileInfo, schema: pa.Schema) -> None:
        """Every mapped column is there, else a ``SourceMismatch`` with the real columns and the closest one."""
        assert self.repo is not None
        names = schema.names
        missing = missing_required(self.spec.columns, names, media_are_columns=True, optional=self.optional)
        if not missing:
            return
        media = [f.name for f in schema if _is_media_type(f.type)]

        def suggest(fld: str, col: str) -> str | None:  # media fields from media columns, text from the others
            return closest(col, media if fld in MEDIA_FIELDS else [n for n in names if n not in media])

        (fld, col), rest = missing[0], missing[1:]
        also = ("; also missing: " + ", ".join(f"columns.{f}={c!r}" for f, c in rest)) if rest else ""
        exc = mismatch(self.dataset, self.spec, f"columns.{fld}", col, names, index=self.source_index,
                       suggestion=suggest(fld, col), where=f"{self.repo.repo}@{self.repo.revision}/{info.path}",
                       also=also)
        name, i = self.dataset or self.spec.repo, source_index(self.dataset, self.spec, self.source_index)
        exc.fixes += tuple(f"{name}:{i}:columns.{f}={hint}" for f, c in rest if (hint := suggest(f, c)) is not None)
        raise exc

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
