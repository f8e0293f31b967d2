"""HTTP error answers as one-line ``SourceUnavailable`` messages that say what the user can do, and the
``ErrorContext`` naming what a request was for. Split from ``http`` (which re-exports ``ErrorContext``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reap_omni.sources.base import SourceUnavailable


@dataclass(frozen=True)
class ErrorContext:
    """What a failing request was for, so the error can name the dataset and the catalog key to change."""

    dataset: str | None = None
    repo: str | None = None
    revision: str | None = None
    file: str | None = None

    def label(self) -> str:
        return f"dataset {self.dataset!r}" if self.dataset else (self.repo or "source")


def http_error(code: int, err: str, url: str, ctx: ErrorContext, *, endpoint: str, token_sent: bool,
               redact: Callable[[str], str]) -> SourceUnavailable:
    """The ``SourceUnavailable`` for an HTTP error answer: what the user can do about it (``err`` = the Hub's
    ``X-Error-Code``)."""
    who, repo, ep = ctx.label(), ctx.repo, endpoint
    page = f"{ep}/datasets/{repo}" if repo else redact(url)
    is_hub = repo is not None and url.startswith(ep)
    if code == 401 and err != "RepoNotFound" and is_hub:
        sent = "the token sent was not accepted" if token_sent else "no Hugging Face token was sent"
        return SourceUnavailable(
            f"{who}: {repo} is gated or private and {sent} (HTTP 401); run `hf auth login` or set HF_TOKEN, "
            f"then accept the dataset's terms at {page}",
            reason="gated",
        )
    if code == 403 and is_hub:
        return SourceUnavailable(
            f"{who}: your Hugging Face account has no access to {repo} yet (HTTP 403); accept the conditions "
            f"at {page} (approval may be pending), then retry",
            reason="gated",
        )
    if code in (401, 404) and is_hub:
        if err == "RevisionNotFound":
            msg = (f"revision {ctx.revision!r} of {repo} does not exist (HTTP 404); change the source's "
                   "`revision` in the catalog entry (--source-option revision=...)")
        elif err == "EntryNotFound":
            msg = (f"{ctx.file or 'file'} not found in {repo}@{ctx.revision} (HTTP 404); change the source's "
                   "`files`/`metadata` in the catalog entry")
        else:
            msg = (f"dataset repo {repo} not found on {ep} (HTTP {code}; private repos need `hf auth login`); "
                   "check the id or change the source's `repo`/`fallback_repos` (--source-option repo=...)")
        return SourceUnavailable(f"{who}: {msg}", reason="not_found")
    if code == 404:
        return SourceUnavailable(
            f"{who}: {redact(url)} not found (HTTP 404); change the source's `url` in the catalog entry",
            reason="not_found",
        )
    if code in (401, 403):
        return SourceUnavailable(f"{who}: {redact(url)} refused access (HTTP {code})", reason="gated")
    return SourceUnavailable(f"{who}: {redact(url)} answered HTTP {code}", reason="network")
