"""Hub repos: resolve a revision to its commit, list the files matching a source's globs, try fallbacks.

Everything is pinned to the resolved commit sha after the first call, so one build reads one consistent
snapshot and the lock file can record it. Branches such as ``refs/convert/parquet`` (the viewer's parquet
export) or ``refs/pr/20`` are URL-encoded as the Hub expects. When a repo moved (``lmms-eval/X`` vs
``lmms-lab/X``) the spec's ``fallback_repos`` are tried in order. ``read_card`` and ``card_data_files`` read a
repo card's ``configs:`` (the YAML front matter of ``README.md``) the way ``datasets`` does.

Files move (``ProgramComputer/voxceleb`` moved every file into ``vox1/``/``vox2/``). With ``relocate``, a
named file or glob of ``files``/``metadata`` that matches nothing is looked for by its file name anywhere in
the repo tree at the same commit (the listing already made, or one listing of the whole repo): exactly one
folder holding it means the file moved there, and it is used, with a note and the ``--source-option`` that
pins it (``announce_moves`` prints that line; the probe shows the same fix); several folders are refused,
listing them.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from reap_omni.catalog.spec import SourceSpec
from reap_omni.sources.base import SourceUnavailable, source_index
from reap_omni.sources.http import ErrorContext, HttpClient

log = logging.getLogger(__name__)


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
    note: str = ""  # how the files were found when the source's own `files` matched nothing (discovery)
    pins: tuple[str, ...] = ()  # KEY=VALUE source options that make the catalog say what was found
    moved: tuple[tuple[str, str], ...] = ()  # (pattern of the source, the pattern it moved to) (relocation)

    def patterns(self, patterns: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """``patterns`` with each one that moved replaced by where it moved to."""
        moved = dict(self.moved)
        return tuple(moved.get(p, p) for p in patterns)

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
    # expand=sha: only the commit, not the repo's whole file list (huggingface_hub's dataset_info(expand=...))
    info = client.get_json(client.api_url(repo, "revision", quote(revision, safe="")), ctx=ctx,
                           params={"expand": "sha"})
    sha = info.get("sha") if isinstance(info, dict) else None
    if not sha:
        raise SourceUnavailable(f"{ctx.label()}: {client.endpoint} gave no commit for {repo}@{revision}",
                                reason="network")
    return sha


def list_files(client: HttpClient, repo: str, sha: str, *, revision: str, dataset: str | None = None,
               folder: str = "") -> list[RepoFile]:
    """Every file under ``folder`` at commit ``sha`` (recursive tree listing, following pagination).

    A folder that does not exist (moved files) is an empty listing: the repo and commit were resolved
    before, so the Hub's 404 can only mean the folder.
    """
    ctx = ErrorContext(dataset=dataset, repo=repo, revision=revision, file=folder.strip("/") or None)
    parts = ["tree", quote(sha, safe="")] + ([quote(folder.strip("/"), safe="")] if folder.strip("/") else [])
    url = client.api_url(repo, *parts)
    try:
        return [
            RepoFile(e["path"], int(e.get("size") or 0))
            for e in client.get_pages(url, ctx=ctx, params={"recursive": "true", "expand": "false"})
            if e.get("type") == "file"
        ]
    except SourceUnavailable as exc:
        if exc.reason == "not_found" and folder.strip("/"):
            return []
        raise


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


def _moved_to(pattern: str, listing: tuple[RepoFile, ...] | list[RepoFile]) -> list[str]:
    """Folders holding files whose name matches ``pattern``'s file name, other than ``pattern``'s own folder."""
    folder, name = posixpath.split(pattern)
    rx = glob_regex(name)
    return sorted({posixpath.dirname(f.path) for f in listing if rx.match(posixpath.basename(f.path))} - {folder})


def _relocate(client: HttpClient, spec: SourceSpec, repo: str, sha: str, revision: str, patterns: tuple[str, ...],
              files: list[RepoFile], folder: str, dataset: str | None) -> tuple[list[RepoFile], dict[str, str]]:
    """The listing and ``{pattern: new pattern}`` for the patterns that match nothing and moved to one folder.

    A pattern whose name is in several folders raises, naming them; one found nowhere stays as it is.
    """
    lost = [p for p in dict.fromkeys(patterns) if not p.startswith("**") and not any(
        glob_regex(p).match(f.path) for f in files)]
    if not lost:
        return files, {}
    full = files if not folder else list_files(client, repo, sha, revision=revision, dataset=dataset)
    moved: dict[str, str] = {}
    for p in lost:
        folders = _moved_to(p, full)
        name = posixpath.basename(p)
        if len(folders) > 1:
            key = "metadata" if p == spec.metadata else "files"
            shown = [posixpath.join(d, name) for d in folders[:8]] + (["..."] if len(folders) > 8 else [])
            raise SourceUnavailable(
                f"{dataset or repo}: {p} is not in {repo}@{revision}, and {name} is in {len(folders)} folders "
                f"({', '.join(shown)}); pick one with --source-option "
                f"{dataset or repo}:{source_index(dataset, spec)}:{key}=<path>", reason="layout")
        if folders:
            moved[p] = posixpath.join(folders[0], name)
    return full, moved


def _move_pins(spec: SourceSpec, moved: dict[str, str]) -> tuple[str, ...]:
    """The ``KEY=VALUE`` source options that make the catalog name the moved files."""
    pins = []
    if any(p in moved for p in spec.files):
        new = [moved.get(p, p) for p in spec.files]
        value = json.dumps(new) if any("," in p for p in new) else ",".join(new)
        pins.append(f"files={value}")
    if spec.metadata in moved:
        pins.append(f"metadata={moved[spec.metadata]}")
    return tuple(pins)


def announce_moves(repo: ResolvedRepo, spec: SourceSpec, dataset: str | None) -> None:
    """One line when files moved: ``voxceleb: vox2_test_mp4.zip moved to vox2/vox2_test_mp4.zip; using it
    (pin with --source-option voxceleb:0:files=vox2/vox2_test_mp4.zip)``."""
    if not repo.moved:
        return
    name = dataset or repo.repo
    i = source_index(dataset, spec)
    pins = " ".join(f"--source-option {name}:{i}:{pin}" for pin in repo.pins)
    log.warning("%s: %s; using %s (pin with %s)", name, repo.note, "it" if len(repo.moved) == 1 else "them", pins)


def resolve_repo(client: HttpClient, spec: SourceSpec, patterns: tuple[str, ...], *,
                 dataset: str | None = None, required: bool = True, relocate: bool = False) -> ResolvedRepo:
    """Resolve ``spec.repo`` (then each fallback) at ``spec.revision`` and list the files matching ``patterns``.

    A repo that is missing or has no matching file makes the next fallback be tried; if none works, the
    most actionable error is raised (gated beats not-found, which beats an empty listing). With ``relocate``,
    patterns that match nothing are looked for elsewhere in the tree (see the module docstring); the result's
    ``moved``, ``note`` and ``pins`` say what moved.
    """
    if not spec.repo:
        raise SourceUnavailable(f"{dataset or 'source'}: a {spec.kind} source needs `repo`", reason="layout")
    revision = spec.revision or "main"
    errors: list[SourceUnavailable] = []
    for repo in (spec.repo, *spec.fallback_repos):
        folder = _folder_prefix(patterns)
        moved: dict[str, str] = {}
        try:
            sha = resolve_sha(client, repo, revision, dataset)
            files = list_files(client, repo, sha, revision=revision, dataset=dataset, folder=folder)
            if relocate:
                files, moved = _relocate(client, spec, repo, sha, revision, patterns, files, folder, dataset)
        except SourceUnavailable as exc:
            if exc.reason not in ("not_found", "gated", "layout"):
                raise
            errors.append(exc)
            continue
        wanted = tuple(moved.get(p, p) for p in patterns)
        chosen = tuple(f for f in files if match_any(f.path, wanted))
        if chosen or not required:
            found = ResolvedRepo(repo, revision, sha, tuple(sorted(chosen, key=lambda f: f.path)))
            if moved:
                note = ", ".join(f"{p} moved to {q}" for p, q in moved.items())
                found = replace(found, moved=tuple(moved.items()), note=note, pins=_move_pins(spec, moved))
            return found
        sample = ", ".join(f.path for f in files[:8]) or ("no files" + (f" under {folder}/" if folder else ""))
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


# -- dataset cards -------------------------------------------------------------------------------------
CARD_PEEK = 64 * 1024  # the front matter is at the top of README.md: read this much first
CARD_MAX = 512 * 1024  # and at most this much when the front matter is longer


def read_card(client: HttpClient, repo: ResolvedRepo, *, dataset: str | None = None,
              listing: tuple[RepoFile, ...] | None = None) -> dict[str, Any]:
    """The YAML front matter of ``README.md`` at ``repo``'s commit; ``{}`` when there is none or it is invalid."""
    files = repo.files if listing is None else listing
    card = next((f for f in files if f.path == "README.md"), None)
    if card is None or card.size <= 0:
        return {}
    url, ctx = repo.url(client, card.path), repo.ctx(dataset, card.path)
    data = client.get_bytes(url, 0, min(card.size, CARD_PEEK), ctx=ctx)
    text = data.decode("utf-8", errors="replace")
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0 and CARD_PEEK < card.size <= CARD_MAX:
        text += client.get_bytes(url, len(data), card.size, ctx=ctx).decode("utf-8", errors="replace")
        end = text.find("\n---", 3)
    if end < 0:
        return {}
    import yaml  # a dependency of huggingface_hub

    try:
        meta = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if isinstance(v, str)]
    return []


