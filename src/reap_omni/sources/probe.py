"""``reap-omni probe``: check each catalog source against the live Hub (or ``HF_ENDPOINT``) and HTTP hosts, cheaply.

A catalog fact (repo, revision, files, split, column, archive URL, annotation keys) can drift after the entry
was written. The probe checks every fact a source relies on without reading any row data, through the same
source classes, ``HttpClient`` (retries, per-host circuit breaker, token) and discovery the build uses:

* Hub repos: the repo exists, is not gated for this token (401/403 give the dataset's access text) and
  the revision resolves; the ``files`` globs match (or ``hf_parquet`` discovery finds the files, and the
  probe says which ``--source-option`` pins what it found); a removed revision is retried at ``main``;
* ``hf_parquet``: the footer of the first file (its last bytes only) has every mapped column;
* archives: a URL answers HEAD with a size and a Range read of its first bytes (a tar's first member, a
  zip's central directory when it fits in the budget, its media members checked against the metadata);
* metadata files: they exist and their first bytes (a csv header, json keys, a parquet footer) have the
  mapped keys.

Each source gets its own client with a budget (``PROBE_BUDGET``, 1 MB): a read that would cross it is
refused before it starts, so no source transfers more. A mismatch names the real names and, when the
probe can tell (the closest name, a split synonym, the only config), the exact ``--source-option`` fix.
"""

from __future__ import annotations

import csv
import io
import json
import string
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TextIO

import msgspec
import requests

from reap_omni.catalog.spec import DatasetSpec, SourceSpec
from reap_omni.errors import ReapOmniError
from reap_omni.sources.annotations import MetadataFile, locate_metadata, no_match_error
from reap_omni.sources.archive_safety import max_member_bytes
from reap_omni.sources.base import SourceMismatch, SourceUnavailable, closest, mismatch
from reap_omni.sources.blobs import is_media
from reap_omni.sources.http import ErrorContext, HttpClient, short_url
from reap_omni.sources.hub import ResolvedRepo, match_any, resolve_repo
from reap_omni.sources.hub_parquet import HubParquetSource, read_footer
from reap_omni.sources.join import MemberIndex, member_wanted, missing_required, parse_metadata
from reap_omni.sources.range_file import RangeFile
from reap_omni.sources.tables import head_text, peek_columns
from reap_omni.sources.tar_stream import TarStreamSource
from reap_omni.sources.zip_members import read_member
from reap_omni.sources.zip_range import ZipRangeSource

PROBE_BUDGET = 1_000_000  # bytes one source may transfer
PEEK = 64 * 1024  # first bytes of an annotation file read for its header/keys
ARCHIVE_HEAD = 4096  # first bytes of a tar read for its first member
WORKERS = 4
HUB_KINDS = ("hf_parquet", "hf_tar", "hf_files", "zip_range")
#: kinds the probe cannot check over HTTP, and why
NOT_PROBED = {
    "local": "a copy on your disk (--local-path); nothing to check online",
    "mdc": "Mozilla Data Collective: needs the datacollective SDK and MDC_API_KEY; not probed",
}
_LHOTSE = ["id", "text", "speaker", "language", "start", "duration", "recording_id"]
_EXT = {"tsv": ".tsv", "psv": ".csv", "csv": ".csv", "json": ".json", "jsonl": ".jsonl"}
_DELIM = {"tsv": "\t", "psv": "|", "csv": ","}


class BudgetExceeded(SourceUnavailable):
    def __init__(self, budget: int, wanted: int | None = None):
        what = f"a read of {wanted} bytes" if wanted is not None else "the next read"
        super().__init__(f"probe stopped: {what} would pass the {fmt_bytes(budget)} budget of a source "
                         "(a server ignoring Range requests, or a listing that large)", reason="budget")


