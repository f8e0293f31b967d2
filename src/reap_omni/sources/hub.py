"""Hub repos: resolve a revision to its commit, list the files matching a source's globs, try fallbacks.

Everything is pinned to the resolved commit sha after the first call, so one build reads one consistent
snapshot and the lock file can record it. Branches such as ``refs/convert/parquet`` (the viewer's parquet
export) or ``refs/pr/20`` are URL-encoded as the Hub expects. When a repo moved (``lmms-eval/X`` vs
``lmms-lab/X``) the spec's ``fallback_repos`` are tried in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

from reap_omni.catalog.spec import SourceSpec
from reap_omni.sources.base import SourceUnavailable
from reap_omni.sources.http import ErrorContext, HttpClient


@dataclass(frozen=True)
class RepoFile:
    path: str
    size: int


@dataclass(frozen=True)
class ResolvedRepo:
    """A repo at a commit, with the files of interest."""

    repo: str
    revision: str  # what was asked for (branch, tag or sha)
    sha: str  # the commit it resolved to
    files: tuple[RepoFile, ...]

    def url(self, client: HttpClient, path: str) -> str:
        return client.resolve_url(self.repo, self.sha, path)

    def ctx(self, dataset: str | None, file: str | None = None) -> ErrorContext:
        return ErrorContext(dataset=dataset, repo=self.repo, revision=self.revision, file=file)


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a repo glob: ``*``/``?``/``[..]`` stay inside one folder, ``**`` spans folders."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i)
            if j < 0:
                out.append(re.escape(c))
            else:
                out.append("[" + pattern[i + 1 : j].replace("!", "^", 1) + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def match_any(path: str, patterns: tuple[str, ...] | list[str]) -> bool:
    return any(glob_regex(p).match(path) for p in patterns)


def resolve_sha(client: HttpClient, repo: str, revision: str, dataset: str | None = None) -> str:
    """The commit sha ``revision`` of ``repo`` points at."""
    ctx = ErrorContext(dataset=dataset, repo=repo, revision=revision)
    info = client.get_json(client.api_url(repo, "revision", quote(revision, safe="")), ctx=ctx)
    sha = info.get("sha") if isinstance(info, dict) else None
    if not sha:
        raise SourceUnavailable(f"{ctx.label()}: {client.endpoint} gave no commit for {repo}@{revision}",
                                reason="network")
    return sha


def list_files(client: HttpClient, repo: str, sha: str, *, revision: str, dataset: str | None = None,
               folder: str = "") -> list[RepoFile]:
    """Every file under ``folder`` at commit ``sha`` (recursive tree listing, following pagination)."""
    ctx = ErrorContext(dataset=dataset, repo=repo, revision=revision)
    parts = ["tree", quote(sha, safe="")] + ([quote(folder.strip("/"), safe="")] if folder.strip("/") else [])
    url = client.api_url(repo, *parts)
    return [
        RepoFile(e["path"], int(e.get("size") or 0))
        for e in client.get_pages(url, ctx=ctx, params={"recursive": "true", "expand": "false"})
        if e.get("type") == "file"
    ]


def _folder_prefix(patterns: tuple[str, ...]) -> str:
    """The longest literal folder all patterns share, to list less of a big repo."""
    prefixes = []
    for p in patterns:
        literal = re.split(r"[*?\[]", p, maxsplit=1)[0]
        prefixes.append(literal.rsplit("/", 1)[0] if "/" in literal else "")
    common = prefixes[0] if prefixes else ""
    for p in prefixes[1:]:
        while common and not (p == common or p.startswith(common + "/")):
            common = common.rsplit("/", 1)[0] if "/" in common else ""
    return common


def resolve_repo(client: HttpClient, spec: SourceSpec, patterns: tuple[str, ...], *,
                 dataset: str | None = None, required: bool = True) -> ResolvedRepo:
    """Resolve ``spec.repo`` (then each fallback) at ``spec.revision`` and list the files matching ``patterns``.

    A repo that is missing or has no matching file makes the next fallback be tried; if none works, the
    most actionable error is raised (gated beats not-found, which beats an empty listing).
    """
    if not spec.repo:
        raise SourceUnavailable(f"{dataset or 'source'}: a {spec.kind} source needs `repo`", reason="layout")
    revision = spec.revision or "main"
    errors: list[SourceUnavailable] = []
    for repo in (spec.repo, *spec.fallback_repos):
        try:
            sha = resolve_sha(client, repo, revision, dataset)
            files = list_files(client, repo, sha, revision=revision, dataset=dataset,
                               folder=_folder_prefix(patterns))
        except SourceUnavailable as exc:
            if exc.reason not in ("not_found", "gated"):
                raise
            errors.append(exc)
            continue
        chosen = tuple(f for f in files if match_any(f.path, patterns))
        if chosen or not required:
            return ResolvedRepo(repo, revision, sha, tuple(sorted(chosen, key=lambda f: f.path)))
        sample = ", ".join(f.path for f in files[:8]) or "no files"
        errors.append(SourceUnavailable(
            f"{dataset or repo}: no file of {repo}@{revision} matches {list(patterns)} (found: {sample}"
            f"{', ...' if len(files) > 8 else ''}); change the source's `files` in the catalog entry",
            reason="layout",
        ))
    gated = [e for e in errors if e.reason == "gated"]
    best = gated[0] if gated else errors[-1]
    if len(errors) > 1:
        tried = ", ".join((spec.repo, *spec.fallback_repos))
        raise SourceUnavailable(f"{best} (tried {tried})", reason=best.reason)
    raise best
