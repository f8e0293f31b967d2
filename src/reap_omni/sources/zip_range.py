"""Kind ``zip_range``: chosen members of a remote zip read through HTTP Range requests.

A zip's central directory sits at its end, so listing members costs a few kilobytes; each chosen member
is then read on its own (local header + its compressed bytes), never the whole archive. This is how a
100-video sample comes out of a 26 GB ``videos_chunked_NN.zip`` (lmms-eval) or a 13 GB Charades zip.
Members are inflated in bounded chunks (``zip_members``), stored, deflated, bzip2 and LZMA alike, up to
``options.max_member_bytes`` (1 GiB by default, the tar sources' limit): a bigger member, or one that
inflates past its declared size, is a one-line refusal of that unit. Member paths are checked like tar
members when the central directory is listed: an absolute or ``..`` path refuses the archive. Multi-volume
zips are not supported (their central directory is in the last volume).
"""

from __future__ import annotations

import posixpath
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from reap_omni.catalog.spec import SourceSpec
from reap_omni.sources.annotations import MEMBER_EXAMPLES, Metadata, archive_candidate, fetch_metadata
from reap_omni.sources.archive_safety import max_member_bytes
from reap_omni.sources.base import Candidate, SourceUnavailable, Unit
from reap_omni.sources.blobs import is_media
from reap_omni.sources.http import ErrorContext, HttpClient
from reap_omni.sources.hub import ResolvedRepo, announce_moves, match_any, resolve_repo
from reap_omni.sources.join import MemberIndex, member_wanted, parse_metadata
from reap_omni.sources.range_file import RangeFile
from reap_omni.sources.zip_members import LOCAL_HEADER, check_zip_member, read_member

MIN_FETCH = 64 * 1024  # one request covers a member's local header and the start of its data


@dataclass
class _Zip:
    name: str
    url: str
    zf: zipfile.ZipFile
    fp: RangeFile
    lock: threading.Lock