class BudgetClient(HttpClient):
    """An ``HttpClient`` that never transfers more than ``budget`` body bytes in all.

    A Range read that would cross the budget is refused before the request, a body announced longer than
    what is left before it is read; a read of unknown length is asked as a Range up to the budget; a body
    of unannounced length (a chunked JSON listing) stops at the first chunk past it.
    """

    def __init__(self, *, budget: int = PROBE_BUDGET, **kwargs: Any):
        super().__init__(**kwargs)
        self.budget = budget

    @property
    def remaining(self) -> int:
        return max(0, self.budget - self.bytes_read)

    def count(self, n: int) -> None:
        super().count(n)
        if self.bytes_read > self.budget:
            raise BudgetExceeded(self.budget)

    def request(self, method: str, url: str, *, stream: bool = True, **kwargs: Any) -> requests.Response:
        """Bodies always streamed, so that one whose announced length would cross the budget is never read."""
        resp = super().request(method, url, stream=True, **kwargs)
        length = resp.headers.get("Content-Length", "")
        if method == "GET" and length.isdigit() and int(length) > self.remaining:
            resp.close()
            raise BudgetExceeded(self.budget, int(length))
        return resp

    def get_bytes(self, url: str, start: int | None = None, end: int | None = None, *,
                  ctx: ErrorContext | None = None) -> bytes:
        pos = start or 0
        if end is None:
            end = pos + self.remaining + 1  # one byte more than allowed: a longer body trips ``count``
        elif end - pos > self.remaining:
            raise BudgetExceeded(self.budget, end - pos)
        return super().get_bytes(url, start, end, ctx=ctx)


def fmt_bytes(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB"
    return f"{n / 1_000_000:.2f} MB"


@dataclass
class ProbeResult:
    """The verdict on one source of one dataset."""

    dataset: str
    source: int  # index in the dataset's ``sources``
    kind: str
    where: str = ""  # repo@revision or URL
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)  # DATASET:INDEX:KEY=VALUE, for --source-option
    notes: list[str] = field(default_factory=list)
    bytes: int = 0
    skipped: bool = False
    opt_in: bool = False

    @property
    def fix(self) -> str | None:
        return " ".join(f"--source-option {f}" for f in self.fixes) or None

    def fail(self, problem: str, fixes: Iterable[str] = ()) -> None:
        self.ok = False
        self.problems.append(problem)
        self.fixes.extend(f for f in fixes if f not in self.fixes)

    def to_json(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "source": self.source, "kind": self.kind, "ok": self.ok,
                "problems": self.problems, "fix": self.fix, "bytes": self.bytes, "where": self.where,
                "notes": self.notes, "skipped": self.skipped, "opt_in": self.opt_in}


def describe(spec: SourceSpec) -> str:
    if spec.repo:
        return f"{spec.repo}@{spec.revision or 'main'}"
    if spec.url:
        return short_url(spec.url)
    return spec.adapter or spec.kind


