"""Kinds ``hf_tar`` and ``http_tar``: stream tar/tar.gz archives member by member and stop early.

Only a prefix of an archive is downloaded: members are read in the archiver's order and the transfer stops
when the consumer closes the candidate iterator. Media members are paired with transcripts or metadata by
id: a metadata file named by the spec is fetched first; transcripts inside the archive (LibriSpeech
``.trans.txt``, MELD's CSV in the outer tar) are read as they come, with media buffered until their text
is known. Inner archives matching ``options.nested`` are streamed in turn (MELD, AISHELL-1).

Archive safety: a member with an absolute path or ``..``, a link or a device refuses the archive (nothing
is ever written by member name, but such an archive is not one we expect), and per-member and total size
limits (``max_member_bytes``, ``max_total_bytes``) stop decompression bombs.
"""

from __future__ import annotations

import fnmatch
import logging
import posixpath
import tarfile
from collections.abc import Iterator
from typing import IO
from urllib.parse import urljoin

from reap_omni.catalog.spec import SourceSpec
from reap_omni.sources.annotations import (
    MEMBER_EXAMPLES,
    Metadata,
    archive_candidate,
    fetch_metadata,
    no_match_error,
)
from reap_omni.sources.archive_safety import UnsafeArchive, check_member_name, max_member_bytes, member_too_big
from reap_omni.sources.base import Candidate, SourceUnavailable, Unit
from reap_omni.sources.blobs import is_archive, is_media, stem
from reap_omni.sources.http import ErrorContext, HttpClient
from reap_omni.sources.hub import ResolvedRepo, announce_moves, resolve_repo
from reap_omni.sources.join import MemberIndex, is_transcript_member, member_wanted, parse_metadata

log = logging.getLogger(__name__)

MAX_TOTAL_BYTES = 64 << 30  # decompressed bytes per archive, skipped members included
MAX_PENDING_BYTES = 1 << 30  # media waiting for their transcript
MAX_DEPTH = 2


def check_member(info: tarfile.TarInfo, archive: str, *, max_member: int) -> None:
    """Refuse members that could escape a folder, point elsewhere, or are too big to hold."""
    name = info.name
    check_member_name(name, archive)
    if info.issym() or info.islnk():
        raise UnsafeArchive(f"{archive}: member {name!r} is a link (to {info.linkname!r}); archive refused")
    if info.isdev() or not (info.isfile() or info.isdir()):
        raise UnsafeArchive(f"{archive}: member {name!r} is a device or special file; archive refused")
    if info.isfile() and info.size > max_member:
        raise member_too_big(archive, name, info.size, max_member)


