"""The contract between sources (how bytes arrive) and the sampler/engine (which rows, how many).

A source turns a ``SourceSpec`` into *units* (pieces it can fetch on its own: a parquet row group, a
tar part, a zip member) that say what they cost before anything is downloaded, and reads a unit into
*candidates* (one potential manifest row each, with its media bytes or a lazy opener and provenance).
The sampler decides which units and candidates (seed, spread, filters); sources decide how to fetch.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from reap_omni.catalog.spec import SourceSpec, mismatch_message
from reap_omni.errors import ReapOmniError


class SourceUnavailable(ReapOmniError):
    """This source cannot serve the dataset (gated, missing, unreachable, wrong layout).

    ``reason`` is a short category used in stats (``gated``, ``not_found``, ``network``, ``layout``,
    ``needs_local_copy``, ``missing_extra``); the message says what the user can do about it.
    """

    def __init__(self, message: str, reason: str = "unavailable"):
        super().__init__(message)
        self.reason = reason


class SourceMismatch(SourceUnavailable):
    """A catalog fact that the source contradicts (a column, config or split that is not there).

    ``fixes`` are the ``--source-option`` values (``DATASET:INDEX:KEY=VALUE``) that would make the source
    work, when the reader can tell (the closest real name); ``found`` lists what is really there.
    """

    def __init__(self, message: str, *, key: str, assumed: Any, found: Iterable[Any] = (),
                 fixes: Iterable[str] = ()):
        super().__init__(message, reason="layout")
        self.key, self.assumed, self.found, self.fixes = key, assumed, list(found), tuple(fixes)


#: names that stand for one another when a split was renamed (``validation`` <-> ``dev``)
_SYNONYMS = {"validation": ("dev", "valid", "val"), "dev": ("validation", "valid", "val"),
             "valid": ("validation", "dev", "val"), "val": ("validation", "dev", "valid"), "test": ("eval",),
             "eval": ("test",)}


def closest(word: str | None, choices: Iterable[str]) -> str | None:
    """The choice ``word`` most likely became: a split synonym, a near spelling, or the only choice."""
    options = list(dict.fromkeys(str(c) for c in choices))
    if not options or word is None:
        return options[0] if len(options) == 1 else None
    for alt in _SYNONYMS.get(word.lower(), ()):
        if alt in options:
            return alt
    lower = {c.lower(): c for c in options}
    hit = difflib.get_close_matches(word.lower(), list(lower), n=1, cutoff=0.5)
    if hit:
        return lower[hit[0]]
    return options[0] if len(options) == 1 else None


def source_index(dataset: str | None, spec: SourceSpec, given: int | None = None) -> int:
    """Which source of ``dataset``'s catalog entry ``spec`` is (for ``--source-option DATASET:INDEX:...``).

    ``given`` wins (the probe knows it); else the entry's source of the same kind and repo/url/config/split,
    else its first source of the same kind, else 0.
    """
    if given is not None:
        return given
    if not dataset:
        return 0
    from reap_omni.catalog.registry import get_dataset  # deferred: the catalog is not needed to read a source

    try:
        sources = get_dataset(dataset).sources
    except ReapOmniError:
        return 0
    same = [i for i, s in enumerate(sources) if s.kind == spec.kind]
    exact = [i for i in same if (sources[i].repo, sources[i].config, sources[i].split) ==
             (spec.repo, spec.config, spec.split) and (not spec.url or sources[i].url == spec.url)]
    return (exact or same or [0])[0]


def mismatch(dataset: str | None, spec: SourceSpec, key: str, assumed: Any, found: Iterable[Any], *,
             index: int | None = None, suggestion: str | None = None, where: str = "",
             also: str = "") -> SourceMismatch:
    """The ``SourceMismatch`` for one wrong fact, worded by ``catalog.spec.mismatch_message``.

    ``suggestion`` (the closest real name) replaces ``<value>`` in the fix; ``where`` names the file or
    branch looked at; ``also`` is appended (further mismatches of the same source).
    """
    name = dataset or spec.repo or spec.kind
    i = source_index(dataset, spec, index)
    found = list(found)
    text = mismatch_message(name, key, assumed, found, i)
    fixes: list[str] = []
    if suggestion is not None:
        text = text[: -len("<value>")] + str(suggestion) if text.endswith("=<value>") else text
        fixes.append(f"{name}:{i}:{key}={suggestion}")
    if where:
        text = text.replace("; fix it with", f" in {where}; fix it with", 1)
    return SourceMismatch(text + also, key=key, assumed=assumed, found=found, fixes=fixes)


@dataclass(frozen=True)
class Provenance:
    """Where a row came from, precisely enough to fetch the same bytes again (lock file)."""

    kind: str
    repo: str | None = None
    revision: str | None = None  # resolved commit sha when the source is a Hub repo
    file: str | None = None  # path inside the repo, or URL of the archive
    row: int | None = None  # row index inside the file (parquet)
    member: str | None = None  # archive member name (tar/zip)
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class MediaBlob:
    """Media bytes of a candidate, either already in memory or fetched lazily by ``opener``."""

    name: str  # original file name; its extension tells the container (".flac", ".mp4", ...)
    data: bytes | None = None
    opener: Callable[[], BinaryIO] | None = None

    def read(self) -> bytes:
        if self.data is None:
            if self.opener is None:
                raise ValueError(f"media {self.name} has neither bytes nor an opener")
            with self.opener() as f:
                self.data = f.read()
        return self.data


@dataclass
class Candidate:
    """One potential manifest row, before media normalisation."""

    key: str  # unique and stable within the source: used for resume and de-duplication
    fields: dict[str, Any]  # mapped source columns: text, id, group (speaker/recording), lang, start, end, ...
    media: dict[str, MediaBlob]  # "audio" / "video" -> bytes
    provenance: Provenance
    group: str | None = None  # speaker / recording / video id, for diversity across the sample


@dataclass(frozen=True)
class Unit:
    """A separately fetchable piece of a source, with its cost known before fetching."""

    key: str  # stable id, e.g. "clean/test/0003.parquet#rg7"
    shard: str  # file/archive the unit lives in (spread is counted over shards)
    index: int = 0  # row group / member / part index inside the shard
    rows: int | None = None  # rows (candidates) it yields, when known
    cost_bytes: int | None = None  # bytes a read will transfer, when known
    info: dict[str, Any] = field(default_factory=dict)  # source-specific details (member name, offsets)


class Source(Protocol):
    """What every source kind implements (see hub_parquet, tar_stream, zip_range, ...)."""

    spec: SourceSpec

    def units(self) -> list[Unit]:
        """Resolve the source (revision, file listing, footers/central directory) and list its units.

        Raises ``SourceUnavailable`` with an actionable message when the source cannot be used.
        """
        ...

    def read(self, unit: Unit) -> Iterator[Candidate]:
        """Fetch one unit and yield its candidates; closing the iterator early stops the transfer."""
        ...

    @property
    def bytes_read(self) -> int:
        """Bytes transferred from the network so far (for stats and benchmarks)."""
        ...
