"""Any folder with ``metadata.{csv,jsonl}`` beside the media (Hugging Face audiofolder/videofolder)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reap_omni.sources.base import Unit
from reap_omni.sources.local_corpora.layout import (
    Layout,
    Row,
    rel_path,
    subdirs,
)


class FolderMetadataLayout(Layout):
    """HF audiofolder/videofolder: media files + ``metadata.jsonl`` / ``metadata.csv`` with ``file_name``."""

    name = "folder"
    title = "audiofolder/videofolder"
    expected = "metadata.jsonl or metadata.csv (column file_name) next to the media files"
    columns = {"text": "text", "id": "file_name"}
    chunk = 100  # rows per unit

    def _records(self, path: Path) -> list[dict[str, Any]]:
        def load() -> list[dict[str, Any]]:
            with open(path, encoding="utf-8", newline="") as f:
                if path.suffix == ".jsonl":
                    return [json.loads(line) for line in f if line.strip()]
                return list(csv.DictReader(f))

        return self.cached(path, load)

    def units(self, root: Path, options: dict[str, Any]) -> list[Unit]:
        files = [p for p in (root / "metadata.jsonl", root / "metadata.csv") if p.is_file()]
        for d in subdirs(root):
            files += [p for p in (d / "metadata.jsonl", d / "metadata.csv") if p.is_file()]
        split = options.get("split")
        out = []
        for meta in files:
            rel = rel_path(root, meta)
            if split and meta.parent != root and meta.parent.name != split:
                continue
            n = len(self._records(meta))
            chunk = int(options.get("rows_per_unit", self.chunk))
            for i in range(0, n, chunk):
                stop = min(n, i + chunk)
                info = {"file": rel, "start": i, "stop": stop}
                out.append(Unit(key=f"{rel}#{i}", shard=rel, index=i // chunk, rows=stop - i, info=info))
        return out

    def rows(self, root: Path, unit: Unit, options: dict[str, Any]) -> Iterator[Row]:
        meta = root / unit.info["file"]
        for rec in self._records(meta)[unit.info["start"] : unit.info["stop"]]:
            name = rec.get("file_name")
            if not name:
                continue
            yield Row(key=f"{rel_path(root, meta.parent)}/{name}", raw=dict(rec), media=meta.parent / name)
