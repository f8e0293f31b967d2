"""Kind ``hf_files``: loose media files in a Hub repo (often on a branch) plus an annotation file.

MVBench keeps its clips as individual files on the ``video`` branch and its questions in JSON on ``main``;
``VLM2Vec/YouCook2`` keeps ``raw_videos/``. Each file is one unit whose cost is its size; only chosen files
are downloaded.
"""

from __future__ import annotations

from collections.abc import Iterator

from reap_omni.catalog.spec import SourceSpec
from reap_omni.sources.annotations import MEMBER_EXAMPLES, Metadata, archive_candidate, fetch_metadata
from reap_omni.sources.base import Candidate, SourceUnavailable, Unit
from reap_omni.sources.blobs import is_media
from reap_omni.sources.http import HttpClient
from reap_omni.sources.hub import ResolvedRepo, announce_moves, match_any, resolve_repo
from reap_omni.sources.join import MemberIndex, member_wanted


class HubFilesSource:
    kind = "hf_files"

    def __init__(self, spec: SourceSpec, *, client: HttpClient | None = None, dataset: str | None = None):
        self.spec, self.dataset = spec, dataset
        self.client = client or HttpClient()
        self.repo: ResolvedRepo | None = None
        self.metadata: Metadata | None = None
        self.index: MemberIndex | None = None

    @property
    def bytes_read(self) -> int:
        return self.client.bytes_read

    def units(self) -> list[Unit]:
        spec = self.spec
        patterns = spec.files or ("**/*",)
        meta = (spec.metadata,) if spec.metadata and "://" not in spec.metadata else ()
        repo = self.repo = resolve_repo(self.client, spec, patterns + meta, dataset=self.dataset, relocate=True)
        announce_moves(repo, spec, self.dataset)
        patterns = repo.patterns(patterns)
        self.metadata = fetch_metadata(self.client, spec, repo=repo, listing=repo.files, dataset=self.dataset)
        if self.metadata is not None:
            self.index = MemberIndex(spec, self.metadata.rows)
            if self.index.count == 0:  # no row names a member: side information only
                self.index = None
        units = []
        for f in repo.files:
            if not match_any(f.path, patterns) or not is_media(f.path) or not member_wanted(f.path, spec):
                continue
            rows = self.index.match(f.path) if self.index is not None else [(None, None)]
            if rows:
                units.append(Unit(key=f.path, shard=f.path, index=len(units), rows=len(rows), cost_bytes=f.size,
                                  info={"file": f.path}))
        if not units:
            who = f"dataset {self.dataset!r}" if self.dataset else repo.repo
            media = [f.path for f in repo.files if match_any(f.path, patterns) and is_media(f.path)]
            hint = f"; media files are like {media[:MEMBER_EXAMPLES]}" if media else ""
            hint += f", metadata keys like {self.index.examples()}" if self.index and media else (
                f"; metadata keys look like {self.index.examples()}" if self.index else "")
            raise SourceUnavailable(f"{who}: no media file of {repo.repo}@{repo.revision} matches {list(patterns)}"
                                    f"{hint}; change the source's `files` or `options.member_match`", reason="layout")
        return units

    def read(self, unit: Unit) -> Iterator[Candidate]:
        if self.repo is None:
            self.units()
        assert self.repo is not None
        path = unit.info["file"]
        data = self.client.get_bytes(self.repo.url(self.client, path), ctx=self.repo.ctx(self.dataset, path))
        rows = self.index.match(path) if self.index is not None else [(None, None)]
        for i, row in rows:
            yield archive_candidate(self.spec, kind=self.kind, shard=path, member=path, data=data, row=row,
                                    row_index=i, multi=len(rows) > 1, repo=self.repo, url=None)
