"""Kind ``hf_json``: JSON/JSONL data files of a Hub repo, for text (S0) sets that have no parquet to range-read.

A card with the dataset viewer off (codefuse-ai/Evol-instruction-66k) has no ``refs/convert/parquet`` export, and a
JSON array has no row index to seek to, so each matching file is fetched whole, once, when the source lists its
units. Only the mapped columns of each row are kept, and the rows are cut into units of ``ROWS_PER_UNIT`` so the
sampler spreads a sample over the file as it does over parquet row groups. Text only: a spec mapping ``audio`` or
``video`` is refused (media never live in these files).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reap_omni.catalog.spec import SourceSpec
from reap_omni.sources.base import Candidate, Provenance, SourceUnavailable, Unit, closest, mismatch
from reap_omni.sources.http import HttpClient
from reap_omni.sources.hub import ResolvedRepo, announce_moves, resolve_repo
from reap_omni.sources.join import MEDIA_FIELDS, map_fields, missing_required, source_columns
from reap_omni.sources.tables import parse_table

#: rows per unit: a unit is the smallest slice the sampler takes rows from (like a parquet row group)
ROWS_PER_UNIT = 256
DEFAULT_PATTERNS = ("**/*.json", "**/*.jsonl", "**/*.json.gz", "**/*.jsonl.gz")


class HubJsonSource:
    kind = "hf_json"

    def __init__(self, spec: SourceSpec, *, client: HttpClient | None = None, dataset: str | None = None):
        self.spec, self.dataset = spec, dataset
        self.client = client or HttpClient()
        self.repo: ResolvedRepo | None = None
        self._rows: dict[str, list[dict[str, Any]]] = {}  # file -> rows (mapped columns only)

    @property
    def bytes_read(self) -> int:
        return self.client.bytes_read

    def _who(self) -> str:
        return f"dataset {self.dataset!r}" if self.dataset else (self.spec.repo or "hf_json source")

    def units(self) -> list[Unit]:
        spec = self.spec
        media = [f for f in MEDIA_FIELDS if f in spec.columns]
        if media:
            raise SourceUnavailable(f"{self._who()}: an hf_json source carries text only, not {', '.join(media)}; "
                                    "use hf_parquet or hf_files for media", reason="layout")
        patterns = spec.files or DEFAULT_PATTERNS
        repo = self.repo = resolve_repo(self.client, spec, tuple(patterns), dataset=self.dataset, relocate=True)
        announce_moves(repo, spec, self.dataset)
        files = [f for f in repo.files if f.path.lower().endswith((".json", ".jsonl", ".json.gz", ".jsonl.gz"))]
        if not files:
            raise SourceUnavailable(f"{self._who()}: no JSON/JSONL file of {repo.repo}@{repo.revision} matches "
                                    f"{list(patterns)}; change the source's `files`", reason="layout")
        units: list[Unit] = []
        for f in files:
            rows = self._load(f.path)
            for start in range(0, len(rows), ROWS_PER_UNIT):
                count = min(ROWS_PER_UNIT, len(rows) - start)
                cost = (f.size * count // len(rows)) if f.size else None
                units.append(Unit(key=f"{f.path}#{start}", shard=f.path, index=start // ROWS_PER_UNIT, rows=count,
                                  cost_bytes=cost, info={"file": f.path, "start": start, "count": count}))
        return units

    def _load(self, path: str) -> list[dict[str, Any]]:
        """The rows of one file, mapped columns only, checked against the columns the spec maps."""
        assert self.repo is not None
        data = self.client.get_bytes(self.repo.url(self.client, path), ctx=self.repo.ctx(self.dataset, path))
        try:
            raw = parse_table(path, data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SourceUnavailable(f"{self._who()}: {self.repo.repo}@{self.repo.revision}/{path} is not valid "
                                    f"JSON/JSONL ({exc})", reason="layout") from None
        rows = [r for r in raw if isinstance(r, dict)]
        if not rows:
            self._rows[path] = []
            return []
        names = sorted({k for r in rows[:100] for k in r})
        missing = missing_required(self.spec.columns, names, media_are_columns=False)
        if missing:
            fld, col = missing[0]
            raise mismatch(self.dataset, self.spec, f"columns.{fld}", col, names, suggestion=closest(col, names),
                           where=f"{self.repo.repo}@{self.repo.revision}/{path}")
        keep = {c for v in self.spec.columns.values() for c in source_columns(v)}
        self._rows[path] = [{k: v for k, v in r.items() if k in keep} for r in rows]
        return self._rows[path]

    def read(self, unit: Unit) -> Iterator[Candidate]:
        if self.repo is None:
            self.units()
        assert self.repo is not None
        path, start, count = unit.info["file"], unit.info["start"], unit.info["count"]
        rows = self._rows.get(path)
        if rows is None:
            rows = self._load(path)
        for i in range(start, min(start + count, len(rows))):
            fields = map_fields(rows[i], self.spec.columns)
            group = fields.get("group")
            yield Candidate(
                key=f"{path}#{i}", fields=fields, media={},
                provenance=Provenance(kind=self.kind, repo=self.repo.repo, revision=self.repo.sha, file=path, row=i),
                group=str(group) if group is not None else f"{path}#{i // ROWS_PER_UNIT}",
            )