class ZipRangeSource:
    """Members of zips in a Hub repo (``spec.files``) or at ``spec.url``, joined to ``spec.metadata``."""

    kind = "zip_range"

    def __init__(self, spec: SourceSpec, *, client: HttpClient | None = None, dataset: str | None = None):
        self.spec, self.dataset = spec, dataset
        self.client = client or HttpClient()
        self.repo: ResolvedRepo | None = None
        self.metadata: Metadata | None = None
        self.index: MemberIndex | None = None
        self._zips: dict[str, _Zip] = {}
        self.max_member = max_member_bytes(spec)

    @property
    def bytes_read(self) -> int:
        return self.client.bytes_read

    def _who(self) -> str:
        return f"dataset {self.dataset!r}" if self.dataset else (self.spec.repo or self.spec.url or "zip source")

    def archives(self, *, metadata: bool = True, announce: bool = True) -> list[tuple[str, str, int | None]]:
        """(name, url, size) of each zip; with ``metadata`` the annotation file is fetched too; ``announce``
        prints the line saying which files moved (the probe reports it instead)."""
        spec = self.spec
        if spec.url:
            urls = [spec.url, *spec.options.get("urls", ())]
            if metadata:
                self.metadata = fetch_metadata(self.client, spec, repo=None, dataset=self.dataset)
            return [(u, u, None) for u in urls]
        patterns = spec.files or ("**/*.zip",)
        meta = (spec.metadata,) if spec.metadata and "://" not in spec.metadata else ()
        repo = self.repo = resolve_repo(self.client, spec, patterns + meta, dataset=self.dataset, relocate=True)
        if announce:
            announce_moves(repo, spec, self.dataset)
        patterns = repo.patterns(patterns)
        if metadata:
            self.metadata = fetch_metadata(self.client, spec, repo=repo, listing=repo.files, dataset=self.dataset)
        return [(f.path, repo.url(self.client, f.path), f.size) for f in repo.files
                if match_any(f.path, patterns) and f.path.lower().endswith(".zip")]

    def units(self) -> list[Unit]:
        archives = self.archives()
        if not archives:
            raise SourceUnavailable(f"{self._who()}: no zip matches the source's `files` {list(self.spec.files)}",
                                    reason="layout")
        if self.metadata is not None:
            self.index = MemberIndex(self.spec, self.metadata.rows)
            if self.index.count == 0:  # no row names a member (a speaker table): side information only
                self.index = None
        units: list[Unit] = []
        for name, url, size in archives:
            z = self.open_zip(name, url, size)
            infos = z.zf.infolist()
            for info in infos:
                check_zip_member(info, name)
            if self.index is None and self.spec.metadata and "://" not in self.spec.metadata:
                self._metadata_from_zip(z, infos)
            for info in infos:
                member = info.filename
                if info.is_dir() or not is_media(member) or not member_wanted(member, self.spec):
                    continue
                rows = self.index.match(member) if self.index is not None else [(None, None)]
                if not rows:
                    continue
                cost = info.compress_size + LOCAL_HEADER + len(info.filename.encode()) + len(info.extra)
                units.append(Unit(key=f"{name}!{member}", shard=name, index=len(units), rows=len(rows),
                                  cost_bytes=cost, info={"zip": name, "member": member}))
        if not units:
            examples = [i.filename for z in self._zips.values() for i in z.zf.infolist() if is_media(i.filename)]
            examples = examples[:MEMBER_EXAMPLES]
            hint = (f"members are like {examples}, metadata keys like {self.index.examples()}"
                    if self.index and examples else f"media members are like {examples}" if examples
                    else "no media members")
            raise SourceUnavailable(f"{self._who()}: no member of {[a[0] for a in archives]} is usable ({hint}); "
                                    "change `options.member_template`/`member_match`/`member_glob`", reason="layout")
        return units

    def _metadata_from_zip(self, z: _Zip, infos: list[zipfile.ZipInfo]) -> None:
        """The annotation file stored inside the zip itself, read by range like any member."""
        for info in infos:
            if match_any(info.filename, (self.spec.metadata,)) or posixpath.basename(info.filename) == \
                    posixpath.basename(self.spec.metadata or ""):
                data = self.read_zip_member(z, info)
                self.metadata = Metadata(info.filename, parse_metadata(info.filename, data, self.spec))
                self.index = MemberIndex(self.spec, self.metadata.rows)
                return

    def open_zip(self, name: str, url: str, size: int | None) -> _Zip:
        """The zip's central directory (read by range once, kept for the member reads)."""
        if name not in self._zips:
            ctx = self.repo.ctx(self.dataset, name) if self.repo else ErrorContext(dataset=self.dataset, file=url)
            rf = RangeFile(self.client, url, size, min_fetch=MIN_FETCH, ctx=ctx, name=name)
            try:
                zf = zipfile.ZipFile(rf)
            except zipfile.BadZipFile as exc:
                raise SourceUnavailable(f"{self._who()}: {name} is not a readable single-volume zip ({exc}); "
                                        "change the source's `files`/`url`", reason="layout") from None
            self._zips[name] = _Zip(name, url, zf, rf, threading.Lock())
        return self._zips[name]

    def read_zip_member(self, z: _Zip, info: zipfile.ZipInfo) -> bytes:
        with z.lock:
            return read_member(z.fp, info, archive=z.name, limit=self.max_member)

    def read(self, unit: Unit) -> Iterator[Candidate]:
        if not self._zips:
            self.units()
        z = self._zips[unit.info["zip"]]
        member = unit.info["member"]
        data = self.read_zip_member(z, z.zf.getinfo(member))
        rows = self.index.match(member) if self.index is not None else [(None, None)]
        for i, row in rows:
            yield archive_candidate(self.spec, kind=self.kind, shard=z.name, member=member, data=data, row=row,
                                    row_index=i, multi=len(rows) > 1, repo=self.repo, url=z.url)
