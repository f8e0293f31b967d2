"""Fetching a source's annotation file (``spec.metadata``) from a URL, its repo, or another repo/branch.

When the file is neither a URL nor in the repo listing, it is expected *inside* the archive (MELD's CSV in
the outer tar, AISHELL-3's ``content.txt``), and the archive reader picks it up as a member instead.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass
from typing import Any

import msgspec

from reap_omni.catalog.spec import SourceSpec
from reap_omni.sources.archive_safety import max_member_bytes
from reap_omni.sources.base import Candidate, MediaBlob, Provenance, SourceUnavailable
from reap_omni.sources.blobs import VIDEO_EXTS, media_name, stem
from reap_omni.sources.http import ErrorContext, HttpClient
from reap_omni.sources.hub import RepoFile, ResolvedRepo, announce_moves, match_any, resolve_repo
from reap_omni.sources.join import MEDIA_FIELDS, map_fields, member_group, parse_metadata
from reap_omni.sources.range_file import RangeFile
from reap_omni.sources.zip_members import read_member

#: real member names shown when members and metadata do not pair
MEMBER_EXAMPLES = 3


@dataclass
class Metadata:
    name: str
    rows: list[dict[str, Any]]


@dataclass
class MetadataFile:
    """Where a source's annotation file is: its name (path in its repo, or the URL), URL, size if listed."""

    name: str
    url: str
    size: int | None
    ctx: ErrorContext
    repo: ResolvedRepo | None = None


def locate_metadata(client: HttpClient, spec: SourceSpec, *, repo: ResolvedRepo | None,
                    listing: tuple[RepoFile, ...] = (), dataset: str | None = None,
                    announce: bool = True) -> MetadataFile | None:
    """Where ``spec.metadata`` is: a URL, a file of the repo listing, or of ``metadata_repo``/``metadata_revision``
    (found where it moved to, saying so unless ``announce`` is off); None when it is not there (then it is
    expected inside the archive)."""
    meta = spec.metadata
    if not meta:
        return None
    opts = spec.options
    if "://" in meta:
        return MetadataFile(meta, meta, None, ErrorContext(dataset=dataset, file=meta))
    if opts.get("metadata_repo") or opts.get("metadata_revision"):
        other = msgspec.structs.replace(
            spec, repo=opts.get("metadata_repo") or spec.repo,
            fallback_repos=tuple(opts.get("metadata_fallback_repos", ())) if opts.get("metadata_repo")
            else spec.fallback_repos,
            revision=opts.get("metadata_revision") or spec.revision)
        repo = resolve_repo(client, other, (meta,), dataset=dataset, relocate=True)
        if announce:
            announce_moves(repo, spec, dataset)
        listing = repo.files
    if repo is None:
        return None
    found = [f for f in listing if match_any(f.path, repo.patterns((meta,)))]
    if not found:
        return None
    name = found[0].path
    return MetadataFile(name, repo.url(client, name), found[0].size, repo.ctx(dataset, name), repo)


def fetch_metadata(client: HttpClient, spec: SourceSpec, *, repo: ResolvedRepo | None,
                   listing: tuple[RepoFile, ...] = (), dataset: str | None = None) -> Metadata | None:
    """Rows of ``spec.metadata`` when it can be fetched before the media; None if it lives in the archive."""
    where = locate_metadata(client, spec, repo=repo, listing=listing, dataset=dataset)
    if where is None:
        return None
    name, url, size, ctx = where.name, where.url, where.size, where.ctx
    member = spec.options.get("metadata_member")
    if member and name.lower().endswith(".zip"):  # annotations packed in a zip: read just that member
        with RangeFile(client, url, size, ctx=ctx) as rf, zipfile.ZipFile(rf) as zf:
            try:
                info = zf.getinfo(member)
            except KeyError:
                raise SourceUnavailable(
                    f"{ctx.label()}: {name} has no member {member!r} (it has {zf.namelist()[:10]}); change "
                    "`options.metadata_member`", reason="layout") from None
            data = read_member(rf, info, archive=name, limit=max_member_bytes(spec))
        return Metadata(member, parse_metadata(member, data, spec))
    data = client.get_bytes(url, ctx=ctx)
    return Metadata(name, parse_metadata(name, data, spec))


def no_match_error(who: str, archive: str, members: str | list[str], examples: list[str]) -> SourceUnavailable:
    """No media member pairs with a metadata row: a few real member names beside a few metadata keys."""
    names = [members] if isinstance(members, str) else list(members)[:MEMBER_EXAMPLES]
    return SourceUnavailable(
        f"{who}: no media member of {archive} matched the metadata (members are like {names}, metadata keys "
        f"like {examples}); change `options.member_template`/`options.member_match` of this source in the catalog "
        "entry", reason="layout",
    )


def archive_candidate(spec: SourceSpec, *, kind: str, shard: str, member: str, data: bytes | None,
                      row: dict[str, Any] | None, row_index: int | None, multi: bool, repo: ResolvedRepo | None,
                      url: str | None, opener: Any = None) -> Candidate:
    """One candidate for a media member (and the metadata row naming it, if any)."""
    fields = map_fields(row, spec.columns) if row is not None else {}
    fields.setdefault("id", stem(member))
    if "video" in spec.columns or "audio" in spec.columns:
        media_field = "video" if "video" in spec.columns else "audio"
    else:
        media_field = "video" if posixpath.splitext(member.lower())[1] in VIDEO_EXTS else "audio"
    blob = MediaBlob(name=media_name(member, data, stem(member)), data=data, opener=opener)
    group = fields.get("group")
    if group is None:
        group = member_group(member, spec)
        if "group" in spec.columns:
            fields["group"] = group
    key = f"{shard}!{member}" + (f"#{row_index}" if multi and row_index is not None else "")
    prov = Provenance(kind=kind, repo=repo.repo if repo else None, revision=repo.sha if repo else None,
                      file=shard, member=member, url=url, row=row_index)
    fields = {k: v for k, v in fields.items() if k not in MEDIA_FIELDS}
    return Candidate(key=key, fields=fields, media={media_field: blob}, provenance=prov, group=str(group))