def card_configs(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``configs:`` entries of a card (each a dict with ``config_name``, defaulting to ``default``)."""
    configs = card.get("configs")
    if not isinstance(configs, list):
        return []
    return [{**c, "config_name": str(c.get("config_name") or "default")} for c in configs if isinstance(c, dict)]


def default_config(configs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The config ``datasets`` loads when none is named: ``default: true``, else ``default``, else the only one."""
    marked = [c for c in configs if c.get("default") is True]
    if marked:
        return marked[0]
    named = [c for c in configs if c["config_name"] == "default"]
    if named:
        return named[0]
    return configs[0] if len(configs) == 1 else None


def card_data_files(config: dict[str, Any], split: str | None = None) -> dict[str, list[str]]:
    """Split -> path globs of one ``configs:`` entry, as ``datasets`` reads them.

    ``data_files`` may be a glob or a list of globs (split ``train``), a list of ``{split, path}`` or a
    ``{split: path}`` mapping; a bare ``data_dir`` means the usual split file names inside it (for the
    usual splits and ``split``).
    """
    files = config.get("data_files")
    out: dict[str, list[str]] = {}
    if isinstance(files, dict):
        for split, paths in files.items():
            out.setdefault(str(split), []).extend(_as_list(paths))
    elif isinstance(files, list) and files and all(isinstance(f, dict) for f in files):
        for f in files:
            out.setdefault(str(f.get("split") or "train"), []).extend(_as_list(f.get("path")))
    elif _as_list(files):
        out["train"] = _as_list(files)
    elif isinstance(config.get("data_dir"), str):
        d = config["data_dir"].strip("/")
        for name in dict.fromkeys(("train", "validation", "test", *((split,) if split else ()))):
            out[name] = [f"{d}/{name}-*", f"{d}/{name}/**", f"{d}/*-{name}-*", f"{d}/**/{name}-*"]
    return {k: v for k, v in out.items() if v}
