"""The contract between sources (how bytes arrive) and the sampler/engine (which rows, how many).

A source turns a ``SourceSpec`` into *units* (pieces it can fetch on its own: a parquet row group, a
tar part, a zip member) that say what they cost before anything is downloaded, and reads a unit into
*candidates* (one potential manifest row each, with its media bytes or a lazy opener and provenance).
The sampler decides which units and candidates (seed, spread, filters); sources decide how to fetch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from reap_omni.catalog.spec import SourceSpec
from reap_omni.errors import ReapOmniError


class SourceUnavailable(ReapOmniError):
    """This source cannot serve the dataset (gated, missing, unreachable, wrong layout).

    ``reason`` is a short category used in stats (``gated``, ``not_found``, ``network``, ``layout``,
    ``needs_local_copy``, ``missing_extra``); the message says what the user can do about it.
    """

    def __init__(self, message: str, reason: str = "unavailable"):
        super().__init__(message)
        self.reason = reason


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
