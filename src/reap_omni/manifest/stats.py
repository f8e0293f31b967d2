"""Build statistics: ``calibration/stats.json`` and the summary table printed at the end of a build.

Per dataset: rows it has now and rows written by this run, hours of media, bytes downloaded (the sources'
own byte counts, not file sizes), failures by reason (rejected candidates, unreadable units, unavailable
sources) and a status with the one-line reason when it fell short.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from reap_omni.fileio import atomic_write_bytes
from reap_omni.manifest.jsonl import encode_json
from reap_omni.manifest.lock import DEMO_NOTE

STATS_NAME = "stats.json"


@dataclass
class DatasetStats:
    """What one dataset of a build ended with."""

    name: str
    stratum: str
    requested: int
    rows: int = 0  # rows in the manifest now (earlier runs included)
    new_rows: int = 0  # rows this run wrote
    seconds: float = 0.0  # media duration of all its rows
    bytes_downloaded: int = 0  # this run
    failures: Counter = field(default_factory=Counter)
    source: str | None = None  # the source that served the rows ("hf_parquet openslr/librispeech_asr@3f2a...")
    message: str | None = None  # why it fell short, one line

    @property
    def hours(self) -> float:
        return self.seconds / 3600

    @property
    def status(self) -> str:
        if self.rows >= self.requested:
            return "ok"
        return "partial" if self.rows else "failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "stratum": self.stratum,
            "requested": self.requested,
            "rows": self.rows,
            "new_rows": self.new_rows,
            "hours": round(self.hours, 6),
            "bytes_downloaded": self.bytes_downloaded,
            "failures": dict(sorted(self.failures.items())),
            "status": self.status,
            "source": self.source,
            "message": self.message,
        }


@dataclass
class BuildStats:
    datasets: dict[str, DatasetStats] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    demo: bool = False  # built by quickstart --demo from synthetic fixture repos

    def add(self, ds: DatasetStats) -> DatasetStats:
        self.datasets[ds.name] = ds
        return ds

    @property
    def failed(self) -> list[DatasetStats]:
        """Datasets that ended with fewer rows than requested."""
        return [d for d in self.datasets.values() if d.status != "ok"]

    def to_dict(self) -> dict[str, Any]:
        ds = self.datasets.values()
        demo = {"demo": True, "note": DEMO_NOTE} if self.demo else {}
        return {
            **demo,
            "options": self.options,
            "datasets": {d.name: d.to_dict() for d in ds},
            "totals": {
                "rows": sum(d.rows for d in ds),
                "new_rows": sum(d.new_rows for d in ds),
                "hours": round(sum(d.hours for d in ds), 6),
                "bytes_downloaded": sum(d.bytes_downloaded for d in ds),
                "failed_datasets": [d.name for d in self.failed],
            },
        }

    def write(self, path: str | os.PathLike[str]) -> None:
        atomic_write_bytes(path, encode_json(self.to_dict()) + b"\n")


def format_failures(failures: Counter, limit: int = 4) -> str:
    """``decode_error×3, too_short×1`` (the most frequent first), ``-`` when there were none."""
    if not failures:
        return "-"
    items = sorted(failures.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{k}×{v}" for k, v in items[:limit])
    return text + (f", +{len(items) - limit} more" if len(items) > limit else "")


def render_table(stats: BuildStats) -> str:
    """A plain-text table: dataset, stratum, rows/requested, hours, MB downloaded, status, failures."""
    header = ("dataset", "stratum", "rows", "hours", "MB", "status", "failures by reason")
    rows = [
        (
            d.name,
            d.stratum,
            f"{d.rows}/{d.requested}",
            f"{d.hours:.3f}",
            f"{d.bytes_downloaded / 1e6:.1f}",
            d.status,
            format_failures(d.failures),
        )
        for d in stats.datasets.values()
    ]
    ds = list(stats.datasets.values())
    rows.append(
        (
            "total",
            "",
            f"{sum(d.rows for d in ds)}/{sum(d.requested for d in ds)}",
            f"{sum(d.hours for d in ds):.3f}",
            f"{sum(d.bytes_downloaded for d in ds) / 1e6:.1f}",
            "ok" if not stats.failed else f"{len(stats.failed)} short",
            "",
        )
    )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    numeric = {2, 3, 4}

    def fmt(r: tuple) -> str:
        cells = [
            str(c).rjust(w) if i in numeric else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(r) for r in rows[:-1]), rule, fmt(rows[-1])])
