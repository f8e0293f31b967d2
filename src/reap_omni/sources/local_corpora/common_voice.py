"""Common Voice releases: ``<lang>/{train,dev,...}.tsv`` + ``clips/`` (also what Mozilla Data Collective unpacks)."""

from __future__ import annotations

import csv
from collections import defaultdict
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


class CommonVoiceLayout(Layout):
    """Common Voice tarball: ``<lang>/{test,dev,train,validated}.tsv`` + ``<lang>/clips/*.mp3``; unit per speaker."""

    name = "common_voice"
    title = "Common Voice"
    expected = "<lang>/<split>.tsv (columns client_id, path, sentence) + <lang>/clips/*.mp3"
    columns = {"text": "sentence", "id": "path", "group": "client_id", "lang": "locale"}

    def _lang_dirs(self, root: Path, options: dict[str, Any]) -> list[Path]:
        if (root / "clips").is_dir():
            return [root]
        lang = options.get("language") or options.get("lang")
        dirs = [d for d in subdirs(root) if (d / "clips").is_dir()]
        return [d for d in dirs if not lang or d.name == lang]

    def _tsv(self, path: Path) -> list[dict[str, str]]:
        def load() -> list[dict[str, str]]:
            with open(path, encoding="utf-8", newline="") as f:
                return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))

        return self.cached(path, load)

    def units(self, root: Path, options: dict[str, Any]) -> list[Unit]:
        split = options.get("split") or "test"
        out = []
        for d in self._lang_dirs(root, options):
            tsv = d / f"{split}.tsv"
            if not tsv.is_file():
                continue
            by_client: dict[str, int] = defaultdict(int)
            for rec in self._tsv(tsv):
                by_client[rec.get("client_id", "")] += 1
            rel = rel_path(root, tsv) if d != root else tsv.name
            out += [Unit(key=f"{rel}#{c[:16]}", shard=rel, rows=n, info={"tsv": rel, "client_id": c})
                    for c, n in sorted(by_client.items())]  # fmt: skip
        return out

    def rows(self, root: Path, unit: Unit, options: dict[str, Any]) -> Iterator[Row]:
        tsv = root / unit.info["tsv"]
        for rec in self._tsv(tsv):
            if rec.get("client_id", "") != unit.info["client_id"] or not rec.get("path"):
                continue
            raw = dict(rec)
            raw.setdefault("locale", tsv.parent.name)
            yield Row(key=f"{tsv.parent.name}/{rec['path']}", raw=raw, media=tsv.parent / "clips" / rec["path"],
                      group=rec.get("client_id"))  # fmt: skip