class _Probe:
    """The checks of one source; problems and notes go to ``result``."""

    def __init__(self, dataset: DatasetSpec, index: int, spec: SourceSpec, client: BudgetClient,
                 result: ProbeResult):
        self.dataset, self.index, self.spec, self.client, self.result = dataset, index, spec, client, result
        self.name = dataset.name

    def run(self) -> None:
        getattr(self, self.spec.kind)()

    # -- helpers -------------------------------------------------------------------------------------
    def note(self, text: str) -> None:
        self.result.notes.append(text)

    def _repo(self, patterns: tuple[str, ...]) -> ResolvedRepo:
        repo = self._resolved(resolve_repo(self.client, self.spec, patterns, dataset=self.name, relocate=True))
        self._drift(repo)
        return repo

    def _locate(self, repo: ResolvedRepo | None) -> MetadataFile | None:
        """The metadata file, as the build finds it; one moved in another repo is reported like moved files."""
        where = locate_metadata(self.client, self.spec, repo=repo, listing=repo.files if repo else (),
                                dataset=self.name, announce=False)
        if where is not None and where.repo is not None and where.repo is not repo:
            self._drift(where.repo)
        return where

    def _resolved(self, repo: ResolvedRepo) -> ResolvedRepo:
        self.result.where = f"{repo.repo}@{repo.revision}"
        if repo.repo != self.spec.repo:
            self.note(f"{self.spec.repo} is missing or empty; its fallback {repo.repo} was used")
        return repo

    def _meta_patterns(self) -> tuple[str, ...]:
        meta = self.spec.metadata
        return (meta,) if meta and "://" not in meta else ()

    def _drift(self, repo: ResolvedRepo) -> None:
        """Files found by discovery or moved: the source works, and the pins make the catalog say what was read."""
        if repo.note:
            self.note(f"{repo.note}; pin it in the catalog entry")
            self.result.fixes.extend(f for f in (f"{self.name}:{self.index}:{pin}" for pin in repo.pins)
                                     if f not in self.result.fixes)

    # -- kinds ---------------------------------------------------------------------------------------
    def hf_parquet(self) -> None:
        src = HubParquetSource(self.spec, client=self.client, dataset=self.name)
        src.source_index = self.index
        repo = self._resolved(src.resolve())
        self._drift(repo)
        src.footer(repo.files[0], tail=8)
        self.note(f"{len(repo.files)} parquet file(s); the footer of {repo.files[0].path} has every mapped column")

    def hf_tar(self) -> None:
        spec = self.spec
        patterns = spec.files or ("**/*.tar.gz", "**/*.tgz", "**/*.tar")
        repo = self._repo(patterns + self._meta_patterns())
        patterns = repo.patterns(patterns)
        where = self._locate(repo)
        archives = [f for f in repo.files if match_any(f.path, patterns) and (where is None or f.path != where.name)]
        if not archives:
            self.result.fail(f"no archive of {repo.repo}@{repo.revision} matches {list(patterns)} (found "
                             f"{[f.path for f in repo.files[:5]]}); change the source's `files`")
            return
        self.note(f"{len(archives)} archive(s), {fmt_bytes(sum(f.size for f in archives))}")
        self._tar_head(repo.url(self.client, archives[0].path), archives[0].path, repo.ctx(self.name, archives[0].path))
        self._metadata(where)

    def http_tar(self) -> None:
        src = TarStreamSource(self.spec, client=self.client, dataset=self.name)
        urls = src._urls()
        if len(urls) > 1:
            self.note(f"{len(urls)} archive URLs; the first is checked")
        ctx = ErrorContext(dataset=self.name, file=urls[0])
        self._tar_head(urls[0], urls[0], ctx)
        self._metadata(self._locate(None))

    def zip_range(self) -> None:
        spec = self.spec
        src = ZipRangeSource(spec, client=self.client, dataset=self.name)
        archives = src.archives(metadata=False, announce=False)
        if src.repo is not None:
            self._drift(self._resolved(src.repo))
        if not archives:
            self.result.fail(f"no zip matches the source's `files` {list(spec.files)}; change the source's `files`")
            return
        name, url, size = archives[0]
        where = self._locate(src.repo)
        try:
            z = src.open_zip(name, url, size)
        except BudgetExceeded:
            self.note(f"{name}: answers with a size, but its central directory is too big to list within the budget")
            self._metadata(where)
            return
        infos = [i for i in z.zf.infolist() if not i.is_dir()]
        media = [i.filename for i in infos if is_media(i.filename) and member_wanted(i.filename, spec)]
        self.note(f"{len(archives)} zip(s); {_short(name)} lists {len(infos)} members, {len(media)} media")
        if not media:
            self.result.fail(f"{name} has no media member the source takes (members are like "
                             f"{[i.filename for i in infos[:3]]}); change `options.member_glob`/`split_pattern`")
            return
        inside = None
        if where is None and spec.metadata and "://" not in spec.metadata:
            inside = next((i for i in infos if match_any(i.filename, (spec.metadata,))), None)
        if inside is not None:
            self._metadata_member(inside.filename, inside.file_size, lambda: src.read_zip_member(z, inside), media,
                                  name)
        else:
            self._metadata(where, members=media, archive=name)

    def hf_files(self) -> None:
        spec = self.spec
        patterns = spec.files or ("**/*",)
        repo = self._repo(patterns + self._meta_patterns())
        patterns = repo.patterns(patterns)
        media = [f.path for f in repo.files if match_any(f.path, patterns) and is_media(f.path)
                 and member_wanted(f.path, spec)]
        if not media:
            self.result.fail(f"no media file of {repo.repo}@{repo.revision} matches {list(patterns)} (found "
                             f"{[f.path for f in repo.files[:5]]}); change the source's `files`")
            return
        self.note(f"{len(media)} media file(s)")
        self._metadata(self._locate(repo), members=media, archive=f"{repo.repo}@{repo.revision}", required=True)

    def hf_json(self) -> None:
        """JSON/JSONL text files: listed, and the first one's leading keys hold every mapped column."""
        from reap_omni.sources.hub_json import DEFAULT_PATTERNS

        repo = self._repo(tuple(self.spec.files or DEFAULT_PATTERNS))
        first = repo.files[0]
        self.note(f"{len(repo.files)} JSON file(s), {fmt_bytes(sum(f.size for f in repo.files))}, fetched whole by "
                  "a build")
        data = self.client.get_bytes(repo.url(self.client, first.path), 0, min(first.size, PEEK) or PEEK,
                                     ctx=repo.ctx(self.name, first.path))
        self._check_head(first.path, data, len(data) >= first.size, (), "", False)

    def youtube(self) -> None:
        spec = self.spec
        self.note("YouTube itself (yt-dlp, which videos are still up) is not probed")
        if not spec.url or spec.options.get("metadata_format") == "howto100m_captions":
            self.note("no annotation URL to check")
            return
        where = MetadataFile(spec.url, spec.url, None, ErrorContext(dataset=self.name, file=spec.url))
        self._metadata(where, media_are_columns=False)

    # -- archives ------------------------------------------------------------------------------------
    def _tar_head(self, url: str, name: str, ctx: ErrorContext) -> None:
        """The archive answers HEAD with a size and a Range read of its first bytes with a tar member."""
        size = self.client.head_size(url, ctx=ctx)
        if size is None:
            self.result.fail(f"{short_url(url)} answers without a size (no Content-Length)")
            return
        head = self.client.get_bytes(url, 0, min(size, ARCHIVE_HEAD), ctx=ctx)
        data = head
        if head[:2] == b"\x1f\x8b":
            try:
                data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head)
            except zlib.error:
                data = b""
        first = _first_member(data)
        if first is None and len(data) >= 512:
            self.result.fail(f"{name} ({fmt_bytes(size)}) does not start like a tar/tar.gz archive; "
                             "change the source's `files`/`url`")
            return
        self.note(f"{_short(name)}: {fmt_bytes(size)}"
                  + (f", first member {first}" if first else ""))

    # -- metadata ------------------------------------------------------------------------------------
    def _metadata(self, where: MetadataFile | None, *, members: Sequence[str] = (), archive: str = "",
                  required: bool = False, media_are_columns: bool = True) -> None:
        spec = self.spec
        if not spec.metadata and where is None:
            return
        if where is None:
            text = f"metadata {spec.metadata} is not in the repo listing"
            if required or spec.kind == "hf_files":
                self.result.fail(f"{text}; change the source's `metadata`")
            else:
                self.note(f"{text}: expected inside the archive (not checked)")
            return
        member = spec.options.get("metadata_member")
        if member and where.name.lower().endswith(".zip"):
            with RangeFile(self.client, where.url, where.size, ctx=where.ctx) as rf, zipfile.ZipFile(rf) as zf:
                try:
                    info = zf.getinfo(member)
                except KeyError:
                    self.result.fail(f"{where.name} has no member {member!r} (it has {zf.namelist()[:5]}); change "
                                     "`options.metadata_member`")
                    return
                self._metadata_member(member, info.file_size,
                                      lambda: read_member(rf, info, archive=where.name, limit=max_member_bytes(spec)),
                                      members, archive)
            return
        if spec.options.get("metadata_format") == "parquet" or where.name.lower().endswith(".parquet"):
            pf = read_footer(self.client, where.url, where.size, ctx=where.ctx, tail=8,
                             name=f"metadata {where.name}")
            self.note(f"metadata {_short(where.name)} ({pf.metadata.num_rows} rows; footer read)")
            self._keys(pf.schema_arrow.names, where.name, media_are_columns)
            return
        size = where.size if where.size is not None else self.client.head_size(where.url, ctx=where.ctx)
        end = min(size, PEEK) if size else PEEK
        data = self.client.get_bytes(where.url, 0, end, ctx=where.ctx)
        complete = size is not None and len(data) >= size
        self.note(f"metadata {_short(where.name)}" + (f" ({fmt_bytes(size)})" if size else ""))
        self._check_head(where.name, data, complete, members, archive, media_are_columns)

    def _metadata_member(self, member: str, size: int, read: Callable[[], bytes], members: Sequence[str],
                         archive: str) -> None:
        if size > PEEK * 4 or size > self.client.remaining:
            self.note(f"metadata {member} ({fmt_bytes(size)}, inside {archive or 'an archive'}): too big to read "
                      "within the budget; keys not checked")
            return
        self.note(f"metadata {member} ({fmt_bytes(size)}, inside an archive)")
        self._check_head(member, read(), True, members, archive, True)

    def _check_head(self, name: str, data: bytes, complete: bool, members: Sequence[str], archive: str,
                    media_are_columns: bool) -> None:
        opts = self.spec.options
        fmt = opts.get("metadata_format")
        text = head_text(name, data)
        plain = name[:-3] if name.lower().endswith(".gz") else name
        if fmt in ("kaldi", "trans_txt"):
            columns: list[str] | None = ["id", "text"]
        elif fmt == "lhotse_cuts":
            columns = list(_LHOTSE)
        elif opts.get("csv_header"):
            columns = list(opts["csv_header"])
        elif fmt == "howto100m_captions":
            columns = None
        else:
            ext = _EXT.get(fmt or "", "")
            columns = peek_columns(plain + (ext if ext and not plain.lower().endswith(ext) else ""), text,
                                   delimiter=_DELIM.get(fmt or ""))
        if columns is not None:
            self._keys(columns, name, media_are_columns)
        if members and self.result.ok:
            self._pairing(plain, text, complete, members, archive)

    def _keys(self, columns: list[str], where: str, media_are_columns: bool) -> None:
        """Every mapped column, member-template field and filter key is a metadata column."""
        spec = self.spec
        if not (spec.columns or spec.options.get("member_template") or spec.options.get("filter")):
            return  # nothing is read from it by name
        if not columns:
            self.note(f"metadata {_short(where)}: no column names in its first bytes; keys not checked")
            return
        missing = [(f"columns.{f}", c) for f, c in missing_required(
            spec.columns, columns, media_are_columns=media_are_columns,
            optional=spec.options.get("optional_columns", ()))]
        template = spec.options.get("member_template") or ""
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
        missing += [("options.member_template", f) for f in sorted(fields) if f not in columns]
        missing += [(f"options.filter.{k}", k) for k in (spec.options.get("filter") or {}) if k not in columns]
        for key, col in missing:
            hint = closest(col, columns) if key.startswith("columns.") else None
            exc = mismatch(self.name, spec, key, col, columns, index=self.index, suggestion=hint,
                           where=f"metadata {_short(where)}")
            self.result.fail(str(exc), exc.fixes)

    def _pairing(self, name: str, text: str, complete: bool, members: Sequence[str], archive: str) -> None:
        """Metadata rows name media members (the whole file when it was read; else its first rows)."""
        spec = self.spec
        if not complete:
            if spec.options.get("metadata_format") == "json" or name.lower().endswith(".json"):
                return  # a JSON prefix does not parse
            text = text[: text.rfind("\n") + 1]
        try:
            rows = parse_metadata(name, text.encode(), spec)
        except (ValueError, KeyError, TypeError, csv.Error):
            return
        index = MemberIndex(spec, rows)
        if index.count == 0:
            return
        if any(index.match(m) for m in members):
            return
        message = str(no_match_error(f"{self.name}", archive or "the archive", list(members), index.examples()))
        if complete:
            self.result.fail(message)
        else:
            self.note(f"the first {index.count} metadata rows name no member: " + message.split(": ", 1)[-1])


