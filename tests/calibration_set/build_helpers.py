"""In-memory sources that implement the ``sources.base`` contract, for engine tests without a network.

``MemorySource`` serves generated candidates from ``shards x units x rows`` with real encoded media, so the
sampler, media normalisation and manifest writing run for real; only the transport is skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from reap_omni.catalog.spec import DatasetSpec, SourceSpec
from reap_omni.fixtures.media import make_audio, make_video
from reap_omni.sources.base import Candidate, MediaBlob, Provenance, SourceUnavailable, Unit


def dataset(name: str = "toy", modality: str = "audio", repo: str = "org/toy", **kw) -> DatasetSpec:
    sources = kw.pop("sources", (SourceSpec(kind="hf_parquet", repo=repo, columns={"audio": "audio", "text": "text"}),))
    return DatasetSpec(
        name=name, title=name.title(), stratum={"audio": "S1", "video": "S2", "mixed": "S3"}[modality],
        modality=modality, task="asr" if modality == "audio" else "caption", description_en="toy",
        description_zh="toy", scale="1 h", licence="CC-BY-4.0", homepage="https://example.org",
        sources=sources, **kw,
    )


_MEDIA_CACHE: dict[tuple, bytes] = {}
_CACHE_LOCK = threading.Lock()


def media_bytes(kind: str, seed: int, seconds: float, with_audio: bool = True) -> bytes:
    """Small real media, cached: audio FLAC tones or short MP4 clips."""
    key = (kind, seed % 7, seconds, with_audio)
    with _CACHE_LOCK:
        if key not in _MEDIA_CACHE:
            if kind == "audio":
                _MEDIA_CACHE[key] = make_audio(seconds=seconds, sample_rate=22050, fmt="flac", seed=seed % 7)
            else:
                _MEDIA_CACHE[key] = make_video(seconds=seconds, width=32, height=24, fps=5, with_audio=with_audio,
                                               seed=seed % 7)
        return _MEDIA_CACHE[key]


@dataclass
class MemorySource:
    """``shards`` files x ``units_per_shard`` row groups x ``rows`` rows; each row one candidate."""

    spec: SourceSpec
    shards: int = 4
    units_per_shard: int = 3
    rows: int = 10
    kind: str = "audio"  # "audio" or "video"
    seconds: float = 0.3
    bytes_per_unit: int = 1000
    bad: Callable[[int], bool] = lambda i: False  # rows whose media are corrupt
    silent: Callable[[int], bool] = lambda i: False  # video rows without an audio track
    text: Callable[[int], str] = lambda i: f"utterance number {i}"
    group: Callable[[int], str | None] = lambda i: f"spk{i // 5}"
    unavailable: SourceUnavailable | None = None
    revision: str = "0123456789abcdef0123456789abcdef01234567"
    reads: list[str] = field(default_factory=list)
    _bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def units(self) -> list[Unit]:
        if self.unavailable is not None:
            raise self.unavailable
        return [
            Unit(key=f"s{s:02d}.parquet#rg{u}", shard=f"s{s:02d}.parquet", index=u, rows=self.rows,
                 cost_bytes=self.bytes_per_unit)
            for s in range(self.shards) for u in range(self.units_per_shard)
        ]  # fmt: skip

    def read(self, unit: Unit) -> Iterator[Candidate]:
        with self._lock:
            self.reads.append(unit.key)
            self._bytes += self.bytes_per_unit
        s = int(unit.shard[1:3])
        for r in range(self.rows):
            i = (s * self.units_per_shard + unit.index) * self.rows + r
            if self.kind == "audio":
                data = media_bytes("audio", i, self.seconds)
                media = {"audio": MediaBlob(f"{i}.flac", data=b"garbage" if self.bad(i) else data)}
            else:
                data = media_bytes("video", i, self.seconds, with_audio=not self.silent(i))
                media = {"video": MediaBlob(f"{i}.mp4", data=b"garbage" if self.bad(i) else data)}
            yield Candidate(
                key=f"{unit.shard}:{unit.index}:{r}",
                fields={"text": self.text(i), "id": f"utt{i}"},
                media=media,
                provenance=Provenance(kind=self.spec.kind, repo=self.spec.repo, revision=self.revision,
                                      file=unit.shard, row=unit.index * self.rows + r),
                group=self.group(i),
            )

    @property
    def bytes_read(self) -> int:
        return self._bytes