class TarStreamSource:
    """Members of tar/tar.gz archives in a Hub repo (``hf_tar``) or behind plain URLs (``http_tar``)."""

    def __init__(self, spec: SourceSpec, *, client: HttpClient | None = None, dataset: str | None = None):
        self.spec, self.dataset, self.kind = spec, dataset, spec.kind
        self.client = client or HttpClient()
        self.repo: ResolvedRepo | None = None
        self.metadata: Metadata | None = None
        self._index: MemberIndex | None = None
        self._resolved = False
        opts = spec.options
        self.max_member = max_member_bytes(spec)
        self.max_total = int(opts.get("max_total_bytes", MAX_TOTAL_BYTES))
        self.max_pending = int(opts.get("max_pending_bytes", MAX_PENDING_BYTES))
        self.stats = {"members": 0, "media": 0, "unmatched": 0}

    @property
    def bytes_read(self) -> int:
        return self.client.bytes_read

    def _who(self) -> str:
        return f"dataset {self.dataset!r}" if self.dataset else (self.spec.repo or self.spec.url or "tar source")

    # -- units -------------------------------------------------------------------------------------
    def units(self) -> list[Unit]:
        spec = self.spec
        units: list[Unit] = []
        if spec.kind == "hf_tar":
            patterns = spec.files or ("**/*.tar.gz", "**/*.tgz", "**/*.tar")
            meta = (spec.metadata,) if spec.metadata and "://" not in spec.metadata else ()
            repo = resolve_repo(self.client, spec, patterns + meta, dataset=self.dataset, relocate=True)
            announce_moves(repo, spec, self.dataset)
            patterns, self.repo = repo.patterns(patterns), repo
            self.metadata = fetch_metadata(self.client, spec, repo=repo, listing=repo.files, dataset=self.dataset)
            archives = [f for f in repo.files if not (self.metadata and f.path == self.metadata.name)]
            archives = [f for f in archives if f.path not in meta or any(
                fnmatch.fnmatchcase(f.path, p) for p in patterns)]
            if not archives:
                raise SourceUnavailable(f"{self._who()}: no archive of {repo.repo}@{repo.revision} matches "
                                        f"{list(patterns)}; change the source's `files`", reason="layout")
            for i, f in enumerate(archives):
                units.append(Unit(key=f.path, shard=f.path, index=i, cost_bytes=f.size,
                                  info={"url": repo.url(self.client, f.path), "file": f.path}))
        else:
            self.metadata = fetch_metadata(self.client, spec, repo=None, dataset=self.dataset)
            for i, url in enumerate(self._urls()):
                units.append(Unit(key=url, shard=url, index=i, info={"url": url, "file": url}))
        if self.metadata is not None:
            self._index = MemberIndex(spec, self.metadata.rows)
            if self._index.count == 0:  # no row names a member: side information only, media stand alone
                self._index, self.metadata = None, None
        self._resolved = True
        return units

    def _urls(self) -> list[str]:
        spec = self.spec
        urls = [spec.url] if spec.url else []
        urls += list(spec.options.get("urls", ()))
        if not urls:
            raise SourceUnavailable(f"{self._who()}: an http_tar source needs `url`", reason="layout")
        if not spec.options.get("url_is_list"):
            return urls
        out: list[str] = []
        for list_url in urls:
            text = self.client.get_bytes(list_url, ctx=ErrorContext(dataset=self.dataset, file=list_url)).decode()
            out += [urljoin(list_url, line.strip()) for line in text.splitlines() if line.strip()]
        return out

    # -- reading -----------------------------------------------------------------------------------
    def read(self, unit: Unit) -> Iterator[Candidate]:
        if not self._resolved:
            self.units()
        url = unit.info["url"]
        ctx = (self.repo.ctx(self.dataset, unit.info["file"]) if self.repo
               else ErrorContext(dataset=self.dataset, file=url))
        stream = self.client.open_stream(url, ctx=ctx)
        try:
            yield from self._read_archive(stream, unit.shard, url)
        finally:
            stream.close()

    def _read_archive(self, stream: IO[bytes], shard: str, url: str) -> Iterator[Candidate]:
        spec = self.spec
        index = self._index if self._index is not None else MemberIndex(spec)
        inline = self.metadata is None  # pairing text, if any, comes from inside the archive
        expects_text = inline and bool(spec.metadata or spec.options.get("metadata_format"))
        pending: dict[str, bytes] = {}
        pending_bytes = emitted = 0
        seen_media: list[str] = []  # the first few, for the no-match message
        try:
            for name, data in self._members(stream, shard, 0, [0]):
                if inline and is_transcript_member(name, spec):
                    index.add(parse_metadata(name, data, spec))
                    for member in [m for m in pending if index.match(m)]:
                        blob = pending.pop(member)
                        pending_bytes -= len(blob)
                        for cand in self._candidates(index, shard, member, blob, url):
                            emitted += 1
                            yield cand
                    continue
                if not is_media(name) or not member_wanted(name, spec):
                    continue
                self.stats["media"] += 1
                if len(seen_media) < MEMBER_EXAMPLES:
                    seen_media.append(name)
                if not expects_text and inline:  # nothing to pair with: the media alone
                    emitted += 1
                    yield archive_candidate(spec, kind=self.kind, shard=shard, member=name, data=data, row=None,
                                            row_index=None, multi=False, repo=self.repo, url=url)
                elif index.match(name):
                    for cand in self._candidates(index, shard, name, data, url):
                        emitted += 1
                        yield cand
                elif expects_text:  # its transcript may come later (LibriSpeech chapters, MELD's CSV)
                    pending[name] = data
                    pending_bytes += len(data)
                    if pending_bytes > self.max_pending:
                        raise SourceUnavailable(
                            f"{self._who()}: over {self.max_pending} bytes of media in {shard} wait for a transcript "
                            "that has not appeared; check `metadata`/`options.metadata_format`", reason="layout")
                else:
                    self.stats["unmatched"] += 1
        except (tarfile.ReadError, EOFError, tarfile.StreamError) as exc:
            if not spec.options.get("byte_split"):
                raise SourceUnavailable(f"{self._who()}: {shard} is not a readable tar/tar.gz ({exc}); "
                                        "change the source's `files`/`url`", reason="layout") from None
            log.info("%s: byte-split part %s ends inside a member; stopping there", self._who(), shard)
        if emitted == 0 and seen_media:
            raise no_match_error(self._who(), shard, seen_media, index.examples())

    def _candidates(self, index: MemberIndex, shard: str, member: str, data: bytes, url: str) -> Iterator[Candidate]:
        rows = index.match(member)
        for i, row in rows:
            yield archive_candidate(self.spec, kind=self.kind, shard=shard, member=member, data=data, row=row,
                                    row_index=i, multi=len(rows) > 1, repo=self.repo, url=url)

    def _members(self, fileobj: IO[bytes], archive: str, depth: int, total: list[int]) -> Iterator[tuple[str, bytes]]:
        """(path, bytes) of the regular members needed, descending into nested archives."""
        nested = self.spec.options.get("nested")
        try:
            tar = tarfile.open(fileobj=fileobj, mode="r|*")  # noqa: SIM115 - closed by the with below
        except tarfile.ReadError as exc:
            raise SourceUnavailable(f"{self._who()}: {archive} is not a tar/tar.gz archive ({exc})",
                                    reason="layout") from None
        with tar:
            for info in tar:
                check_member(info, archive, max_member=self.max_member)
                if not info.isfile():
                    continue
                total[0] += info.size
                if total[0] > self.max_total:
                    raise UnsafeArchive(f"{archive}: more than {self.max_total} bytes unpacked; stopping (raise "
                                        "`options.max_total_bytes` if this is expected)")
                self.stats["members"] += 1
                name = info.name.lstrip("./")
                base = posixpath.basename(name)
                if is_archive(name) and nested and (fnmatch.fnmatchcase(base, nested)
                                                    or fnmatch.fnmatchcase(name, nested)):
                    if depth + 1 > MAX_DEPTH:
                        raise UnsafeArchive(f"{archive}: archives nested deeper than {MAX_DEPTH}; refused")
                    inner = tar.extractfile(info)
                    if inner is not None:
                        yield from self._members(inner, f"{archive}>{name}", depth + 1, total)
                    continue
                wanted = is_media(name) or is_transcript_member(name, self.spec)
                if not wanted:
                    continue
                f = tar.extractfile(info)
                if f is None:
                    continue
                try:
                    data = f.read()
                except (tarfile.ReadError, EOFError):
                    data = b""
                if len(data) != info.size:
                    if self.spec.options.get("byte_split"):
                        return  # a byte-split part ends inside its last member
                    raise SourceUnavailable(f"{self._who()}: member {name} of {archive} ended early", reason="network")
                yield (name if depth == 0 else f"{stem(archive.split('>')[-1])}/{name}"), data