def _short(name: str) -> str:
    """A repo path as is, a URL as ``host/path``."""
    return short_url(name) if "://" in name else name


def _first_member(data: bytes) -> str | None:
    """The first regular member's name of a tar prefix, None when it does not start like a tar."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
            for info in tar:
                return info.name
    except (tarfile.TarError, EOFError, OSError):
        pass
    if len(data) >= 262 and data[257:262] == b"ustar":
        return data[:100].split(b"\0", 1)[0].decode("utf-8", errors="replace") or None
    return None


def _revision_gone(exc: SourceUnavailable, spec: SourceSpec) -> bool:
    return (exc.reason == "not_found" and spec.kind in HUB_KINDS and spec.revision not in (None, "main")
            and f"revision {spec.revision!r}" in str(exc) and "does not exist" in str(exc))


def probe_source(dataset: DatasetSpec, index: int, spec: SourceSpec | None = None, *, token: str | None = None,
                 budget: int = PROBE_BUDGET) -> ProbeResult:
    """Probe source ``index`` of ``dataset`` (or ``spec`` standing for it, e.g. with fixture URLs)."""
    spec = spec if spec is not None else dataset.sources[index]
    result = ProbeResult(dataset.name, index, spec.kind, where=describe(spec), opt_in=spec.opt_in)
    if spec.kind in NOT_PROBED:
        result.skipped = True
        result.notes.append(NOT_PROBED[spec.kind])
        return result
    client = BudgetClient(token=token, budget=budget, retries=2, backoff=0.5)
    try:
        _run(dataset, index, spec, client, result)
    finally:
        result.bytes = client.bytes_read
    return result


def _run(dataset: DatasetSpec, index: int, spec: SourceSpec, client: BudgetClient, result: ProbeResult) -> None:
    try:
        _Probe(dataset, index, spec, client, result).run()
    except SourceMismatch as exc:
        result.fail(str(exc), exc.fixes)
    except SourceUnavailable as exc:
        if _revision_gone(exc, spec):
            at_main = ProbeResult(dataset.name, index, spec.kind)
            _run(dataset, index, msgspec.structs.replace(spec, revision=None), client, at_main)
            result.fail(str(exc), [f"{dataset.name}:{index}:revision=main"] if at_main.ok else at_main.fixes)
            result.notes.append("at main: " + ("the source works" if at_main.ok else "; ".join(at_main.problems)))
            return
        text = str(exc)
        if exc.reason == "gated" and dataset.access:
            text += f" ({dataset.access})"
        result.fail(text)
    except (ReapOmniError, OSError, ValueError, zipfile.BadZipFile) as exc:
        result.fail(f"{dataset.name}: {exc}")


Job = tuple[DatasetSpec, int, SourceSpec]  # (dataset, index of the source in its entry, spec to probe)


def probe_datasets(datasets: Sequence[DatasetSpec], *, token: str | None = None, budget: int = PROBE_BUDGET,
                   workers: int = WORKERS) -> Iterator[ProbeResult]:
    """Results for every source of ``datasets``, in catalog order, probed ``workers`` at a time."""
    return probe_sources([(d, i, s) for d in datasets for i, s in enumerate(d.sources)], token=token, budget=budget,
                         workers=workers)


def probe_sources(jobs: Sequence[Job], *, token: str | None = None,
                  budget: int = PROBE_BUDGET, workers: int = WORKERS) -> Iterator[ProbeResult]:
    """Results for ``(dataset, source index, spec)`` jobs, in their order, ``workers`` at a time."""
    with ThreadPoolExecutor(max(1, workers)) as pool:
        yield from pool.map(lambda job: probe_source(*job, token=token, budget=budget), jobs)


def served_jobs(catalog: Sequence[DatasetSpec], served: Sequence[DatasetSpec]) -> list[Job]:
    """Jobs for the sources a fixture Hub serves (``calibration_set.demo``), under their catalog index.

    The demo keeps the sources it can imitate, in order, with archive URLs moved to the fixture server; each
    is matched to the next catalog source of the same kind and repo.
    """
    by_name = {d.name: d for d in catalog}
    jobs: list[Job] = []
    for d in served:
        original = by_name.get(d.name, d)
        start = 0
        for spec in d.sources:
            index = next((i for i in range(start, len(original.sources)) if original.sources[i].kind == spec.kind
                          and original.sources[i].repo == spec.repo), None)
            if index is None:
                continue
            jobs.append((original, index, spec))
            start = index + 1
    return jobs


def dataset_ok(results: Sequence[ProbeResult]) -> bool:
    """A dataset passes when every probed non-opt-in source is fine, or another of its sources works."""
    probed = [r for r in results if not r.skipped]
    return all(r.ok for r in probed if not r.opt_in) or any(r.ok for r in probed)


def failing_datasets(results: Sequence[ProbeResult]) -> list[str]:
    by: dict[str, list[ProbeResult]] = {}
    for r in results:
        by.setdefault(r.dataset, []).append(r)
    return [name for name, rs in by.items() if not dataset_ok(rs)]


def render_result(r: ProbeResult) -> str:
    mark = "-" if r.skipped else ("✓" if r.ok else "✗")
    opt = " (opt-in)" if r.opt_in else ""
    lines = [f"  {mark} #{r.source} {r.kind}{opt} {r.where}" + ("" if r.skipped else f"  [{fmt_bytes(r.bytes)}]")]
    lines += [f"      {p}" for p in r.problems]
    lines += [f"      · {n}" for n in r.notes]
    if r.fix:
        lines.append(f"      {'fix' if not r.ok else 'pin'}: {r.fix}")
    return "\n".join(lines)


def report(results: Iterable[ProbeResult], out: TextIO, *, as_json: bool = False,
           budget: int = PROBE_BUDGET) -> list[ProbeResult]:
    """Print the results (one block per dataset, or JSON) as they come; return them all."""
    done: list[ProbeResult] = []
    current = None
    for r in results:
        done.append(r)
        if as_json:
            continue
        if r.dataset != current:
            current = r.dataset
            out.write(f"{r.dataset}\n")
        out.write(render_result(r) + "\n")
        out.flush()
    if as_json:
        out.write(json.dumps([r.to_json() for r in done], ensure_ascii=False, indent=2) + "\n")
        return done
    probed = [r for r in done if not r.skipped]
    bad = failing_datasets(done)
    out.write(f"{len(done)} source(s) of {len({r.dataset for r in done})} dataset(s): "
              f"{sum(r.ok for r in probed)} ok, {sum(not r.ok for r in probed)} failing, "
              f"{len(done) - len(probed)} not probed; {fmt_bytes(sum(r.bytes for r in done))} transferred "
              f"(at most {fmt_bytes(budget)} per source)\n")
    if bad:
        out.write(f"no working source: {', '.join(bad)}\n")
    return done

