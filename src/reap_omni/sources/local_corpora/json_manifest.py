"""GigaSpeech / WenetSpeech official releases: one big JSON manifest of long recordings and segments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reap_omni.sources.base import Unit
from reap_omni.sources.local_corpora.layout import (
    Layout,
    Row,
)


class JsonManifestLayout(Layout):
    """Official WenetSpeech/GigaSpeech: ``<Name>.json`` with ``audios[].segments[]``; one unit per recording."""

    def __init__(self, name: str, title: str, manifest: str, columns: dict[str, str]):
        super().__init__()
        self.name, self.title, self.manifest, self.columns = name, title, manifest, columns
        self.expected = f"{manifest} (audios[].segments[]) + the audio files it names"

    def _audios(self, root: Path) -> list[dict[str, Any]]:
        def load() -> list[dict[str, Any]]:
            with open(root / self.manifest, encoding="utf-8") as f:
                return json.load(f).get("audios", [])

        return self.cached("audios", load)

    @staticmethod
    def _subset_ok(segment: dict[str, Any], subset: str | None) -> bool:
        if not subset:
            return True
        wanted = subset.strip("{}").upper()
        return any(str(s).strip("{}").upper() == wanted for s in segment.get("subsets", []))

    def units(self, root: Path, options: dict[str, Any]) -> list[Unit]:
        if not (root / self.manifest).is_file():
            return []
        subset = options.get("subset")
        out = []
        for i, audio in enumerate(self._audios(root)):
            n = sum(self._subset_ok(s, subset) for s in audio.get("segments", []))
            if n:
                aid = str(audio.get("aid", i))
                out.append(Unit(key=aid, shard=str(audio.get("path", aid)), index=i, rows=n, info={"index": i}))
        return out

    def rows(self, root: Path, unit: Unit, options: dict[str, Any]) -> Iterator[Row]:
        audio = self._audios(root)[unit.info["index"]]
        base = {k: v for k, v in audio.items() if k != "segments"}
        path = root / str(audio["path"])
        for seg in audio.get("segments", []):
            if not self._subset_ok(seg, options.get("subset")):
                continue
            raw = {**base, **seg}
            yield Row(key=str(seg.get("sid")), raw=raw, media=path, group=str(audio.get("aid")))
