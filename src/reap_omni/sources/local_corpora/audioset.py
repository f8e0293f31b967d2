"""AudioSet: the segment CSVs joined to clips the user downloaded."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reap_omni.sources.base import Unit
from reap_omni.sources.local_corpora.layout import (
    AUDIO_EXT,
    VIDEO_EXT,
    Layout,
    Row,
    rel_path,
)


class AudioSetLayout(Layout):
    """AudioSet local clips ``<YTID>_<start>.<ext>`` or ``<YTID>.<ext>`` + ``*segments*.csv`` (+ label names)."""

    name = "audioset"
    title = "AudioSet"
    expected = "*_segments.csv (YTID, start_seconds, end_seconds, positive_labels) + clips <YTID>[_<start>].mp4"
    columns = {"label": "positive_labels", "id": "YTID", "group": "YTID", "start": "start_seconds"}

    def _segments(self, root: Path) -> dict[str, dict[str, Any]]:
        def load() -> dict[str, dict[str, Any]]:
            names: dict[str, str] = {}
            for p in sorted(root.rglob("class_labels_indices.csv")):
                with open(p, encoding="utf-8", newline="") as f:
                    names.update({r["mid"]: r["display_name"] for r in csv.DictReader(f)})
            out: dict[str, dict[str, Any]] = {}
            for p in sorted(root.rglob("*segments*.csv")):
                with open(p, encoding="utf-8", newline="") as f:
                    lines = [ln for ln in f if not ln.startswith("#")]
                for rec in csv.reader(lines, skipinitialspace=True):
                    if len(rec) < 4:
                        continue
                    mids = [m.strip() for m in rec[3].split(",") if m.strip()]
                    out[rec[0]] = {"YTID": rec[0], "start_seconds": float(rec[1]), "end_seconds": float(rec[2]),
                                   "positive_labels": ", ".join(names.get(m, m) for m in mids)}  # fmt: skip
            return out

        return self.cached("segments", load)

    def units(self, root: Path, options: dict[str, Any]) -> list[Unit]:
        segs = self._segments(root)
        out = []
        for dirpath, _dirs, files in os.walk(root):
            for name in sorted(files):
                p = Path(dirpath) / name
                if p.suffix.lower() not in VIDEO_EXT | AUDIO_EXT:
                    continue
                m = re.match(r"^(?P<id>.+?)(?:_(?P<start>\d+(?:\.\d+)?))?$", p.stem)
                ytid = m.group("id") if m and m.group("id") in segs else p.stem
                if ytid in segs:
                    rel = rel_path(root, p)
                    out.append(Unit(key=rel, shard=rel, rows=1, info={"file": rel, "ytid": ytid}))
        return sorted(out, key=lambda u: u.key)

    def rows(self, root: Path, unit: Unit, options: dict[str, Any]) -> Iterator[Row]:
        raw = dict(self._segments(root)[unit.info["ytid"]])
        # local clips are already the 10 s segment: the window applies to the original video only
        yield Row(key=unit.info["file"], raw=raw, media=root / unit.info["file"], group=raw["YTID"])
